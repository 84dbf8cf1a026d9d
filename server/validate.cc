#include "server/validate.h"

#include <cmath>

#include "absl/strings/str_format.h"
#include "server/engine/config.h"

namespace quiver::server {

absl::Status ValidateAttributes(
    const google::protobuf::Map<std::string, std::string>& attributes) {
  if (attributes.size() > engine::kMaxAttributes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%d attributes; the limit is %d", attributes.size(),
                        engine::kMaxAttributes));
  }
  for (const auto& [k, v] : attributes) {
    if (k.empty()) return absl::InvalidArgumentError("attribute key is empty");
    if (k.size() > engine::kMaxAttributeKeyBytes) {
      return absl::InvalidArgumentError(
          absl::StrFormat("attribute key has %d bytes; the limit is %d",
                          k.size(), engine::kMaxAttributeKeyBytes));
    }
    if (v.size() > engine::kMaxAttributeValueBytes) {
      return absl::InvalidArgumentError(
          absl::StrFormat("attribute '%s' value has %d bytes; the limit is %d",
                          k, v.size(), engine::kMaxAttributeValueBytes));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateDocument(const v1::Document& doc, uint32_t dim,
                              index::Metric metric) {
  if (absl::Status s = ValidateDocumentId(doc.id()); !s.ok()) return s;
  if (absl::Status s = ValidateVector(doc.vector().data(), doc.vector_size(),
                                      dim, metric, "vector");
      !s.ok()) {
    return s;
  }
  return ValidateAttributes(doc.attributes());
}

absl::Status ValidateIds(
    const google::protobuf::RepeatedPtrField<std::string>& ids) {
  if (static_cast<size_t>(ids.size()) > engine::kMaxIdsPerRequest) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("%d ids in one request; the limit is %d", ids.size(),
                        engine::kMaxIdsPerRequest));
  }
  for (int i = 0; i < ids.size(); ++i) {
    if (absl::Status s = ValidateDocumentId(ids[i]); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("ids[%d]: %s", i, s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSearchRequest(const v1::SearchRequest& request,
                                   uint32_t dim, index::Metric metric) {
  if (request.k() < 1 || request.k() > engine::kMaxK) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "k is %d; it must be in 1..%d", request.k(), engine::kMaxK));
  }
  if (request.queries_size() == 0) {
    return absl::InvalidArgumentError("the request has no queries");
  }
  if (static_cast<size_t>(request.queries_size()) >
      engine::kMaxQueriesPerSearch) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("%d queries in one request; the limit is %d",
                        request.queries_size(), engine::kMaxQueriesPerSearch));
  }
  if (request.nprobe() > engine::kMaxNlist) {
    return absl::InvalidArgumentError(
        absl::StrFormat("nprobe is %d; it must be in 0..%d", request.nprobe(),
                        engine::kMaxNlist));
  }
  if (request.rerank() > engine::kMaxRerank) {
    return absl::InvalidArgumentError(
        absl::StrFormat("rerank is %d; it must be in 0..%d", request.rerank(),
                        engine::kMaxRerank));
  }
  for (int i = 0; i < request.queries_size(); ++i) {
    const v1::Vector& q = request.queries(i);
    const std::string what = absl::StrFormat("query %d", i);
    if (absl::Status s = ValidateVector(q.values().data(), q.values_size(), dim,
                                        metric, what);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = ValidateAttributes(request.filter()); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("filter: %s", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace quiver::server
