// Request helpers for the server tests: small wrappers over the generated
// gRPC stub of a quiverd started with tests/testing/quiverd.h.
//
//   Quiverd server;
//   QUIVER_ASSERT_OK(server.Start(dir.Sub("data")));
//   auto stub = server.NewStub();
//   QUIVER_ASSERT_OK(CreateCollection(stub.get(), "c", 8, v1::METRIC_L2));
#ifndef QUIVER_TESTS_SERVER_RPC_HELPERS_H_
#define QUIVER_TESTS_SERVER_RPC_HELPERS_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "quiver/v1/quiver.grpc.pb.h"
#include "tests/testing/quiverd.h"

namespace quiver::testing {

inline absl::Status ToAbsl(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

inline absl::StatusOr<v1::CollectionInfo> CreateCollection(
    v1::Quiver::Stub* stub, const std::string& name, uint32_t dim,
    v1::Metric metric, const v1::IndexParams& index = {}) {
  grpc::ClientContext ctx;
  v1::CreateCollectionRequest req;
  req.set_name(name);
  req.set_dimension(dim);
  req.set_metric(metric);
  *req.mutable_index() = index;
  v1::CollectionInfo info;
  grpc::Status s = stub->CreateCollection(&ctx, req, &info);
  if (!s.ok()) return ToAbsl(s);
  return info;
}

inline absl::StatusOr<v1::CollectionInfo> GetCollection(
    v1::Quiver::Stub* stub, const std::string& name) {
  grpc::ClientContext ctx;
  v1::GetCollectionRequest req;
  req.set_name(name);
  v1::CollectionInfo info;
  grpc::Status s = stub->GetCollection(&ctx, req, &info);
  if (!s.ok()) return ToAbsl(s);
  return info;
}

// Waits until the collection is READY with at least `generation` trainings.
inline absl::StatusOr<v1::CollectionInfo> WaitReady(v1::Quiver::Stub* stub,
                                                    const std::string& name,
                                                    uint64_t generation = 1,
                                                    int timeout_s = 300) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    absl::StatusOr<v1::CollectionInfo> info = GetCollection(stub, name);
    if (!info.ok()) return info;
    if (info->state() == v1::COLLECTION_STATE_READY &&
        info->train_generation() >= generation) {
      return info;
    }
    if (info->state() != v1::COLLECTION_STATE_TRAINING &&
        !info->last_error().empty()) {
      return absl::InternalError("training failed: " + info->last_error());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError("collection not READY in time");
}

// A document for the helpers below.
struct Doc {
  std::string id;
  std::vector<float> vector;
  std::map<std::string, std::string> attributes;
};

inline void ToProto(const Doc& doc, v1::Document* out) {
  out->set_id(doc.id);
  out->mutable_vector()->Add(doc.vector.begin(), doc.vector.end());
  for (const auto& [k, v] : doc.attributes) (*out->mutable_attributes())[k] = v;
}

// Streams `docs` in batches of `batch_size` (all sent ahead, answers read
// after); returns the responses in order.
inline absl::StatusOr<std::vector<v1::UpsertResponse>> UpsertDocs(
    v1::Quiver::Stub* stub, const std::string& collection,
    const std::vector<Doc>& docs, size_t batch_size = 1000,
    grpc::ClientContext* context = nullptr) {
  grpc::ClientContext local;
  grpc::ClientContext* ctx = context ? context : &local;
  auto stream = stub->Upsert(ctx);
  std::vector<v1::UpsertResponse> out;
  std::thread writer([&] {
    uint64_t batch_id = 0;
    for (size_t off = 0; off < docs.size(); off += batch_size) {
      v1::UpsertRequest req;
      req.set_collection(collection);
      req.set_batch_id(batch_id++);
      for (size_t i = off; i < docs.size() && i < off + batch_size; ++i) {
        ToProto(docs[i], req.add_documents());
      }
      if (!stream->Write(req)) break;
    }
    stream->WritesDone();
  });
  v1::UpsertResponse resp;
  while (stream->Read(&resp)) out.push_back(resp);
  writer.join();
  grpc::Status s = stream->Finish();
  if (!s.ok()) return ToAbsl(s);
  return out;
}

inline absl::StatusOr<v1::SearchResponse> Search(
    v1::Quiver::Stub* stub, const std::string& collection,
    const std::vector<float>& queries, size_t dim, uint32_t k,
    const std::function<void(v1::SearchRequest*)>& tweak = nullptr) {
  grpc::ClientContext ctx;
  v1::SearchRequest req;
  req.set_collection(collection);
  req.set_k(k);
  for (size_t off = 0; off + dim <= queries.size(); off += dim) {
    req.add_queries()->mutable_values()->Add(queries.begin() + off,
                                             queries.begin() + off + dim);
  }
  if (tweak) tweak(&req);
  v1::SearchResponse resp;
  grpc::Status s = stub->Search(&ctx, req, &resp);
  if (!s.ok()) return ToAbsl(s);
  return resp;
}

}  // namespace quiver::testing

#endif  // QUIVER_TESTS_SERVER_RPC_HELPERS_H_
