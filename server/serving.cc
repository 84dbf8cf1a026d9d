#include "server/serving.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "quiver/v1/quiver.grpc.pb.h"

namespace quiver::server {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrFormat("cannot read '%s'", path));
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

absl::Status CheckMaxMessageMb(int max_message_mb) {
  if (max_message_mb < 1 || max_message_mb > 2047) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "max_message_mb is %d; it must be in 1..2047", max_message_mb));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::string& tls_cert, const std::string& tls_key) {
  if (tls_cert.empty() && tls_key.empty()) {
    return grpc::InsecureServerCredentials();
  }
  if (tls_cert.empty() || tls_key.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both --tls_cert and --tls_key");
  }
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  QUIVER_ASSIGN_OR_RETURN(pair.cert_chain, ReadFile(tls_cert));
  QUIVER_ASSIGN_OR_RETURN(pair.private_key, ReadFile(tls_key));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(ssl);
}

absl::StatusOr<std::unique_ptr<grpc::Server>> StartGrpcServer(
    const GrpcServing& serving, grpc::Service* service,
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors,
    int* port) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(serving.listen, serving.credentials, port);
  builder.RegisterService(service);
  if (!interceptors.empty()) {
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  }
  const int max_bytes = serving.max_message_mb * (1 << 20);
  builder.SetMaxReceiveMessageSize(max_bytes);
  builder.SetMaxSendMessageSize(max_bytes);
  if (serving.threads > 0) {
    // Beyond it, unary calls get RESOURCE_EXHAUSTED from gRPC. Upsert
    // streams hold no thread while idle (server/upsert_stream.h).
    grpc::ResourceQuota quota(serving.quota_name);
    quota.SetMaxThreads(serving.threads);
    builder.SetResourceQuota(quota);
  }
  // Dead peers are noticed (a ping every minute while calls are open), and
  // a client may ping no more often than every 10 s.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10 * 1000);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *port == 0) {
    return absl::UnavailableError(
        absl::StrFormat("cannot listen on '%s'", serving.listen));
  }
  // Health per service name, not only the server as a whole ("").
  if (auto* health = server->GetHealthCheckService()) {
    health->SetServingStatus(v1::Quiver::service_full_name(), true);
  }
  return server;
}

void DrainAndStop(grpc::Server& server, absl::FunctionRef<int()> inflight,
                  absl::FunctionRef<void()> start_draining,
                  absl::Duration grace, absl::Duration streams_limit,
                  bool warn_on_cancel) {
  // Stop taking calls, let those in flight finish (gRPC's own Shutdown
  // deadline would also wait for idle client connections), then stop.
  if (auto* health = server.GetHealthCheckService()) {
    health->Shutdown();
  }
  // Waits until no call is in flight, or `limit` from now.
  auto wait_for_calls = [&inflight](absl::Duration limit) {
    const absl::Time deadline = absl::Now() + limit;
    while (inflight() > 0 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
  };
  start_draining();
  wait_for_calls(grace);
  if (warn_on_cancel && inflight() > 0) {
    QUIVER_LOG(WARNING) << inflight()
                        << " calls still running after the grace period; "
                           "cancelling them";
  }
  server.Shutdown(std::chrono::system_clock::now() +
                  std::chrono::milliseconds(100));
  server.Wait();
  // Cancelled Upsert streams end once their batch in progress (if any) is
  // done (or acknowledged or failed, behind a router).
  wait_for_calls(streams_limit);
}

bool WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.good()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

ShutdownSignals::ShutdownSignals() {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGTERM);
  sigaddset(&signals_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
  parent_ = getppid();
}

std::string ShutdownSignals::Wait(bool watch_parent) const {
  while (true) {
    const struct timespec tick = {0, 200 * 1000 * 1000};
    const int sig = sigtimedwait(&signals_, nullptr, &tick);
    if (sig > 0) return absl::StrCat("signal ", strsignal(sig));
    if (watch_parent && getppid() != parent_) return "parent process exited";
  }
}

int ShutdownSignals::ServeUntilShutdown(
    int port, const std::string& port_file, bool watch_parent,
    absl::FunctionRef<void()> shutdown) const {
  if (!port_file.empty() && !WritePortFile(port_file, port)) {
    QUIVER_LOG(ERROR) << "cannot write port file " << port_file << ": "
                      << std::strerror(errno);
    return 1;
  }
  const std::string reason = Wait(watch_parent);
  QUIVER_LOG(INFO) << "shutting down: " << reason;
  shutdown();
  return 0;
}

}  // namespace quiver::server
