// AVX2 kernels (this file is compiled with -mavx2 -mfma; FMA is never used
// so that results equal the scalar reference bit for bit). Called only
// after a CPU check (see dispatch.cc).
// g++ contracts a * b + c into FMA by default (-ffp-contract=fast), which
// would make levels round differently: keep products and sums separate.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#else
#pragma GCC optimize("fp-contract=off")
#endif

#include "index/kernels/kernels_avx2.h"

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "index/kernels/kernels.h"

namespace quiver::index::kernels {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Loads the first r < 8 floats of p (the rest 0) without reading past them.
inline __m256 LoadPartial(const float* p, size_t r) {
  alignas(32) static constexpr int32_t kMask[16] = {
      -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  const __m256i mask =
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask + 8 - r));
  return _mm256_maskload_ps(p, mask);
}

// s[i] += s[i+8] is done by the caller; this reduces 8 lanes as
// s[i] += s[i+4], s[i] += s[i+2], s[0] + s[1].
inline float Reduce8(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
  return _mm_cvtss_f32(x);
}

float L2SqrAvx2(const float* a, const float* b, size_t d) {
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= d; i += 16) {
    const __m256 d0 =
        _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    const __m256 d1 =
        _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    acc0 = _mm256_add_ps(acc0, _mm256_mul_ps(d0, d0));
    acc1 = _mm256_add_ps(acc1, _mm256_mul_ps(d1, d1));
  }
  const size_t r = d - i;
  if (r >= 8) {
    const __m256 d0 =
        _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    acc0 = _mm256_add_ps(acc0, _mm256_mul_ps(d0, d0));
    if (r > 8) {
      const __m256 d1 = _mm256_sub_ps(LoadPartial(a + i + 8, r - 8),
                                      LoadPartial(b + i + 8, r - 8));
      acc1 = _mm256_add_ps(acc1, _mm256_mul_ps(d1, d1));
    }
  } else if (r > 0) {
    const __m256 d0 =
        _mm256_sub_ps(LoadPartial(a + i, r), LoadPartial(b + i, r));
    acc0 = _mm256_add_ps(acc0, _mm256_mul_ps(d0, d0));
  }
  return Reduce8(_mm256_add_ps(acc0, acc1));
}

float InnerProductAvx2(const float* a, const float* b, size_t d) {
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= d; i += 16) {
    acc0 = _mm256_add_ps(
        acc0, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    acc1 = _mm256_add_ps(acc1, _mm256_mul_ps(_mm256_loadu_ps(a + i + 8),
                                             _mm256_loadu_ps(b + i + 8)));
  }
  const size_t r = d - i;
  if (r >= 8) {
    acc0 = _mm256_add_ps(
        acc0, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    if (r > 8) {
      acc1 = _mm256_add_ps(acc1, _mm256_mul_ps(LoadPartial(a + i + 8, r - 8),
                                               LoadPartial(b + i + 8, r - 8)));
    }
  } else if (r > 0) {
    acc0 = _mm256_add_ps(
        acc0, _mm256_mul_ps(LoadPartial(a + i, r), LoadPartial(b + i, r)));
  }
  return Reduce8(_mm256_add_ps(acc0, acc1));
}

// One partial-sum step of l2sqr for 8 floats: acc += (x - y)^2.
inline __m256 AddSq(__m256 acc, __m256 x, __m256 y) {
  const __m256 t = _mm256_sub_ps(x, y);
  return _mm256_add_ps(acc, _mm256_mul_ps(t, t));
}

void L2SqrManyAvx2(const float* x, const float* q, size_t nq, size_t d,
                   float* out) {
  const size_t d16 = d - d % 16;
  const size_t r = d - d16;
  size_t c = 0;
  // Four vectors at a time: x is loaded once for the four. Each sum has the
  // lanes and the order of L2SqrAvx2.
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
      lo0 = AddSq(lo0, xa, _mm256_loadu_ps(q0 + i));
      hi0 = AddSq(hi0, xb, _mm256_loadu_ps(q0 + i + 8));
      lo1 = AddSq(lo1, xa, _mm256_loadu_ps(q1 + i));
      hi1 = AddSq(hi1, xb, _mm256_loadu_ps(q1 + i + 8));
      lo2 = AddSq(lo2, xa, _mm256_loadu_ps(q2 + i));
      hi2 = AddSq(hi2, xb, _mm256_loadu_ps(q2 + i + 8));
      lo3 = AddSq(lo3, xa, _mm256_loadu_ps(q3 + i));
      hi3 = AddSq(hi3, xb, _mm256_loadu_ps(q3 + i + 8));
    }
    if (r > 0) {
      // The tail as L2SqrAvx2 adds it (zero lanes add 0).
      const size_t ra = std::min<size_t>(r, 8);
      const __m256 xa = LoadPartial(x + d16, ra);
      lo0 = AddSq(lo0, xa, LoadPartial(q0 + d16, ra));
      lo1 = AddSq(lo1, xa, LoadPartial(q1 + d16, ra));
      lo2 = AddSq(lo2, xa, LoadPartial(q2 + d16, ra));
      lo3 = AddSq(lo3, xa, LoadPartial(q3 + d16, ra));
      if (r > 8) {
        const __m256 xb = LoadPartial(x + d16 + 8, r - 8);
        hi0 = AddSq(hi0, xb, LoadPartial(q0 + d16 + 8, r - 8));
        hi1 = AddSq(hi1, xb, LoadPartial(q1 + d16 + 8, r - 8));
        hi2 = AddSq(hi2, xb, LoadPartial(q2 + d16 + 8, r - 8));
        hi3 = AddSq(hi3, xb, LoadPartial(q3 + d16 + 8, r - 8));
      }
    }
    out[c] = Reduce8(_mm256_add_ps(lo0, hi0));
    out[c + 1] = Reduce8(_mm256_add_ps(lo1, hi1));
    out[c + 2] = Reduce8(_mm256_add_ps(lo2, hi2));
    out[c + 3] = Reduce8(_mm256_add_ps(lo3, hi3));
  }
  for (; c < nq; ++c) out[c] = L2SqrAvx2(x, q + c * d, d);
}

