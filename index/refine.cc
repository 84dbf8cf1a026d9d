#include "index/refine.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "index/kernels/kernels.h"

namespace quiver::index {
namespace {

// Per-thread buffers: no allocation per query in steady state.
struct RefineScratch {
  std::vector<uint64_t> ids;
  std::vector<size_t> pos;  // index in hits of ids[i]
  std::vector<float> vecs;
  std::vector<char> found;  // bool storage without std::vector<bool>
  std::vector<Neighbor> kept;
};

// Re-scores hits[pos[i]] for the first n entries of s.pos.
void Rescore(Metric metric, const float* query, size_t dim,
             const VectorSource& source, std::vector<Neighbor>* hits,
             RefineScratch* s, size_t n) {
  s->ids.resize(n);
  s->vecs.resize(n * dim);
  s->found.assign(n, 0);
  for (size_t i = 0; i < n; ++i) s->ids[i] = (*hits)[s->pos[i]].id;
  static_assert(sizeof(bool) == sizeof(char));
  source.GetVectors(s->ids.data(), n, dim, s->vecs.data(),
                    reinterpret_cast<bool*>(s->found.data()));
  const kernels::KernelTable& kt = kernels::Kernels();
  for (size_t i = 0; i < n; ++i) {
    Neighbor nb = (*hits)[s->pos[i]];
    if (s->found[i]) {
      const float* v = s->vecs.data() + i * dim;
      nb.distance = metric == Metric::kL2 ? kt.l2sqr(query, v, dim)
                                          : -kt.inner_product(query, v, dim);
    }
    s->kept.push_back(nb);
  }
}

}  // namespace

float DistanceLowerBound(Metric metric, float d, float error, float qnorm) {
  // Relative slack for the rounding of float distances over many terms.
  constexpr double kSlack = 1e-4;
  if (metric == Metric::kL2) {
    const double r = std::sqrt(std::max(0.0, static_cast<double>(d))) - error;
    return r <= 0 ? 0.0f : static_cast<float>(r * r * (1 - kSlack));
  }
  const double slack = static_cast<double>(qnorm) * error;
  return static_cast<float>(d - slack - kSlack * (std::fabs(d) + slack));
}

size_t Refine(Metric metric, const float* query, size_t dim,
              const VectorSource& source, size_t k, std::vector<Neighbor>* hits,
              const float* errors) {
  const size_t n = hits->size();
  if (n == 0 || k == 0) {
    hits->clear();
    return 0;
  }
  thread_local RefineScratch s;
  s.kept.clear();
  s.pos.resize(n);
  size_t first = errors == nullptr ? n : std::min(k, n);
  for (size_t i = 0; i < first; ++i) s.pos[i] = i;
  Rescore(metric, query, dim, source, hits, &s, first);
  size_t rescored = first;
  if (first < n) {
    // The k-th distance at full precision so far: a hit whose lower bound
    // is not below it cannot enter the best k.
    float kth = s.kept[0].distance;
    for (const Neighbor& nb : s.kept) kth = std::max(kth, nb.distance);
    const float qnorm =
        metric == Metric::kL2
            ? 0.0f
            : std::sqrt(kernels::Kernels().inner_product(query, query, dim));
    size_t more = 0;
    for (size_t i = first; i < n; ++i) {
      if (DistanceLowerBound(metric, (*hits)[i].distance, errors[i], qnorm) <=
          kth) {
        s.pos[more++] = i;
      }
    }
    Rescore(metric, query, dim, source, hits, &s, more);
    rescored += more;
  }
  std::vector<Neighbor>& kept = s.kept;
  if (k < kept.size()) {
    std::partial_sort(kept.begin(), kept.begin() + k, kept.end(), Closer);
    kept.resize(k);
  } else {
    std::sort(kept.begin(), kept.end(), Closer);
  }
  hits->assign(kept.begin(), kept.end());
  return rescored;
}

}  // namespace quiver::index
