// QuiverClient: a C++ client for the Quiver gRPC API
// (proto/quiver/v1/quiver.proto) that speaks absl::Status.
//
//   ClientOptions opts;
//   opts.address = "127.0.0.1:50051";
//   QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<QuiverClient> client,
//                           QuiverClient::Connect(opts));
//   QUIVER_ASSIGN_OR_RETURN(v1::CollectionInfo info,
//                           client->GetCollection("docs"));
//
// Every call maps the RPC's gRPC status to an absl::Status with the same code
// (the codes are numerically identical) and the server's message; an
// unreachable server is UNAVAILABLE with the address in the message.
//
// Thread safety: a QuiverClient is safe for concurrent use by many threads
// (it shares one gRPC channel). An UpsertStream is used by one sending thread.
#ifndef QUIVER_CLIENT_CLIENT_H_
#define QUIVER_CLIENT_CLIENT_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "quiver/v1/quiver.grpc.pb.h"
#include "quiver/v1/quiver.pb.h"

namespace quiver::client {

namespace v1 = ::quiver::v1;

struct ClientOptions {
  // host:port of the server (gRPC target syntax, e.g. "127.0.0.1:50051").
  std::string address = "127.0.0.1:50051";
  // Sent as "authorization: Bearer <api_key>" on every call when non-empty.
  std::string api_key;
  // TLS: when use_tls, the channel uses TLS; root_cert_file (PEM) replaces
  // the system roots when non-empty. Setting root_cert_file implies TLS.
  bool use_tls = false;
  std::string root_cert_file;
  // TLS: the name the server's certificate must carry, when it is not the
  // host of `address` (e.g. "quiver.internal" while dialling 127.0.0.1).
  std::string tls_server_name;
  // Deadline of each unary call; absl::InfiniteDuration() for none. Upsert
  // streams have no deadline (they last as long as the ingest).
  absl::Duration timeout = absl::Seconds(30);
  // Largest message accepted from the server.
  int max_receive_message_bytes = 64 << 20;
};

// Serving status from grpc.health.v1.Health/Check.
enum class HealthStatus { kUnknown = 0, kServing = 1, kNotServing = 2 };
const char* HealthStatusName(HealthStatus status);

// Converts a gRPC status (same numeric codes).
absl::Status FromGrpcStatus(const grpc::Status& status);

class QuiverClient;

// One client-streaming-and-server-streaming Upsert call, with several batches
// in flight. Send() blocks while `max_in_flight` batches are unacknowledged.
// Responses arrive on an internal reader thread, which calls `on_ack` for
// each batch in order (keep the callback short; it must not call Send).
//
// Thread safety: Send and Finish are called from one thread; on_ack runs on
// the reader thread. Destroying the stream cancels it if not finished.
// REQUIRES: the QuiverClient that opened it outlives it.
class UpsertStream {
 public:
  using AckCallback = std::function<void(const v1::UpsertResponse&)>;

  ~UpsertStream();
  UpsertStream(const UpsertStream&) = delete;
  UpsertStream& operator=(const UpsertStream&) = delete;

  // Sends one batch (with this stream's collection if request.collection is
  // empty). The caller picks request.batch_id; ids must be distinct within
  // the stream. Returns the stream's error if it has failed (no more batches
  // can be sent; call Finish for the final status).
  absl::Status Send(const v1::UpsertRequest& request);
  // Closes the sending side, waits for every acknowledgement and returns the
  // call's final status. INTERNAL if the server acknowledged batches out of
  // order or never acknowledged some.
  absl::Status Finish();
  // Cancels the call (batches not yet acknowledged may or may not be stored).
  void Cancel();

  // Batches sent and not yet acknowledged, oldest first.
  std::vector<uint64_t> Unacknowledged() const;
  size_t in_flight() const;

 private:
  friend class QuiverClient;
  UpsertStream(std::string collection, size_t max_in_flight,
               AckCallback on_ack);
  void ReadLoop();

  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<
      grpc::ClientReaderWriter<v1::UpsertRequest, v1::UpsertResponse>>
      stream_;
  std::string collection_;
  size_t max_in_flight_;
  AckCallback on_ack_;
  std::thread reader_;

