// Quiver's clustering core: k-means (k-means++ or random initialisation,
// BLAS-backed Lloyd iterations, multi-threaded) and a balanced variant that
// bounds cluster sizes so inverted lists stay even.
//
//   KMeansParams p;  p.k = 1024;  p.seed = 7;
//   QUIVER_ASSIGN_OR_RETURN(KMeansResult r, KMeans(x, n, d, p));
//   // r.centroids: k * d floats, row-major; r.stats.mse, r.stats.max_size ...
//
// Thread safety: KMeans() is a pure function; concurrent calls are fine.
#ifndef QUIVER_INDEX_KMEANS_H_
#define QUIVER_INDEX_KMEANS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace quiver::index {

enum class KMeansInit { kKMeansPlusPlus, kRandom };

struct KMeansParams {
  // Number of clusters, >= 1 and <= number of (sampled) points.
  size_t k = 0;
  // Maximum Lloyd iterations.
  int niter = 25;
  KMeansInit init = KMeansInit::kKMeansPlusPlus;
  // Train on a seeded sample of at most k * max_points_per_centroid points
  // (0 = use every point).
  size_t max_points_per_centroid = 256;
  // Stop when the relative decrease of the objective is below this.
  double convergence_tol = 1e-4;
  // Seed of every random choice: same seed + same threads = same result.
  uint64_t seed = 1234;
  // Worker threads (0 = hardware concurrency).
  int threads = 0;
  // Balanced mode: assignment under a size constraint so that no cluster
  // holds more than max_balance * n / k points.
  bool balanced = false;
  double max_balance = 1.25;
  // Treat vectors as directions (spherical k-means: centroids normalised).
  bool spherical = false;
};

struct KMeansStats {
  double mse = 0;  // mean squared distance of a point to its centroid
  int iterations = 0;
  size_t n_trained = 0;  // points actually used (after sampling)
  size_t min_size = 0, max_size = 0;
  double imbalance = 0;                         // max_size / mean size
  std::vector<double> objective_per_iteration;  // mse after each iteration
  // Wall seconds from the start of KMeans() to the end of each iteration
  // (what stopping after that iteration would have cost).
  std::vector<double> seconds_per_iteration;
  double seconds = 0;
};

struct KMeansResult {
  std::vector<float> centroids;      // k * d, row-major
  std::vector<uint32_t> assignment;  // cluster of each trained point
  KMeansStats stats;
};

// Clusters x (n * d floats, row-major). INVALID_ARGUMENT for k == 0, k > n,
// d == 0 or NaN/Inf input.
absl::StatusOr<KMeansResult> KMeans(const float* x, size_t n, size_t d,
                                    const KMeansParams& params);

// Assigns each of n points to its nearest of k centroids (squared L2),
// with a BLAS matrix product. labels: n; distances (optional): n.
void AssignNearest(const float* x, size_t n, const float* centroids, size_t k,
                   size_t d, uint32_t* labels, float* distances, int threads);

}  // namespace quiver::index

#endif  // QUIVER_INDEX_KMEANS_H_
