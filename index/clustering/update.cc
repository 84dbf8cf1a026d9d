// Centroid update of k-means (see kmeans.cc): per-cluster sums, the
// objective from those sums, new centroids, and the repair of empty
// clusters.
#include <algorithm>
#include <cmath>
#include <vector>

#include "index/clustering/kmeans_internal.h"
#include "index/parallel.h"

namespace quiver::index::clustering {

void ClusterSums(const float* x, size_t n, size_t d, const uint32_t* labels,
                 size_t k, int threads, double* sums,
                 std::vector<size_t>* sizes) {
  sizes->assign(k, 0);
  for (size_t i = 0; i < n; ++i) ++(*sizes)[labels[i]];
  // Each thread owns a contiguous range of clusters holding about n / nt
  // points and streams over all points in index order, summing those of its
  // clusters: every cluster's sum has the same order whatever the threads.
  const size_t nt =
      ThreadsFor(threads, 1.0 * n * d, std::max<size_t>(1, k / 4));
  std::vector<size_t> bounds(nt + 1, k);
  bounds[0] = 0;
  {
    size_t acc = 0;
    size_t t = 1;
    for (size_t j = 0; j < k && t < nt; ++j) {
      acc += (*sizes)[j];
      if (acc * nt >= n * t) bounds[t++] = j + 1;
    }
  }
  RunWorkers(nt, [&](size_t t) {
    const size_t j0 = bounds[t], j1 = bounds[t + 1];
    std::fill(sums + j0 * d, sums + j1 * d, 0.0);
    if (j1 <= j0) return;
    for (size_t i = 0; i < n; ++i) {
      const size_t j = labels[i];
      if (j < j0 || j >= j1) continue;
      double* a = sums + j * d;
      const float* xi = x + i * d;
      for (size_t l = 0; l < d; ++l) a[l] += xi[l];
    }
  });
}

double ObjectiveFromSums(double spread, const double* mean, const float* c,
                         size_t k, size_t d, const double* sums,
                         const std::vector<size_t>& sizes) {
  // With y = x - mean: sum ||y||^2 - 2 <c - mean, sums - size mean>
  // + size ||c - mean||^2 per cluster; centring keeps the cancellation
  // relative to the data's spread, not to its distance from the origin.
  double total = spread;
  for (size_t j = 0; j < k; ++j) {
    if (sizes[j] == 0) continue;
    const double size = static_cast<double>(sizes[j]);
    const float* cj = c + j * d;
    const double* sj = sums + j * d;
    double dot = 0, norm2 = 0;
    for (size_t l = 0; l < d; ++l) {
      const double cc = cj[l] - mean[l];
      dot += cc * (sj[l] - size * mean[l]);
      norm2 += cc * cc;
    }
    total += size * norm2 - 2 * dot;
  }
  return std::max(0.0, total);
}

void CentroidsFromSums(const double* sums, const std::vector<size_t>& sizes,
                       size_t k, size_t d, bool spherical, float* centroids) {
  for (size_t j = 0; j < k; ++j) {
    if (sizes[j] == 0) continue;
    const double* sj = sums + j * d;
    const double inv = 1.0 / static_cast<double>(sizes[j]);
    double norm2 = 0;
    for (size_t l = 0; l < d; ++l) norm2 += (sj[l] * inv) * (sj[l] * inv);
    const double scale = spherical && norm2 > 0 ? inv / std::sqrt(norm2) : inv;
    float* cj = centroids + j * d;
    for (size_t l = 0; l < d; ++l) cj[l] = static_cast<float>(sj[l] * scale);
  }
}

size_t SplitEmptyClusters(size_t d, size_t k, float* centroids,
                          std::vector<size_t>* sizes) {
  // Relative perturbation, as FAISS's Clustering uses.
  constexpr float kEps = 1.0f / 1024.0f;
  std::vector<size_t>& sz = *sizes;
  size_t repaired = 0;
  for (size_t ci = 0; ci < k; ++ci) {
    if (sz[ci] != 0) continue;
    const size_t cj = static_cast<size_t>(
        std::max_element(sz.begin(), sz.end()) - sz.begin());
    if (sz[cj] < 2) break;  // fewer points than clusters: nothing to split
    float* a = centroids + ci * d;
    float* b = centroids + cj * d;
    double rms = 0;
    for (size_t l = 0; l < d; ++l) rms += double{b[l]} * b[l];
    rms = std::sqrt(rms / static_cast<double>(d));
    const float fallback = rms > 0 ? static_cast<float>(rms) : 1.0f;
    for (size_t l = 0; l < d; ++l) {
      const float v = b[l];
      float delta = kEps * (v != 0 ? v : fallback);
      if (l % 2 == 1) delta = -delta;
      a[l] = v + delta;
      b[l] = v - delta;
    }
    sz[ci] = sz[cj] / 2;
    sz[cj] -= sz[ci];
    ++repaired;
  }
  return repaired;
}

}  // namespace quiver::index::clustering
