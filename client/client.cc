#include "client/client.h"

#include <chrono>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace quiver::client {
namespace {

// gRPC service config: the retry policy of the idempotent calls.
constexpr char kRetryServiceConfig[] = R"json({
  "methodConfig": [{
    "name": [
      {"service": "quiver.v1.Quiver", "method": "Get"},
      {"service": "quiver.v1.Quiver", "method": "Search"},
      {"service": "quiver.v1.Quiver", "method": "GetCollection"},
      {"service": "quiver.v1.Quiver", "method": "ListCollections"}
    ],
    "retryPolicy": {
      "maxAttempts": 5,
      "initialBackoff": "0.5s",
      "maxBackoff": "4s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
})json";

}  // namespace

const char* HealthStatusName(HealthStatus status) {
  switch (status) {
    case HealthStatus::kServing:
      return "SERVING";
    case HealthStatus::kNotServing:
      return "NOT_SERVING";
    case HealthStatus::kUnknown:
      break;
  }
  return "UNKNOWN";
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

// ---------------------------------------------------------------------------
// UpsertStream

UpsertStream::UpsertStream(std::string collection, size_t max_in_flight,
                           AckCallback on_ack)
    : collection_(std::move(collection)),
      max_in_flight_(max_in_flight == 0 ? 1 : max_in_flight),
      on_ack_(std::move(on_ack)) {}

UpsertStream::~UpsertStream() {
  if (!finished_ && stream_ != nullptr) {
    context_->TryCancel();
    if (reader_.joinable()) reader_.join();
    static_cast<void>(stream_->Finish());  // reclaims the call
  } else if (reader_.joinable()) {
    reader_.join();
  }
}

void UpsertStream::ReadLoop() {
  v1::UpsertResponse response;
  bool broken = false;
  while (stream_->Read(&response)) {
    if (broken) continue;  // draining after a protocol error
    {
      absl::MutexLock lock(&mu_);
      if (in_flight_.empty() || in_flight_.front() != response.batch_id()) {
        read_error_ = absl::InternalError(absl::StrCat(
            "server acknowledged batch ", response.batch_id(),
            in_flight_.empty()
                ? std::string(" but no batch is unacknowledged")
                : absl::StrCat(" but the oldest unacknowledged batch is ",
                               in_flight_.front())));
        broken = true;
      } else {
        in_flight_.pop_front();
      }
    }
    if (broken) {
      context_->TryCancel();
      continue;
    }
    if (on_ack_) on_ack_(response);
  }
  absl::MutexLock lock(&mu_);
  read_done_ = true;
}

absl::Status UpsertStream::Send(const v1::UpsertRequest& request) {
  if (finished_ || writes_done_) {
    return absl::FailedPreconditionError("Send after Finish on UpsertStream");
  }
  if (write_failed_) {
    return absl::UnavailableError("the upsert stream is broken");
  }
  {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return in_flight_.size() < max_in_flight_ || read_done_;
    };
    mu_.Await(absl::Condition(&ready));
    if (read_done_) {
      if (!read_error_.ok()) return read_error_;
      return absl::UnavailableError(
          "the server closed the upsert stream (call Finish for the status)");
    }
    in_flight_.push_back(request.batch_id());
  }
  bool written;
  if (request.collection().empty()) {
    v1::UpsertRequest copy = request;
    copy.set_collection(collection_);
    written = stream_->Write(copy);
  } else {
    written = stream_->Write(request);
  }
  if (!written) {
    write_failed_ = true;
    return absl::UnavailableError(
        "the upsert stream is broken (call Finish for the status)");
  }
  return absl::OkStatus();
}

absl::Status UpsertStream::Finish() {
  if (finished_) return absl::FailedPreconditionError("Finish called twice");
  if (!writes_done_ && !write_failed_) stream_->WritesDone();
  writes_done_ = true;
  if (reader_.joinable()) reader_.join();
  finished_ = true;
  const grpc::Status st = stream_->Finish();
  absl::MutexLock lock(&mu_);
  if (!read_error_.ok()) return read_error_;
  if (!st.ok()) {
    absl::Status s = FromGrpcStatus(st);
    if (s.code() == absl::StatusCode::kUnavailable) {
      return absl::UnavailableError(
          absl::StrCat("upsert stream lost: ", s.message()));
    }
    return s;
  }
  if (!in_flight_.empty()) {
    return absl::InternalError(absl::StrCat(
        "the server ended the upsert stream with ", in_flight_.size(),
        " batches unacknowledged (first: batch ", in_flight_.front(), ")"));
  }
  return absl::OkStatus();
}

void UpsertStream::Cancel() {
  if (context_ != nullptr) context_->TryCancel();
}

std::vector<uint64_t> UpsertStream::Unacknowledged() const {
  absl::MutexLock lock(&mu_);
  return std::vector<uint64_t>(in_flight_.begin(), in_flight_.end());
}

size_t UpsertStream::in_flight() const {
  absl::MutexLock lock(&mu_);
  return in_flight_.size();
}

// ---------------------------------------------------------------------------
// QuiverClient

QuiverClient::QuiverClient(ClientOptions options,
                           std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      stub_(v1::Quiver::NewStub(channel_)) {}

absl::StatusOr<std::unique_ptr<QuiverClient>> QuiverClient::Connect(
    const ClientOptions& options) {
  if (options.address.empty()) {
    return absl::InvalidArgumentError("empty server address");
  }
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (options.use_tls || !options.root_cert_file.empty()) {
    grpc::SslCredentialsOptions ssl;
    if (!options.root_cert_file.empty()) {
      std::ifstream in(options.root_cert_file, std::ios::binary);
      if (!in) {
        return absl::NotFoundError(absl::StrCat(
            "cannot read the TLS root certificate ", options.root_cert_file));
      }
      std::stringstream ss;
      ss << in.rdbuf();
      ssl.pem_root_certs = ss.str();
      if (ssl.pem_root_certs.find("-----BEGIN CERTIFICATE-----") ==
          std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat(options.root_cert_file,
                         " holds no PEM certificate (-----BEGIN CERTIFICATE"
                         "----- not found)"));
      }
    }
    creds = grpc::SslCredentials(ssl);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  if (options.use_tls && !options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  args.SetMaxSendMessageSize(-1);
  // Reconnect quickly after a server restart (gRPC's default back-off starts
  // at 1 s and grows to 120 s, during which calls fail at once). gRPC also
  // takes GRPC_ARG_MIN_RECONNECT_BACKOFF_MS as the time one connection
  // attempt (TCP + TLS handshake) may last: 5 s, not 100 ms (TLS handshakes
  // fail on a busy machine), nor the default 20 s.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 5000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // Calls that change nothing are retried by gRPC on UNAVAILABLE (a server
  // restarting, a dropped connection): up to 5 attempts, about 4 s in all
  // (gRPC jitters each back-off between 0 and 0.5, 1, 2, 4 s).
  // Upsert resends its own unacknowledged batches; Delete, Train and the
  // collection changes are never retried behind the caller's back, nor is
  // a health check (it reports the server's state now).
  args.SetServiceConfigJSON(kRetryServiceConfig);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(options.address, creds, args);
  if (channel == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot create a channel to '", options.address, "'"));
  }
  return std::unique_ptr<QuiverClient>(
      new QuiverClient(options, std::move(channel)));
}

std::unique_ptr<grpc::ClientContext> QuiverClient::NewContext(
    bool with_deadline) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (with_deadline && options_.timeout != absl::InfiniteDuration()) {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      absl::ToChronoMilliseconds(options_.timeout));
  }
  if (!options_.api_key.empty()) {
    ctx->AddMetadata("authorization",
                     absl::StrCat("Bearer ", options_.api_key));
  }
  return ctx;
}

absl::Status QuiverClient::Convert(const grpc::Status& status,
                                   const char* rpc) const {
  if (status.ok()) return absl::OkStatus();
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return absl::UnavailableError(
          absl::StrCat("cannot reach the quiver server at ", options_.address,
                       " (", rpc, "): ", status.error_message()));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::DeadlineExceededError(
          absl::StrCat(rpc, " to ", options_.address, " timed out after ",
                       absl::FormatDuration(options_.timeout), ": ",
                       status.error_message()));
    default:
      return FromGrpcStatus(status);
  }
}

