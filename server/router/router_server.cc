#include "server/router/router_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status.h"

namespace quiver::router {
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

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeCredentials(
    const RouterServerOptions& options) {
  if (options.tls_cert.empty() && options.tls_key.empty()) {
    return grpc::InsecureServerCredentials();
  }
  if (options.tls_cert.empty() || options.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both --tls_cert and --tls_key");
  }
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  QUIVER_ASSIGN_OR_RETURN(pair.cert_chain, ReadFile(options.tls_cert));
  QUIVER_ASSIGN_OR_RETURN(pair.private_key, ReadFile(options.tls_key));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<RouterServer>> RouterServer::Start(
    const RouterServerOptions& options) {
  if (options.max_message_mb < 1 || options.max_message_mb > 2047) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "max_message_mb is %d; it must be in 1..2047", options.max_message_mb));
  }
  if (options.metrics_require_key && options.api_key.empty()) {
    return absl::InvalidArgumentError(
        "--metrics_require_key needs an API key (--api_key or "
        "$QUIVER_API_KEY)");
  }
  QUIVER_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> creds,
                          MakeCredentials(options));
  std::unique_ptr<RouterServer> r(new RouterServer());
  r->metrics_ = std::make_unique<server::Metrics>();
  if (!options.metrics_listen.empty()) {
    const server::ApiKeyAuth metrics_auth(
        options.metrics_require_key ? options.api_key : "");
    QUIVER_RETURN_IF_ERROR(
        r->metrics_->Serve(options.metrics_listen, &metrics_auth));
  }
  RouterOptions ro = options.router;
  ro.max_message_mb = options.max_message_mb;
  QUIVER_ASSIGN_OR_RETURN(
      r->service_, RouterService::Create(std::move(ro), r->metrics_.get(),
                                         server::ApiKeyAuth(options.api_key)));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, creds, &r->port_);
  builder.RegisterService(r->service_.get());
  const int max_bytes = options.max_message_mb * (1 << 20);
  builder.SetMaxReceiveMessageSize(max_bytes);
  builder.SetMaxSendMessageSize(max_bytes);
  if (options.threads > 0) {
    grpc::ResourceQuota quota("quiver-router");
    quota.SetMaxThreads(options.threads);
    builder.SetResourceQuota(quota);
  }
  // As quiverd: a ping every minute while calls are open, clients may ping
  // every 10 s.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10 * 1000);
  r->grpc_server_ = builder.BuildAndStart();
  if (r->grpc_server_ == nullptr || r->port_ == 0) {
    return absl::UnavailableError(
        absl::StrFormat("cannot listen on '%s'", options.listen));
  }
  if (auto* health = r->grpc_server_->GetHealthCheckService()) {
    health->SetServingStatus(v1::Quiver::service_full_name(), true);
  }
  QUIVER_LOG(INFO) << "quiver-router listening on " << options.listen
                   << " (port " << r->port_ << ")"
                   << (options.tls_cert.empty() ? "" : ", TLS")
                   << (options.api_key.empty() ? "" : ", API key required")
                   << ", nodes " << absl::StrJoin(options.router.nodes, ",");
  return r;
}

RouterServer::~RouterServer() { Shutdown(absl::Seconds(5)); }

void RouterServer::Shutdown(absl::Duration grace) {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  if (grpc_server_ == nullptr) return;
  if (auto* health = grpc_server_->GetHealthCheckService()) {
    health->Shutdown();
  }
  auto wait_for_calls = [this](absl::Duration limit) {
    const absl::Time deadline = absl::Now() + limit;
    while (service_->inflight() > 0 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
  };
  service_->StartDraining();
  wait_for_calls(grace);
  grpc_server_->Shutdown(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(100));
  grpc_server_->Wait();
  // Streams cancelled by the shutdown end once their batch (if any) is
  // acknowledged or failed.
  wait_for_calls(absl::Seconds(70));
  QUIVER_LOG(INFO) << "quiver-router stopped";
}

}  // namespace quiver::router
