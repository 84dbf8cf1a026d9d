// Request validation against the limits of quiver.proto, on the proto
// messages (the engine checks its own inputs again; these run first so that
// an Upsert gets per-record errors and nothing is converted in vain). Every
// function returns INVALID_ARGUMENT (or RESOURCE_EXHAUSTED for a count over a
// per-request limit) with a message naming the field, the value and the
// limit; OK otherwise. Validation happens before any state is touched.
//
//   QUIVER_RETURN_IF_ERROR(ValidateSearchRequest(request, dim, metric, nlist));
//
// Thread safety: pure functions.
#ifndef QUIVER_SERVER_VALIDATE_H_
#define QUIVER_SERVER_VALIDATE_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "index/metric.h"
#include "quiver/v1/quiver.pb.h"
#include "server/engine/validate.h"

namespace quiver::server {

using engine::ValidateDocumentId;
using engine::ValidateVector;
// At most 64 attributes, key 1..128 bytes, value <= 1024 bytes.
absl::Status ValidateAttributes(
    const google::protobuf::Map<std::string, std::string>& attributes);
// Id, vector and attributes of one upserted document.
absl::Status ValidateDocument(const v1::Document& doc, uint32_t dim,
                              index::Metric metric);
// Ids of a Get/Delete: RESOURCE_EXHAUSTED over 10,000; each id valid.
absl::Status ValidateIds(
    const google::protobuf::RepeatedPtrField<std::string>& ids);
// k in 1..1024, 1..1024 queries of `dim` finite values, nprobe <= 65536
// (clamped to nlist later), rerank <= kMaxRerank, filter entries like
// attributes.
absl::Status ValidateSearchRequest(const v1::SearchRequest& request,
                                   uint32_t dim, index::Metric metric);

}  // namespace quiver::server

#endif  // QUIVER_SERVER_VALIDATE_H_
