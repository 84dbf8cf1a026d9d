#include "index/clustering/distances.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "index/clustering/distances_simd.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

bool UseAvx2() {
  static const bool use = [] {
    const char* env = std::getenv("QUIVER_SIMD");
    if (env != nullptr && std::strcmp(env, "scalar") == 0) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return use;
}

// Summation order of Dot, L2Sqr and L2SqrMany, the same at every SIMD level
// (so results are bit-identical whatever the CPU): element l < d16 = d - d %
// 16 goes to partial sum l % 16, in order; partials are reduced as
// s[i] += s[i + 8], s[i] += s[i + 4], s[i] += s[i + 2], s[0] + s[1]; the
// tail elements are then added in order. No fused multiply-add.
namespace {

#if defined(__SSE2__)
// Reduces the 16 partials held as a0 (0-3), a1 (4-7), a2 (8-11), a3 (12-15).
inline float Reduce16(__m128 a0, __m128 a1, __m128 a2, __m128 a3) {
  const __m128 s8 = _mm_add_ps(a0, a2);     // s[i] + s[i+8], i < 4
  const __m128 s8b = _mm_add_ps(a1, a3);    // i = 4..7
  const __m128 s4 = _mm_add_ps(s8, s8b);    // s[i] + s[i+4], i < 4
  const __m128 hi = _mm_movehl_ps(s4, s4);  // s4[2], s4[3]
  const __m128 s2 = _mm_add_ps(s4, hi);     // s[i] + s[i+2], i < 2
  const __m128 s1 = _mm_shuffle_ps(s2, s2, _MM_SHUFFLE(1, 1, 1, 1));
  return _mm_cvtss_f32(_mm_add_ss(s2, s1));
}
#endif

float DotRef(const float* a, const float* b, size_t d) {
  const size_t d16 = d - d % 16;
  float sum;
#if defined(__SSE2__)
  __m128 s0 = _mm_setzero_ps(), s1 = _mm_setzero_ps();
  __m128 s2 = _mm_setzero_ps(), s3 = _mm_setzero_ps();
  for (size_t i = 0; i < d16; i += 16) {
    s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
    s1 = _mm_add_ps(
        s1, _mm_mul_ps(_mm_loadu_ps(a + i + 4), _mm_loadu_ps(b + i + 4)));
    s2 = _mm_add_ps(
        s2, _mm_mul_ps(_mm_loadu_ps(a + i + 8), _mm_loadu_ps(b + i + 8)));
    s3 = _mm_add_ps(
        s3, _mm_mul_ps(_mm_loadu_ps(a + i + 12), _mm_loadu_ps(b + i + 12)));
  }
  sum = Reduce16(s0, s1, s2, s3);
#else
  float p[16] = {};
  for (size_t i = 0; i < d16; ++i) p[i % 16] += a[i] * b[i];
  for (int i = 0; i < 8; ++i) p[i] += p[i + 8];
  for (int i = 0; i < 4; ++i) p[i] += p[i + 4];
  for (int i = 0; i < 2; ++i) p[i] += p[i + 2];
  sum = p[0] + p[1];
#endif
  for (size_t i = d16; i < d; ++i) sum += a[i] * b[i];
  return sum;
}

float L2SqrRef(const float* a, const float* b, size_t d) {
  const size_t d16 = d - d % 16;
  float sum;
#if defined(__SSE2__)
  __m128 s0 = _mm_setzero_ps(), s1 = _mm_setzero_ps();
  __m128 s2 = _mm_setzero_ps(), s3 = _mm_setzero_ps();
  for (size_t i = 0; i < d16; i += 16) {
    const __m128 t0 = _mm_sub_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i));
    const __m128 t1 =
        _mm_sub_ps(_mm_loadu_ps(a + i + 4), _mm_loadu_ps(b + i + 4));
    const __m128 t2 =
        _mm_sub_ps(_mm_loadu_ps(a + i + 8), _mm_loadu_ps(b + i + 8));
    const __m128 t3 =
        _mm_sub_ps(_mm_loadu_ps(a + i + 12), _mm_loadu_ps(b + i + 12));
    s0 = _mm_add_ps(s0, _mm_mul_ps(t0, t0));
    s1 = _mm_add_ps(s1, _mm_mul_ps(t1, t1));
    s2 = _mm_add_ps(s2, _mm_mul_ps(t2, t2));
    s3 = _mm_add_ps(s3, _mm_mul_ps(t3, t3));
  }
  sum = Reduce16(s0, s1, s2, s3);
#else
  float p[16] = {};
  for (size_t i = 0; i < d16; ++i) {
    const float t = a[i] - b[i];
    p[i % 16] += t * t;
  }
  for (int i = 0; i < 8; ++i) p[i] += p[i + 8];
  for (int i = 0; i < 4; ++i) p[i] += p[i + 4];
  for (int i = 0; i < 2; ++i) p[i] += p[i + 2];
  sum = p[0] + p[1];
#endif
  for (size_t i = d16; i < d; ++i) {
    const float t = a[i] - b[i];
    sum += t * t;
  }
  return sum;
}

}  // namespace

