#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status.h"

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

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeCredentials(
    const ServerOptions& options) {
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

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    const ServerOptions& options) {
  if (options.max_message_mb < 1 || options.max_message_mb > 2047) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "max_message_mb is %d; it must be in 1..2047", options.max_message_mb));
  }
  QUIVER_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> creds,
                          MakeCredentials(options));
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

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, creds, &server->port_);
  builder.RegisterService(server->service_.get());
  builder.experimental().SetInterceptorCreators(
      server->service_->Interceptors());
  const int max_bytes = options.max_message_mb * (1 << 20);
  builder.SetMaxReceiveMessageSize(max_bytes);
  builder.SetMaxSendMessageSize(max_bytes);
  if (options.threads > 0) {
    // Beyond it, unary calls get RESOURCE_EXHAUSTED from gRPC. Upsert
    // streams hold no thread while idle (server/upsert_stream.h).
    grpc::ResourceQuota quota("quiverd");
    quota.SetMaxThreads(options.threads);
    builder.SetResourceQuota(quota);
  }
  // Dead peers are noticed (a ping every minute while calls are open), and
  // a client may ping no more often than every 10 s.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10 * 1000);
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrFormat("cannot listen on '%s'", options.listen));
  }
  // Health per service name, not only the server as a whole ("").
  if (auto* health = server->grpc_server_->GetHealthCheckService()) {
    health->SetServingStatus(v1::Quiver::service_full_name(), true);
  }
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
    // Stop taking calls, let those in flight finish (gRPC's own Shutdown
    // deadline would also wait for idle client connections), then stop.
    if (auto* health = grpc_server_->GetHealthCheckService()) {
      health->Shutdown();
    }
    // Waits until no call is in flight, or `limit` from now.
    auto wait_for_calls = [this](absl::Duration limit) {
      const absl::Time deadline = absl::Now() + limit;
      while (service_->inflight() > 0 && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(5));
      }
    };
    service_->StartDraining();
    wait_for_calls(grace);
    if (service_->inflight() > 0) {
      QUIVER_LOG(WARNING) << service_->inflight()
                          << " calls still running after the grace period; "
                             "cancelling them";
    }
    grpc_server_->Shutdown(std::chrono::system_clock::now() +
                           std::chrono::milliseconds(100));
    grpc_server_->Wait();
    // Cancelled Upsert streams end once their batch in progress (if any)
    // is done: wait for them before the registry goes.
    wait_for_calls(absl::Seconds(60));
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
