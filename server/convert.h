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

// Sorted copy of a proto attribute map.
engine::Attributes FromProto(
    const google::protobuf::Map<std::string, std::string>& m);
void ToProto(const engine::Attributes& attrs,
             google::protobuf::Map<std::string, std::string>* out);

v1::CollectionState ToProto(engine::TrainState state);

}  // namespace quiver::server

#endif  // QUIVER_SERVER_CONVERT_H_