void CodebookIpAvx2(const float* q, const float* cb_t, size_t m, size_t dsub,
                    size_t ksub, float* out) {
  for (size_t j = 0; j < m; ++j) {
    float* o = out + j * ksub;
    const float* qj = q + j * dsub;
    const float* cj = cb_t + j * dsub * ksub;
    for (size_t c = 0; c < ksub; c += 16) {
      __m256 q0 = _mm256_set1_ps(qj[0]);
      __m256 a0 = _mm256_mul_ps(q0, _mm256_loadu_ps(cj + c));
      __m256 a1 = _mm256_mul_ps(q0, _mm256_loadu_ps(cj + c + 8));
      for (size_t t = 1; t < dsub; ++t) {
        const __m256 qt = _mm256_set1_ps(qj[t]);
        const float* row = cj + t * ksub + c;
        a0 = _mm256_add_ps(a0, _mm256_mul_ps(qt, _mm256_loadu_ps(row)));
        a1 = _mm256_add_ps(a1, _mm256_mul_ps(qt, _mm256_loadu_ps(row + 8)));
      }
      _mm256_storeu_ps(o + c, a0);
      _mm256_storeu_ps(o + c + 8, a1);
    }
  }
}

void CodebookL2Avx2(const float* q, const float* cb_t, size_t m, size_t dsub,
                    size_t ksub, float* out) {
  for (size_t j = 0; j < m; ++j) {
    float* o = out + j * ksub;
    const float* qj = q + j * dsub;
    const float* cj = cb_t + j * dsub * ksub;
    for (size_t c = 0; c < ksub; c += 16) {
      const __m256 q0 = _mm256_set1_ps(qj[0]);
      __m256 d0 = _mm256_sub_ps(q0, _mm256_loadu_ps(cj + c));
      __m256 d1 = _mm256_sub_ps(q0, _mm256_loadu_ps(cj + c + 8));
      __m256 a0 = _mm256_mul_ps(d0, d0);
      __m256 a1 = _mm256_mul_ps(d1, d1);
      for (size_t t = 1; t < dsub; ++t) {
        const __m256 qt = _mm256_set1_ps(qj[t]);
        const float* row = cj + t * ksub + c;
        d0 = _mm256_sub_ps(qt, _mm256_loadu_ps(row));
        d1 = _mm256_sub_ps(qt, _mm256_loadu_ps(row + 8));
        a0 = _mm256_add_ps(a0, _mm256_mul_ps(d0, d0));
        a1 = _mm256_add_ps(a1, _mm256_mul_ps(d1, d1));
      }
      _mm256_storeu_ps(o + c, a0);
      _mm256_storeu_ps(o + c + 8, a1);
    }
  }
}