absl::StatusOr<v1::CollectionInfo> QuiverClient::CreateCollection(
    const v1::CreateCollectionRequest& request) {
  auto ctx = NewContext(true);
  v1::CollectionInfo info;
  QUIVER_RETURN_IF_ERROR(Convert(
      stub_->CreateCollection(ctx.get(), request, &info), "CreateCollection"));
  return info;
}

absl::StatusOr<v1::CollectionInfo> QuiverClient::GetCollection(
    const std::string& name) {
  auto ctx = NewContext(true);
  v1::GetCollectionRequest request;
  request.set_name(name);
  v1::CollectionInfo info;
  QUIVER_RETURN_IF_ERROR(Convert(
      stub_->GetCollection(ctx.get(), request, &info), "GetCollection"));
  return info;
}

absl::StatusOr<std::vector<v1::CollectionInfo>>
QuiverClient::ListCollections() {
  auto ctx = NewContext(true);
  v1::ListCollectionsRequest request;
  v1::ListCollectionsResponse response;
  QUIVER_RETURN_IF_ERROR(
      Convert(stub_->ListCollections(ctx.get(), request, &response),
              "ListCollections"));
  return std::vector<v1::CollectionInfo>(response.collections().begin(),
                                         response.collections().end());
}

absl::Status QuiverClient::DropCollection(const std::string& name) {
  auto ctx = NewContext(true);
  v1::DropCollectionRequest request;
  request.set_name(name);
  v1::DropCollectionResponse response;
  return Convert(stub_->DropCollection(ctx.get(), request, &response),
                 "DropCollection");
}

