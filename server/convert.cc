#include "server/convert.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_format.h"

namespace quiver::server {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

absl::StatusOr<index::Metric> FromProto(v1::Metric metric) {
  switch (metric) {
    case v1::METRIC_L2:
      return index::Metric::kL2;
    case v1::METRIC_INNER_PRODUCT:
      return index::Metric::kInnerProduct;
    case v1::METRIC_COSINE:
      return index::Metric::kCosine;
    case v1::METRIC_UNSPECIFIED:
      return absl::InvalidArgumentError(
          "metric is METRIC_UNSPECIFIED; choose METRIC_L2, "
          "METRIC_INNER_PRODUCT or METRIC_COSINE");
    default:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("unknown metric value %d", static_cast<int>(metric)));
}

v1::Metric ToProto(index::Metric metric) {
  switch (metric) {
    case index::Metric::kL2:
      return v1::METRIC_L2;
    case index::Metric::kInnerProduct:
      return v1::METRIC_INNER_PRODUCT;
    case index::Metric::kCosine:
      return v1::METRIC_COSINE;
  }
  return v1::METRIC_UNSPECIFIED;
}

engine::IndexConfig FromProto(const v1::IndexParams& params) {
  engine::IndexConfig c;
  c.nlist = params.nlist();
  c.pq_m = params.pq_m();
  c.pq_bits = params.pq_bits();
  c.train_size = params.train_size();
  c.nprobe = params.nprobe();
  c.rerank = params.rerank();
  c.balanced = params.balanced();
  c.auto_train_threshold = params.auto_train_threshold();
  c.target_recall = params.target_recall();
  return c;
}

void ToProto(const engine::IndexConfig& config, v1::IndexParams* out) {
  out->set_nlist(config.nlist);
  out->set_pq_m(config.pq_m);
  out->set_pq_bits(config.pq_bits);
  out->set_train_size(config.train_size);
  out->set_nprobe(config.nprobe);
  out->set_rerank(config.rerank);
  out->set_balanced(config.balanced);
  out->set_auto_train_threshold(config.auto_train_threshold);
  out->set_target_recall(config.target_recall);
}

absl::StatusOr<engine::CollectionConfig> FromProto(
    const v1::CreateCollectionRequest& request) {
  engine::CollectionConfig c;
  c.name = request.name();
  c.dimension = request.dimension();
  absl::StatusOr<index::Metric> metric = FromProto(request.metric());
  if (!metric.ok()) return metric.status();
  c.metric = *metric;
  c.index = FromProto(request.index());
  if (request.has_placement()) {
    const v1::ShardPlacement& p = request.placement();
    c.placement.shard = p.shard();
    c.placement.shard_count = p.shard_count();
    c.placement.nodes.assign(p.nodes().begin(), p.nodes().end());
  }
  if (request.shards() > 1 && c.placement.shard_count == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "shards is %d: a quiverd node holds one shard; create sharded "
        "collections through quiver-router",
        request.shards()));
  }
  return c;
}

engine::Attributes FromProto(
    const google::protobuf::Map<std::string, std::string>& m) {
  engine::Attributes out;
  out.reserve(m.size());
  for (const auto& [k, v] : m) out.emplace_back(k, v);
  std::sort(out.begin(), out.end());
  return out;
}

void ToProto(const engine::Attributes& attrs,
             google::protobuf::Map<std::string, std::string>* out) {
  for (const auto& [k, v] : attrs) (*out)[k] = v;
}

v1::CollectionState ToProto(engine::TrainState state) {
  switch (state) {
    case engine::TrainState::kUntrained:
      return v1::COLLECTION_STATE_UNTRAINED;
    case engine::TrainState::kTraining:
      return v1::COLLECTION_STATE_TRAINING;
    case engine::TrainState::kReady:
      return v1::COLLECTION_STATE_READY;
  }
  return v1::COLLECTION_STATE_UNSPECIFIED;
}

}  // namespace quiver::server