// Merges two (value, index) lane sets: the smaller value, the smaller index
// on equal values.
inline void MergeArgMin(__m256* v0, __m256i* i0, __m256 v1, __m256i i1) {
  const __m256 lt = _mm256_cmp_ps(v1, *v0, _CMP_LT_OQ);
  const __m256 eq = _mm256_cmp_ps(v1, *v0, _CMP_EQ_OQ);
  __m256i idx = _mm256_castps_si256(
      _mm256_blendv_ps(_mm256_castsi256_ps(*i0), _mm256_castsi256_ps(i1), lt));
  idx = _mm256_castps_si256(
      _mm256_blendv_ps(_mm256_castsi256_ps(idx),
                       _mm256_castsi256_ps(_mm256_min_epu32(*i0, i1)), eq));
  *v0 = _mm256_blendv_ps(*v0, v1, lt);
  *i0 = idx;
}

// The index of the smallest lane value (the smallest index among equal
// ones); `none` if no lane compares equal to the minimum (NaN).
inline uint32_t ArgMinOfLanes(__m256 v, __m256i idx, uint32_t none) {
  __m256 m = _mm256_min_ps(v, _mm256_permute2f128_ps(v, v, 1));
  m = _mm256_min_ps(m, _mm256_shuffle_ps(m, m, _MM_SHUFFLE(1, 0, 3, 2)));
  m = _mm256_min_ps(m, _mm256_shuffle_ps(m, m, _MM_SHUFFLE(2, 3, 0, 1)));
  const __m256 eq = _mm256_cmp_ps(v, m, _CMP_EQ_OQ);
  __m256i cand = _mm256_castps_si256(
      _mm256_blendv_ps(_mm256_castsi256_ps(_mm256_set1_epi32(-1)),
                       _mm256_castsi256_ps(idx), eq));
  cand = _mm256_min_epu32(cand, _mm256_permute2x128_si256(cand, cand, 1));
  cand = _mm256_min_epu32(cand, _mm256_shuffle_epi32(cand, 0x4e));
  cand = _mm256_min_epu32(cand, _mm256_shuffle_epi32(cand, 0xb1));
  const uint32_t best = static_cast<uint32_t>(_mm256_cvtsi256_si32(cand));
  return best == UINT32_MAX ? none : best;
}

void CodebookL2ArgMinAvx2(const float* q, const float* cb_t, size_t m,
                          size_t dsub, size_t ksub, uint8_t* best) {
  const __m256i sixteen = _mm256_set1_epi32(16);
  for (size_t j = 0; j < m; ++j) {
    const float* qj = q + j * dsub;
    const float* cj = cb_t + j * dsub * ksub;
    // Lane-wise minimum (first occurrence) of centroids c = 16 s + lane and
    // 16 s + 8 + lane; values computed as in CodebookL2Avx2.
    __m256 min0 = _mm256_set1_ps(kInf), min1 = min0;
    __m256i arg0 = _mm256_setzero_si256(), arg1 = arg0;
    __m256i idx0 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i idx1 = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
    for (size_t c = 0; c < ksub; c += 16) {
      const __m256 q0 = _mm256_set1_ps(qj[0]);
      __m256 d0 = _mm256_sub_ps(q0, _mm256_loadu_ps(cj + c));
      __m256 d1 = _mm256_sub_ps(q0, _mm256_loadu_ps(cj + c + 8));
      __m256 a0 = _mm256_mul_ps(d0, d0);
      __m256 a1 = _mm256_mul_ps(d1, d1);
      for (size_t t = 1; t < dsub; ++t) {
        const __m256 qt = _mm256_set1_ps(qj[t]);
        const float* row = cj + t * ksub + c;
        d0 = _mm256_sub_ps(qt, _mm256_loadu_ps(row));
        d1 = _mm256_sub_ps(qt, _mm256_loadu_ps(row + 8));
        a0 = _mm256_add_ps(a0, _mm256_mul_ps(d0, d0));
        a1 = _mm256_add_ps(a1, _mm256_mul_ps(d1, d1));
      }
      const __m256 lt0 = _mm256_cmp_ps(a0, min0, _CMP_LT_OQ);
      const __m256 lt1 = _mm256_cmp_ps(a1, min1, _CMP_LT_OQ);
      min0 = _mm256_blendv_ps(min0, a0, lt0);
      min1 = _mm256_blendv_ps(min1, a1, lt1);
      arg0 = _mm256_castps_si256(_mm256_blendv_ps(
          _mm256_castsi256_ps(arg0), _mm256_castsi256_ps(idx0), lt0));
      arg1 = _mm256_castps_si256(_mm256_blendv_ps(
          _mm256_castsi256_ps(arg1), _mm256_castsi256_ps(idx1), lt1));
      idx0 = _mm256_add_epi32(idx0, sixteen);
      idx1 = _mm256_add_epi32(idx1, sixteen);
    }
    MergeArgMin(&min0, &arg0, min1, arg1);
    best[j] = static_cast<uint8_t>(ArgMinOfLanes(min0, arg0, 0));
  }
}

