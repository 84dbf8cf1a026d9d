// Document attributes as the engine holds them: (key, typed value) pairs
// sorted by key, keys unique. A value is a string, an int64, a double, a
// bool or a list of strings (tags). Their stored byte form is in records.h.
//
//   Attributes a = SortedAttributes({{"lang", "en"}, {"year", int64_t{2024}}});
//   const AttributeValue* year = FindAttribute(a, "year");
//
// Thread safety: value types and pure functions.
#ifndef QUIVER_SERVER_ENGINE_ATTRIBUTES_H_
#define QUIVER_SERVER_ENGINE_ATTRIBUTES_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace quiver::engine {

using Tags = std::vector<std::string>;
// The alternatives' order is part of the stored format (records.cc writes
// index() as the type byte): append only.
using AttributeValue = std::variant<std::string, int64_t, double, bool, Tags>;

enum class AttributeType : uint8_t {
  kString = 0,
  kInt = 1,
  kDouble = 2,
  kBool = 3,
  kTags = 4,
};
inline constexpr int kAttributeTypes = 5;

inline AttributeType TypeOf(const AttributeValue& v) {
  return static_cast<AttributeType>(v.index());
}
// "string", "int", "double", "bool", "tags".
std::string_view TypeName(AttributeType type);
// Readable form for messages: "en" (quoted), 2024, 1.5, true, ["a", "b"].
std::string DebugString(const AttributeValue& v);

using Attributes = std::vector<std::pair<std::string, AttributeValue>>;

// Sorts by key; for a repeated key the last pair wins.
inline Attributes SortedAttributes(Attributes attrs) {
  std::stable_sort(
      attrs.begin(), attrs.end(),
      [](const auto& a, const auto& b) { return a.first < b.first; });
  Attributes out;
  out.reserve(attrs.size());
  for (auto& kv : attrs) {
    if (!out.empty() && out.back().first == kv.first) {
      out.back() = std::move(kv);
    } else {
      out.push_back(std::move(kv));
    }
  }
  return out;
}

// Value of `key` in sorted attributes, or nullptr.
inline const AttributeValue* FindAttribute(const Attributes& attrs,
                                           std::string_view key) {
  auto it = std::lower_bound(
      attrs.begin(), attrs.end(), key,
      [](const auto& kv, std::string_view k) { return kv.first < k; });
  if (it == attrs.end() || it->first != key) return nullptr;
  return &it->second;
}

}  // namespace quiver::engine

#endif  // QUIVER_SERVER_ENGINE_ATTRIBUTES_H_
