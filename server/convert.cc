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

IndexConfig FromProto(const v1::IndexParams& params) {
  IndexConfig c;
  c.nlist = params.nlist();
  c.pq_m = params.pq_m();
  c.pq_bits = params.pq_bits();
  c.train_size = params.train_size();
  c.nprobe = params.nprobe();
  c.rerank = params.rerank();
  c.balanced = params.balanced();
  c.auto_train_threshold = params.auto_train_threshold();
  return c;
}

void ToProto(const IndexConfig& config, v1::IndexParams* out) {
  out->set_nlist(config.nlist);
  out->set_pq_m(config.pq_m);
  out->set_pq_bits(config.pq_bits);
  out->set_train_size(config.train_size);
  out->set_nprobe(config.nprobe);
  out->set_rerank(config.rerank);
  out->set_balanced(config.balanced);
  out->set_auto_train_threshold(config.auto_train_threshold);
}

absl::StatusOr<CollectionConfig> FromProto(
    const v1::CreateCollectionRequest& request) {
  CollectionConfig c;
  c.name = request.name();
  c.dimension = request.dimension();
  absl::StatusOr<index::Metric> metric = FromProto(request.metric());
  if (!metric.ok()) return metric.status();
  c.metric = *metric;
  c.index = FromProto(request.index());
  return c;
}

Attributes FromProto(const google::protobuf::Map<std::string, std::string>& m) {
  Attributes out;
  out.reserve(m.size());
  for (const auto& [k, v] : m) out.emplace_back(k, v);
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    const uint8_t byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

bool GetLengthPrefixed(std::string_view* in, std::string* out) {
  uint64_t len = 0;
  if (!GetVarint(in, &len) || len > in->size()) return false;
  out->assign(in->data(), len);
  in->remove_prefix(len);
  return true;
}

}  // namespace

std::string EncodeAttributes(const Attributes& attributes) {
  std::string out;
  if (attributes.empty()) return out;
  PutVarint(&out, attributes.size());
  for (const auto& [k, v] : attributes) {
    PutVarint(&out, k.size());
    out.append(k);
    PutVarint(&out, v.size());
    out.append(v);
  }
  return out;
}

absl::StatusOr<Attributes> DecodeAttributes(std::string_view bytes) {
  Attributes out;
  if (bytes.empty()) return out;
  uint64_t n = 0;
  if (!GetVarint(&bytes, &n) || n > bytes.size()) {
    return absl::DataLossError("attribute bytes: bad count");
  }
  out.resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    if (!GetLengthPrefixed(&bytes, &out[i].first) ||
        !GetLengthPrefixed(&bytes, &out[i].second)) {
      return absl::DataLossError(
          absl::StrFormat("attribute bytes: truncated at attribute %d", i));
    }
  }
  if (!bytes.empty()) {
    return absl::DataLossError(
        absl::StrFormat("attribute bytes: %d trailing bytes", bytes.size()));
  }
  return out;
}

}  // namespace quiver::server