void AxpyAvx2(const float* a, float scale, const float* b, size_t n,
              float* out) {
  const __m256 s = _mm256_set1_ps(scale);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i,
                     _mm256_add_ps(_mm256_loadu_ps(a + i),
                                   _mm256_mul_ps(s, _mm256_loadu_ps(b + i))));
  }
  for (; i < n; ++i) {
    const float p = scale * b[i];
    out[i] = a[i] + p;
  }
}

void AdcScan8Avx2(const float* lut, const uint8_t* codes, size_t n, size_t m,
                  float bias, float* out) {
  size_t i = 0;
  if (m >= 4) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i row_stride =
        _mm256_mullo_epi32(lane, _mm256_set1_epi32(static_cast<int>(m)));
    const __m256i byte_mask = _mm256_set1_epi32(0xff);
    const size_t m4 = m & ~size_t{3};
    const size_t rem = m - m4;
    for (; i + 8 <= n; i += 8) {
      const uint8_t* base = codes + i * m;
      __m256 acc = _mm256_set1_ps(bias);
      for (size_t j = 0; j < m4; j += 4) {
        const __m256i w = _mm256_i32gather_epi32(
            reinterpret_cast<const int*>(base + j), row_stride, 1);
        const float* l = lut + j * 256;
        __m256i idx = _mm256_and_si256(w, byte_mask);
        acc = _mm256_add_ps(acc, _mm256_i32gather_ps(l, idx, 4));
        idx = _mm256_and_si256(_mm256_srli_epi32(w, 8), byte_mask);
        acc = _mm256_add_ps(acc, _mm256_i32gather_ps(l + 256, idx, 4));
        idx = _mm256_and_si256(_mm256_srli_epi32(w, 16), byte_mask);
        acc = _mm256_add_ps(acc, _mm256_i32gather_ps(l + 512, idx, 4));
        idx = _mm256_srli_epi32(w, 24);
        acc = _mm256_add_ps(acc, _mm256_i32gather_ps(l + 768, idx, 4));
      }
      if (rem > 0) {
        // The last 4 bytes of each code hold the rem trailing sub-codes in
        // their top bytes.
        const __m256i w = _mm256_i32gather_epi32(
            reinterpret_cast<const int*>(base + m - 4), row_stride, 1);
        for (size_t j = m4; j < m; ++j) {
          const int shift = static_cast<int>(8 * (j + 4 - m));
          const __m256i idx = _mm256_and_si256(
              _mm256_srl_epi32(w, _mm_cvtsi32_si128(shift)), byte_mask);
          acc = _mm256_add_ps(acc, _mm256_i32gather_ps(lut + j * 256, idx, 4));
        }
      }
      _mm256_storeu_ps(out + i, acc);
    }
  }
  for (; i < n; ++i) {
    const uint8_t* c = codes + i * m;
    float acc = bias;
    for (size_t j = 0; j < m; ++j) acc += lut[j * 256 + c[j]];
    out[i] = acc;
  }
}

// Combines the even/odd uint16 accumulators of one half block (lane 0: sub-
// quantizers 2t, lane 1: 2t + 1) into 16 sums in vector order.
inline void CombineHalf(__m256i even, __m256i odd, __m128i* first8,
                        __m128i* next8) {
  const __m128i e = _mm_adds_epu16(_mm256_castsi256_si128(even),
                                   _mm256_extracti128_si256(even, 1));
  const __m128i o = _mm_adds_epu16(_mm256_castsi256_si128(odd),
                                   _mm256_extracti128_si256(odd, 1));
  *first8 = _mm_unpacklo_epi16(e, o);
  *next8 = _mm_unpackhi_epi16(e, o);
}

