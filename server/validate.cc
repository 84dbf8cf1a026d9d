#include "server/validate.h"

#include <cmath>

#include "absl/strings/str_format.h"
#include "server/params.h"

namespace quiver::server {

absl::Status ValidateDocumentId(std::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("document id is empty");
  if (id.size() > kMaxDocumentIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("document id has %d bytes; the limit is %d", id.size(),
                        kMaxDocumentIdBytes));
  }
  if (id.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("document id contains a NUL byte");
  }
  return absl::OkStatus();
}

absl::Status ValidateVector(const float* values, size_t size, uint32_t dim,
                            index::Metric metric, std::string_view what) {
  if (size != dim) {
    return absl::InvalidArgumentError(
        absl::StrFormat("dimension mismatch: %s has %d values; the collection "
                        "has dimension %d",
                        what, size, dim));
  }
  double norm2 = 0;
  for (size_t i = 0; i < size; ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s has a non-finite value (%f) at position %d", what, values[i], i));
    }
    norm2 += static_cast<double>(values[i]) * values[i];
  }
  if (metric == index::Metric::kCosine && norm2 == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is all zeros; cosine collections need non-zero vectors", what));
  }
  return absl::OkStatus();
}

absl::Status ValidateAttributes(
    const google::protobuf::Map<std::string, std::string>& attributes) {
  if (attributes.size() > kMaxAttributes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%d attributes; the limit is %d", attributes.size(), kMaxAttributes));
  }
  for (const auto& [k, v] : attributes) {
    if (k.empty()) return absl::InvalidArgumentError("attribute key is empty");
    if (k.size() > kMaxAttributeKeyBytes) {
      return absl::InvalidArgumentError(
          absl::StrFormat("attribute key has %d bytes; the limit is %d",
                          k.size(), kMaxAttributeKeyBytes));
    }
    if (v.size() > kMaxAttributeValueBytes) {
      return absl::InvalidArgumentError(
          absl::StrFormat("attribute '%s' value has %d bytes; the limit is %d",
                          k, v.size(), kMaxAttributeValueBytes));
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
  if (static_cast<size_t>(ids.size()) > kMaxIdsPerRequest) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("%d ids in one request; the limit is %d", ids.size(),
                        kMaxIdsPerRequest));
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
                                   uint32_t dim, index::Metric metric,
                                   uint32_t nlist) {
  if (request.k() < 1 || request.k() > kMaxK) {
    return absl::InvalidArgumentError(
        absl::StrFormat("k is %d; it must be in 1..%d", request.k(), kMaxK));
  }
  if (request.queries_size() == 0) {
    return absl::InvalidArgumentError("the request has no queries");
  }
  if (static_cast<size_t>(request.queries_size()) > kMaxQueriesPerSearch) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("%d queries in one request; the limit is %d",
                        request.queries_size(), kMaxQueriesPerSearch));
  }
  const uint32_t max_nprobe = nlist == 0 ? kMaxNlist : nlist;
  if (request.nprobe() > max_nprobe) {
    return absl::InvalidArgumentError(
        absl::StrFormat("nprobe is %d; it must be in 0..%d (nlist)",
                        request.nprobe(), max_nprobe));
  }
  if (request.rerank() > kMaxRerank) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "rerank is %d; it must be in 0..%d", request.rerank(), kMaxRerank));
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
