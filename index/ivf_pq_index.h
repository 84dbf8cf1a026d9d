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
  // them. list_ids: n; codes: n * code_size() bytes.
  void Encode(const float* x, size_t n, uint32_t* list_ids,
              uint8_t* codes) const;
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

}  // namespace quiver::index

#endif  // QUIVER_INDEX_IVF_PQ_INDEX_H_
