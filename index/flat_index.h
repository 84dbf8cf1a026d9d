// Exact (brute force) k-NN over a set of vectors, computed with a BLAS matrix
// product. Serves collections that are not trained yet, ground truth, and the
// server's re-ranking store.
//
//   FlatIndex flat(Metric::kL2, 128);
//   flat.Add(ids, x, n);
//   auto hits = flat.Search(q, nq, /*k=*/10);
//
// Encodings: kFloat32 keeps each vector as it came (4 * dim bytes a row).
// kFloat16 keeps it in half precision, 2 * dim + 4 bytes a row: x[i] ~
// half[i] * scale, with a power-of-two scale per row that puts the row's
// largest |x[i]| in [2^14, 2^15) (so no row overflows or loses precision to
// its magnitude), rounded to nearest even: a relative error of at most 2^-11
// of the row's largest component per component. kScalar8 keeps one byte per
// component, dim + 12 bytes a row: x[i] ~ min + code[i] * step with the
// row's minimum and step = (max - min) / 255, so each component is within
// step / 2 (decoded with one fused multiply-add), and the row's exact error
// bound; a compact form for re-ranking whose doubtful candidates the caller
// re-scores at full precision (SearchParams::refine_vectors). Every read
// (GetVector, Search, SearchSubset) sees the decoded vector.
//
// Thread safety: Search() may run concurrently with other Search() calls and
// with Add()/Remove() (a reader/writer lock; Search holds it for its scan).
#ifndef QUIVER_INDEX_FLAT_INDEX_H_
#define QUIVER_INDEX_FLAT_INDEX_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "index/metric.h"
#include "index/types.h"

namespace quiver::index {

enum class FlatEncoding { kFloat32, kFloat16, kScalar8 };

class FlatIndex {
 public:
  FlatIndex(Metric metric, size_t dim,
            FlatEncoding encoding = FlatEncoding::kFloat32);
  ~FlatIndex();
  FlatIndex(const FlatIndex&) = delete;
  FlatIndex& operator=(const FlatIndex&) = delete;

  // Adds or replaces n vectors (n * dim floats, finite). Cosine vectors are
  // normalised on the way in. At most 2^32 - 2 rows.
  void Add(const uint64_t* ids, const float* x, size_t n);
  bool Remove(uint64_t id);
  // Gives back the room beyond the rows held (Add grows it 1.25x at a time;
  // Remove gives it back only once a third of it is unused), id map
  // included: for after mass deletes.
  void ShrinkToFit();
  size_t size() const;
  FlatEncoding encoding() const;
  // Bytes held: rows, norms, ids and the id -> row map (capacities; 4
  // bytes per id for dense ids, see ivf/id_map.h).
  size_t memory_bytes() const;
  // Copies the stored (normalised for cosine; decoded for kFloat16 and
  // kScalar8) vector of id; false if absent.
  bool GetVector(uint64_t id, float* out) const;
  // GetVector for n ids under one lock: row i of out (n * dim floats) and
  // found[i] for ids[i] (an unknown id's row is left as it was). Every row
  // is looked up and its load started before the first is copied.
  // With `errors` (n floats), errors[i] gets a bound on the distance from
  // the decoded row to the vector added (normalised for cosine): 0 for
  // kFloat32.
  void GetVectors(const uint64_t* ids, size_t n, float* out, bool* found,
                  float* errors = nullptr) const;
  // Starts loading the rows of these ids into the cache (a hint for the
  // GetVector calls that follow; unknown ids are skipped).
  void Prefetch(const uint64_t* ids, size_t n) const;

  // Exact k nearest of each of nq queries, best first; filter optional.
  std::vector<std::vector<Neighbor>> Search(
      const float* queries, size_t nq, size_t k,
      const IdFilter* filter = nullptr) const;

  // Search for a long batch beside writers (a server measuring its own
  // recall while documents stream in): the rows are read a block at a time,
  // from the last row to the first, each block copied (decoded) under the
  // reader lock and scanned against every query without it, so Add() and
  // Remove() wait at most one block's copy, and each block is decoded once
  // for the whole batch. A vector stored for the whole call is found (Remove
  // moves the last row into the hole: scanning backwards, such a row is
  // either seen before it moves or seen again, and counted once); one added,
  // replaced or removed meanwhile may or may not be. Stops early, with what
  // it has, once *cancel (optional) is true. Same answers as Search otherwise.
  std::vector<std::vector<Neighbor>> SearchYielding(
      const float* queries, size_t nq, size_t k,
      const IdFilter* filter = nullptr,
      const std::atomic<bool>* cancel = nullptr) const;

  // Exact k nearest of each of nq queries among the vectors of `ids` only
  // (unknown ids are skipped), best first, ties by id: the exact search
  // over a filter's few matching documents, at a cost proportional to
  // nids, not to size().
  std::vector<std::vector<Neighbor>> SearchSubset(const float* queries,
                                                  size_t nq, size_t k,
                                                  const uint64_t* ids,
                                                  size_t nids) const;

  // Exact k-NN of queries against a plain matrix (ids = row numbers): ground
  // truth for tests and benchmarks.
  static std::vector<std::vector<Neighbor>> BruteForce(
      Metric metric, const float* base, size_t nb, const float* queries,
      size_t nq, size_t dim, size_t k);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A FlatIndex as the re-ranking source of IvfPqIndex searches and the vector
// source of Rebalance. The FlatIndex must outlive it.
class FlatVectorSource final : public VectorSource {
 public:
  explicit FlatVectorSource(const FlatIndex* flat) : flat_(flat) {}
  bool GetVector(uint64_t id, float* out) const override {
    return flat_->GetVector(id, out);
  }
  void Prefetch(const uint64_t* ids, size_t n) const override {
    flat_->Prefetch(ids, n);
  }
  void GetVectors(const uint64_t* ids, size_t n, size_t /*dim*/, float* out,
                  bool* found) const override {
    flat_->GetVectors(ids, n, out, found);
  }
  bool GetVectorsAndErrors(const uint64_t* ids, size_t n, size_t /*dim*/,
                           float* out, bool* found,
                           float* errors) const override {
    flat_->GetVectors(ids, n, out, found, errors);
    return true;
  }

 private:
  const FlatIndex* flat_;
};

}  // namespace quiver::index

#endif  // QUIVER_INDEX_FLAT_INDEX_H_
