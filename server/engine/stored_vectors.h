// The full-precision vectors of a collection, read from the store, as an
// index::VectorSource: the final re-scoring of a search's best candidates
// (index/refine.h), whose ranking used the compact in-memory rows.
//
// Thread safety: as the Store (safe for concurrent use).
#ifndef QUIVER_SERVER_ENGINE_STORED_VECTORS_H_
#define QUIVER_SERVER_ENGINE_STORED_VECTORS_H_

#include <cstddef>
#include <cstdint>

#include "index/metric.h"
#include "index/types.h"
#include "storage/store.h"

namespace quiver::engine {

class StoredVectorSource final : public index::VectorSource {
 public:
  // Cosine vectors are normalised on the way out, as the index's are.
  StoredVectorSource(const storage::Store* store, storage::CollectionId cid,
                     index::Metric metric, size_t dim)
      : store_(store), cid_(cid), metric_(metric), dim_(dim) {}

  // An id the store does not hold is not found; a failed read (logged)
  // reports every id of the call as not found, so that its candidates keep
  // the distances of the compact rows.
  bool GetVector(uint64_t id, float* out) const override;
  void GetVectors(const uint64_t* ids, size_t n, size_t dim, float* out,
                  bool* found) const override;

 private:
  const storage::Store* const store_;
  const storage::CollectionId cid_;
  const index::Metric metric_;
  const size_t dim_;
};

}  // namespace quiver::engine

#endif  // QUIVER_SERVER_ENGINE_STORED_VECTORS_H_
