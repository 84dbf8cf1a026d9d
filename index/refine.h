// The final re-scoring of a search's best candidates with other vectors:
// full precision, when the candidates were ranked on a compact form (a
// FlatIndex with FlatEncoding::kScalar8 or kFloat16).
//
//   std::vector<Neighbor> hits = flat.Search(q, 1, 2 * k)[0];
//   Refine(Metric::kL2, q, dim, full_precision, k, &hits);
//
// With error bounds for the compact vectors (FlatIndex::GetVectors'
// `errors`), only the candidates that could still enter the best k are
// re-scored, and the result is the best k of all the candidates at full
// precision: the same as re-scoring every one of them.
//
// Thread safety: as safe as `source` (per-thread buffers only).
#ifndef QUIVER_INDEX_REFINE_H_
#define QUIVER_INDEX_REFINE_H_

#include <cstddef>
#include <vector>

#include "index/metric.h"
#include "index/types.h"

namespace quiver::index {

// The least distance a candidate can have at full precision whose distance
// to the query is `d` on a vector within `error` of its own (triangle
// inequality for squared L2; Cauchy-Schwarz with the query's norm `qnorm`
// for the negated inner product), lowered a little for float rounding.
float DistanceLowerBound(Metric metric, float d, float error, float qnorm);

// Re-scores hits (best first by their compact distances) with `source`'s
// vectors (the query, dim floats, normalised for cosine as the source's
// vectors are) and keeps the best k, best first, ties by id. Distances are
// the index's: squared L2 for kL2, the negated inner product otherwise. A
// hit the source does not know keeps the distance it came with.
// errors (nullable; one per hit): bounds on the compact vectors' errors.
// The first k hits are re-scored, then only those whose
// DistanceLowerBound is below the k-th distance found; without errors,
// every hit. Returns the number of hits re-scored.
size_t Refine(Metric metric, const float* query, size_t dim,
              const VectorSource& source, size_t k, std::vector<Neighbor>* hits,
              const float* errors = nullptr);

}  // namespace quiver::index

#endif  // QUIVER_INDEX_REFINE_H_
