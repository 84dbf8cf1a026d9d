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

bool NormalizeL2(float* x, size_t n, size_t d) {
  bool all_ok = true;
  for (size_t i = 0; i < n; ++i) {
    float* v = x + i * d;
    const double norm = std::sqrt(double{clustering::Dot(v, v, d)});
    if (!(norm > 0) || !std::isfinite(norm)) {
      all_ok = false;
      continue;
    }
    const float inv = static_cast<float>(1.0 / norm);
    for (size_t l = 0; l < d; ++l) v[l] *= inv;
  }
  return all_ok;
}

}  // namespace quiver::index
