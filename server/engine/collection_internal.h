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

// The documents matching a filter, as the scan sees them: a CRoaring bitmap
// built once per search, read-only while the scan runs (so Accept() needs
// no lock).
class Collection::RoaringFilter : public index::IdFilter {
 public:
  explicit RoaringFilter(const Roaring* bits) : bits_(bits) {}
  bool Accept(uint64_t id) const override {
    return id <= kMaxInternalId && bits_->contains(static_cast<uint32_t>(id));
  }

 private:
  const Roaring* bits_;
};

}  // namespace quiver::engine

#endif  // QUIVER_SERVER_ENGINE_COLLECTION_INTERNAL_H_
