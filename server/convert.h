// Conversions at the edge of the service: absl::Status <-> grpc::Status,
// proto messages <-> the server's domain structs, and the byte encoding of
// document attributes kept in the store.
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
#include "server/params.h"

namespace quiver::server {

// absl and gRPC share the canonical code numbering (0 OK .. 16
// UNAUTHENTICATED), so codes convert by static_cast; the message is kept.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// INVALID_ARGUMENT for METRIC_UNSPECIFIED or an unknown value.
absl::StatusOr<index::Metric> FromProto(v1::Metric metric);
v1::Metric ToProto(index::Metric metric);

IndexConfig FromProto(const v1::IndexParams& params);
void ToProto(const IndexConfig& config, v1::IndexParams* out);

// Converts (without validating limits) a CreateCollectionRequest.
absl::StatusOr<CollectionConfig> FromProto(
    const v1::CreateCollectionRequest& request);

// Attributes of a document: (key, value) pairs sorted by key, keys unique.
using Attributes = std::vector<std::pair<std::string, std::string>>;

// Sorted copy of a proto attribute map.
Attributes FromProto(const google::protobuf::Map<std::string, std::string>& m);
// Stored byte form: varint count, then (varint len, key, varint len, value)
// per attribute, in key order. Empty attributes encode to "".
std::string EncodeAttributes(const Attributes& attributes);
// DATA_LOSS for malformed bytes.
absl::StatusOr<Attributes> DecodeAttributes(std::string_view bytes);

}  // namespace quiver::server

#endif  // QUIVER_SERVER_CONVERT_H_
