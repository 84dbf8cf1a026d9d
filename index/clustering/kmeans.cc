// k-means driver: validation, training sample, seeding, Lloyd iterations
// and statistics. The pieces live in index/clustering/:
//
// - Sample: more than k * max_points_per_centroid points -> a seeded uniform
//   sample of that many (selection sampling, kept in index order).
// - Seeding (seeding.cc): greedy k-means++ (best of 2 + ln k D^2 candidates
//   per step) on a subsample sized so that it costs about one Lloyd
//   iteration even for k = 4096, or k random distinct points.
// - Assignment (assign.cc): the first iteration is a blocked GEMM
//   (||x||^2 - 2 <x, c> + ||c||^2, 256 rows per block, argmin fused); later
//   ones prune with bounds (Hamerly's upper bound, Elkan-style lower bounds
//   on each point's 8 nearest centroids, a bound on all others that decays
//   by the largest shift outside the 16 centroids that moved most, those
//   being checked exactly) and send only the undecided points to the GEMM.
//   The result is the exact Lloyd assignment, up to float rounding on ties.
// - Balanced mode (balance.cc): nearest assignment plus top-16 candidates
//   from the GEMM, then the cheapest evictions from clusters above
//   max(ceil(n / k), floor(max_balance * n / k)) points.
// - Update: per-cluster double sums (each cluster summed in point order);
//   the objective of the iteration comes from the same sums. Empty clusters
//   are repaired by splitting the largest one (FAISS's perturbation).
// - Stop: after niter iterations, or when the objective's relative decrease
//   falls below convergence_tol (not right after a split).
//
// - Update (update.cc): cluster sums, objective, centroids, empty clusters.
//
// Threads: index/parallel.h workers (started per call, none left running)
// over fixed blocks of rows, with OpenBLAS forced to one thread meanwhile
// (ScopedBlasSingleThread), so the two never compete.
// Fixed blocks and ordered reductions make the result independent of the
// thread count and of QUIVER_SIMD (OpenBLAS's own kernel still depends on
// the CPU, so other CPUs may round differently).
#include "index/kmeans.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/log.h"
#include "common/status.h"
#include "index/clustering/distances.h"
#include "index/clustering/kmeans_internal.h"
#include "index/parallel.h"

namespace quiver::index {
namespace {

absl::Status CheckFinite(const float* x, size_t n, size_t d, int threads) {
  const size_t total = n * d;
  const size_t nt = ThreadsFor(threads, 1.0 * total, 64);
  std::vector<size_t> first(nt, total);  // per range: first bad index
  const size_t chunk = (total + nt - 1) / nt;
  RunWorkers(nt, [&](size_t w) {
    const size_t end = std::min(total, (w + 1) * chunk);
    for (size_t i = w * chunk; i < end; ++i) {
      if (!std::isfinite(x[i])) {
        first[w] = i;
        return;
      }
    }
  });
  const size_t first_bad = *std::min_element(first.begin(), first.end());
  if (first_bad != total) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "k-means input vector %d has a non-finite value (%f) at dimension %d",
        first_bad / d, x[first_bad], first_bad % d));
  }
  return absl::OkStatus();
}

absl::Status Validate(const float* x, size_t n, size_t d,
                      const KMeansParams& p) {
  if (p.k == 0) return absl::InvalidArgumentError("k-means needs k >= 1");
  if (d == 0) return absl::InvalidArgumentError("k-means needs d >= 1");
  if (p.k > n) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "k-means with k = %d needs at least k points; got %d", p.k, n));
  }
  if (x == nullptr) return absl::InvalidArgumentError("k-means input is null");
  if (p.k > UINT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrFormat("k-means k = %d is too large", p.k));
  }
  if (p.niter < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("k-means niter must be >= 1; got %d", p.niter));
  }
  if (!(p.convergence_tol >= 0)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "k-means convergence_tol must be >= 0; got %f", p.convergence_tol));
  }
  if (p.balanced && !(p.max_balance >= 1.0 && std::isfinite(p.max_balance))) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "balanced k-means needs max_balance >= 1; got %f", p.max_balance));
  }
  return absl::OkStatus();
}

