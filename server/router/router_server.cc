#include "server/router/router_server.h"

#include <utility>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "server/serving.h"

namespace quiver::router {

absl::StatusOr<std::unique_ptr<RouterServer>> RouterServer::Start(
    const RouterServerOptions& options) {
  QUIVER_RETURN_IF_ERROR(server::CheckMaxMessageMb(options.max_message_mb));
  if (options.metrics_require_key && options.api_key.empty()) {
    return absl::InvalidArgumentError(
        "--metrics_require_key needs an API key (--api_key or "
        "$QUIVER_API_KEY)");
  }
  QUIVER_ASSIGN_OR_RETURN(
      std::shared_ptr<grpc::ServerCredentials> creds,
      server::MakeServerCredentials(options.tls_cert, options.tls_key));
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

  server::GrpcServing serving;
  serving.listen = options.listen;
  serving.credentials = std::move(creds);
  serving.max_message_mb = options.max_message_mb;
  serving.threads = options.threads;
  serving.quota_name = "quiver-router";
  QUIVER_ASSIGN_OR_RETURN(
      r->grpc_server_,
      server::StartGrpcServer(serving, r->service_.get(), {}, &r->port_));
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
  server::DrainAndStop(
      *grpc_server_, [this] { return service_->inflight(); },
      [this] { service_->StartDraining(); }, grace, absl::Seconds(70),
      /*warn_on_cancel=*/false);
  QUIVER_LOG(INFO) << "quiver-router stopped";
}

}  // namespace quiver::router
