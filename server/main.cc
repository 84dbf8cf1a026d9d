// quiverd: the Quiver server.
//
//   quiverd --listen 127.0.0.1:50051 --data_dir ./quiver-data
//   quiverd --listen 127.0.0.1:0 --port_file /tmp/port   # tests
//   quiverd --data_dir ./quiver-data --backup_to /backups/2026-11-23
//
// SIGTERM / SIGINT: stop accepting, finish in-flight calls (up to
// --shutdown_grace_s), stop training, flush and close the store, exit 0.
#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "server/convert.h"
#include "server/server.h"
#include "server/serving.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "gRPC listen address host:port (port 0 = any free port)");
ABSL_FLAG(std::string, data_dir, "./quiver-data", "RocksDB data directory");
ABSL_FLAG(int, threads, 256,
          "Most threads serving unary calls; more calls at once get "
          "RESOURCE_EXHAUSTED (0 = no limit)");
ABSL_FLAG(int, max_reply_mb_in_flight, 1024,
          "Memory (MiB) that large replies not yet read by their clients may "
          "hold; beyond it large Get/Search calls get RESOURCE_EXHAUSTED");
ABSL_FLAG(bool, sync, false,
          "fsync the write-ahead log before acknowledging each write");
ABSL_FLAG(int, max_message_mb, 64, "Largest accepted request message, MiB");
ABSL_FLAG(std::string, api_key, "",
          "Require 'authorization: Bearer <key>' on every Quiver RPC "
          "(default: $QUIVER_API_KEY; empty = no authentication)");
ABSL_FLAG(std::string, metrics_listen, "",
          "Prometheus /metrics address host:port (empty = off)");
ABSL_FLAG(bool, metrics_require_key, false,
          "/metrics needs HTTP basic auth whose password is the API key "
          "(needs --api_key); the metrics name collections");
ABSL_FLAG(std::string, tls_cert, "", "TLS certificate chain (PEM file)");
ABSL_FLAG(std::string, tls_key, "", "TLS private key (PEM file)");
ABSL_FLAG(std::string, port_file, "",
          "Write the bound gRPC port to this file once serving");
ABSL_FLAG(bool, parent_watchdog, false,
          "Shut down when the parent process exits (for tests)");
ABSL_FLAG(int64_t, disk_reserve_mb, -1,
          "Free space (MiB) that writes leave on the data directory's "
          "filesystem; below it writes get RESOURCE_EXHAUSTED while searches, "
          "gets and deletes go on (-1 = 5% of the filesystem, at most 2 GiB)");
ABSL_FLAG(int, max_streams, 4096,
          "Most open Upsert streams; more get RESOURCE_EXHAUSTED");
ABSL_FLAG(int, stream_idle_s, 600,
          "An Upsert stream with no batch for this many seconds is closed "
          "(0 = never)");
ABSL_FLAG(int, stream_max_s, 86400,
          "An Upsert stream open this many seconds is closed after its "
          "current batch (0 = never)");
ABSL_FLAG(int, train_threads, 0,
          "Threads per training (0 = all cores but one)");
ABSL_FLAG(int, shutdown_grace_s, 10,
          "Seconds in-flight calls get to finish at shutdown");
ABSL_FLAG(std::string, backup_dir, "",
          "Folder of the Backup RPC's checkpoints (a request names one inside "
          "it); empty = the Backup RPC is refused");
ABSL_FLAG(std::string, backup_to, "",
          "Offline backup: write a checkpoint of --data_dir to this new "
          "directory and exit (restore = start quiverd on it)");

namespace {

int RunBackup() {
  quiver::engine::RegistryOptions ro;
  ro.store.path = absl::GetFlag(FLAGS_data_dir);
  auto registry = quiver::engine::CollectionRegistry::Open(ro);
  if (!registry.ok()) {
    QUIVER_LOG(ERROR) << "cannot open " << ro.store.path << ": "
                      << registry.status();
    return 1;
  }
  absl::Status s = (*registry)->Backup(absl::GetFlag(FLAGS_backup_to));
  if (!s.ok()) {
    QUIVER_LOG(ERROR) << "backup failed: " << s;
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "quiverd: the Quiver approximate-nearest-neighbour server");
  absl::ParseCommandLine(argc, argv);
  // Debian's Abseil checks every absl::Mutex acquisition for lock-order
  // cycles (a debug aid; ~6% of a search's time, one reader lock per probed
  // list). The tests keep the check; the server does not pay for it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  if (!absl::GetFlag(FLAGS_backup_to).empty()) return RunBackup();

  // Block the shutdown signals in every thread; main waits for them.
  const quiver::server::ShutdownSignals signals;

  quiver::server::ServerOptions o;
  o.listen = absl::GetFlag(FLAGS_listen);
  o.data_dir = absl::GetFlag(FLAGS_data_dir);
  o.threads = absl::GetFlag(FLAGS_threads);
  o.max_reply_mb_in_flight = absl::GetFlag(FLAGS_max_reply_mb_in_flight);
  o.sync = absl::GetFlag(FLAGS_sync);
  o.max_message_mb = absl::GetFlag(FLAGS_max_message_mb);
  o.api_key = absl::GetFlag(FLAGS_api_key);
  if (o.api_key.empty()) {
    if (const char* env = std::getenv("QUIVER_API_KEY")) o.api_key = env;
  }
  o.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  o.metrics_require_key = absl::GetFlag(FLAGS_metrics_require_key);
  o.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  o.tls_key = absl::GetFlag(FLAGS_tls_key);
  o.train_threads = absl::GetFlag(FLAGS_train_threads);
  o.disk_reserve_mb = absl::GetFlag(FLAGS_disk_reserve_mb);
  o.streams.max_streams = absl::GetFlag(FLAGS_max_streams);
  o.streams.idle_timeout = absl::Seconds(absl::GetFlag(FLAGS_stream_idle_s));
  o.streams.max_lifetime = absl::Seconds(absl::GetFlag(FLAGS_stream_max_s));
  o.backup_dir = absl::GetFlag(FLAGS_backup_dir);

  auto server = quiver::server::Server::Start(o);
  if (!server.ok()) {
    QUIVER_LOG(ERROR) << "quiverd failed to start: " << server.status();
    return 1;
  }
  return signals.ServeUntilShutdown(
      (*server)->port(), absl::GetFlag(FLAGS_port_file),
      absl::GetFlag(FLAGS_parent_watchdog), [&] {
        (*server)->Shutdown(
            absl::Seconds(absl::GetFlag(FLAGS_shutdown_grace_s)));
      });
}
