// Quiver's IVF-PQ index: a coarse quantizer (nlist centroids from our
// k-means) with one inverted list each, and a product quantizer over the
// residuals (8-bit codes scanned with SIMD ADC, or 4-bit fast-scan codes).
//
//   IvfPqParams p;  p.dim = 128;  p.nlist = 256;  p.m = 16;  p.nbits = 8;
//   QUIVER_ASSIGN_OR_RETURN(auto index, IvfPqIndex::Train(p, x, n));
//   index->Add(ids, x, n);
//   SearchParams sp;  sp.k = 10;  sp.nprobe = 16;
//   std::vector<Neighbor> hits = index->Search(q, sp);
//
// The shared value types (SearchParams, Neighbor, IdFilter, VectorSource,
// ListStats) are in index/types.h, included here.
//
// Distances are "smaller is better": squared L2, or -inner product (also for
// cosine, where the index stores and queries unit vectors).
//
// Thread safety: Search() may run concurrently with other Search() calls and
// with Add() / Remove() / AddEncoded(): each inverted list has its own
// reader/writer lock, held only while that list is scanned or changed. The
// trained quantizers are immutable after Train()/Load().
#ifndef QUIVER_INDEX_IVF_PQ_INDEX_H_
#define QUIVER_INDEX_IVF_PQ_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/metric.h"
#include "index/types.h"  // IWYU pragma: export

namespace quiver::index {

struct IvfPqParams {
  Metric metric = Metric::kL2;
  uint32_t dim = 0;
  // Number of inverted lists (coarse centroids), >= 1.
  uint32_t nlist = 0;
  // Number of PQ sub-quantizers; must divide dim.
  uint32_t m = 0;
  // Bits per sub-code: 8 (ADC scan) or 4 (fast-scan, blocks of 32 codes).
  uint32_t nbits = 8;
  // Balanced k-means for the coarse quantizer.
  bool balanced = false;
  // k-means iterations for the coarse quantizer and for each PQ codebook.
  int niter = 20;
  uint64_t seed = 1234;
  // Training threads (0 = hardware concurrency).
  int threads = 0;

  // INVALID_ARGUMENT naming the bad field.
  absl::Status Validate() const;
};

// Splitting and merging lists in place of a full retraining (the idea of
// SPFresh's LIRE); see IvfPqIndex::Rebalance.
struct RebalanceOptions {
  // Lists to split in two (2-means over their vectors), and lists to
  // dissolve into the lists nearest their vectors. Ids >= nlist, repeats,
  // lists in both and lists with fewer than 2 vectors to split are ignored;
  // at least one list always remains.
  std::vector<uint32_t> split;
  std::vector<uint32_t> merge;
  // Around each split, the vectors of this many lists nearest the split
  // list are reassigned too (some of them are now nearer a new centroid).
  size_t neighbors = 8;
  uint64_t seed = 1;
};

struct RebalanceResult;

class IvfPqIndex {
 public:
  // Trains the coarse quantizer and the PQ on x (n * dim floats, row-major;
  // cosine vectors are normalised here). The index starts empty.
  // INVALID_ARGUMENT for bad params, n < nlist, n < 2^nbits, NaN/Inf.
  static absl::StatusOr<std::unique_ptr<IvfPqIndex>> Train(
      const IvfPqParams& params, const float* x, size_t n);

  // Rebuilds an (empty) index from Serialize()'s bytes. DATA_LOSS for a
  // truncated or corrupt blob, or an unknown version.
  static absl::StatusOr<std::unique_ptr<IvfPqIndex>> Load(
      std::string_view blob);

  ~IvfPqIndex();
  IvfPqIndex(const IvfPqIndex&) = delete;
  IvfPqIndex& operator=(const IvfPqIndex&) = delete;

  // Versioned bytes of the trained state (params, centroids, codebooks);
  // not the inverted lists (the server persists codes per document).
  std::string Serialize() const;

  const IvfPqParams& params() const;
  // Bytes of one code: m for 8-bit, ceil(m / 2) for 4-bit.
  size_t code_size() const;

  // Computes the list and the PQ code of each of n vectors without adding
  // them. list_ids: n; codes: n * code_size() bytes. Uses params().threads
  // workers, or `threads` (0 = all) for the second form.
  void Encode(const float* x, size_t n, uint32_t* list_ids,
              uint8_t* codes) const;
  void Encode(const float* x, size_t n, uint32_t* list_ids, uint8_t* codes,
              int threads) const;
  // Adds an already encoded vector (e.g. read back from storage). An id
  // already present is replaced.
  void AddEncoded(uint64_t id, uint32_t list_id, const uint8_t* code);
  // Encodes and adds n vectors with the given ids (replacing existing ids).
  void Add(const uint64_t* ids, const float* x, size_t n);
  // Removes an id; false if absent.
  bool Remove(uint64_t id);
  bool Contains(uint64_t id) const;
  size_t size() const;

  // k nearest neighbours of one query (dim floats), best first.
  std::vector<Neighbor> Search(const float* query,
                               const SearchParams& params) const;
  // nq queries; results[i] for query i. Uses `threads` workers (0 = all).
  std::vector<std::vector<Neighbor>> SearchBatch(const float* queries,
                                                 size_t nq,
                                                 const SearchParams& params,
                                                 int threads = 1) const;

  // A new index with the same PQ codebooks, in which the lists of `options`
  // are split or merged: a split list's centroid is replaced by the first
  // of two 2-means centroids and the second is appended; a merged list's
  // slot is taken by the last list (so no other list is renumbered). The
  // vectors of the split and merged lists and of the lists nearest each
  // split are encoded again (nearest of all the new centroids); every other
  // list is copied with its codes as they are. `vectors` gives each id's
  // full-precision vector (normalised for cosine); an id it does not have
  // (deleted meanwhile) is left out. This index is only read, under its list
  // locks, so writers may go on; the caller replays their writes onto the
  // result. No splits or merges to make: `index` is null.
  absl::StatusOr<RebalanceResult> Rebalance(const RebalanceOptions& options,
                                            const VectorSource& vectors) const;

  // Vectors in each list, in list order.
  std::vector<size_t> list_sizes() const;
  ListStats list_stats() const;
  // Bytes held for codes + ids + per-list overhead.
  size_t memory_bytes() const;

  // Read access for export (FAISS interop) and tests.
  const std::vector<float>& coarse_centroids() const;  // nlist * dim
  const std::vector<float>& pq_codebooks() const;      // m * 2^nbits * (dim/m)
  // Copies list `l`'s ids and codes (code_size() bytes each, unpacked to one
  // code per vector even for 4-bit). Consistent under the list's lock.
  void GetList(uint32_t l, std::vector<uint64_t>* ids,
               std::vector<uint8_t>* codes) const;

 private:
  struct Impl;
  explicit IvfPqIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct RebalanceResult {
  std::unique_ptr<IvfPqIndex> index;  // null: nothing to do
  // Per list of `index`: true when its centroid is new or its vectors moved
  // there from another list number, so that every entry in it was written
  // by this rebalance (the others keep their entries and codes).
  std::vector<bool> renewed;
  // The entries written by this rebalance (re-encoded, or moved to another
  // list number): ids, their lists and codes (code_size() bytes each).
  std::vector<uint64_t> moved_ids;
  std::vector<uint32_t> moved_lists;
  std::vector<uint8_t> moved_codes;
  size_t splits = 0, merges = 0;
};

}  // namespace quiver::index

#endif  // QUIVER_INDEX_IVF_PQ_INDEX_H_
