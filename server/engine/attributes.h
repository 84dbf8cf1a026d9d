// Document attributes as the engine holds them: (key, value) string pairs
// sorted by key, keys unique. Their stored byte form is in records.h.
//
//   Attributes a = SortedAttributes({{"lang", "en"}, {"year", "2024"}});
//   if (Matches(a, filter)) ...
//
// Thread safety: value types and pure functions.
#ifndef QUIVER_SERVER_ENGINE_ATTRIBUTES_H_
#define QUIVER_SERVER_ENGINE_ATTRIBUTES_H_

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quiver::engine {

using Attributes = std::vector<std::pair<std::string, std::string>>;

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
inline const std::string* FindAttribute(const Attributes& attrs,
                                        std::string_view key) {
  auto it = std::lower_bound(
      attrs.begin(), attrs.end(), key,
      [](const auto& kv, std::string_view k) { return kv.first < k; });
  if (it == attrs.end() || it->first != key) return nullptr;
  return &it->second;
}

// True if `attrs` has every (key, value) of `filter`.
inline bool Matches(const Attributes& attrs, const Attributes& filter) {
  for (const auto& [k, v] : filter) {
    const std::string* value = FindAttribute(attrs, k);
    if (value == nullptr || *value != v) return false;
  }
  return true;
}

}  // namespace quiver::engine

#endif  // QUIVER_SERVER_ENGINE_ATTRIBUTES_H_