float Dot(const float* a, const float* b, size_t d) {
  if (d >= 16 && UseAvx2()) return avx2::Dot(a, b, d);
  return DotRef(a, b, d);
}

float L2Sqr(const float* a, const float* b, size_t d) {
  if (d >= 16 && UseAvx2()) return avx2::L2Sqr(a, b, d);
  return L2SqrRef(a, b, d);
}

void L2SqrMany(const float* x, const float* q, size_t nq, size_t d,
               float* out) {
  if (d >= 16 && UseAvx2()) {
    avx2::L2SqrMany(x, q, nq, d, out);
    return;
  }
  for (size_t c = 0; c < nq; ++c) out[c] = L2SqrRef(x, q + c * d, d);
}

void SquaredNorms(const float* x, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = Dot(x + i * d, x + i * d, d);
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

int ResolveThreads(int threads) {
  if (threads <= 0) threads = omp_get_max_threads();
  return threads < 1 ? 1 : threads;
}

int ThreadsFor(int threads, double work, size_t units) {
  if (work < kMinParallelWork || units <= 1) return 1;
  return static_cast<int>(
      std::min<size_t>(static_cast<size_t>(ResolveThreads(threads)), units));
}

size_t ArgMinBiased(const float* v, const float* bias, size_t n,
                    float* min_value) {
  if (n >= 16 && UseAvx2()) return avx2::ArgMinBiased(v, bias, n, min_value);
  size_t j = 0;
  size_t best = 0;
  float best_value = std::numeric_limits<float>::infinity();
#if defined(__SSE2__)
  if (n >= 8) {
    __m128 vmin = _mm_set1_ps(std::numeric_limits<float>::infinity());
    __m128i imin = _mm_setzero_si128();
    __m128i idx = _mm_setr_epi32(0, 1, 2, 3);
    const __m128i four = _mm_set1_epi32(4);
    for (; j + 4 <= n; j += 4) {
      const __m128 x = _mm_add_ps(_mm_loadu_ps(v + j), _mm_loadu_ps(bias + j));
      const __m128 lt = _mm_cmplt_ps(x, vmin);
      const __m128i lti = _mm_castps_si128(lt);
      vmin = _mm_or_ps(_mm_and_ps(lt, x), _mm_andnot_ps(lt, vmin));
      imin = _mm_or_si128(_mm_and_si128(lti, idx), _mm_andnot_si128(lti, imin));
      idx = _mm_add_epi32(idx, four);
    }
    alignas(16) float vals[4];
    alignas(16) int32_t ids[4];
    _mm_store_ps(vals, vmin);
    _mm_store_si128(reinterpret_cast<__m128i*>(ids), imin);
    for (int l = 0; l < 4; ++l) {
      const size_t id = static_cast<size_t>(ids[l]);
      if (vals[l] < best_value || (vals[l] == best_value && id < best)) {
        best_value = vals[l];
        best = id;
      }
    }
  }
#endif
  for (; j < n; ++j) {
    const float x = v[j] + bias[j];
    if (x < best_value) {
      best_value = x;
      best = j;
    }
  }
  *min_value = best_value;
  return best;
}

size_t ArgMin2Biased(const float* v, const float* bias, size_t n,
                     float* min_value, float* second_value) {
  if (n >= 16 && UseAvx2()) {
    return avx2::ArgMin2Biased(v, bias, n, min_value, second_value);
  }
  constexpr float kInf = std::numeric_limits<float>::infinity();
  size_t j = 0;
  size_t best = 0;
  float best_value = kInf, second = kInf;
#if defined(__SSE2__)
  if (n >= 8) {
    __m128 vmin = _mm_set1_ps(kInf);
    __m128 vsec = _mm_set1_ps(kInf);
    __m128i imin = _mm_setzero_si128();
    __m128i idx = _mm_setr_epi32(0, 1, 2, 3);
    const __m128i four = _mm_set1_epi32(4);
    for (; j + 4 <= n; j += 4) {
      const __m128 x = _mm_add_ps(_mm_loadu_ps(v + j), _mm_loadu_ps(bias + j));
      const __m128 lt = _mm_cmplt_ps(x, vmin);
      const __m128i lti = _mm_castps_si128(lt);
      vsec = _mm_min_ps(vsec, _mm_max_ps(x, vmin));
      vmin = _mm_or_ps(_mm_and_ps(lt, x), _mm_andnot_ps(lt, vmin));
      imin = _mm_or_si128(_mm_and_si128(lti, idx), _mm_andnot_si128(lti, imin));
      idx = _mm_add_epi32(idx, four);
    }
    alignas(16) float vals[4], secs[4];
    alignas(16) int32_t ids[4];
    _mm_store_ps(vals, vmin);
    _mm_store_ps(secs, vsec);
    _mm_store_si128(reinterpret_cast<__m128i*>(ids), imin);
    int best_lane = 0;
    best = static_cast<size_t>(ids[0]);
    best_value = vals[0];
    for (int l = 1; l < 4; ++l) {
      const size_t id = static_cast<size_t>(ids[l]);
      if (vals[l] < best_value || (vals[l] == best_value && id < best)) {
        best_value = vals[l];
        best = id;
        best_lane = l;
      }
    }
    for (int l = 0; l < 4; ++l) {
      second = std::min(second, secs[l]);
      if (l != best_lane) second = std::min(second, vals[l]);
    }
  }
#endif
  for (; j < n; ++j) {
    const float x = v[j] + bias[j];
    if (x < best_value) {
      second = best_value;
      best_value = x;
      best = j;
    } else if (x < second) {
      second = x;
    }
  }
  *min_value = best_value;
  *second_value = second;
  return best;
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

}  // namespace

namespace {

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

// gmin[g] = min over t < gs of v[t * ngroups + g] + bias[t * ngroups + g].
void GroupMinsRef(const float* v, const float* bias, size_t ngroups, size_t gs,
                  float* gmin) {
  size_t g = 0;
#if defined(__SSE2__)
  for (; g + 4 <= ngroups; g += 4) {
    __m128 mn = _mm_add_ps(_mm_loadu_ps(v + g), _mm_loadu_ps(bias + g));
    for (size_t t = 1; t < gs; ++t) {
      const size_t o = t * ngroups + g;
      mn = _mm_min_ps(mn,
                      _mm_add_ps(_mm_loadu_ps(v + o), _mm_loadu_ps(bias + o)));
    }
    _mm_storeu_ps(gmin + g, mn);
  }
#endif
  for (; g < ngroups; ++g) {
    float mn = v[g] + bias[g];
    for (size_t t = 1; t < gs; ++t) {
      mn = std::min(mn, v[t * ngroups + g] + bias[t * ngroups + g]);
    }
    gmin[g] = mn;
  }
}

size_t CollectAtMostRef(const float* v, const float* bias, size_t n,
                        float bound, uint32_t label0, size_t cap, float* vals,
                        uint32_t* labels, size_t* count) {
  size_t j = 0;
  size_t c = *count;
#if defined(__SSE2__)
  const __m128 vb = _mm_set1_ps(bound);
  for (; j + 4 <= n; j += 4) {
    const __m128 x = _mm_add_ps(_mm_loadu_ps(v + j), _mm_loadu_ps(bias + j));
    int mask = _mm_movemask_ps(_mm_cmple_ps(x, vb));
    if (mask == 0) continue;
    if (c + 4 > cap) break;
    alignas(16) float xs[4];
    _mm_store_ps(xs, x);
    while (mask != 0) {
      const int l = __builtin_ctz(static_cast<unsigned>(mask));
      mask &= mask - 1;
      vals[c] = xs[l];
      labels[c++] = label0 + static_cast<uint32_t>(j + l);
    }
  }
#endif
  for (; j < n && c < cap; ++j) {
    const float x = v[j] + bias[j];
    if (x <= bound) {
      vals[c] = x;
      labels[c++] = label0 + static_cast<uint32_t>(j);
    }
  }
  *count = c;
  return j;
}

void GroupMins(const float* v, const float* bias, size_t ngroups, size_t gs,
               float* gmin) {
  if (UseAvx2()) {
    avx2::GroupMins(v, bias, ngroups, gs, gmin);
  } else {
    GroupMinsRef(v, bias, ngroups, gs, gmin);
  }
}

size_t CollectAtMost(const float* v, const float* bias, size_t n, float bound,
                     uint32_t label0, size_t cap, float* vals, uint32_t* labels,
                     size_t* count) {
  if (UseAvx2()) {
    return avx2::CollectAtMost(v, bias, n, bound, label0, cap, vals, labels,
                               count);
  }
  return CollectAtMostRef(v, bias, n, bound, label0, cap, vals, labels, count);
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
  GroupMins(v, bias, ngroups, gs, gmin);
  std::nth_element(gmin, gmin + (m - 1), gmin + ngroups);
  float bound = gmin[m - 1];
  if (*len == m) bound = std::min(bound, vals[m - 1]);

  float found_v[kMaxCollected];
  uint32_t found_l[kMaxCollected];
  size_t count = 0;
  for (size_t r = 0; r < *len; ++r) {
    found_v[count] = vals[r];
    found_l[count++] = labels[r];
  }
  const size_t j = CollectAtMost(v, bias, n, bound, label0, kMaxCollected,
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
  struct Entry {
    float value;
    uint32_t label;
  };
  Entry found[kMaxCollected];
  for (size_t r = 0; r < count; ++r) found[r] = {found_v[r], found_l[r]};
  const size_t keep = std::min(m, count);
  std::partial_sort(
      found, found + keep, found + count, [](const Entry& a, const Entry& b) {
        return a.value != b.value ? a.value < b.value : a.label < b.label;
      });
  for (size_t r = 0; r < keep; ++r) {
    vals[r] = found[r].value;
    labels[r] = found[r].label;
  }
  *len = keep;
}

}  // namespace quiver::index::clustering
