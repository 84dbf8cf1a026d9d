#include "index/metric.h"

#include <cmath>

#include "index/clustering/distances.h"

namespace quiver::index {

std::string_view MetricName(Metric m) {
  switch (m) {
    case Metric::kL2:
      return "l2";
    case Metric::kInnerProduct:
      return "inner_product";
    case Metric::kCosine:
      return "cosine";
  }
  return "unknown";
}

float SquaredL2(const float* a, const float* b, size_t d) {
  return clustering::L2Sqr(a, b, d);
}

bool NormalizeL2(float* x, size_t n, size_t d) {
  bool all_ok = true;
  for (size_t i = 0; i < n; ++i) {
    float* v = x + i * d;
    const float dot = clustering::Dot(v, v, d);
    if (std::isnormal(dot) && dot > 1e-30f && dot < 1e30f) {
      const float inv = static_cast<float>(1.0 / std::sqrt(double{dot}));
      for (size_t l = 0; l < d; ++l) v[l] *= inv;
      continue;
    }
    // Tiny or huge norms: the float dot product under- or overflows (a
    // vector of 1e-30s would be left as it is, one of 3e38s would become
    // NaN). Double precision covers every finite float vector.
    double sum = 0;
    for (size_t l = 0; l < d; ++l) sum += double{v[l]} * v[l];
    const double norm = std::sqrt(sum);
    if (!(norm > 0) || !std::isfinite(norm)) {
      all_ok = false;
      continue;
    }
    for (size_t l = 0; l < d; ++l) v[l] = static_cast<float>(v[l] / norm);
  }
  return all_ok;
}

}  // namespace quiver::index
