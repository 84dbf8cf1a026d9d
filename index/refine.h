// The final re-scoring of a search's best candidates with other vectors:
// full precision, when the candidates were ranked on a compact form (a
// FlatIndex with FlatEncoding::kScalar8, or PQ codes).
//
//   std::vector<Neighbor> hits = flat.Search(q, 1, 2 * k)[0];
//   Refine(Metric::kL2, q, dim, full_precision, k, &hits);
//
// Thread safety: as safe as `source` (the function keeps no state).
#ifndef QUIVER_INDEX_REFINE_H_
#define QUIVER_INDEX_REFINE_H_

#include <cstddef>
#include <vector>

#include "index/metric.h"
#include "index/types.h"

namespace quiver::index {

// Re-scores every hit with `source`'s vector of its id (the query, dim
// floats, normalised for cosine as the source's vectors are), then keeps
// the best k, best first, ties by id. Distances are the index's: squared L2
// for kL2, the negated inner product otherwise. A hit the source does not
// know keeps the distance it came with.
void Refine(Metric metric, const float* query, size_t dim,
            const VectorSource& source, size_t k, std::vector<Neighbor>* hits);

}  // namespace quiver::index

#endif  // QUIVER_INDEX_REFINE_H_
