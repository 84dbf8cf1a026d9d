#include "server/convert.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
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

absl::StatusOr<engine::AttributeValue> FromProto(const v1::Value& v,
                                                 std::string_view what) {
  switch (v.kind_case()) {
    case v1::Value::kStringValue:
      return engine::AttributeValue(v.string_value());
    case v1::Value::kIntValue:
      return engine::AttributeValue(int64_t{v.int_value()});
    case v1::Value::kDoubleValue:
      return engine::AttributeValue(v.double_value());
    case v1::Value::kBoolValue:
      return engine::AttributeValue(v.bool_value());
    case v1::Value::kTags:
      return engine::AttributeValue(
          engine::Tags(v.tags().values().begin(), v.tags().values().end()));
    case v1::Value::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      std::string(what), " has no value (a Value with nothing set)"));
}

void ToProto(const engine::AttributeValue& v, v1::Value* out) {
  switch (engine::TypeOf(v)) {
    case engine::AttributeType::kString:
      out->set_string_value(std::get<std::string>(v));
      break;
    case engine::AttributeType::kInt:
      out->set_int_value(std::get<int64_t>(v));
      break;
    case engine::AttributeType::kDouble:
      out->set_double_value(std::get<double>(v));
      break;
    case engine::AttributeType::kBool:
      out->set_bool_value(std::get<bool>(v));
      break;
    case engine::AttributeType::kTags: {
      auto* values = out->mutable_tags()->mutable_values();
      for (const std::string& t : std::get<engine::Tags>(v))
        values->Add()->assign(t);
      break;
    }
  }
}

absl::StatusOr<engine::Attributes> AttributesFromProto(const v1::Document& d) {
  engine::Attributes out;
  out.reserve(d.attributes_size() + d.typed_attributes_size());
  for (const auto& [k, v] : d.attributes()) out.emplace_back(k, v);
  for (const auto& [k, v] : d.typed_attributes()) {
    if (d.attributes().contains(k)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "attribute '", k, "' is in both attributes and typed_attributes"));
    }
    absl::StatusOr<engine::AttributeValue> value =
        FromProto(v, absl::StrCat("attribute '", k, "'"));
    if (!value.ok()) return value.status();
    out.emplace_back(k, std::move(*value));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

void ToProto(const engine::Attributes& attrs,
             google::protobuf::Map<std::string, std::string>* strings,
             google::protobuf::Map<std::string, v1::Value>* typed) {
  for (const auto& [k, v] : attrs) {
    if (const std::string* s = std::get_if<std::string>(&v)) {
      (*strings)[k] = *s;
    } else {
      ToProto(v, &(*typed)[k]);
    }
  }
}

