// quiverd's lifecycle: opens the store (recovering every collection), starts
// the gRPC server (Quiver service, health, reflection, optional TLS and API
// key) and the optional Prometheus endpoint; shuts all of it down in order.
//
//   ServerOptions o;  o.listen = "127.0.0.1:0";  o.data_dir = dir;
//   QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<Server> s, Server::Start(o));
//   std::cout << s->port();
//   ...
//   s->Shutdown(absl::Seconds(10));
//
// Thread safety: port()/metrics_port() are thread-safe; Shutdown() may be
// called from any thread, once or more.
#ifndef QUIVER_SERVER_SERVER_H_
#define QUIVER_SERVER_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/convert.h"
#include "server/metrics.h"
#include "server/service.h"

namespace quiver::server {

struct ServerOptions {
  // gRPC listen address, "host:port"; port 0 picks a free port.
  std::string listen = "127.0.0.1:50051";
  // RocksDB directory (created if missing).
  std::string data_dir = "./quiver-data";
  // Most threads gRPC may use for unary calls; beyond it calls get
  // RESOURCE_EXHAUSTED (0 = no limit).
  int threads = 256;
  // Memory (MiB) that large replies not yet read by their clients may
  // hold; beyond it large Get/Search calls get RESOURCE_EXHAUSTED.
  int max_reply_mb_in_flight = 1024;
  // fsync the RocksDB WAL on every acknowledged write.
  bool sync = false;
  // Largest request message accepted, MiB; larger ones get
  // RESOURCE_EXHAUSTED from gRPC.
  int max_message_mb = 64;
  // Required bearer key of every Quiver RPC; empty = no authentication.
  std::string api_key;
  // Prometheus /metrics address "host:port"; empty = off.
  std::string metrics_listen;
  // /metrics needs HTTP basic auth with the API key as password (needs
  // api_key).
  bool metrics_require_key = false;
  // PEM files of the server certificate (chain) and key: TLS when both set.
  std::string tls_cert;
  std::string tls_key;
  // Free space (MiB) writes must leave on the data directory's filesystem;
  // below it they get RESOURCE_EXHAUSTED (searches, gets, deletes go on).
  // -1 = 5% of the filesystem, at most 2 GiB.
  int64_t disk_reserve_mb = -1;
  // Threads of a training (0 = hardware concurrency).
  int train_threads = 0;
  // Folder of the Backup RPC's checkpoints (created if missing); empty =
  // the Backup RPC is refused with FAILED_PRECONDITION.
  std::string backup_dir;
  // Upsert stream limits (open streams, idle and total time).
  StreamLimits streams;
};

class Server {
 public:
  // INVALID_ARGUMENT for bad options (one of tls_cert/tls_key, unreadable
  // PEM files, max_message_mb < 1); store errors from the recovery;
  // UNAVAILABLE if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      const ServerOptions& options);

  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound gRPC port.
  int port() const { return port_; }
  // The bound metrics port, 0 if off.
  int metrics_port() const;
  CollectionRegistry* registry() { return registry_.get(); }

  // Stops accepting calls, lets in-flight calls finish until `grace` has
  // passed (then cancels them), stops and joins every training, flushes and
  // closes the store. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  Server() = default;

  std::unique_ptr<CollectionRegistry> registry_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<QuiverService> service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int port_ = 0;
  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace quiver::server

#endif  // QUIVER_SERVER_SERVER_H_
