// libFuzzer target: request validation at the RPC edge (server/validate.h),
// the engine's own checks (server/engine/validate.h, config.h) and the
// proto <-> engine conversions (server/convert.h).
//
// Input: byte 0 picks the request type, byte 1 the collection (bits 0-2:
// dimension 1, 2, 3, 4, 8, 16, 64 or 128; bits 3-4: metric L2, inner
// product, cosine), the rest is the request's protobuf wire form:
//   0 SearchRequest   1 UpsertRequest   2 GetRequest   3 DeleteRequest
//   4 CreateCollectionRequest           5 TrainRequest
// Bytes that do not parse (e.g. invalid UTF-8 in a string field) are
// dropped, as gRPC drops them before the service sees them.
//
// Checked: validators answer OK or INVALID_ARGUMENT / RESOURCE_EXHAUSTED
// with a message; the edge's checks (on proto messages) and the engine's
// (on the converted plain types) agree; what passes the edge passes every
// engine check (attributes, ids, vectors); statuses survive the trip
// through grpc::Status; conversions round-trip; a valid collection config
// encodes to a schema record that decodes to it; and for a valid config the
// automatic training parameters are valid IvfPqParams, with the documented
// ranges for the training sample size and the default nprobe.
#include <google/protobuf/stubs/logging.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/status.h"
#include "quiver/v1/quiver.pb.h"
#include "server/convert.h"
#include "server/engine/attribute_index.h"
#include "server/engine/config.h"
#include "server/engine/filter.h"
#include "server/engine/records.h"
#include "server/engine/validate.h"
#include "server/validate.h"