inline uint32_t LessEqualMask(__m128i a, __m128i b, __m128i thr) {
  const __m128i le_a = _mm_cmpeq_epi16(_mm_min_epu16(a, thr), a);
  const __m128i le_b = _mm_cmpeq_epi16(_mm_min_epu16(b, thr), b);
  return static_cast<uint32_t>(_mm_movemask_epi8(_mm_packs_epi16(le_a, le_b)));
}

void FastScan4Avx2(const uint8_t* blocks, size_t nblocks, size_t npairs,
                   const uint8_t* lut_q, uint16_t threshold, uint16_t* acc,
                   uint32_t* mask) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i low8 = _mm256_set1_epi16(0x00ff);
  const __m128i thr = _mm_set1_epi16(static_cast<int16_t>(threshold));
  for (size_t b = 0; b < nblocks; ++b) {
    const uint8_t* blk = blocks + b * npairs * 32;
    __m256i lo_e = _mm256_setzero_si256(), lo_o = _mm256_setzero_si256();
    __m256i hi_e = _mm256_setzero_si256(), hi_o = _mm256_setzero_si256();
    for (size_t t = 0; t < npairs; ++t) {
      const __m256i c =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + t * 32));
      const __m256i l =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lut_q + t * 32));
      const __m256i rlo = _mm256_shuffle_epi8(l, _mm256_and_si256(c, low4));
      const __m256i rhi = _mm256_shuffle_epi8(
          l, _mm256_and_si256(_mm256_srli_epi16(c, 4), low4));
      lo_e = _mm256_adds_epu16(lo_e, _mm256_and_si256(rlo, low8));
      lo_o = _mm256_adds_epu16(lo_o, _mm256_srli_epi16(rlo, 8));
      hi_e = _mm256_adds_epu16(hi_e, _mm256_and_si256(rhi, low8));
      hi_o = _mm256_adds_epu16(hi_o, _mm256_srli_epi16(rhi, 8));
    }
    __m128i v0, v8, v16, v24;
    CombineHalf(lo_e, lo_o, &v0, &v8);
    CombineHalf(hi_e, hi_o, &v16, &v24);
    __m128i* out = reinterpret_cast<__m128i*>(acc + b * 32);
    _mm_storeu_si128(out, v0);
    _mm_storeu_si128(out + 1, v8);
    _mm_storeu_si128(out + 2, v16);
    _mm_storeu_si128(out + 3, v24);
    mask[b] = LessEqualMask(v0, v8, thr) | (LessEqualMask(v16, v24, thr) << 16);
  }
}

inline float HMin(__m256 v) {
  __m128 x = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_min_ps(x, _mm_movehl_ps(x, x));
  x = _mm_min_ss(x, _mm_shuffle_ps(x, x, 1));
  return _mm_cvtss_f32(x);
}

inline float HMax(__m256 v) {
  __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_max_ps(x, _mm_movehl_ps(x, x));
  x = _mm_max_ss(x, _mm_shuffle_ps(x, x, 1));
  return _mm_cvtss_f32(x);
}

float QuantizeLut4Avx2(const float* lut, size_t m, uint8_t* lut_q,
                       float* sum_min) {
  const size_t npairs = (m + 1) / 2;
  float mins[256];
  float span = 0;
  for (size_t j = 0; j < m; ++j) {
    const __m256 a = _mm256_loadu_ps(lut + j * 16);
    const __m256 b = _mm256_loadu_ps(lut + j * 16 + 8);
    const float mn = HMin(_mm256_min_ps(a, b));
    const float mx = HMax(_mm256_max_ps(a, b));
    mins[j] = mn;
    const float s = mx - mn;
    span = s > span ? s : span;
  }
  const float scale = span > 0 ? 255.0f / span : 1.0f;
  float total = 0;
  for (size_t j = 0; j < m; ++j) total += mins[j];
  *sum_min = total;
  const __m256 vscale = _mm256_set1_ps(scale);
  const __m256 half = _mm256_set1_ps(0.5f);
  for (size_t j = 0; j < 2 * npairs; ++j) {
    uint8_t* q = lut_q + (j >> 1) * 32 + (j & 1) * 16;
    if (j >= m) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm_setzero_si128());
      continue;
    }
    const __m256 mn = _mm256_set1_ps(mins[j]);
    const __m256 a = _mm256_add_ps(
        _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(lut + j * 16), mn), vscale),
        half);
    const __m256 b = _mm256_add_ps(
        _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(lut + j * 16 + 8), mn),
                      vscale),
        half);
    // Truncate, then saturate to [0, 255] (values are >= 0.5).
    const __m256i ia = _mm256_cvttps_epi32(a);
    const __m256i ib = _mm256_cvttps_epi32(b);
    const __m256i w = _mm256_packs_epi32(ia, ib);  // lanes: a0-3 b0-3 a4-7 b4-7
    const __m128i w16 = _mm_packus_epi16(_mm256_castsi256_si128(w),
                                         _mm256_extracti128_si256(w, 1));
    // w16 bytes: a0-3 b0-3 a4-7 b4-7 -> a0-7 b0-7.
    const __m128i order =
        _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q),
                     _mm_shuffle_epi8(w16, order));
  }
  return scale;
}