// Candidates kept per point for the balanced assignment.
constexpr size_t kBalancedTopM = 16;

}  // namespace

absl::StatusOr<KMeansResult> KMeans(const float* x, size_t n, size_t d,
                                    const KMeansParams& params) {
  using clustering::Rng;
  const auto start = std::chrono::steady_clock::now();
  QUIVER_RETURN_IF_ERROR(Validate(x, n, d, params));
  const size_t k = params.k;
  const int threads = static_cast<int>(ResolveThreads(params.threads));
  QUIVER_RETURN_IF_ERROR(CheckFinite(x, n, d, threads));

  Rng rng(params.seed);
  // Training sample.
  std::vector<float> sample;
  const float* xt = x;
  size_t nt = n;
  const size_t mppc = params.max_points_per_centroid;
  if (mppc > 0 && n / mppc >= k && n > k * mppc) {
    const std::vector<size_t> idx =
        clustering::SampleIndices(n, k * mppc, &rng);
    nt = idx.size();
    sample.resize(nt * d);
    ParallelFor(nt, ThreadsFor(threads, 1.0 * nt * d, nt),
                [&](size_t begin, size_t end) {
                  for (size_t i = begin; i < end; ++i) {
                    std::memcpy(sample.data() + i * d, x + idx[i] * d,
                                d * sizeof(float));
                  }
                });
    xt = sample.data();
  }

  KMeansResult result;
  std::vector<float>& c = result.centroids;
  c.resize(k * d);
  const uint64_t seed_init = rng.Next();
  if (params.init == KMeansInit::kKMeansPlusPlus) {
    clustering::SeedKMeansPlusPlus(xt, nt, d, k, seed_init, threads, c.data());
  } else {
    clustering::SeedRandom(xt, nt, d, k, seed_init, c.data());
  }
  if (params.spherical) {
    for (size_t j = 0; j < k; ++j) {
      float* cj = c.data() + j * d;
      const float norm = std::sqrt(clustering::Dot(cj, cj, d));
      if (norm > 0) {
        for (size_t l = 0; l < d; ++l) cj[l] /= norm;
      }
    }
  }

  std::vector<float> x_norms(nt);
  {
    const size_t kChunk = 4096;
    const size_t nchunks = (nt + kChunk - 1) / kChunk;
    ParallelFor(nchunks, ThreadsFor(threads, 2.0 * nt * d, nchunks),
                [&](size_t begin, size_t end) {
                  const size_t i0 = begin * kChunk;
                  const size_t i1 = std::min(nt, end * kChunk);
                  clustering::SquaredNorms(xt + i0 * d, i1 - i0, d,
                                           x_norms.data() + i0);
                });
  }

  std::vector<uint32_t>& labels = result.assignment;
  labels.resize(nt);
  std::vector<float> dists(params.balanced ? nt : 0);
  std::vector<float> c_norms(k);
  const size_t top_m = params.balanced ? std::min(k, kBalancedTopM) : 0;
  std::vector<uint32_t> top_labels(nt * top_m);
  std::vector<float> top_dists(nt * top_m);
  const size_t capacity = std::max(
      (nt + k - 1) / k, static_cast<size_t>(std::floor(
                            params.max_balance * static_cast<double>(nt) /
                            static_cast<double>(k))));
  std::vector<size_t> sizes;
  std::vector<double> sums(k * d);
  // Data mean and spread (sum ||x - mean||^2) for the objective.
  std::vector<double> mean(d, 0.0);
  for (size_t i = 0; i < nt; ++i) {
    for (size_t l = 0; l < d; ++l) mean[l] += xt[i * d + l];
  }
  for (size_t l = 0; l < d; ++l) mean[l] /= static_cast<double>(nt);
  double spread = 0;
  for (size_t i = 0; i < nt; ++i) {
    for (size_t l = 0; l < d; ++l) {
      const double t = xt[i * d + l] - mean[l];
      spread += t * t;
    }
  }
  // Pruned assignment (plain mode): bounds and centroid shifts.
  clustering::PruneState prune;
  std::vector<float> shifts(k), previous(k * d);
  KMeansStats& stats = result.stats;
  stats.n_trained = nt;
  double prev_obj = 0;
  bool split_before = false;
  for (int it = 0; it < params.niter; ++it) {
    clustering::SquaredNorms(c.data(), k, d, c_norms.data());
    clustering::PruneCounts counts;
    if (params.balanced) {
      clustering::AssignBlocked(xt, nt, d, x_norms.data(), c.data(),
                                c_norms.data(), k, threads, labels.data(),
                                dists.data(), top_m, top_labels.data(),
                                top_dists.data());
      clustering::BalanceAssignment(xt, nt, d, c.data(), k, capacity, top_m,
                                    top_labels.data(), top_dists.data(),
                                    labels.data(), dists.data());
    } else {
      clustering::AssignPruned(xt, nt, d, x_norms.data(), c.data(),
                               c_norms.data(), k,
                               it == 0 ? nullptr : shifts.data(), threads,
                               labels.data(), &prune, &counts);
    }
    // The objective comes from the cluster sums the update needs anyway.
    clustering::ClusterSums(xt, nt, d, labels.data(), k, threads, sums.data(),
                            &sizes);
    const double obj = clustering::ObjectiveFromSums(
        spread, mean.data(), c.data(), k, d, sums.data(), sizes);
    stats.objective_per_iteration.push_back(obj / static_cast<double>(nt));
    stats.seconds_per_iteration.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
    stats.iterations = it + 1;
    QUIVER_LOG(DEBUG) << "k-means iteration " << it << ": mse "
                      << obj / static_cast<double>(nt) << "; points kept "
                      << counts.kept << ", by candidates " << counts.candidates
                      << ", by GEMM " << counts.full;
    // Not right after a split: its effect may show one iteration later.
    const bool converged =
        it > 0 && !split_before &&
        (prev_obj <= 0 || prev_obj - obj < params.convergence_tol * prev_obj);
    prev_obj = obj;
    if (converged || it + 1 == params.niter) break;
    previous = c;
    clustering::CentroidsFromSums(sums.data(), sizes, k, d, params.spherical,
                                  c.data());
    const size_t splits =
        clustering::SplitEmptyClusters(d, k, c.data(), &sizes);
    split_before = splits > 0;
    if (splits > 0) {
      QUIVER_LOG(DEBUG) << "k-means iteration " << it << ": split " << splits
                        << " clusters into empty ones";
    }
    for (size_t j = 0; j < k; ++j) {
      shifts[j] = std::sqrt(
          clustering::L2Sqr(previous.data() + j * d, c.data() + j * d, d));
    }
  }

  sizes.assign(k, 0);
  for (uint32_t l : labels) ++sizes[l];
  const auto [mn, mx] = std::minmax_element(sizes.begin(), sizes.end());
  stats.min_size = *mn;
  stats.max_size = *mx;
  stats.imbalance = static_cast<double>(*mx) * static_cast<double>(k) /
                    static_cast<double>(nt);
  stats.mse = stats.objective_per_iteration.back();
  stats.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  QUIVER_LOG(DEBUG) << "k-means n=" << nt << " d=" << d << " k=" << k
                    << " iterations=" << stats.iterations
                    << " mse=" << stats.mse << " sizes=[" << stats.min_size
                    << ", " << stats.max_size << "] " << stats.seconds << " s";
  return result;
}

void AssignNearest(const float* x, size_t n, const float* centroids, size_t k,
                   size_t d, uint32_t* labels, float* distances, int threads) {
  if (n == 0) return;
  QUIVER_CHECK(k >= 1 && d >= 1);
  std::vector<float> c_norms(k);
  clustering::SquaredNorms(centroids, k, d, c_norms.data());
  clustering::AssignBlocked(x, n, d, /*x_norms=*/nullptr, centroids,
                            c_norms.data(), k, threads, labels, distances);
}

}  // namespace quiver::index
