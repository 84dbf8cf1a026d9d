// Helpers shared by collection.cc and collection_train.cc. Private to the
// engine.
#ifndef QUIVER_SERVER_ENGINE_COLLECTION_INTERNAL_H_
#define QUIVER_SERVER_ENGINE_COLLECTION_INTERNAL_H_

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "index/flat_index.h"
#include "server/engine/collection.h"

namespace quiver::engine::internal_collection {

// Vectors encoded per chunk while a training encodes the collection.
inline constexpr size_t kEncodeChunk = 8192;
// Vectors added to the flat index per call while recovering.
inline constexpr size_t kRecoverChunk = 4096;

inline std::string PostingKey(std::string_view key, std::string_view value) {
  std::string out;
  out.reserve(key.size() + 1 + value.size());
  out.append(key);
  out.push_back('\0');
  out.append(value);
  return out;
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

}  // namespace quiver::engine::internal_collection

namespace quiver::engine {

// A set of internal ids as a bitmap: built once per search, read-only while
// the scan runs (so Accept() needs no lock).
class Collection::BitmapFilter : public index::IdFilter {
 public:
  explicit BitmapFilter(size_t n) : bits_((n + 63) / 64, 0) {}
  void Set(uint64_t id) { bits_[id / 64] |= uint64_t{1} << (id % 64); }
  bool Accept(uint64_t id) const override {
    const size_t w = id / 64;
    return w < bits_.size() && ((bits_[w] >> (id % 64)) & 1) != 0;
  }

 private:
  std::vector<uint64_t> bits_;
};

// Re-ranking reads full-precision vectors from the flat index.
class Collection::FlatVectorSource : public index::VectorSource {
 public:
  explicit FlatVectorSource(const index::FlatIndex* flat) : flat_(flat) {}
  bool GetVector(uint64_t id, float* out) const override {
    return flat_->GetVector(id, out);
  }

 private:
  const index::FlatIndex* flat_;
};

}  // namespace quiver::engine

#endif  // QUIVER_SERVER_ENGINE_COLLECTION_INTERNAL_H_