// One term of a blocked16 lane group: (x[t] - y[t])^2 or x[t] * y[t] for
// the 8 lanes at `lanes` (row t of the block).
template <bool kL2>
inline __m256 Blocked16Term(float xt, const float* lanes, size_t t) {
  const __m256 y = _mm256_loadu_ps(lanes + t * kDistBlock);
  const __m256 xv = _mm256_set1_ps(xt);
  if constexpr (kL2) {
    const __m256 diff = _mm256_sub_ps(xv, y);
    return _mm256_mul_ps(diff, diff);
  } else {
    return _mm256_mul_ps(xv, y);
  }
}

// Partial sums s[j] (terms t = j, j + 16, ...) and s[j + 8] for four j at a
// time, eight independent chains, each summed in order of t; then the tree
// s[i] += s[i + 8], s[i] += s[i + 4], s[i] += s[i + 2], s[0] + s[1].
template <bool kL2>
void Blocked16Avx2(const float* x, const float* bt, size_t nblocks, size_t d,
                   float* out) {
  const size_t full = d / 16 * 16;
  for (size_t b = 0; b < nblocks; ++b) {
    for (size_t h = 0; h < 2; ++h) {
      const float* lanes = bt + b * d * kDistBlock + h * 8;
      __m256 u[8];
      for (size_t j0 = 0; j0 < 8; j0 += 4) {
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(),
               a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps(),
               c2 = _mm256_setzero_ps(), c3 = _mm256_setzero_ps();
        for (size_t r = 0; r < full; r += 16) {
          const size_t t = r + j0;
          a0 = _mm256_add_ps(a0, Blocked16Term<kL2>(x[t], lanes, t));
          a1 = _mm256_add_ps(a1, Blocked16Term<kL2>(x[t + 1], lanes, t + 1));
          a2 = _mm256_add_ps(a2, Blocked16Term<kL2>(x[t + 2], lanes, t + 2));
          a3 = _mm256_add_ps(a3, Blocked16Term<kL2>(x[t + 3], lanes, t + 3));
          c0 = _mm256_add_ps(c0, Blocked16Term<kL2>(x[t + 8], lanes, t + 8));
          c1 = _mm256_add_ps(c1, Blocked16Term<kL2>(x[t + 9], lanes, t + 9));
          c2 = _mm256_add_ps(c2, Blocked16Term<kL2>(x[t + 10], lanes, t + 10));
          c3 = _mm256_add_ps(c3, Blocked16Term<kL2>(x[t + 11], lanes, t + 11));
        }
        // The last, partial row of 16 terms.
        __m256* acc[8] = {&a0, &a1, &a2, &a3, &c0, &c1, &c2, &c3};
        for (size_t q = 0; q < 8; ++q) {
          const size_t t = full + j0 + (q & 3) + (q >= 4 ? 8 : 0);
          if (t < d)
            *acc[q] =
                _mm256_add_ps(*acc[q], Blocked16Term<kL2>(x[t], lanes, t));
        }
        u[j0] = _mm256_add_ps(a0, c0);
        u[j0 + 1] = _mm256_add_ps(a1, c1);
        u[j0 + 2] = _mm256_add_ps(a2, c2);
        u[j0 + 3] = _mm256_add_ps(a3, c3);
      }
      for (size_t i = 0; i < 4; ++i) u[i] = _mm256_add_ps(u[i], u[i + 4]);
      for (size_t i = 0; i < 2; ++i) u[i] = _mm256_add_ps(u[i], u[i + 2]);
      _mm256_storeu_ps(out + b * kDistBlock + h * 8, _mm256_add_ps(u[0], u[1]));
    }
  }
}

