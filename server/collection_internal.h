// Helpers shared by collection.cc and collection_train.cc: the stored byte
// formats of quantizers and codes, attribute postings and matching. Private
// to server/.
#ifndef QUIVER_SERVER_COLLECTION_INTERNAL_H_
#define QUIVER_SERVER_COLLECTION_INTERNAL_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "server/convert.h"

namespace quiver::server::internal_collection {

// Stored quantizer value: magic, u32 generation (little endian), index blob.
inline constexpr char kQuantizerMagic[4] = {'Q', 'V', 'Q', '1'};
// Vectors encoded per chunk while a training encodes the collection.
inline constexpr size_t kEncodeChunk = 8192;
// Vectors added to the flat index per call while recovering.
inline constexpr size_t kRecoverChunk = 4096;

inline void PutU32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out->append(b, 4);
}

inline uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return v;
}

inline std::string PackQuantizer(uint32_t generation, std::string_view blob) {
  std::string out(kQuantizerMagic, 4);
  PutU32(&out, generation);
  out.append(blob);
  return out;
}

// Stored code value: u32 generation, then the PQ code bytes.
inline std::string PackCode(uint32_t generation, const uint8_t* code,
                            size_t size) {
  std::string out;
  out.reserve(4 + size);
  PutU32(&out, generation);
  out.append(reinterpret_cast<const char*>(code), size);
  return out;
}

inline std::string PostingKey(std::string_view key, std::string_view value) {
  std::string out;
  out.reserve(key.size() + 1 + value.size());
  out.append(key);
  out.push_back('\0');
  out.append(value);
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

// Runs a function at scope exit unless dismissed.
class Cleanup {
 public:
  explicit Cleanup(std::function<void()> fn) : fn_(std::move(fn)) {}
  ~Cleanup() {
    if (fn_) fn_();
  }
  Cleanup(const Cleanup&) = delete;
  Cleanup& operator=(const Cleanup&) = delete;
  void Dismiss() { fn_ = nullptr; }

 private:
  std::function<void()> fn_;
};

}  // namespace quiver::server::internal_collection

#endif  // QUIVER_SERVER_COLLECTION_INTERNAL_H_
