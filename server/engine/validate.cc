#include "server/engine/validate.h"

#include <cmath>
#include <limits>
#include <string>
#include <variant>

#include "absl/strings/str_format.h"
#include "server/engine/config.h"

namespace quiver::engine {

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
  if (norm2 > std::numeric_limits<float>::max()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s has a squared norm of %g, beyond float range; scale it down", what,
        norm2));
  }
  if (metric == index::Metric::kCosine && norm2 == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is all zeros; cosine collections need non-zero vectors", what));
  }
  return absl::OkStatus();
}

absl::Status ValidateAttributes(const Attributes& attributes) {
  if (attributes.size() > kMaxAttributes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%d attributes; the limit is %d", attributes.size(), kMaxAttributes));
  }
  for (size_t i = 0; i < attributes.size(); ++i) {
    const auto& [k, v] = attributes[i];
    if (k.empty()) return absl::InvalidArgumentError("attribute key is empty");
    if (k.size() > kMaxAttributeKeyBytes) {
      return absl::InvalidArgumentError(
          absl::StrFormat("attribute key has %d bytes; the limit is %d",
                          k.size(), kMaxAttributeKeyBytes));
    }
    if (const std::string* s = std::get_if<std::string>(&v);
        s != nullptr && s->size() > kMaxAttributeValueBytes) {
      return absl::InvalidArgumentError(
          absl::StrFormat("attribute '%s' value has %d bytes; the limit is %d",
                          k, s->size(), kMaxAttributeValueBytes));
    }
    if (const double* d = std::get_if<double>(&v);
        d != nullptr && !std::isfinite(*d)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "attribute '%s' is %g; numbers must be finite", k, *d));
    }
    if (const Tags* tags = std::get_if<Tags>(&v); tags != nullptr) {
      if (tags->size() > kMaxTags) {
        return absl::InvalidArgumentError(
            absl::StrFormat("attribute '%s' has %d tags; the limit is %d", k,
                            tags->size(), kMaxTags));
      }
      for (const std::string& t : *tags) {
        if (t.size() > kMaxAttributeValueBytes) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "attribute '%s' has a tag of %d bytes; the limit is %d", k,
              t.size(), kMaxAttributeValueBytes));
        }
      }
    }
    if (i > 0 && !(attributes[i - 1].first < k)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("attribute '%s' is repeated or out of order", k));
    }
  }
  return absl::OkStatus();
}

}  // namespace quiver::engine