void L2SqrBlocked16Avx2(const float* x, const float* bt, size_t nblocks,
                        size_t d, float* out) {
  Blocked16Avx2<true>(x, bt, nblocks, d, out);
}

void IpBlocked16Avx2(const float* x, const float* bt, size_t nblocks, size_t d,
                     float* out) {
  Blocked16Avx2<false>(x, bt, nblocks, d, out);
}

}  // namespace

namespace avx2 {
namespace {

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

// Minimum values and indices are exact, so the result equals the scalar
// scan's (ties: the smallest index).
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

}  // namespace

size_t ArgMinBiased(const float* v, const float* bias, size_t n,
                    float* min_value) {
  return Scan<false>(v, bias, n, min_value, nullptr);
}

size_t ArgMin2Biased(const float* v, const float* bias, size_t n,
                     float* min_value, float* second_value) {
  return Scan<true>(v, bias, n, min_value, second_value);
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
          _mm256_add_ps(_mm256_loadu_ps(v + o), _mm256_loadu_ps(bias + o)), mn);
    }
    _mm256_storeu_ps(gmin + g, mn);
  }
  for (; g < ngroups; ++g) {
    float mn = v[g] + bias[g];
    for (size_t t = 1; t < gs; ++t) {
      const float x = v[t * ngroups + g] + bias[t * ngroups + g];
      mn = x < mn ? x : mn;
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

}  // namespace avx2

// HalfToFloatRef's steps, 8 lanes at a time.
void HalfToFloatAvx2(const uint16_t* h, size_t n, float scale, float* out) {
  const __m256i em_mask = _mm256_set1_epi32(0x7fff);
  const __m256i sign_mask = _mm256_set1_epi32(0x8000);
  const __m256 magic = _mm256_set1_ps(0x1p112f);
  const __m256 s = _mm256_set1_ps(scale);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i v = _mm256_cvtepu16_epi32(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i)));
    const __m256i em = _mm256_slli_epi32(_mm256_and_si256(v, em_mask), 13);
    const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(v, sign_mask), 16);
    const __m256 f = _mm256_mul_ps(_mm256_castsi256_ps(em), magic);
    const __m256 signed_f =
        _mm256_castsi256_ps(_mm256_or_si256(_mm256_castps_si256(f), sign));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(signed_f, s));
  }
  ScalarKernels().half_to_float(h + i, n - i, scale, out + i);
}

// U8ToFloatRef's fused multiply-add, 8 lanes at a time.
void U8ToFloatAvx2(const uint8_t* c, size_t n, float offset, float step,
                   float* out) {
  const __m256 o = _mm256_set1_ps(offset);
  const __m256 s = _mm256_set1_ps(step);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i v = _mm256_cvtepu8_epi32(
        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + i)));
    _mm256_storeu_ps(out + i, _mm256_fmadd_ps(_mm256_cvtepi32_ps(v), s, o));
  }
  ScalarKernels().u8_to_float(c + i, n - i, offset, step, out + i);
}

const KernelTable& Avx2Kernels() {
  static const KernelTable table = {
      .level = SimdLevel::kAvx2,
      .l2sqr = L2SqrAvx2,
      .inner_product = InnerProductAvx2,
      .l2sqr_many = L2SqrManyAvx2,
      .l2sqr_blocked16 = L2SqrBlocked16Avx2,
      .ip_blocked16 = IpBlocked16Avx2,
      .argmin_biased = avx2::ArgMinBiased,
      .argmin2_biased = avx2::ArgMin2Biased,
      .group_mins = avx2::GroupMins,
      .collect_at_most = avx2::CollectAtMost,
      .codebook_ip = CodebookIpAvx2,
      .codebook_l2 = CodebookL2Avx2,
      .codebook_l2_argmin = CodebookL2ArgMinAvx2,
      .axpy = AxpyAvx2,
      .half_to_float = HalfToFloatAvx2,
      .u8_to_float = U8ToFloatAvx2,
      .adc_scan8 = AdcScan8Avx2,
      .fast_scan4 = FastScan4Avx2,
      .quantize_lut4 = QuantizeLut4Avx2,
  };
  return table;
}

}  // namespace quiver::index::kernels
