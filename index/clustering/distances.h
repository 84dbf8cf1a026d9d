// Distance helpers of the clustering core (private to index/): squared norms,
// dot products, a row-major BLAS matrix product and the OpenBLAS threading
// policy. Shared by k-means, the flat index and the coarse quantizer. The
// SIMD work is done by the kernel table (index/kernels/kernels.h), so these
// follow QUIVER_SIMD like every other distance in index/.
//
//   ScopedBlasSingleThread blas;           // we parallelise above BLAS
//   SquaredNorms(c, k, d, c_norms);
//   InnerProducts(x, nx, c, k, d, -2.0f, buf);   // buf: nx * k
//
// Thread safety: every function is reentrant; ScopedBlasSingleThread is
// reference counted under a global mutex.
#ifndef QUIVER_INDEX_CLUSTERING_DISTANCES_H_
#define QUIVER_INDEX_CLUSTERING_DISTANCES_H_

#include <cstddef>
#include <cstdint>

namespace quiver::index::clustering {

// <a, b> over d floats (no alignment required): Kernels().inner_product,
// summed in one fixed order at every SIMD level (kernels.h), so results are
// bit-identical whatever the CPU.
float Dot(const float* a, const float* b, size_t d);
// ||a - b||^2 over d floats: Kernels().l2sqr.
float L2Sqr(const float* a, const float* b, size_t d);
// out[c] = L2Sqr(x, q + c * d, d) for c < nq (x read once per few q's).
void L2SqrMany(const float* x, const float* q, size_t nq, size_t d, float* out);
// out[i] = ||x_i||^2 for n rows of d floats.
void SquaredNorms(const float* x, size_t n, size_t d, float* out);

// out (nx * ny, row-major) = alpha * x * y^T, where x is nx * d and y is
// ny * d, both row-major. One cblas_sgemm call; runs on the calling thread
// when a ScopedBlasSingleThread is alive.
void InnerProducts(const float* x, size_t nx, const float* y, size_t ny,
                   size_t d, float alpha, float* out);

// While at least one instance is alive, OpenBLAS runs single-threaded (its
// previous thread count is restored when the last one goes). Quiver
// parallelises above BLAS (index/parallel.h workers over blocks of rows, or
// one request per thread), so a multi-threaded BLAS underneath would
// oversubscribe the cores. A no-op when the BLAS library is not OpenBLAS.
class ScopedBlasSingleThread {
 public:
  ScopedBlasSingleThread();
  ~ScopedBlasSingleThread();
  ScopedBlasSingleThread(const ScopedBlasSingleThread&) = delete;
  ScopedBlasSingleThread& operator=(const ScopedBlasSingleThread&) = delete;
};

// Index of the smallest of v[0] + bias[0], ..., v[n-1] + bias[n-1] (the first
// one on ties) and that smallest value. REQUIRES: n >= 1.
size_t ArgMinBiased(const float* v, const float* bias, size_t n,
                    float* min_value);

// As ArgMinBiased, and also the second smallest value (+inf when n == 1).
size_t ArgMin2Biased(const float* v, const float* bias, size_t n,
                     float* min_value, float* second_value);

// Merges the m smallest of v[j] + bias[j] (j < n), labelled label0 + j, into
// the ascending list (vals, labels) of current length *len <= m (ties keep
// the earlier entry first). Vectorised filter against the current m-th value,
// so a long row costs little more than one pass of compares.
void TopSmallestBiased(const float* v, const float* bias, size_t n,
                       uint32_t label0, size_t m, float* vals, uint32_t* labels,
                       size_t* len);

}  // namespace quiver::index::clustering

#endif  // QUIVER_INDEX_CLUSTERING_DISTANCES_H_
