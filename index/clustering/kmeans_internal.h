// Building blocks of k-means (index/clustering/kmeans.cc; private to
// index/): blocked GEMM assignment (also used by the IVF coarse quantizer),
// seeding, balanced (capacity-constrained) assignment, centroid update and
// empty-cluster repair.
//
// Every routine is deterministic for a given input and seed, whatever the
// thread count: work is cut into fixed blocks of rows and reductions are
// summed in block order.
//
// Thread safety: all functions are reentrant; none keeps state.
#ifndef QUIVER_INDEX_CLUSTERING_KMEANS_INTERNAL_H_
#define QUIVER_INDEX_CLUSTERING_KMEANS_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace quiver::index::clustering {

// Rows of x per assignment block (a block's products fill rows * min(k,
// kAssignBlockCols) floats of per-thread scratch).
inline constexpr size_t kAssignBlockRows = 256;
inline constexpr size_t kAssignBlockCols = 1024;

// Nearest centroids of each of n points (squared L2).
//   x: n * d; x_norms: n (||x_i||^2; computed on the fly when null);
//   c: k * d; c_norms: k (||c_j||^2).
//   labels, dists: n (dists may be null): nearest centroid and its squared
//   distance (clamped at 0).
//   top_m > 0 additionally fills top_labels / top_dists (n * top_m, each row
//   ascending by distance; top_m <= k).
//   second (nullable): n squared distances to the second nearest centroid
//   (+inf when k == 1).
// Returns the sum of dists in double, reduced in block order.
double AssignBlocked(const float* x, size_t n, size_t d, const float* x_norms,
                     const float* c, const float* c_norms, size_t k,
                     int threads, uint32_t* labels, float* dists,
                     size_t top_m = 0, uint32_t* top_labels = nullptr,
                     float* top_dists = nullptr, float* second = nullptr);

// The same blocked GEMM + fused argmin, on raw scores: for each of n points
// x_i (n * d), the j < k minimising s_ij = c_bias[j] - 2 <x_i, c_j> (c: k *
// d), the first on ties as the GEMM computed them. With c_bias = ||c_j||^2
// this is the nearest centroid in squared L2; with c_bias = 0, the largest
// inner product. labels, best: n (best = s_i,label); second (nullable): n,
// the second smallest score (+inf when k == 1). Scores are not clamped.
void NearestScores(const float* x, size_t n, size_t d, const float* c,
                   const float* c_bias, size_t k, int threads, uint32_t* labels,
                   float* best, float* second);

// Candidates per point kept by the pruned assignment.
inline constexpr size_t kPruneCandidates = 6;
// Centroids with the largest shifts checked exactly to tighten `rest`.
inline constexpr size_t kPruneMovers = 8;

// State of the pruned Lloyd assignment between iterations (distances are
// non-squared here). For point i with label a:
//   top_labels[i * m1 .. + mc) are the mc = min(k, kPruneCandidates)
//   centroids that were nearest when the point last went through the GEMM
//   (a is always one of them);
//   upper[i] >= dist(x_i, c_a);
//   cand_lower[i * mc + r] <= dist(x_i, c_j) for candidate j = top_labels[..r]
//   (Elkan's per-centroid bounds, kept for the candidates only);
//   rest[i] <= dist(x_i, c_j) for every j outside them (+inf if mc == k).
struct PruneState {
  size_t m1 = 0;  // entries per point in top_labels / top_dists: min(k, mc+1)
  size_t mc = 0;
  std::vector<float> upper, rest, cand_lower;
  std::vector<uint32_t> top_labels;
  std::vector<float> top_dists;  // GEMM scratch, n * m1
};

struct PruneCounts {
  size_t kept = 0;        // label proven by the bounds
  size_t candidates = 0;  // resolved among the point's candidates
  size_t full = 0;        // sent to the GEMM over all k centroids
};

