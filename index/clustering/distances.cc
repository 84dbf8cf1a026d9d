#include "index/clustering/distances.h"

#include <cblas.h>

#include <algorithm>
#include <cstring>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "index/kernels/kernels.h"

// Declared weak so that the index still links (and this policy degrades to a
// no-op) against a BLAS other than OpenBLAS.
extern "C" {
void openblas_set_num_threads(int num_threads) __attribute__((weak));
int openblas_get_num_threads(void) __attribute__((weak));
}

namespace quiver::index::clustering {
namespace {

absl::Mutex blas_mu(absl::kConstInit);
int blas_scopes ABSL_GUARDED_BY(blas_mu) = 0;
int blas_saved_threads ABSL_GUARDED_BY(blas_mu) = 0;

}  // namespace

float Dot(const float* a, const float* b, size_t d) {
  return kernels::Kernels().inner_product(a, b, d);
}

float L2Sqr(const float* a, const float* b, size_t d) {
  return kernels::Kernels().l2sqr(a, b, d);
}

void L2SqrMany(const float* x, const float* q, size_t nq, size_t d,
               float* out) {
  kernels::Kernels().l2sqr_many(x, q, nq, d, out);
}

void SquaredNorms(const float* x, size_t n, size_t d, float* out) {
  const kernels::KernelTable& k = kernels::Kernels();
  for (size_t i = 0; i < n; ++i) {
    out[i] = k.inner_product(x + i * d, x + i * d, d);
  }
}

void InnerProducts(const float* x, size_t nx, const float* y, size_t ny,
                   size_t d, float alpha, float* out) {
  if (nx == 0 || ny == 0) return;
  if (d == 0) {
    std::memset(out, 0, nx * ny * sizeof(float));
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(nx),
              static_cast<int>(ny), static_cast<int>(d), alpha, x,
              static_cast<int>(d), y, static_cast<int>(d), 0.0f, out,
              static_cast<int>(ny));
}

ScopedBlasSingleThread::ScopedBlasSingleThread() {
  if (openblas_set_num_threads == nullptr ||
      openblas_get_num_threads == nullptr) {
    return;
  }
  absl::MutexLock lock(&blas_mu);
  if (blas_scopes++ == 0) {
    blas_saved_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
  }
}

ScopedBlasSingleThread::~ScopedBlasSingleThread() {
  if (openblas_set_num_threads == nullptr ||
      openblas_get_num_threads == nullptr) {
    return;
  }
  absl::MutexLock lock(&blas_mu);
  if (--blas_scopes == 0) openblas_set_num_threads(blas_saved_threads);
}

size_t ArgMinBiased(const float* v, const float* bias, size_t n,
                    float* min_value) {
  return kernels::Kernels().argmin_biased(v, bias, n, min_value);
}

size_t ArgMin2Biased(const float* v, const float* bias, size_t n,
                     float* min_value, float* second_value) {
  return kernels::Kernels().argmin2_biased(v, bias, n, min_value, second_value);
}

namespace {

inline void InsertSorted(float value, uint32_t label, size_t m, float* vals,
                         uint32_t* labels, size_t* len) {
  size_t pos = *len;
  if (pos == m) {
    if (!(value < vals[m - 1])) return;
    pos = m - 1;
  } else {
    ++*len;
  }
  while (pos > 0 && vals[pos - 1] > value) {
    vals[pos] = vals[pos - 1];
    labels[pos] = labels[pos - 1];
    --pos;
  }
  vals[pos] = value;
  labels[pos] = label;
}

// The m smallest of x[0..n) (n >= M), ascending, in best[0..M): each value
// passes down a chain of compare-exchanges (min stays, max moves on), so no
// branch depends on the data. T is float, or uint64_t for OrderedKey()s.
template <size_t M, typename T>
inline void SmallestNetwork(const T* x, size_t n, T* best) {
  T b[M];
  for (size_t r = 0; r < M; ++r) b[r] = x[r];
  std::sort(b, b + M);
  for (size_t j = M; j < n; ++j) {
    T v = x[j];
    for (size_t r = 0; r < M; ++r) {
      const T lo = std::min(b[r], v);
      v = std::max(b[r], v);
      b[r] = lo;
    }
  }
  for (size_t r = 0; r < M; ++r) best[r] = b[r];
}

// Sorts like (value, label) with value compared as a float (-0 == +0),
// for finite and infinite values: the float's bits mapped to an unsigned
// integer of the same order, above the label.
inline uint64_t OrderedKey(float value, uint32_t label) {
  uint32_t u;
  const float v = value + 0.0f;  // -0 -> +0
  std::memcpy(&u, &v, sizeof(u));
  u = (u & 0x80000000u) != 0 ? ~u : u | 0x80000000u;
  return (uint64_t{u} << 32) | label;
}

inline float KeyValue(uint64_t key) {
  uint32_t u = static_cast<uint32_t>(key >> 32);
  u = (u & 0x80000000u) != 0 ? u & 0x7fffffffu : ~u;
  float v;
  std::memcpy(&v, &u, sizeof(v));
  return v;
}

// The m smallest of x[0..n) (m <= n) into best[0..m), ascending: a
// compare-exchange network for m <= 8, else nth_element + sort.
template <typename T>
void SmallestSorted(T* x, size_t n, size_t m, T* best) {
  switch (m) {
#define QUIVER_SMALLEST_CASE(M)     \
  case M:                           \
    SmallestNetwork<M>(x, n, best); \
    return;
    QUIVER_SMALLEST_CASE(1)
    QUIVER_SMALLEST_CASE(2)
    QUIVER_SMALLEST_CASE(3)
    QUIVER_SMALLEST_CASE(4)
    QUIVER_SMALLEST_CASE(5)
    QUIVER_SMALLEST_CASE(6)
    QUIVER_SMALLEST_CASE(7)
    QUIVER_SMALLEST_CASE(8)
#undef QUIVER_SMALLEST_CASE
    default:
      break;
  }
  std::nth_element(x, x + (m - 1), x + n);
  std::sort(x, x + m);
  std::copy(x, x + m, best);
}

// The insertion version: fine for short rows.
void TopSmallestInsert(const float* v, const float* bias, size_t n,
                       uint32_t label0, size_t m, float* vals, uint32_t* labels,
                       size_t* len) {
  for (size_t j = 0; j < n; ++j) {
    const float x = v[j] + bias[j];
    if (*len < m || x < vals[m - 1]) {
      InsertSorted(x, label0 + static_cast<uint32_t>(j), m, vals, labels, len);
    }
  }
}

}  // namespace

void TopSmallestBiased(const float* v, const float* bias, size_t n,
                       uint32_t label0, size_t m, float* vals, uint32_t* labels,
                       size_t* len) {
  // Two passes without data-dependent branches in the common case: the m-th
  // smallest of the minima of m or more disjoint groups bounds the m-th
  // smallest value from above; then every value <= that bound is collected and
  // the few collected are sorted. (Inserting into a sorted list as values come
  // costs a branch misprediction per insert, and a row has ~m ln(n/m) of them.)
  constexpr size_t kMaxGroups = 256;
  constexpr size_t kMaxCollected = 256;
  // Groups per kept value: more groups, a tighter bound (fewer values
  // collected) but a longer nth_element.
  constexpr size_t kGroupsPerKept = 2;
  if (n < 4 * m || n < 32) {
    TopSmallestInsert(v, bias, n, label0, m, vals, labels, len);
    return;
  }
  if (n > 4 * kMaxGroups) {
    for (size_t j0 = 0; j0 < n; j0 += 4 * kMaxGroups) {
      TopSmallestBiased(v + j0, bias + j0, std::min(n - j0, 4 * kMaxGroups),
                        label0 + static_cast<uint32_t>(j0), m, vals, labels,
                        len);
    }
    return;
  }
  // Groups are strided, {g, g + G, g + 2G, ...}, so their minima are a
  // vertical min over gs slices of length G (vectorised); G >= m.
  size_t gs = 16;
  while (gs > 1 && ((n / gs) & ~size_t{3}) < kGroupsPerKept * m) gs /= 2;
  const size_t ngroups = gs > 1 ? (n / gs) & ~size_t{3} : n;
  if (ngroups > kMaxGroups || ngroups < m) {
    TopSmallestInsert(v, bias, n, label0, m, vals, labels, len);
    return;
  }
  float gmin[kMaxGroups];
  const kernels::KernelTable& kt = kernels::Kernels();
  kt.group_mins(v, bias, ngroups, gs, gmin);
  float gbest[kMaxGroups];
  SmallestSorted(gmin, ngroups, m, gbest);
  float bound = gbest[m - 1];
  if (*len == m) bound = std::min(bound, vals[m - 1]);

  float found_v[kMaxCollected];
  uint32_t found_l[kMaxCollected];
  size_t count = 0;
  for (size_t r = 0; r < *len; ++r) {
    found_v[count] = vals[r];
    found_l[count++] = labels[r];
  }
  const size_t j = kt.collect_at_most(v, bias, n, bound, label0, kMaxCollected,
                                      found_v, found_l, &count);
  if (j < n) {
    // Too many values at or below the bound (ties): finish by insertion,
    // after merging what was collected.
    *len = 0;
    for (size_t r = 0; r < count; ++r) {
      InsertSorted(found_v[r], found_l[r], m, vals, labels, len);
    }
    TopSmallestInsert(v + j, bias + j, n - j, label0 + static_cast<uint32_t>(j),
                      m, vals, labels, len);
    return;
  }
  // The m smallest by (value, label): ties keep the earlier label first.
  uint64_t keys[kMaxCollected];
  for (size_t r = 0; r < count; ++r)
    keys[r] = OrderedKey(found_v[r], found_l[r]);
  const size_t keep = std::min(m, count);
  uint64_t best[kMaxCollected];
  SmallestSorted(keys, count, keep, best);
  for (size_t r = 0; r < keep; ++r) {
    vals[r] = KeyValue(best[r]);
    labels[r] = static_cast<uint32_t>(best[r]);
  }
  *len = keep;
}

}  // namespace quiver::index::clustering
