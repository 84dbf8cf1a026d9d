#include "index/refine.h"

#include <algorithm>
#include <cstdint>
#include <memory>

#include "index/kernels/kernels.h"

namespace quiver::index {

void Refine(Metric metric, const float* query, size_t dim,
            const VectorSource& source, size_t k, std::vector<Neighbor>* hits) {
  const size_t n = hits->size();
  if (n == 0) return;
  // Per-thread buffers: no allocation per query in steady state.
  thread_local std::vector<uint64_t> ids;
  thread_local std::vector<float> vecs;
  thread_local std::vector<char> found;
  ids.resize(n);
  vecs.resize(n * dim);
  found.assign(n, 0);
  for (size_t i = 0; i < n; ++i) ids[i] = (*hits)[i].id;
  // bool is one byte wide; char storage avoids std::vector<bool>.
  static_assert(sizeof(bool) == sizeof(char));
  source.GetVectors(ids.data(), n, dim, vecs.data(),
                    reinterpret_cast<bool*>(found.data()));
  const kernels::KernelTable& kt = kernels::Kernels();
  for (size_t i = 0; i < n; ++i) {
    if (!found[i]) continue;
    const float* v = vecs.data() + i * dim;
    (*hits)[i].distance = metric == Metric::kL2
                              ? kt.l2sqr(query, v, dim)
                              : -kt.inner_product(query, v, dim);
  }
  auto better = [](const Neighbor& a, const Neighbor& b) {
    return a.distance != b.distance ? a.distance < b.distance : a.id < b.id;
  };
  if (k < n) {
    std::partial_sort(hits->begin(), hits->begin() + k, hits->end(), better);
    hits->resize(k);
  } else {
    std::sort(hits->begin(), hits->end(), better);
  }
}

}  // namespace quiver::index