// Exact Lloyd assignment (the nearest centroid of every point, up to float
// rounding) that skips most of the work once centroids move little: with
// shifts[j] = dist(old c_j, new c_j), each candidate's bound decays by its
// own shift and `rest` by the largest shift; a point whose bounds still prove
// its label keeps it; one whose nearest centroid is provably among its
// candidates is resolved with direct distances to the candidates its bounds
// do not exclude; the others are gathered into blocks for the GEMM, which
// refreshes their state.
//   shifts: k, or null on the first call (every point goes to the GEMM and
//   the state is initialised). labels: n, in/out. x_norms: n.
void AssignPruned(const float* x, size_t n, size_t d, const float* x_norms,
                  const float* c, const float* c_norms, size_t k,
                  const float* shifts, int threads, uint32_t* labels,
                  PruneState* state, PruneCounts* counts);

// Per-cluster sums of the points (double, each cluster summed in point
// order whatever the thread count) and sizes. sums: k * d.
void ClusterSums(const float* x, size_t n, size_t d, const uint32_t* labels,
                 size_t k, int threads, double* sums,
                 std::vector<size_t>* sizes);

// sum_i ||x_i - c_{label i}||^2 from the cluster sums, computed relative to
// the data mean (d doubles) for precision; spread = sum_i ||x_i - mean||^2.
double ObjectiveFromSums(double spread, const double* mean, const float* c,
                         size_t k, size_t d, const double* sums,
                         const std::vector<size_t>& sizes);

// Sets each non-empty cluster's centroid to sums_j / size_j (normalised to
// unit length when spherical); empty clusters keep their centroid.
void CentroidsFromSums(const double* sums, const std::vector<size_t>& sizes,
                       size_t k, size_t d, bool spherical, float* centroids);

// A seeded generator with platform-independent helpers.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  uint64_t Next() { return gen_(); }
  // Uniform in [0, 1).
  double Uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }
  // Uniform in [0, n). REQUIRES: n > 0.
  uint64_t Below(uint64_t n) { return gen_() % n; }

 private:
  std::mt19937_64 gen_;
};

inline constexpr size_t kPlusPlusSamplePerCentroid = 8;

// s distinct indices of [0, n), chosen uniformly (selection sampling), in
// increasing order. REQUIRES: s <= n.
std::vector<size_t> SampleIndices(size_t n, size_t s, Rng* rng);

// Candidates drawn per greedy k-means++ step: 2 + ln(k).
size_t GreedyCandidates(size_t k);
// Points the k-means++ seeding runs on: min(n, max(k, min(8k, n /
// GreedyCandidates(k)))), which keeps its cost within one Lloyd iteration.
size_t PlusPlusSampleSize(size_t n, size_t k);

// Greedy k-means++ seeding (D^2 sampling, best of GreedyCandidates(k)
// candidates per step) on a seeded subsample of PlusPlusSampleSize(n, k)
// points. Writes k * d floats to centroids. REQUIRES: 1 <= k <= n.
void SeedKMeansPlusPlus(const float* x, size_t n, size_t d, size_t k,
                        uint64_t seed, int threads, float* centroids);
// k distinct points chosen uniformly at random. REQUIRES: 1 <= k <= n.
void SeedRandom(const float* x, size_t n, size_t d, size_t k, uint64_t seed,
                float* centroids);

// Capacity-constrained assignment: starting from each point's nearest
// centroid, evicts points from clusters above `capacity`, cheapest distance
// increase first, to their next-nearest centroid that still has room (top_m
// candidates from AssignBlocked; beyond them, an exact scan). On return every
// cluster holds <= capacity points. REQUIRES: capacity * k >= n.
//   labels, dists: n, in/out (start as the nearest centroid).
//   top_labels, top_dists: n * top_m as filled by AssignBlocked.
// Returns the new sum of dists.
double BalanceAssignment(const float* x, size_t n, size_t d, const float* c,
                         size_t k, size_t capacity, size_t top_m,
                         const uint32_t* top_labels, const float* top_dists,
                         uint32_t* labels, float* dists);

// FAISS-style repair: each empty cluster takes a copy of the currently largest
// cluster's centroid and the pair is pushed apart by a small symmetric
// relative perturbation; the largest cluster's size is split between the two.
// Returns the number of clusters repaired.
size_t SplitEmptyClusters(size_t d, size_t k, float* centroids,
                          std::vector<size_t>* sizes);

}  // namespace quiver::index::clustering

#endif  // QUIVER_INDEX_CLUSTERING_KMEANS_INTERNAL_H_