  mutable absl::Mutex mu_;
  std::deque<uint64_t> in_flight_ ABSL_GUARDED_BY(mu_);
  bool read_done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status read_error_ ABSL_GUARDED_BY(mu_);
  bool writes_done_ = false;
  bool finished_ = false;
  bool write_failed_ = false;
};

// Result of QuiverClient::Upsert (the simple, blocking helper).
struct UpsertResult {
  uint64_t upserted = 0;
  std::vector<v1::RecordError> errors;  // positions are within `documents`
};

class QuiverClient {
 public:
  // Builds the channel; does not wait for the server (the first call does).
  // InvalidArgument for a bad address, NotFound if root_cert_file is missing.
  static absl::StatusOr<std::unique_ptr<QuiverClient>> Connect(
      const ClientOptions& options);

  QuiverClient(const QuiverClient&) = delete;
  QuiverClient& operator=(const QuiverClient&) = delete;

  absl::StatusOr<v1::CollectionInfo> CreateCollection(
      const v1::CreateCollectionRequest& request);
  absl::StatusOr<v1::CollectionInfo> GetCollection(const std::string& name);
  absl::StatusOr<std::vector<v1::CollectionInfo>> ListCollections();
  // OK if dropped; NOT_FOUND if unknown.
  absl::Status DropCollection(const std::string& name);

  // Opens an Upsert stream on `collection` with up to max_in_flight (>= 1)
  // unacknowledged batches.
  absl::StatusOr<std::unique_ptr<UpsertStream>> OpenUpsertStream(
      const std::string& collection, size_t max_in_flight,
      UpsertStream::AckCallback on_ack);
  // Upserts `documents` in batches of batch_size over one stream and waits
  // for every acknowledgement.
  absl::StatusOr<UpsertResult> Upsert(
      const std::string& collection, const std::vector<v1::Document>& documents,
      size_t batch_size = 1000, size_t max_in_flight = 4);

  absl::StatusOr<std::vector<v1::Document>> Get(
      const std::string& collection, const std::vector<std::string>& ids,
      bool include_vectors);
  // Returns the number of ids that existed.
  absl::StatusOr<uint64_t> Delete(const std::string& collection,
                                  const std::vector<std::string>& ids);
  absl::StatusOr<v1::SearchResponse> Search(const v1::SearchRequest& request);
  // Starts (re)training; returns at once (state TRAINING).
  absl::StatusOr<v1::CollectionInfo> Train(
      const std::string& collection,
      const std::optional<v1::IndexParams>& overrides = std::nullopt);
  // Polls GetCollection until the collection is READY (OK), training failed
  // (last_error set and not training: INTERNAL with the error) or `timeout`
  // passes (DEADLINE_EXCEEDED). `on_poll` sees each state (may be empty).
  absl::StatusOr<v1::CollectionInfo> WaitReady(
      const std::string& collection, absl::Duration timeout,
      const std::function<void(const v1::CollectionInfo&)>& on_poll = {});
  absl::StatusOr<v1::BackupResponse> Backup(const std::string& directory);

  // Connects the channel if it is not connected, waiting up to `timeout`;
  // true once connected. For callers that retry after UNAVAILABLE.
  bool WaitForConnected(absl::Duration timeout);

  // grpc.health.v1.Health/Check for `service` ("" = the whole server).
  absl::StatusOr<HealthStatus> Health(const std::string& service = "");

  const ClientOptions& options() const { return options_; }

 private:
  QuiverClient(ClientOptions options, std::shared_ptr<grpc::Channel> channel);
  // A context with the deadline and the authorization metadata.
  std::unique_ptr<grpc::ClientContext> NewContext(bool with_deadline) const;
  absl::Status Convert(const grpc::Status& status, const char* rpc) const;

  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Quiver::Stub> stub_;
};

}  // namespace quiver::client

#endif  // QUIVER_CLIENT_CLIENT_H_
