// quiver-router's lifecycle: the gRPC server (RouterService, health,
// reflection, optional TLS and API key, keepalive as quiverd's) and the
// optional Prometheus endpoint; shut down in order.
//
//   RouterServerOptions o;
//   o.router.nodes = {"127.0.0.1:50051", "127.0.0.1:50052"};
//   QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<RouterServer> r,
//                           RouterServer::Start(o));
//   ...
//   r->Shutdown(absl::Seconds(10));
//
// Thread safety: port()/metrics_port() are thread-safe; Shutdown() may be
// called from any thread, once or more.
#ifndef QUIVER_SERVER_ROUTER_ROUTER_SERVER_H_
#define QUIVER_SERVER_ROUTER_ROUTER_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/metrics.h"
#include "server/router/router_service.h"

namespace quiver::router {

struct RouterServerOptions {
  // gRPC listen address, "host:port"; port 0 picks a free port.
  std::string listen = "127.0.0.1:50050";
  // Required bearer key of every Quiver RPC; empty = no authentication.
  std::string api_key;
  // Prometheus /metrics address "host:port"; empty = off.
  std::string metrics_listen;
  // /metrics needs HTTP basic auth with the API key as password.
  bool metrics_require_key = false;
  // PEM files of the server certificate (chain) and key: TLS when both set.
  std::string tls_cert;
  std::string tls_key;
  // Most threads serving unary calls (0 = no limit).
  int threads = 256;
  // Largest request or reply message, MiB.
  int max_message_mb = 64;
  // The nodes and how to reach them.
  RouterOptions router;
};

class RouterServer {
 public:
  // INVALID_ARGUMENT for bad options; UNAVAILABLE if the address cannot be
  // bound. The nodes need not be up: they are reached when needed.
  static absl::StatusOr<std::unique_ptr<RouterServer>> Start(
      const RouterServerOptions& options);
  ~RouterServer();
  RouterServer(const RouterServer&) = delete;
  RouterServer& operator=(const RouterServer&) = delete;

  int port() const { return port_; }
  int metrics_port() const { return metrics_ ? metrics_->port() : 0; }

  // Stops accepting calls, lets calls in flight finish until `grace` has
  // passed, then cancels them. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  RouterServer() = default;

  std::unique_ptr<server::Metrics> metrics_;
  std::unique_ptr<RouterService> service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int port_ = 0;
  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace quiver::router

#endif  // QUIVER_SERVER_ROUTER_ROUTER_SERVER_H_
