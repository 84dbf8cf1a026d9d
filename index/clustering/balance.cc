// Capacity-constrained assignment for balanced k-means.
//
// Every point starts at its nearest centroid. While a cluster holds more than
// `capacity` points, the cheapest eviction over all over-full clusters is
// applied: move point i from its cluster to its next-nearest centroid that
// still has room, at cost dist(i, target) - dist(i, nearest). Candidates come
// from the top_m list computed with the GEMM; a point whose top_m centroids
// are all full gets an exact scan over the centroids with room. A point only
// ever moves into a cluster below capacity, so it never moves twice, and
// there is always room somewhere since capacity * k >= n. Ties are broken by
// point index, so the result is deterministic.
#include <algorithm>
#include <limits>
#include <queue>
#include <vector>

#include "common/status.h"
#include "index/clustering/distances.h"
#include "index/clustering/kmeans_internal.h"

namespace quiver::index::clustering {
namespace {

struct Eviction {
  float cost;
  uint32_t point;
  uint32_t rank;    // index into the point's top_m list; top_m = exact scan
  uint32_t target;  // centroid the point would move to
  float dist;       // its distance to target
  // Min-heap order on (cost, point).
  bool operator<(const Eviction& o) const {
    if (cost != o.cost) return cost > o.cost;
    return point > o.point;
  }
};

}  // namespace

double BalanceAssignment(const float* x, size_t n, size_t d, const float* c,
                         size_t k, size_t capacity, size_t top_m,
                         const uint32_t* top_labels, const float* top_dists,
                         uint32_t* labels, float* dists) {
  QUIVER_CHECK(capacity * k >= n);
  std::vector<size_t> sizes(k, 0);
  for (size_t i = 0; i < n; ++i) ++sizes[labels[i]];
  bool over = false;
  for (size_t j = 0; j < k && !over; ++j) over = sizes[j] > capacity;

  if (over) {
    // Next candidate of point i at or after `rank` whose cluster has room.
    auto next_candidate = [&](uint32_t i, uint32_t rank, Eviction* e) {
      for (uint32_t r = rank; r < top_m; ++r) {
        const uint32_t t = top_labels[static_cast<size_t>(i) * top_m + r];
        if (sizes[t] < capacity) {
          const float dist = top_dists[static_cast<size_t>(i) * top_m + r];
          *e = {dist - dists[i], i, r, t, dist};
          return;
        }
      }
      // Exact scan over the clusters with room.
      float best = std::numeric_limits<float>::infinity();
      uint32_t best_j = labels[i];
      for (size_t j = 0; j < k; ++j) {
        if (sizes[j] >= capacity) continue;
        const float dist = L2Sqr(x + static_cast<size_t>(i) * d, c + j * d, d);
        if (dist < best) {
          best = dist;
          best_j = static_cast<uint32_t>(j);
        }
      }
      *e = {best - dists[i], i, static_cast<uint32_t>(top_m), best_j, best};
    };

    std::priority_queue<Eviction> heap;
    for (size_t i = 0; i < n; ++i) {
      if (sizes[labels[i]] <= capacity) continue;
      Eviction e;
      next_candidate(static_cast<uint32_t>(i), 1, &e);
      heap.push(e);
    }
    while (!heap.empty()) {
      Eviction e = heap.top();
      heap.pop();
      const uint32_t from = labels[e.point];
      if (sizes[from] <= capacity) continue;
      if (sizes[e.target] >= capacity) {
        // The target filled up meanwhile: queue the next option.
        next_candidate(e.point, e.rank < top_m ? e.rank + 1 : e.rank, &e);
        heap.push(e);
        continue;
      }
      --sizes[from];
      ++sizes[e.target];
      labels[e.point] = e.target;
      dists[e.point] = e.dist;
    }
  }
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += dists[i];
  return total;
}

}  // namespace quiver::index::clustering
