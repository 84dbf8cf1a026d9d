// quiver-router: one Quiver service in front of several quiverd nodes that
// hold the shards of collections (server/router/router_service.h).
//
//   quiver-router --listen 0.0.0.0:50050 --shards a:50051,b:50051,c:50051
//   quiver-router --shards 'quiver-{0..2}.quiver:50051'   # a StatefulSet
//   quiver-router --listen 127.0.0.1:0 --port_file /tmp/port ...  # tests
//
// SIGTERM / SIGINT: stop accepting, finish calls in flight (up to
// --shutdown_grace_s), exit 0. The router keeps no state: any number of
// them may run, and one may be restarted at any time.
#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "server/router/router_server.h"
#include "server/router/shard_map.h"
#include "server/serving.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50050",
          "gRPC listen address host:port (port 0 = any free port)");
ABSL_FLAG(std::string, shards, "",
          "The quiverd nodes, in shard order: host:port,host:port,... or "
          "one name with a range, as a StatefulSet names its pods: "
          "'quiver-{0..2}.quiver:50051' (default: $QUIVER_SHARDS)");
ABSL_FLAG(std::string, api_key, "",
          "Require 'authorization: Bearer <key>' on every Quiver RPC "
          "(default: $QUIVER_API_KEY; empty = no authentication)");
ABSL_FLAG(std::string, node_api_key, "",
          "Key sent to the nodes (default: --api_key)");
ABSL_FLAG(std::string, node_tls_ca, "",
          "PEM root certificates of the nodes: speak TLS to them");
ABSL_FLAG(std::string, node_tls_server_name, "",
          "Name in the nodes' certificates when it is not their host");
ABSL_FLAG(int, node_timeout_s, 60,
          "Deadline of a call to a node when the client's call has none");
ABSL_FLAG(std::string, metrics_listen, "",
          "Prometheus /metrics address host:port (empty = off)");
ABSL_FLAG(bool, metrics_require_key, false,
          "/metrics needs HTTP basic auth whose password is the API key");
ABSL_FLAG(std::string, tls_cert, "", "TLS certificate chain (PEM file)");
ABSL_FLAG(std::string, tls_key, "", "TLS private key (PEM file)");
ABSL_FLAG(int, threads, 256, "Most threads serving unary calls (0 = no limit)");
ABSL_FLAG(int, max_message_mb, 64, "Largest message, MiB");
ABSL_FLAG(int, max_streams, 4096,
          "Most open Upsert streams; more get RESOURCE_EXHAUSTED");
ABSL_FLAG(int, stream_idle_s, 600,
          "An Upsert stream with no batch for this many seconds is closed "
          "(0 = never)");
ABSL_FLAG(int, upsert_workers, 64,
          "Upsert batches in progress at once over all streams");
ABSL_FLAG(int, shutdown_grace_s, 10,
          "Seconds in-flight calls get to finish at shutdown");
ABSL_FLAG(std::string, port_file, "",
          "Write the bound gRPC port to this file once serving");
ABSL_FLAG(bool, parent_watchdog, false,
          "Shut down when the parent process exits (for tests)");

namespace {

std::string FlagOrEnv(const std::string& flag, const char* env) {
  if (!flag.empty()) return flag;
  const char* value = std::getenv(env);
  return value == nullptr ? "" : value;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "quiver-router: one Quiver service over sharded quiverd nodes");
  absl::ParseCommandLine(argc, argv);
  // Debian's Abseil checks every absl::Mutex acquisition for lock-order
  // cycles (a debug aid; ~6% of a search's time, one reader lock per probed
  // list). The tests keep the check; the server does not pay for it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  const quiver::server::ShutdownSignals signals;

  auto nodes = quiver::router::ExpandNodes(
      FlagOrEnv(absl::GetFlag(FLAGS_shards), "QUIVER_SHARDS"));
  if (!nodes.ok()) {
    QUIVER_LOG(ERROR) << nodes.status().message();
    return 2;
  }
  quiver::router::RouterServerOptions o;
  o.listen = absl::GetFlag(FLAGS_listen);
  o.api_key = FlagOrEnv(absl::GetFlag(FLAGS_api_key), "QUIVER_API_KEY");
  o.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  o.metrics_require_key = absl::GetFlag(FLAGS_metrics_require_key);
  o.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  o.tls_key = absl::GetFlag(FLAGS_tls_key);
  o.threads = absl::GetFlag(FLAGS_threads);
  o.max_message_mb = absl::GetFlag(FLAGS_max_message_mb);
  o.router.nodes = *nodes;
  o.router.node_api_key = absl::GetFlag(FLAGS_node_api_key);
  if (o.router.node_api_key.empty()) o.router.node_api_key = o.api_key;
  o.router.node_tls_ca = absl::GetFlag(FLAGS_node_tls_ca);
  o.router.node_tls_server_name = absl::GetFlag(FLAGS_node_tls_server_name);
  o.router.node_timeout = absl::Seconds(absl::GetFlag(FLAGS_node_timeout_s));
  o.router.streams.max_streams = absl::GetFlag(FLAGS_max_streams);
  o.router.streams.idle_timeout =
      absl::Seconds(absl::GetFlag(FLAGS_stream_idle_s));
  o.router.streams.max_lifetime = absl::ZeroDuration();
  o.router.streams.workers = absl::GetFlag(FLAGS_upsert_workers);

  auto server = quiver::router::RouterServer::Start(o);
  if (!server.ok()) {
    QUIVER_LOG(ERROR) << "quiver-router failed to start: " << server.status();
    return 1;
  }
  return signals.ServeUntilShutdown(
      (*server)->port(), absl::GetFlag(FLAGS_port_file),
      absl::GetFlag(FLAGS_parent_watchdog), [&] {
        (*server)->Shutdown(
            absl::Seconds(absl::GetFlag(FLAGS_shutdown_grace_s)));
      });
}
