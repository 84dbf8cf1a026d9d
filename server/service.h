// The quiver.v1.Quiver gRPC service: each handler checks the API key,
// validates the request, converts it, calls the collection registry and
// converts the answer. Every RPC is counted and timed in Metrics by method
// and status code. Unary calls use the synchronous API; the Upsert stream
// uses the callback API with raw messages (server/upsert_stream.h), so
// that an idle stream holds no thread and a batch the protobuf parser
// rejects gets an error instead of silently ending the stream.
//
//   QuiverService service(registry.get(), &metrics, ApiKeyAuth(key));
//   builder.RegisterService(&service);
//
// Thread safety: handlers run concurrently on gRPC's threads; the service
// holds no mutable state of its own.
#ifndef QUIVER_SERVER_SERVICE_H_
#define QUIVER_SERVER_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "quiver/v1/quiver.grpc.pb.h"
#include "server/auth.h"
#include "server/convert.h"
#include "server/metrics.h"
#include "server/reply_budget.h"
#include "server/upsert_stream.h"

namespace quiver::server {

struct ServiceOptions {
  // The folder Backup writes into (empty = Backup refused).
  std::string backup_dir;
  // Limits of Upsert streams.
  StreamLimits streams;
  // Largest reply gRPC will send (the server's max send message size): a
  // Get or Search whose reply cannot fit is refused before the work.
  size_t max_reply_bytes = 64u << 20;
  // Memory that large replies not yet read by their clients may hold.
  ReplyBudgetOptions reply_budget;
};

class QuiverService final
    : public v1::Quiver::WithRawCallbackMethod_Upsert<v1::Quiver::Service> {
 public:
  // `registry` and `metrics` are not owned and must outlive the service;
  // `metrics` may be null.
  QuiverService(CollectionRegistry* registry, Metrics* metrics, ApiKeyAuth auth,
                ServiceOptions options = {});

  grpc::Status CreateCollection(grpc::ServerContext* context,
                                const v1::CreateCollectionRequest* request,
                                v1::CollectionInfo* response) override;
  grpc::Status GetCollection(grpc::ServerContext* context,
                             const v1::GetCollectionRequest* request,
                             v1::CollectionInfo* response) override;
  grpc::Status ListCollections(grpc::ServerContext* context,
                               const v1::ListCollectionsRequest* request,
                               v1::ListCollectionsResponse* response) override;
  grpc::Status DropCollection(grpc::ServerContext* context,
                              const v1::DropCollectionRequest* request,
                              v1::DropCollectionResponse* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Upsert(
      grpc::CallbackServerContext* context) override;
  grpc::Status Get(grpc::ServerContext* context, const v1::GetRequest* request,
                   v1::GetResponse* response) override;
  grpc::Status Delete(grpc::ServerContext* context,
                      const v1::DeleteRequest* request,
                      v1::DeleteResponse* response) override;
  grpc::Status Search(grpc::ServerContext* context,
                      const v1::SearchRequest* request,
                      v1::SearchResponse* response) override;
  grpc::Status Train(grpc::ServerContext* context,
                     const v1::TrainRequest* request,
                     v1::CollectionInfo* response) override;
  grpc::Status Backup(grpc::ServerContext* context,
                      const v1::BackupRequest* request,
                      v1::BackupResponse* response) override;

  // Shutdown, first step: new calls (and new batches of open Upsert
  // streams) get UNAVAILABLE from now on; calls in flight continue.
  // Open streams that wait for a batch end with UNAVAILABLE.
  void StartDraining() {
    draining_.store(true);
    streams_.Drain();
  }
  // Interceptors to install on the ServerBuilder: the reply budget's, and
  // INVALID_ARGUMENT for requests that do not parse (parse_errors.h).
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
  Interceptors();
  // Calls currently inside a handler, plus open Upsert streams.
  int inflight() const { return inflight_.load() + streams_.open(); }

 private:
  // Counts, times and guards one call: rejects it while draining, checks
  // the API key, runs `body` and converts its status.
  template <typename Fn>
  grpc::Status Handle(std::string_view method, grpc::ServerContext* context,
                      Fn&& body);
  // One batch of an Upsert stream; before_write as in Collection::Upsert.
  absl::StatusOr<v1::UpsertResponse> UpsertBatch(
      ParsedBatch& batch, const UpsertStreams::BeforeWrite& before_write);
  absl::Status DoSearch(grpc::ServerContext* context,
                        const v1::SearchRequest& request,
                        v1::SearchResponse* response);
  // Refuses a reply that cannot be sent (`lower_bound` bytes over the
  // limit) and reserves `estimate` bytes of the reply budget.
  absl::Status ReserveReply(grpc::ServerContext* context,
                            std::string_view method, size_t lower_bound,
                            size_t estimate, std::string_view advice);
  // RESOURCE_EXHAUSTED when the reply, once built, is over the limit.
  absl::Status CheckReplySize(std::string_view method, size_t bytes) const;
  void FillInfo(const Collection& collection, v1::CollectionInfo* info) const;

  CollectionRegistry* const registry_;
  Metrics* const metrics_;
  const ApiKeyAuth auth_;
  const std::string backup_dir_;
  const size_t max_reply_bytes_;
  ReplyBudget reply_budget_;
  std::atomic<bool> draining_{false};
  std::atomic<int> inflight_{0};
  UpsertStreams streams_;
};

}  // namespace quiver::server

#endif  // QUIVER_SERVER_SERVICE_H_