namespace quiver::server {
namespace {

// A validator's answer: OK, or one of its two error codes with a message;
// and the same after the trip through grpc::Status.
void CheckStatus(const absl::Status& s) {
  if (!s.ok()) {
    QUIVER_CHECK(s.code() == absl::StatusCode::kInvalidArgument ||
                 s.code() == absl::StatusCode::kResourceExhausted);
    QUIVER_CHECK(!s.message().empty());
  }
  QUIVER_CHECK(FromGrpcStatus(ToGrpcStatus(s)) == s);
}

bool SameDouble(double a, double b) {
  return std::memcmp(&a, &b, sizeof(a)) == 0;
}

bool SameIndexConfig(const engine::IndexConfig& a,
                     const engine::IndexConfig& b) {
  return a.nlist == b.nlist && a.pq_m == b.pq_m && a.pq_bits == b.pq_bits &&
         a.train_size == b.train_size && a.nprobe == b.nprobe &&
         a.rerank == b.rerank && a.balanced == b.balanced &&
         a.auto_train_threshold == b.auto_train_threshold &&
         SameDouble(a.target_recall, b.target_recall);
}

// The edge's attribute check agrees with the engine's on the converted
// (sorted) attributes, which convert back to the same map and survive the
// attribute record.
void CheckAttributes(
    const google::protobuf::Map<std::string, std::string>& map) {
  const absl::Status edge = ValidateAttributes(map);
  CheckStatus(edge);
  const engine::Attributes attrs = FromProto(map);
  QUIVER_CHECK(attrs.size() == map.size());
  QUIVER_CHECK(engine::ValidateAttributes(attrs).ok() == edge.ok());
  google::protobuf::Map<std::string, std::string> back;
  google::protobuf::Map<std::string, v1::Value> typed;
  ToProto(attrs, &back, &typed);
  QUIVER_CHECK(back.size() == map.size() && typed.empty());
  for (const auto& [k, v] : map) {
    auto it = back.find(k);
    QUIVER_CHECK(it != back.end() && it->second == v);
  }
  absl::StatusOr<engine::Attributes> decoded =
      engine::records::DecodeAttributes(
          engine::records::EncodeAttributes(attrs));
  QUIVER_CHECK(decoded.ok() && *decoded == attrs);
}

void CheckVector(const float* values, size_t size, uint32_t dim,
                 index::Metric metric) {
  const absl::Status s = ValidateVector(values, size, dim, metric, "vector");
  CheckStatus(s);
  if (!s.ok()) return;
  double norm2 = 0;
  for (size_t i = 0; i < size; ++i) {
    QUIVER_CHECK(std::isfinite(values[i]));
    norm2 += static_cast<double>(values[i]) * values[i];
  }
  QUIVER_CHECK(std::isfinite(static_cast<float>(norm2)));
  if (metric == index::Metric::kCosine) QUIVER_CHECK(norm2 > 0);
}

// A document's typed attributes: conversion answers OK or INVALID_ARGUMENT;
// valid ones survive the attribute record and the trip back to proto.
void CheckTypedAttributes(const v1::Document& d) {
  absl::StatusOr<engine::Attributes> attrs = AttributesFromProto(d);
  CheckStatus(attrs.status());
  if (!attrs.ok()) return;
  const absl::Status valid = engine::ValidateAttributes(*attrs);
  CheckStatus(valid);
  if (!valid.ok()) return;
  absl::StatusOr<engine::Attributes> decoded =
      engine::records::DecodeAttributes(
          engine::records::EncodeAttributes(*attrs));
  QUIVER_CHECK(decoded.ok() && *decoded == *attrs);
  v1::Document back;
  ToProto(*attrs, back.mutable_attributes(), back.mutable_typed_attributes());
  absl::StatusOr<engine::Attributes> again = AttributesFromProto(back);
  QUIVER_CHECK(again.ok() && *again == *attrs);
}

// A filter expression: conversion and validation answer OK or
// INVALID_ARGUMENT; a valid one gives the same answer from the attribute
// index's bitmaps as from the reference evaluation, on documents made of
// the request's own filter map and of the expression's own values.
void CheckWhere(const v1::SearchRequest& r) {
  if (!r.has_where()) return;
  absl::StatusOr<engine::Filter> f = FromProto(r.where());
  CheckStatus(f.status());
  if (!f.ok()) return;
  const absl::Status valid = engine::ValidateFilter(*f);
  CheckStatus(valid);
  if (!valid.ok()) return;
  std::vector<engine::Attributes> docs = {{}, FromProto(r.filter())};
  // Documents holding each comparison's first value under its key.
  std::vector<const engine::Filter*> stack = {&*f};
  while (!stack.empty() && docs.size() < 16) {
    const engine::Filter* node = stack.back();
    stack.pop_back();
    for (const engine::Filter& c : node->children) stack.push_back(&c);
    if (!node->key.empty() && !node->values.empty()) {
      docs.push_back({{node->key, node->values[0]}});
    }
    if (!node->key.empty() && node->lower) {
      docs.push_back({{node->key, *node->lower}});
    }
  }
  engine::AttributeIndex index;
  Roaring live;
  for (uint32_t i = 0; i < docs.size(); ++i) {
    index.Add(i, docs[i]);
    live.add(i);
  }
  const Roaring got = index.Evaluate(*f, live);
  for (uint32_t i = 0; i < docs.size(); ++i) {
    QUIVER_CHECK(got.contains(i) == engine::Matches(*f, docs[i]));
  }
  CheckStatus(index.CheckTypes(*f));
}

void CheckSearch(const v1::SearchRequest& r, uint32_t dim,
                 index::Metric metric) {
  CheckWhere(r);
  const absl::Status s = ValidateSearchRequest(r, dim, metric);
  CheckStatus(s);
  CheckAttributes(r.filter());
  for (const v1::Vector& q : r.queries()) {
    CheckVector(q.values().data(), q.values_size(), dim, metric);
  }
  if (!s.ok()) return;
  QUIVER_CHECK(r.k() >= 1 && r.k() <= engine::kMaxK);
  QUIVER_CHECK(r.queries_size() >= 1 && static_cast<size_t>(r.queries_size()) <=
                                            engine::kMaxQueriesPerSearch);
  QUIVER_CHECK(r.nprobe() <= engine::kMaxNlist);
  QUIVER_CHECK(r.rerank() <= engine::kMaxRerank);
  for (const v1::Vector& q : r.queries()) {
    QUIVER_CHECK(
        ValidateVector(q.values().data(), q.values_size(), dim, metric, "q")
            .ok());
  }
  QUIVER_CHECK(engine::ValidateAttributes(FromProto(r.filter())).ok());
}

void CheckUpsert(const v1::UpsertRequest& r, uint32_t dim,
                 index::Metric metric) {
  CheckStatus(engine::ValidateCollectionName(r.collection()));
  int checked = 0;
  for (const v1::Document& d : r.documents()) {
    if (++checked > 64) break;
    const absl::Status s = ValidateDocument(d, dim, metric);
    CheckStatus(s);
    CheckAttributes(d.attributes());
    CheckTypedAttributes(d);
    const bool engine_ok =
        engine::ValidateDocumentId(d.id()).ok() &&
        engine::ValidateVector(d.vector().data(), d.vector_size(), dim, metric,
                               "vector")
            .ok() &&
        engine::ValidateAttributes(FromProto(d.attributes())).ok();
    QUIVER_CHECK(s.ok() == engine_ok);
  }
}

void CheckIds(const google::protobuf::RepeatedPtrField<std::string>& ids) {
  const absl::Status s = ValidateIds(ids);
  CheckStatus(s);
  bool all = static_cast<size_t>(ids.size()) <= engine::kMaxIdsPerRequest;
  for (int i = 0; all && i < ids.size(); ++i) {
    const absl::Status one = engine::ValidateDocumentId(ids[i]);
    CheckStatus(one);
    all = one.ok();
  }
  QUIVER_CHECK(s.ok() == all);
}

void CheckIndexParams(const v1::IndexParams& p) {
  const engine::IndexConfig c = FromProto(p);
  v1::IndexParams back;
  ToProto(c, &back);
  QUIVER_CHECK(SameIndexConfig(FromProto(back), c));
}

// What the engine derives from a valid config when it trains itself.
void CheckTrainParams(const engine::CollectionConfig& config) {
  const engine::IndexConfig& index = config.index;
  for (uint64_t n :
       {engine::AutoTrainThreshold(index), engine::MinTrainVectors(index),
        uint64_t{39 * 256}, uint64_t{100000}}) {
    absl::StatusOr<index::IvfPqParams> p =
        engine::ResolveTrainParams(config, n, /*threads=*/1);
    if (!p.ok()) {
      QUIVER_CHECK(p.status().code() == absl::StatusCode::kFailedPrecondition);
      QUIVER_CHECK(n < engine::MinTrainVectors(index));
      continue;
    }
    const absl::Status valid = p->Validate();
    if (!valid.ok()) {
      std::fprintf(stderr,
                   "valid config (dim %u, nlist %u, pq_m %u, pq_bits %u) "
                   "gives invalid training parameters at n = %llu: %s\n",
                   config.dimension, index.nlist, index.pq_m, index.pq_bits,
                   static_cast<unsigned long long>(n),
                   std::string(valid.message()).c_str());
    }
    QUIVER_CHECK(valid.ok());
    const uint64_t sample = engine::TrainSampleSize(index, *p, n);
    QUIVER_CHECK(sample <= n);
    QUIVER_CHECK(
        sample >=
        std::min<uint64_t>(n, std::max<uint64_t>(p->nlist, 1ull << p->nbits)));
    const uint32_t nprobe =
        engine::DefaultNprobe(index, engine::MaintenanceState{}, p->nlist);
    QUIVER_CHECK(nprobe >= 1 && nprobe <= p->nlist);
  }
}

void CheckCreate(const v1::CreateCollectionRequest& r) {
  CheckIndexParams(r.index());
  absl::StatusOr<engine::CollectionConfig> c = FromProto(r);
  if (!c.ok()) {
    QUIVER_CHECK(c.status().code() == absl::StatusCode::kInvalidArgument);
    // A bad metric, or shards on a node without a placement.
    QUIVER_CHECK(!FromProto(r.metric()).ok() ||
                 (r.shards() > 1 && r.placement().shard_count() == 0));
    return;
  }
  QUIVER_CHECK(ToProto(c->metric) == r.metric());
  const absl::Status s = engine::ValidateCollectionConfig(*c);
  CheckStatus(s);
  if (!s.ok()) return;
  // The schema record a new collection writes reads back as the config.
  engine::records::SchemaRecord record;
  record.config = *c;
  absl::StatusOr<engine::records::SchemaRecord> decoded =
      engine::records::DecodeSchema(engine::records::EncodeSchema(record));
  QUIVER_CHECK(decoded.ok());
  QUIVER_CHECK(decoded->config.name == c->name &&
               decoded->config.dimension == c->dimension &&
               decoded->config.metric == c->metric &&
               SameIndexConfig(decoded->config.index, c->index) &&
               decoded->config.placement.shard == c->placement.shard &&
               decoded->config.placement.shard_count ==
                   c->placement.shard_count &&
               decoded->config.placement.nodes == c->placement.nodes);
  CheckTrainParams(*c);
}

void CheckTrain(const v1::TrainRequest& r, uint32_t dim) {
  CheckStatus(engine::ValidateCollectionName(r.collection()));
  if (!r.has_overrides()) return;
  CheckIndexParams(r.overrides());
  const engine::IndexConfig overrides = FromProto(r.overrides());
  const engine::IndexConfig merged =
      engine::MergeOverrides(engine::IndexConfig{}, overrides);
  const absl::Status s = engine::ValidateIndexConfig(merged, dim);
  CheckStatus(s);
  if (!s.ok()) return;
  engine::CollectionConfig config;
  config.name = "c";
  config.dimension = dim;
  config.index = merged;
  QUIVER_CHECK(engine::ValidateCollectionConfig(config).ok());
  CheckTrainParams(config);
}

template <typename Message>
bool Parse(const uint8_t* data, size_t size, Message* m) {
  return m->ParseFromArray(data, static_cast<int>(size));
}

void Run(const uint8_t* data, size_t size) {
  if (size < 2) return;
  static constexpr uint32_t kDims[8] = {1, 2, 3, 4, 8, 16, 64, 128};
  static constexpr index::Metric kMetrics[4] = {
      index::Metric::kL2, index::Metric::kInnerProduct, index::Metric::kCosine,
      index::Metric::kL2};
  const uint32_t dim = kDims[data[1] & 7];
  const index::Metric metric = kMetrics[(data[1] >> 3) & 3];
  const uint8_t* body = data + 2;
  const size_t n = size - 2;
  switch (data[0] % 6) {
    case 0: {
      v1::SearchRequest r;
      if (Parse(body, n, &r)) CheckSearch(r, dim, metric);
      break;
    }
    case 1: {
      v1::UpsertRequest r;
      if (Parse(body, n, &r)) CheckUpsert(r, dim, metric);
      break;
    }
    case 2: {
      v1::GetRequest r;
      if (Parse(body, n, &r)) CheckIds(r.ids());
      break;
    }
    case 3: {
      v1::DeleteRequest r;
      if (Parse(body, n, &r)) CheckIds(r.ids());
      break;
    }
    case 4: {
      v1::CreateCollectionRequest r;
      if (Parse(body, n, &r)) CheckCreate(r);
      break;
    }
    default: {
      v1::TrainRequest r;
      if (Parse(body, n, &r)) CheckTrain(r, dim);
      break;
    }
  }
}

}  // namespace
}  // namespace quiver::server

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // Unparseable input is expected; libprotobuf would log every one.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  quiver::server::Run(data, size);
  return 0;
}
