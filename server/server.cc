#include "server/server.h"

#include <filesystem>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "server/serving.h"

namespace quiver::server {

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    const ServerOptions& options) {
  QUIVER_RETURN_IF_ERROR(CheckMaxMessageMb(options.max_message_mb));
  QUIVER_ASSIGN_OR_RETURN(
      std::shared_ptr<grpc::ServerCredentials> creds,
      MakeServerCredentials(options.tls_cert, options.tls_key));
  std::unique_ptr<Server> server(new Server());
  RegistryOptions ro;
  ro.store.path = options.data_dir;
  ro.store.sync = options.sync;
  ro.store.disk_reserve_bytes =
      options.disk_reserve_mb < 0 ? -1 : options.disk_reserve_mb << 20;
  ro.collection.train_threads = options.train_threads;
  QUIVER_ASSIGN_OR_RETURN(server->registry_, CollectionRegistry::Open(ro));

  server->metrics_ = std::make_unique<Metrics>();
  server->metrics_->SetRegistry(server->registry_.get());
  if (options.metrics_require_key && options.api_key.empty()) {
    return absl::InvalidArgumentError(
        "--metrics_require_key needs an API key (--api_key or "
        "$QUIVER_API_KEY)");
  }
  if (!options.metrics_listen.empty()) {
    const ApiKeyAuth metrics_auth(options.metrics_require_key ? options.api_key
                                                              : "");
    QUIVER_RETURN_IF_ERROR(
        server->metrics_->Serve(options.metrics_listen, &metrics_auth));
    QUIVER_LOG(INFO) << "metrics on " << options.metrics_listen << " (port "
                     << server->metrics_->port() << ")"
                     << (options.metrics_require_key ? ", API key required"
                                                     : "");
  }
  if (!options.backup_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.backup_dir, ec);
    if (ec || !std::filesystem::is_directory(options.backup_dir)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--backup_dir '%s' is not a usable directory: %s",
                          options.backup_dir, ec.message()));
    }
  }
  ServiceOptions so;
  so.backup_dir = options.backup_dir;
  so.streams = options.streams;
  so.max_reply_bytes = size_t(options.max_message_mb) << 20;
  so.reply_budget.limit_bytes = size_t(options.max_reply_mb_in_flight) << 20;
  server->service_ = std::make_unique<QuiverService>(
      server->registry_.get(), server->metrics_.get(),
      ApiKeyAuth(options.api_key), so);

  GrpcServing serving;
  serving.listen = options.listen;
  serving.credentials = std::move(creds);
  serving.max_message_mb = options.max_message_mb;
  serving.threads = options.threads;
  serving.quota_name = "quiverd";
  QUIVER_ASSIGN_OR_RETURN(
      server->grpc_server_,
      StartGrpcServer(serving, server->service_.get(),
                      server->service_->Interceptors(), &server->port_));
  QUIVER_LOG(INFO) << "quiverd listening on " << options.listen << " (port "
                   << server->port_ << ")"
                   << (options.tls_cert.empty() ? "" : ", TLS")
                   << (options.api_key.empty() ? "" : ", API key required")
                   << ", data in " << options.data_dir
                   << (options.sync ? ", fsync on" : ", fsync off")
                   << (server->registry_->read_only()
                           ? ", READ-ONLY (the disk was full at start)"
                           : "");
  return server;
}

Server::~Server() { Shutdown(absl::Seconds(5)); }

int Server::metrics_port() const { return metrics_ ? metrics_->port() : 0; }

void Server::Shutdown(absl::Duration grace) {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  const absl::Time start = absl::Now();
  if (grpc_server_) {
    DrainAndStop(
        *grpc_server_, [this] { return service_->inflight(); },
        [this] { service_->StartDraining(); }, grace, absl::Seconds(60),
        /*warn_on_cancel=*/true);
    QUIVER_LOG(INFO) << "gRPC server stopped after "
                     << absl::FormatDuration(absl::Now() - start);
  }
  if (metrics_) metrics_->SetRegistry(nullptr);
  if (registry_) {
    absl::Status s = registry_->Shutdown();
    if (!s.ok()) {
      QUIVER_LOG(WARNING) << "store flush at shutdown: " << s;
    }
    registry_.reset();
  }
  QUIVER_LOG(INFO) << "quiverd stopped in "
                   << absl::FormatDuration(absl::Now() - start);
}

}  // namespace quiver::server
