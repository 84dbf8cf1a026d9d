// The state behind IvfPqIndex: trained quantizers (immutable after
// construction), inverted lists, and the id -> list map; plus the coarse
// assignment and the per-query search over chosen lists.
//
// Thread safety: the trained members are read-only once Build() returns.
// lists: per-list locks (inverted_lists.h). id_to_list: guarded by id_mu.
// Writers take id_mu first, then one list lock at a time; Search() takes
// list locks only, so it never waits on id_mu.
#ifndef QUIVER_INDEX_IVF_IVF_PQ_STATE_H_
#define QUIVER_INDEX_IVF_IVF_PQ_STATE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "index/ivf/id_map.h"
#include "index/ivf/inverted_lists.h"
#include "index/ivf_pq_index.h"
#include "index/pq/product_quantizer.h"

namespace quiver::index::ivf {

// Precomputed L2 tables above this size are not built; LUTs are then
// computed from the residual per list (slower queries, same results up to
// rounding).
inline constexpr size_t kMaxPrecomputedTableBytes = size_t{256} << 20;

struct IvfPqState {
  explicit IvfPqState(const IvfPqParams& p);
  IvfPqState(const IvfPqState&) = delete;
  IvfPqState& operator=(const IvfPqState&) = delete;

  // Validates and installs trained centroids (nlist * dim) and codebooks
  // (m * ksub * dsub), derives the norms and the precomputed table.
  // INVALID_ARGUMENT on a size mismatch or non-finite values.
  absl::Status Build(std::vector<float> coarse, std::vector<float> codebooks);

  // Metric is inner product or cosine (scores are -<q, x>).
  bool by_ip() const { return params.metric != Metric::kL2; }

  // For each of n vectors (already normalised for cosine), the nprobe best
  // lists (labels: n * nprobe, best first) and their coarse distances
  // (distances: n * nprobe; ||x - c||^2 or -<x, c>, computed with the same
  // kernel as the single-query path). BLAS matrix product over blocks of
  // vectors; `threads` workers for the selection.
  void CoarseSearch(const float* x, size_t n, size_t nprobe, uint32_t* labels,
                    float* distances, int threads) const;
  // The same for one vector with the SIMD kernels (no BLAS): every
  // centroid scored, so the nprobe best lists exactly.
  void CoarseSearchOne(const float* x, size_t nprobe, uint32_t* labels,
                       float* distances) const;
  // The probes of a search: CoarseSearchOne's, or, for a grouped index
  // (see CentroidGroups), the nprobe best of the lists of the nearest groups
  // only, scored until they hold at least max(nlist / kGroupCoverDiv,
  // kGroupCoverPerProbe * nprobe) lists (CoarseSearchOne once that is all
  // of them). Distances are exact; a list of a group not visited can be
  // missed (ProbeSearchTest measures how often). Search and SearchBatch use
  // this, so a measurement of the defaults sees what searches see.
  void ProbeSearchOne(const float* x, size_t nprobe, uint32_t* labels,
                      float* distances) const;
  // CoarseSearch for nprobe == 1 (the list a vector is added to): the
  // blocked GEMM + argmin of k-means, checked against its rounding error;
  // vectors whose best two lists are too close to call go through
  // CoarseSearchOne. Results equal CoarseSearchOne's for every vector.
  void NearestList(const float* x, size_t n, uint32_t* labels, float* distances,
                   int threads) const;

  // Lists and codes of n vectors (normalised for cosine); see
  // IvfPqIndex::Encode.
  void EncodeNormalized(const float* x, size_t n, uint32_t* list_ids,
                        uint8_t* codes, int threads) const;

  // Adds encoded entries (replacing present ids; for a repeated id within
  // the batch the last one wins). REQUIRES: list_ids[i] < nlist.
  void AddEncodedBatch(const uint64_t* ids, const uint32_t* list_ids,
                       const uint8_t* codes, size_t n);
  bool Remove(uint64_t id);

  // k-NN of one query (already normalised for cosine) over the given probes
  // (list ids and coarse distances, best first).
  void SearchPreassigned(const float* q, const uint32_t* probes,
                         const float* probe_distances, size_t nprobe,
                         const SearchParams& sp,
                         std::vector<Neighbor>* out) const;

  size_t MemoryBytes() const;

  const IvfPqParams params;
  const size_t dim, nlist, m, ksub, dsub, code_size;
  std::vector<float> centroids;       // nlist x dim
  std::vector<float> centroid_norms;  // nlist, ||c||^2
  // The centroids block-transposed (kernels::TransposeBlocks16) for the
  // single-query coarse search; derived from centroids by BlockCentroids(),
  // which also groups them (empty when grouped: the groups hold them).
  std::vector<float> centroids_blocked;
  void BlockCentroids();

  // Indexes of at least kGroupMinLists lists group their centroids by a
  // k-means over the centroids (about 2 sqrt(nlist) groups; seeded, so the
  // same centroids give the same groups). Each group's centroids are block-
  // transposed together, padded to a multiple of 16 rows. A single-query
  // search then reads the group heads and the members of the nearest groups
  // instead of every centroid: at 4,096 lists of 96-d, 1.5 MiB of centroids
  // a query, most of the time of a search at nprobe 1-8. Derived, never
  // persisted. Empty (count 0) below kGroupMinLists.
  static constexpr size_t kGroupMinLists = 2048;
  static constexpr double kGroupsPerSqrtList = 2;
  static constexpr size_t kGroupCoverDiv = 6;
  static constexpr size_t kGroupCoverPerProbe = 32;
  static constexpr uint32_t kNoList = ~uint32_t{0};
  struct CentroidGroups {
    size_t count = 0;
    std::vector<float> heads_blocked;   // the groups' centroids, blocked
    std::vector<uint32_t> block_begin;  // count + 1: first block of each
    size_t widest_blocks = 0;  // the most blocks of one group, or of heads
    std::vector<uint32_t> lists_in_group;  // count: its lists (no padding)
    std::vector<uint32_t> member_list;     // 16 per block; kNoList: padding
    std::vector<float> members_blocked;    // member_list's centroids, blocked
  };
  CentroidGroups groups;
  // Fills groups; false (and groups untouched) if the k-means fails.
  bool GroupCentroids();
  // Appends the ScoreKeys of group `group`'s lists for x to keys (scratch:
  // 16 floats a block of the group); returns how many lists it holds.
  size_t ScoreGroup(const float* x, size_t group, float* scratch,
                    std::vector<uint64_t>* keys) const;
  pq::ProductQuantizer pq;
  // L2 only: (nlist, m, ksub): ||r_jc||^2 + 2 <c_l,j, r_jc>; empty when
  // above kMaxPrecomputedTableBytes or for inner product.
  std::vector<float> precomputed;
  InvertedLists lists;

  mutable absl::Mutex id_mu;
  IdMap id_to_list ABSL_GUARDED_BY(id_mu);
};

}  // namespace quiver::index::ivf

#endif  // QUIVER_INDEX_IVF_IVF_PQ_STATE_H_
