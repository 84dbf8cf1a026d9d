// Value types shared by Quiver's indexes (IvfPqIndex, FlatIndex) and their
// callers: search parameters, results, the id filter and the vector source
// used for re-ranking, and inverted-list statistics.
//
//   SearchParams sp;  sp.k = 10;  sp.nprobe = 16;
//   std::vector<Neighbor> hits = index->Search(q, sp);
//
// Distances are "smaller is better": squared L2, or -inner product (also for
// cosine, where the index stores and queries unit vectors).
//
// Thread safety: plain values; IdFilter and VectorSource implementations
// must be safe to call from several searching threads at once.
#ifndef QUIVER_INDEX_TYPES_H_
#define QUIVER_INDEX_TYPES_H_

#include <cstddef>
#include <cstdint>

namespace quiver::index {

// A predicate on internal ids, evaluated during the scan (so that k results
// come back when k matching documents exist).
class IdFilter {
 public:
  virtual ~IdFilter() = default;
  virtual bool Accept(uint64_t id) const = 0;
};

// Supplies full-precision vectors for exact re-ranking.
class VectorSource {
 public:
  virtual ~VectorSource() = default;
  // Writes the vector of `id` (dim floats, already normalised for cosine)
  // into out; false if unknown (the candidate is then dropped).
  virtual bool GetVector(uint64_t id, float* out) const = 0;
  // A hint: GetVector will soon be called for these ids (the re-ranking
  // candidates, all at once, so that a source can start every memory load
  // before the first copy). Default: nothing.
  virtual void Prefetch(const uint64_t* ids, size_t n) const {
    (void)ids;
    (void)n;
  }
  // The vectors of n ids at once (the re-ranking candidates of one query):
  // row i of out (n * dim floats) gets ids[i]'s vector and found[i] says
  // whether it is known (an unknown id's row is left as it was). Default:
  // Prefetch(ids, n), then GetVector for each; a source overrides it to
  // look every id up under one lock.
  virtual void GetVectors(const uint64_t* ids, size_t n, size_t dim, float* out,
                          bool* found) const {
    Prefetch(ids, n);
    for (size_t i = 0; i < n; ++i) found[i] = GetVector(ids[i], out + i * dim);
  }
  // GetVectors, and for a source that keeps a compact form, errors[i] (n
  // floats) >= the distance from the vector it wrote for ids[i] to the true
  // one (normalised for cosine), for the found ids; returns whether it
  // wrote them. Default: GetVectors, false (no bounds known).
  virtual bool GetVectorsAndErrors(const uint64_t* ids, size_t n, size_t dim,
                                   float* out, bool* found,
                                   float* errors) const {
    (void)errors;
    GetVectors(ids, n, dim, out, found);
    return false;
  }
};

struct SearchParams {
  size_t k = 10;
  // Inverted lists probed; clamped to [1, nlist].
  size_t nprobe = 8;
  // Re-rank factor: the best k * rerank PQ candidates are re-scored with
  // exact distances from `vectors`. 0 = no re-ranking.
  size_t rerank = 0;
  const VectorSource* vectors = nullptr;  // required when rerank > 0
  // Optional final pass after re-ranking (see index/refine.h): the best
  // max(k, refine_k) re-ranked candidates are scored again with
  // refine_vectors' (full-precision) vectors, and the best k of them
  // returned. For a `vectors` in a compact form (FlatEncoding::kScalar8)
  // that misorders near ties: re-scoring 2k puts them back in order.
  const VectorSource* refine_vectors = nullptr;
  size_t refine_k = 0;
  const IdFilter* filter = nullptr;  // optional
};

struct Neighbor {
  uint64_t id = 0;
  float distance = 0;
};

// The order of every result list: nearest first, ties by id.
inline bool Closer(const Neighbor& a, const Neighbor& b) {
  return a.distance != b.distance ? a.distance < b.distance : a.id < b.id;
}

// Sizes of the inverted lists of an index.
struct ListStats {
  size_t min = 0, max = 0;
  double mean = 0;
  size_t total = 0;
};

}  // namespace quiver::index

#endif  // QUIVER_INDEX_TYPES_H_