absl::StatusOr<std::unique_ptr<UpsertStream>> QuiverClient::OpenUpsertStream(
    const std::string& collection, size_t max_in_flight,
    UpsertStream::AckCallback on_ack) {
  if (collection.empty()) {
    return absl::InvalidArgumentError("empty collection name");
  }
  std::unique_ptr<UpsertStream> s(
      new UpsertStream(collection, max_in_flight, std::move(on_ack)));
  s->context_ = NewContext(false);
  s->stream_ = stub_->Upsert(s->context_.get());
  if (s->stream_ == nullptr) {
    return absl::InternalError("cannot start the Upsert call");
  }
  s->reader_ = std::thread(&UpsertStream::ReadLoop, s.get());
  return s;
}

absl::StatusOr<UpsertResult> QuiverClient::Upsert(
    const std::string& collection, const std::vector<v1::Document>& documents,
    size_t batch_size, size_t max_in_flight) {
  if (batch_size == 0) return absl::InvalidArgumentError("batch_size is 0");
  UpsertResult result;
  absl::Mutex mu;
  auto on_ack = [&](const v1::UpsertResponse& r) {
    absl::MutexLock lock(&mu);
    result.upserted += r.upserted();
    for (const v1::RecordError& e : r.errors()) {
      v1::RecordError g = e;
      g.set_position(
          static_cast<uint32_t>(r.batch_id() * batch_size + e.position()));
      result.errors.push_back(std::move(g));
    }
  };
  QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<UpsertStream> stream,
                          OpenUpsertStream(collection, max_in_flight, on_ack));
  absl::Status send_status;
  for (size_t start = 0, batch = 0; start < documents.size();
       start += batch_size, ++batch) {
    v1::UpsertRequest request;
    request.set_batch_id(batch);
    const size_t end = std::min(documents.size(), start + batch_size);
    for (size_t i = start; i < end; ++i)
      *request.add_documents() = documents[i];
    send_status = stream->Send(request);
    if (!send_status.ok()) break;
  }
  QUIVER_RETURN_IF_ERROR(stream->Finish());
  QUIVER_RETURN_IF_ERROR(send_status);
  absl::MutexLock lock(&mu);
  return result;
}

