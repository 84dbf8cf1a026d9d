// The quiver.v1.Quiver gRPC service (synchronous API): each handler checks
// the API key, validates the request, converts it, calls the collection
// registry and converts the answer. Every RPC is counted and timed in
// Metrics by method and status code.
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

namespace quiver::server {

class QuiverService final : public v1::Quiver::Service {
 public:
  // `registry` and `metrics` are not owned and must outlive the service;
  // `metrics` may be null.
  // `backup_dir`: the folder Backup writes into (empty = Backup refused).
  QuiverService(CollectionRegistry* registry, Metrics* metrics, ApiKeyAuth auth,
                std::string backup_dir = "");

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
  grpc::Status Upsert(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::UpsertResponse, v1::UpsertRequest>* stream)
      override;
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
  void StartDraining() { draining_.store(true); }
  // Calls currently inside a handler.
  int inflight() const { return inflight_.load(); }

 private:
  // Counts, times and guards one call: rejects it while draining, checks
  // the API key, runs `body` and converts its status.
  template <typename Fn>
  grpc::Status Handle(std::string_view method, grpc::ServerContext* context,
                      Fn&& body);
  absl::Status DoUpsert(
      grpc::ServerReaderWriter<v1::UpsertResponse, v1::UpsertRequest>* stream);
  absl::Status DoSearch(const v1::SearchRequest& request,
                        v1::SearchResponse* response);
  void FillInfo(const Collection& collection, v1::CollectionInfo* info) const;

  CollectionRegistry* const registry_;
  Metrics* const metrics_;
  const ApiKeyAuth auth_;
  const std::string backup_dir_;
  std::atomic<bool> draining_{false};
  std::atomic<int> inflight_{0};
};

}  // namespace quiver::server

#endif  // QUIVER_SERVER_SERVICE_H_