namespace {

absl::StatusOr<engine::Filter> FilterFromProto(const v1::Filter& f,
                                               size_t depth, size_t* nodes) {
  if (++*nodes > engine::kMaxFilterNodes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "filter: more than %d nodes (the limit)", engine::kMaxFilterNodes));
  }
  if (depth > engine::kMaxFilterDepth) {
    return absl::InvalidArgumentError(
        absl::StrFormat("filter: nested deeper than %d levels (the limit)",
                        engine::kMaxFilterDepth));
  }
  auto value = [](const v1::Comparison& c) {
    return FromProto(c.value(),
                     absl::StrCat("filter value for '", c.key(), "'"));
  };
  auto children = [&](const v1::FilterList& list)
      -> absl::StatusOr<std::vector<engine::Filter>> {
    std::vector<engine::Filter> out;
    out.reserve(list.filters_size());
    for (const v1::Filter& c : list.filters()) {
      absl::StatusOr<engine::Filter> child =
          FilterFromProto(c, depth + 1, nodes);
      if (!child.ok()) return child.status();
      out.push_back(std::move(*child));
    }
    return out;
  };
  switch (f.op_case()) {
    case v1::Filter::kEq:
    case v1::Filter::kNe:
    case v1::Filter::kContains: {
      const v1::Comparison& c = f.op_case() == v1::Filter::kEq   ? f.eq()
                                : f.op_case() == v1::Filter::kNe ? f.ne()
                                                                 : f.contains();
      absl::StatusOr<engine::AttributeValue> v = value(c);
      if (!v.ok()) return v.status();
      engine::Filter out = engine::Filter::Eq(c.key(), std::move(*v));
      if (f.op_case() == v1::Filter::kNe) out.op = engine::Filter::Op::kNe;
      if (f.op_case() == v1::Filter::kContains) {
        out.op = engine::Filter::Op::kContains;
      }
      return out;
    }
    case v1::Filter::kInSet: {
      if (static_cast<size_t>(f.in_set().values_size()) >
          engine::kMaxFilterInValues) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "filter: in_set on '%s' has %d values; the limit is %d",
            f.in_set().key(), f.in_set().values_size(),
            engine::kMaxFilterInValues));
      }
      std::vector<engine::AttributeValue> values;
      for (const v1::Value& v : f.in_set().values()) {
        absl::StatusOr<engine::AttributeValue> x = FromProto(
            v, absl::StrCat("filter value for '", f.in_set().key(), "'"));
        if (!x.ok()) return x.status();
        values.push_back(std::move(*x));
      }
      return engine::Filter::In(f.in_set().key(), std::move(values));
    }
    case v1::Filter::kRange: {
      const v1::Range& r = f.range();
      std::optional<engine::AttributeValue> lower, upper;
      bool lower_inclusive = false, upper_inclusive = false;
      if (r.has_gt() && r.has_gte()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "filter: range on '", r.key(), "' sets both gt and gte"));
      }
      if (r.has_lt() && r.has_lte()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "filter: range on '", r.key(), "' sets both lt and lte"));
      }
      const std::string what = absl::StrCat("range bound for '", r.key(), "'");
      if (r.has_gt() || r.has_gte()) {
        absl::StatusOr<engine::AttributeValue> x =
            FromProto(r.has_gt() ? r.gt() : r.gte(), what);
        if (!x.ok()) return x.status();
        lower = std::move(*x);
        lower_inclusive = r.has_gte();
      }
      if (r.has_lt() || r.has_lte()) {
        absl::StatusOr<engine::AttributeValue> x =
            FromProto(r.has_lt() ? r.lt() : r.lte(), what);
        if (!x.ok()) return x.status();
        upper = std::move(*x);
        upper_inclusive = r.has_lte();
      }
      return engine::Filter::Range(r.key(), std::move(lower), lower_inclusive,
                                   std::move(upper), upper_inclusive);
    }
    case v1::Filter::kExists:
      return engine::Filter::Exists(f.exists());
    case v1::Filter::kAll:
    case v1::Filter::kAny: {
      absl::StatusOr<std::vector<engine::Filter>> c =
          children(f.op_case() == v1::Filter::kAll ? f.all() : f.any());
      if (!c.ok()) return c.status();
      return f.op_case() == v1::Filter::kAll
                 ? engine::Filter::And(std::move(*c))
                 : engine::Filter::Or(std::move(*c));
    }
    case v1::Filter::kNegate: {
      absl::StatusOr<engine::Filter> c =
          FilterFromProto(f.negate(), depth + 1, nodes);
      if (!c.ok()) return c.status();
      return engine::Filter::Not(std::move(*c));
    }
    case v1::Filter::OP_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      "filter: a Filter with no operator set (eq, ne, in_set, range, exists, "
      "contains, all, any or negate)");
}

}  // namespace

absl::StatusOr<engine::Filter> FromProto(const v1::Filter& f) {
  size_t nodes = 0;
  return FilterFromProto(f, 1, &nodes);
}

void ToProto(const engine::SearchPlan& plan, v1::SearchPlan* out) {
  out->set_strategy(plan.strategy);
  out->set_matching(plan.matching);
  out->set_count(plan.count);
  out->set_nprobe(plan.nprobe);
  out->set_rerank(plan.rerank);
  out->set_detail(plan.detail);
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
