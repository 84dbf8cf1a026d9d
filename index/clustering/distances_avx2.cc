// AVX2 versions of the argmin scans of distances.cc (compiled with -mavx2
// -mfma; called only after a CPU check). Minimums and their indices are
// exact, so results are identical to the SSE2/scalar versions; Dot, L2Sqr
// and L2SqrMany follow the summation order of distances.cc and must not be
// contracted into fused multiply-adds (this file is built with -mfma).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "index/clustering/distances_simd.h"

namespace quiver::index::clustering::avx2 {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Lane-wise state: minimum, its index and (optionally) the second minimum.
struct Lanes {
  __m256 vmin = _mm256_set1_ps(kInf);
  __m256 vsec = _mm256_set1_ps(kInf);
  __m256i imin = _mm256_setzero_si256();
};

template <bool kSecond>
inline void Step(Lanes* s, __m256 x, __m256i idx) {
  const __m256 lt = _mm256_cmp_ps(x, s->vmin, _CMP_LT_OQ);
  if (kSecond) s->vsec = _mm256_min_ps(s->vsec, _mm256_max_ps(x, s->vmin));
  s->vmin = _mm256_blendv_ps(s->vmin, x, lt);
  s->imin = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(s->imin),
                                                 _mm256_castsi256_ps(idx), lt));
}

template <bool kSecond>
size_t Scan(const float* v, const float* bias, size_t n, float* min_value,
            float* second_value) {
  Lanes a, b;
  __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i eight = _mm256_set1_epi32(8);
  const __m256i sixteen = _mm256_set1_epi32(16);
  size_t j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m256 x0 =
        _mm256_add_ps(_mm256_loadu_ps(v + j), _mm256_loadu_ps(bias + j));
    const __m256 x1 = _mm256_add_ps(_mm256_loadu_ps(v + j + 8),
                                    _mm256_loadu_ps(bias + j + 8));
    Step<kSecond>(&a, x0, idx);
    Step<kSecond>(&b, x1, _mm256_add_epi32(idx, eight));
    idx = _mm256_add_epi32(idx, sixteen);
  }
  alignas(32) float vals[16], secs[16];
  alignas(32) int32_t ids[16];
  _mm256_store_ps(vals, a.vmin);
  _mm256_store_ps(vals + 8, b.vmin);
  _mm256_store_ps(secs, a.vsec);
  _mm256_store_ps(secs + 8, b.vsec);
  _mm256_store_si256(reinterpret_cast<__m256i*>(ids), a.imin);
  _mm256_store_si256(reinterpret_cast<__m256i*>(ids + 8), b.imin);
  size_t best = static_cast<size_t>(ids[0]);
  float best_value = vals[0];
  int best_lane = 0;
  for (int l = 1; l < 16; ++l) {
    const size_t id = static_cast<size_t>(ids[l]);
    if (vals[l] < best_value || (vals[l] == best_value && id < best)) {
      best_value = vals[l];
      best = id;
      best_lane = l;
    }
  }
  float second = kInf;
  if (kSecond) {
    for (int l = 0; l < 16; ++l) {
      second = std::min(second, secs[l]);
      if (l != best_lane) second = std::min(second, vals[l]);
    }
  }
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
  if (kSecond) *second_value = second;
  return best;
}

// The 16 partial sums of distances.cc's order, as lo (0-7) and hi (8-15),
// reduced in that order.
inline float Reduce16(__m256 lo, __m256 hi) {
  const __m256 s8 = _mm256_add_ps(lo, hi);  // s[i] + s[i+8], i < 8
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8),
                               _mm256_extractf128_ps(s8, 1));  // i < 4
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));     // i < 2
  const __m128 s1 = _mm_shuffle_ps(s2, s2, _MM_SHUFFLE(1, 1, 1, 1));
  return _mm_cvtss_f32(_mm_add_ss(s2, s1));
}

inline __m256 SquareDiff(const float* a, const float* b) {
  const __m256 t = _mm256_sub_ps(_mm256_loadu_ps(a), _mm256_loadu_ps(b));
  return _mm256_mul_ps(t, t);
}

}  // namespace