absl::StatusOr<std::vector<v1::Document>> QuiverClient::Get(
    const std::string& collection, const std::vector<std::string>& ids,
    bool include_vectors) {
  auto ctx = NewContext(true);
  v1::GetRequest request;
  request.set_collection(collection);
  for (const std::string& id : ids) request.add_ids(id);
  request.set_include_vectors(include_vectors);
  v1::GetResponse response;
  QUIVER_RETURN_IF_ERROR(
      Convert(stub_->Get(ctx.get(), request, &response), "Get"));
  return std::vector<v1::Document>(response.documents().begin(),
                                   response.documents().end());
}

absl::StatusOr<uint64_t> QuiverClient::Delete(
    const std::string& collection, const std::vector<std::string>& ids) {
  auto ctx = NewContext(true);
  v1::DeleteRequest request;
  request.set_collection(collection);
  for (const std::string& id : ids) request.add_ids(id);
  v1::DeleteResponse response;
  QUIVER_RETURN_IF_ERROR(
      Convert(stub_->Delete(ctx.get(), request, &response), "Delete"));
  return response.deleted();
}

absl::StatusOr<v1::SearchResponse> QuiverClient::Search(
    const v1::SearchRequest& request) {
  auto ctx = NewContext(true);
  v1::SearchResponse response;
  QUIVER_RETURN_IF_ERROR(
      Convert(stub_->Search(ctx.get(), request, &response), "Search"));
  return response;
}

absl::StatusOr<v1::CollectionInfo> QuiverClient::Train(
    const std::string& collection,
    const std::optional<v1::IndexParams>& overrides) {
  auto ctx = NewContext(true);
  v1::TrainRequest request;
  request.set_collection(collection);
  if (overrides.has_value()) *request.mutable_overrides() = *overrides;
  v1::CollectionInfo info;
  QUIVER_RETURN_IF_ERROR(
      Convert(stub_->Train(ctx.get(), request, &info), "Train"));
  return info;
}

absl::StatusOr<v1::CollectionInfo> QuiverClient::WaitReady(
    const std::string& collection, absl::Duration timeout,
    const std::function<void(const v1::CollectionInfo&)>& on_poll) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Duration pause = absl::Milliseconds(20);
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(v1::CollectionInfo info, GetCollection(collection));
    if (on_poll) on_poll(info);
    if (info.state() == v1::COLLECTION_STATE_READY) return info;
    if (info.state() != v1::COLLECTION_STATE_TRAINING &&
        !info.last_error().empty()) {
      return absl::InternalError(absl::StrCat("training of collection '",
                                              collection,
                                              "' failed: ", info.last_error()));
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("collection '", collection, "' is still ",
                       v1::CollectionState_Name(info.state()), " after ",
                       absl::FormatDuration(timeout)));
    }
    absl::SleepFor(pause);
    pause = std::min(pause * 2, absl::Milliseconds(250));
  }
}

absl::StatusOr<v1::BackupResponse> QuiverClient::Backup(
    const std::string& directory) {
  auto ctx = NewContext(true);
  v1::BackupRequest request;
  request.set_directory(directory);
  v1::BackupResponse response;
  QUIVER_RETURN_IF_ERROR(
      Convert(stub_->Backup(ctx.get(), request, &response), "Backup"));
  return response;
}

bool QuiverClient::WaitForConnected(absl::Duration timeout) {
  return channel_->WaitForConnected(std::chrono::system_clock::now() +
                                    absl::ToChronoMilliseconds(timeout));
}

absl::StatusOr<HealthStatus> QuiverClient::Health(const std::string& service) {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  auto ctx = NewContext(true);
  QUIVER_RETURN_IF_ERROR(
      Convert(grpc::health::v1::Health::NewStub(channel_)->Check(
                  ctx.get(), request, &response),
              "Health/Check"));
  switch (response.status()) {
    case grpc::health::v1::HealthCheckResponse::SERVING:
      return HealthStatus::kServing;
    case grpc::health::v1::HealthCheckResponse::NOT_SERVING:
      return HealthStatus::kNotServing;
    default:
      return HealthStatus::kUnknown;
  }
}

}  // namespace quiver::client
