// Conversions at the edge of the service: absl::Status <-> grpc::Status and
// proto messages <-> the engine's plain structs.
//
//   return ToGrpcStatus(registry->Drop(name));
//   QUIVER_ASSIGN_OR_RETURN(CollectionConfig c, FromProto(request));
//
// Thread safety: pure functions.
#ifndef QUIVER_SERVER_CONVERT_H_
#define QUIVER_SERVER_CONVERT_H_

#include <grpcpp/support/status.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/metric.h"
#include "quiver/v1/quiver.pb.h"
#include "server/engine/attributes.h"
#include "server/engine/collection.h"
#include "server/engine/config.h"
#include "server/engine/registry.h"

namespace quiver::server {

// The engine types the RPC edge works with.
using engine::Collection;
using engine::CollectionRegistry;
using engine::CollectionStatus;
using engine::DocumentInput;
using engine::RegistryOptions;
using engine::SearchHit;
using engine::SearchQuery;
using engine::StoredDocument;
using engine::TrainState;

// absl and gRPC share the canonical code numbering (0 OK .. 16
// UNAUTHENTICATED), so codes convert by static_cast; the message is kept.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// INVALID_ARGUMENT for METRIC_UNSPECIFIED or an unknown value.
absl::StatusOr<index::Metric> FromProto(v1::Metric metric);
v1::Metric ToProto(index::Metric metric);

engine::IndexConfig FromProto(const v1::IndexParams& params);
void ToProto(const engine::IndexConfig& config, v1::IndexParams* out);

// Converts (without validating limits) a CreateCollectionRequest.
absl::StatusOr<engine::CollectionConfig> FromProto(
    const v1::CreateCollectionRequest& request);

// Sorted copy of a proto attribute map (string values).
engine::Attributes FromProto(
    const google::protobuf::Map<std::string, std::string>& m);
// A document's attributes: both maps merged and sorted. INVALID_ARGUMENT
// for a key in both maps or a Value with nothing set.
absl::StatusOr<engine::Attributes> AttributesFromProto(const v1::Document& d);
// String attributes into `strings`, every other type into `typed`.
void ToProto(const engine::Attributes& attrs,
             google::protobuf::Map<std::string, std::string>* strings,
             google::protobuf::Map<std::string, v1::Value>* typed);
// INVALID_ARGUMENT for a Value with nothing set (`what` names it).
absl::StatusOr<engine::AttributeValue> FromProto(const v1::Value& v,
                                                 std::string_view what);
void ToProto(const engine::AttributeValue& v, v1::Value* out);
// A filter expression. INVALID_ARGUMENT for a Filter with no operator,
// nesting deeper than engine::kMaxFilterDepth or more than
// engine::kMaxFilterNodes nodes (checked while converting, so that a deep
// message costs nothing), or a bad value; the rest of the checks are
// engine::ValidateFilter's.
absl::StatusOr<engine::Filter> FromProto(const v1::Filter& f);
void ToProto(const engine::SearchPlan& plan, v1::SearchPlan* out);

v1::CollectionState ToProto(engine::TrainState state);

}  // namespace quiver::server

#endif  // QUIVER_SERVER_CONVERT_H_
