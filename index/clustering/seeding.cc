// Seeding of k-means: k-means++ (D^2 sampling on a subsample) and random.
//
// k-means++ here is the greedy variant (as scikit-learn's): each step draws
// 2 + ln(k) candidates by D^2 sampling and keeps the one that lowers the
// potential most; the candidates' distances to a point are computed together
// (L2SqrMany), so a step reads the points once. Plain D^2 sampling too often
// puts two seeds in one true cluster, which Lloyd iterations cannot undo.
//
// Why a subsample: exact k-means++ is k sequential passes over the data. On
// 100k+ points with k = 4096 that costs more than the whole Lloyd phase. The
// seeding runs on min(n, max(k, min(8k, n / candidates))) seeded points, so
// its flops stay at or below one Lloyd iteration's (candidates * sample * k
// * d <= n * k * d); Lloyd iterations then run on every training point.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "index/clustering/distances.h"
#include "index/clustering/kmeans_internal.h"
#include "index/parallel.h"

namespace quiver::index::clustering {

std::vector<size_t> SampleIndices(size_t n, size_t s, Rng* rng) {
  std::vector<size_t> out;
  out.reserve(s);
  if (s >= n) {
    for (size_t i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  // Knuth's Algorithm S: keep i with probability needed / remaining.
  size_t needed = s;
  for (size_t i = 0; i < n && needed > 0; ++i) {
    if (rng->Below(n - i) < needed) {
      out.push_back(i);
      --needed;
    }
  }
  return out;
}

void SeedRandom(const float* x, size_t n, size_t d, size_t k, uint64_t seed,
                float* centroids) {
  Rng rng(seed);
  const std::vector<size_t> idx = SampleIndices(n, k, &rng);
  for (size_t j = 0; j < k; ++j) {
    std::memcpy(centroids + j * d, x + idx[j] * d, d * sizeof(float));
  }
}

namespace {

// Index i of the first point whose running sum of min_dist exceeds r (chunk
// sums first, then within the chunk), skipping zero-weight points.
size_t SampleD2(const std::vector<float>& min_dist,
                const std::vector<double>& chunk_sums, size_t chunk, double r) {
  const size_t s = min_dist.size();
  const size_t nchunks = chunk_sums.size();
  double acc = 0;
  size_t ch = 0;
  while (ch + 1 < nchunks && acc + chunk_sums[ch] <= r) acc += chunk_sums[ch++];
  const size_t i1 = std::min(s, (ch + 1) * chunk);
  size_t last_positive = s;
  for (size_t i = ch * chunk; i < i1; ++i) {
    if (!(min_dist[i] > 0)) continue;
    last_positive = i;
    acc += min_dist[i];
    if (acc > r) return i;
  }
  // Rounding pushed r past the chunk: its last eligible point, or the first
  // eligible point overall.
  if (last_positive != s) return last_positive;
  for (size_t i = 0; i < s; ++i) {
    if (min_dist[i] > 0) return i;
  }
  return 0;
}

}  // namespace

size_t GreedyCandidates(size_t k) {
  return 2 + static_cast<size_t>(std::log(static_cast<double>(k)));
}

size_t PlusPlusSampleSize(size_t n, size_t k) {
  const size_t budget = n / GreedyCandidates(k);
  return std::min(
      n, std::max(k, std::min(kPlusPlusSamplePerCentroid * k, budget)));
}

void SeedKMeansPlusPlus(const float* x, size_t n, size_t d, size_t k,
                        uint64_t seed, int threads, float* centroids) {
  Rng rng(seed);
  const size_t s = PlusPlusSampleSize(n, k);
  std::vector<float> sample;
  const float* xs = x;
  if (s < n) {
    const std::vector<size_t> idx = SampleIndices(n, s, &rng);
    sample.resize(s * d);
    for (size_t i = 0; i < s; ++i) {
      std::memcpy(sample.data() + i * d, x + idx[i] * d, d * sizeof(float));
    }
    xs = sample.data();
  }
  const size_t ncand = GreedyCandidates(k);

  constexpr size_t kChunk = 1024;
  const size_t nchunks = (s + kChunk - 1) / kChunk;
  std::vector<float> min_dist(s);
  std::vector<double> chunk_sums(nchunks);
  // Distances of every point to each candidate (s * ncand) and per-chunk
  // potentials of each candidate (nchunks * ncand).
  std::vector<float> cand_dist(s * ncand);
  std::vector<double> cand_pot(nchunks * ncand);
  std::vector<float> cand(ncand * d);
  std::vector<size_t> cand_idx(ncand);
  const size_t nt = ThreadsFor(threads, 2.0 * s * d * ncand, nchunks);

  // First centre: uniform.
  const size_t first = rng.Below(s);
  std::memcpy(centroids, xs + first * d, d * sizeof(float));
  ParallelFor(nchunks, nt, [&](size_t ch_begin, size_t ch_end) {
    for (size_t ch = ch_begin; ch < ch_end; ++ch) {
      const size_t i1 = std::min(s, (ch + 1) * kChunk);
      double sum = 0;
      for (size_t i = ch * kChunk; i < i1; ++i) {
        min_dist[i] = L2Sqr(xs + i * d, centroids, d);
        sum += min_dist[i];
      }
      chunk_sums[ch] = sum;
    }
  });

  for (size_t t = 1; t < k; ++t) {
    double total = 0;
    for (double v : chunk_sums) total += v;
    // Greedy k-means++: draw ncand candidates by D^2 sampling and keep the
    // one that lowers the potential most (plain D^2 sampling too often puts
    // two seeds in one cluster: the many near-zero weights add up).
    for (size_t c = 0; c < ncand; ++c) {
      cand_idx[c] = total > 0 ? SampleD2(min_dist, chunk_sums, kChunk,
                                         rng.Uniform() * total)
                              : rng.Below(s);  // fewer distinct points than k
      std::memcpy(cand.data() + c * d, xs + cand_idx[c] * d, d * sizeof(float));
    }
    ParallelFor(nchunks, nt, [&](size_t ch_begin, size_t ch_end) {
      for (size_t ch = ch_begin; ch < ch_end; ++ch) {
        const size_t i0 = ch * kChunk, i1 = std::min(s, i0 + kChunk);
        double* pot = cand_pot.data() + ch * ncand;
        std::fill(pot, pot + ncand, 0.0);
        for (size_t i = i0; i < i1; ++i) {
          float* di = cand_dist.data() + i * ncand;
          L2SqrMany(xs + i * d, cand.data(), ncand, d, di);
          for (size_t c = 0; c < ncand; ++c) {
            pot[c] += std::min(di[c], min_dist[i]);
          }
        }
      }
    });
    size_t best = 0;
    double best_pot = std::numeric_limits<double>::infinity();
    for (size_t c = 0; c < ncand; ++c) {
      double pot = 0;
      for (size_t ch = 0; ch < nchunks; ++ch) pot += cand_pot[ch * ncand + c];
      if (pot < best_pot) {
        best_pot = pot;
        best = c;
      }
    }
    std::memcpy(centroids + t * d, cand.data() + best * d, d * sizeof(float));
    if (t + 1 == k) break;
    ParallelFor(nchunks, nt, [&](size_t ch_begin, size_t ch_end) {
      for (size_t ch = ch_begin; ch < ch_end; ++ch) {
        const size_t i1 = std::min(s, (ch + 1) * kChunk);
        double sum = 0;
        for (size_t i = ch * kChunk; i < i1; ++i) {
          min_dist[i] = std::min(min_dist[i], cand_dist[i * ncand + best]);
          sum += min_dist[i];
        }
        chunk_sums[ch] = sum;
      }
    });
  }
}

}  // namespace quiver::index::clustering