float Dot(const float* a, const float* b, size_t d) {
  const size_t d16 = d - d % 16;
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
  for (size_t i = 0; i < d16; i += 16) {
    lo = _mm256_add_ps(
        lo, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    hi = _mm256_add_ps(hi, _mm256_mul_ps(_mm256_loadu_ps(a + i + 8),
                                         _mm256_loadu_ps(b + i + 8)));
  }
  float sum = Reduce16(lo, hi);
  for (size_t i = d16; i < d; ++i) sum += a[i] * b[i];
  return sum;
}

float L2Sqr(const float* a, const float* b, size_t d) {
  const size_t d16 = d - d % 16;
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
  for (size_t i = 0; i < d16; i += 16) {
    lo = _mm256_add_ps(lo, SquareDiff(a + i, b + i));
    hi = _mm256_add_ps(hi, SquareDiff(a + i + 8, b + i + 8));
  }
  float sum = Reduce16(lo, hi);
  for (size_t i = d16; i < d; ++i) {
    const float t = a[i] - b[i];
    sum += t * t;
  }
  return sum;
}

void L2SqrMany(const float* x, const float* q, size_t nq, size_t d,
               float* out) {
  const size_t d16 = d - d % 16;
  size_t c = 0;
  // Four vectors at a time: x is loaded once for the four.
  for (; c + 4 <= nq; c += 4) {
    const float* q0 = q + c * d;
    const float* q1 = q0 + d;
    const float* q2 = q1 + d;
    const float* q3 = q2 + d;
    __m256 lo0 = _mm256_setzero_ps(), hi0 = _mm256_setzero_ps();
    __m256 lo1 = _mm256_setzero_ps(), hi1 = _mm256_setzero_ps();
    __m256 lo2 = _mm256_setzero_ps(), hi2 = _mm256_setzero_ps();
    __m256 lo3 = _mm256_setzero_ps(), hi3 = _mm256_setzero_ps();
    for (size_t i = 0; i < d16; i += 16) {
      const __m256 xa = _mm256_loadu_ps(x + i);
      const __m256 xb = _mm256_loadu_ps(x + i + 8);
      __m256 t;
      t = _mm256_sub_ps(xa, _mm256_loadu_ps(q0 + i));
      lo0 = _mm256_add_ps(lo0, _mm256_mul_ps(t, t));
      t = _mm256_sub_ps(xb, _mm256_loadu_ps(q0 + i + 8));
      hi0 = _mm256_add_ps(hi0, _mm256_mul_ps(t, t));
      t = _mm256_sub_ps(xa, _mm256_loadu_ps(q1 + i));
      lo1 = _mm256_add_ps(lo1, _mm256_mul_ps(t, t));
      t = _mm256_sub_ps(xb, _mm256_loadu_ps(q1 + i + 8));
      hi1 = _mm256_add_ps(hi1, _mm256_mul_ps(t, t));
      t = _mm256_sub_ps(xa, _mm256_loadu_ps(q2 + i));
      lo2 = _mm256_add_ps(lo2, _mm256_mul_ps(t, t));
      t = _mm256_sub_ps(xb, _mm256_loadu_ps(q2 + i + 8));
      hi2 = _mm256_add_ps(hi2, _mm256_mul_ps(t, t));
      t = _mm256_sub_ps(xa, _mm256_loadu_ps(q3 + i));
      lo3 = _mm256_add_ps(lo3, _mm256_mul_ps(t, t));
      t = _mm256_sub_ps(xb, _mm256_loadu_ps(q3 + i + 8));
      hi3 = _mm256_add_ps(hi3, _mm256_mul_ps(t, t));
    }
    float s0 = Reduce16(lo0, hi0), s1 = Reduce16(lo1, hi1);
    float s2 = Reduce16(lo2, hi2), s3 = Reduce16(lo3, hi3);
    for (size_t i = d16; i < d; ++i) {
      float t = x[i] - q0[i];
      s0 += t * t;
      t = x[i] - q1[i];
      s1 += t * t;
      t = x[i] - q2[i];
      s2 += t * t;
      t = x[i] - q3[i];
      s3 += t * t;
    }
    out[c] = s0;
    out[c + 1] = s1;
    out[c + 2] = s2;
    out[c + 3] = s3;
  }
  for (; c < nq; ++c) out[c] = L2Sqr(x, q + c * d, d);
}

void GroupMins(const float* v, const float* bias, size_t ngroups, size_t gs,
               float* gmin) {
  size_t g = 0;
  for (; g + 8 <= ngroups; g += 8) {
    __m256 mn =
        _mm256_add_ps(_mm256_loadu_ps(v + g), _mm256_loadu_ps(bias + g));
    for (size_t t = 1; t < gs; ++t) {
      const size_t o = t * ngroups + g;
      mn = _mm256_min_ps(
          mn, _mm256_add_ps(_mm256_loadu_ps(v + o), _mm256_loadu_ps(bias + o)));
    }
    _mm256_storeu_ps(gmin + g, mn);
  }
  for (; g < ngroups; ++g) {
    float mn = v[g] + bias[g];
    for (size_t t = 1; t < gs; ++t) {
      mn = std::min(mn, v[t * ngroups + g] + bias[t * ngroups + g]);
    }
    gmin[g] = mn;
  }
}

size_t CollectAtMost(const float* v, const float* bias, size_t n, float bound,
                     uint32_t label0, size_t cap, float* vals, uint32_t* labels,
                     size_t* count) {
  size_t j = 0;
  size_t c = *count;
  const __m256 vb = _mm256_set1_ps(bound);
  for (; j + 8 <= n; j += 8) {
    const __m256 x =
        _mm256_add_ps(_mm256_loadu_ps(v + j), _mm256_loadu_ps(bias + j));
    int mask = _mm256_movemask_ps(_mm256_cmp_ps(x, vb, _CMP_LE_OQ));
    if (mask == 0) continue;
    if (c + 8 > cap) break;
    alignas(32) float xs[8];
    _mm256_store_ps(xs, x);
    while (mask != 0) {
      const int l = __builtin_ctz(static_cast<unsigned>(mask));
      mask &= mask - 1;
      vals[c] = xs[l];
      labels[c++] = label0 + static_cast<uint32_t>(j + l);
    }
  }
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

size_t ArgMinBiased(const float* v, const float* bias, size_t n,
                    float* min_value) {
  return Scan<false>(v, bias, n, min_value, nullptr);
}

size_t ArgMin2Biased(const float* v, const float* bias, size_t n,
                     float* min_value, float* second_value) {
  return Scan<true>(v, bias, n, min_value, second_value);
}

}  // namespace quiver::index::clustering::avx2
