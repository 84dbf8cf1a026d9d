// Distance metrics shared by every index type.
#ifndef QUIVER_INDEX_METRIC_H_
#define QUIVER_INDEX_METRIC_H_

#include <cstddef>
#include <string_view>

namespace quiver::index {

// Every distance Quiver reports is "smaller is better": squared L2 for kL2,
// -<q, x> for kInnerProduct, and -<q, x> of unit vectors for kCosine.
enum class Metric { kL2 = 0, kInnerProduct = 1, kCosine = 2 };

std::string_view MetricName(Metric m);

// Squared L2 distance of two d-dimensional vectors (the dispatched SIMD
// kernel).
float SquaredL2(const float* a, const float* b, size_t d);

// Normalises n vectors of dimension d in place to unit L2 norm. Returns false
// (and leaves that vector unchanged) if a vector has zero norm.
bool NormalizeL2(float* x, size_t n, size_t d);

}  // namespace quiver::index

#endif  // QUIVER_INDEX_METRIC_H_
