// AVX-512 (F/BW/VL/DQ) kernels. Same arithmetic order as the scalar
// reference, no FMA. Called only after a CPU check (see dispatch.cc).
//
// g++ 12 reports false "may be used uninitialized" warnings inside its own
// AVX-512 intrinsics (their _mm512_undefined_* pass-through operands).
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

// g++ contracts a * b + c into FMA by default (-ffp-contract=fast), which
// would make levels round differently: keep products and sums separate.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#else
#pragma GCC optimize("fp-contract=off")
#endif

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <limits>

#include "index/kernels/kernels.h"
#include "index/kernels/kernels_avx2.h"

namespace quiver::index::kernels {
namespace {

inline __mmask16 TailMask(size_t r) {
  return static_cast<__mmask16>((1u << r) - 1);
}

// 16 partial sums reduced as s[i] += s[i+8], s[i] += s[i+4], s[i] += s[i+2],
// s[0] + s[1].
inline float Reduce16(__m512 v) {
  const __m256 s8 = _mm256_add_ps(
      _mm512_castps512_ps256(v),
      _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  __m128 x =
      _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
  return _mm_cvtss_f32(x);
}

float L2SqrAvx512(const float* a, const float* b, size_t d) {
  __m512 acc = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= d; i += 16) {
    const __m512 diff =
        _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    acc = _mm512_add_ps(acc, _mm512_mul_ps(diff, diff));
  }
  if (i < d) {
    const __mmask16 k = TailMask(d - i);
    const __m512 diff = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, a + i),
                                      _mm512_maskz_loadu_ps(k, b + i));
    acc = _mm512_add_ps(acc, _mm512_mul_ps(diff, diff));
  }
  return Reduce16(acc);
}

float InnerProductAvx512(const float* a, const float* b, size_t d) {
  __m512 acc = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= d; i += 16) {
    acc = _mm512_add_ps(
        acc, _mm512_mul_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
  }
  if (i < d) {
    const __mmask16 k = TailMask(d - i);
    acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, a + i),
                                           _mm512_maskz_loadu_ps(k, b + i)));
  }
  return Reduce16(acc);
}

// One partial-sum step of l2sqr: acc += (x - y)^2.
inline __m512 AddSq(__m512 acc, __m512 x, __m512 y) {
  const __m512 t = _mm512_sub_ps(x, y);
  return _mm512_add_ps(acc, _mm512_mul_ps(t, t));
}

void L2SqrManyAvx512(const float* x, const float* q, size_t nq, size_t d,
                     float* out) {
  const size_t d16 = d - d % 16;
  const __mmask16 tail = TailMask(d - d16);
  size_t c = 0;
  // Four vectors at a time: x is loaded once for the four. Each sum has the
  // lanes and the order of L2SqrAvx512.
  for (; c + 4 <= nq; c += 4) {
    const float* q0 = q + c * d;
    const float* q1 = q0 + d;
    const float* q2 = q1 + d;
    const float* q3 = q2 + d;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    for (size_t i = 0; i < d16; i += 16) {
      const __m512 xi = _mm512_loadu_ps(x + i);
      a0 = AddSq(a0, xi, _mm512_loadu_ps(q0 + i));
      a1 = AddSq(a1, xi, _mm512_loadu_ps(q1 + i));
      a2 = AddSq(a2, xi, _mm512_loadu_ps(q2 + i));
      a3 = AddSq(a3, xi, _mm512_loadu_ps(q3 + i));
    }
    if (d16 < d) {
      const __m512 xi = _mm512_maskz_loadu_ps(tail, x + d16);
      a0 = AddSq(a0, xi, _mm512_maskz_loadu_ps(tail, q0 + d16));
      a1 = AddSq(a1, xi, _mm512_maskz_loadu_ps(tail, q1 + d16));
      a2 = AddSq(a2, xi, _mm512_maskz_loadu_ps(tail, q2 + d16));
      a3 = AddSq(a3, xi, _mm512_maskz_loadu_ps(tail, q3 + d16));
    }
    out[c] = Reduce16(a0);
    out[c + 1] = Reduce16(a1);
    out[c + 2] = Reduce16(a2);
    out[c + 3] = Reduce16(a3);
  }
  for (; c < nq; ++c) out[c] = L2SqrAvx512(x, q + c * d, d);
}

// (value, index) of one lane set into the running minimum: strictly smaller
// values win, so each lane keeps its first occurrence.
inline void TakeMin(__m512 a, __m512i idx, __m512* vmin, __m512i* arg) {
  const __mmask16 lt = _mm512_cmp_ps_mask(a, *vmin, _CMP_LT_OQ);
  *vmin = _mm512_mask_mov_ps(*vmin, lt, a);
  *arg = _mm512_mask_mov_epi32(*arg, lt, idx);
}

void CodebookL2ArgMinAvx512(const float* q, const float* cb_t, size_t m,
                            size_t dsub, size_t ksub, uint8_t* best) {
  const __m512i lane =
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i sixteen = _mm512_set1_epi32(16);
  const __m512i thirtytwo = _mm512_set1_epi32(32);
  for (size_t j = 0; j < m; ++j) {
    const float* qj = q + j * dsub;
    const float* cj = cb_t + j * dsub * ksub;
    // Values computed as in CodebookL2Avx512.
    __m512 min0 = _mm512_set1_ps(std::numeric_limits<float>::infinity());
    __m512 min1 = min0;
    __m512i arg0 = _mm512_setzero_si512(), arg1 = arg0;
    __m512i idx0 = lane;
    __m512i idx1 = _mm512_add_epi32(lane, sixteen);
    size_t c = 0;
    for (; c + 32 <= ksub; c += 32) {
      const __m512 q0 = _mm512_set1_ps(qj[0]);
      __m512 d0 = _mm512_sub_ps(q0, _mm512_loadu_ps(cj + c));
      __m512 d1 = _mm512_sub_ps(q0, _mm512_loadu_ps(cj + c + 16));
      __m512 a0 = _mm512_mul_ps(d0, d0);
      __m512 a1 = _mm512_mul_ps(d1, d1);
      for (size_t t = 1; t < dsub; ++t) {
        const __m512 qt = _mm512_set1_ps(qj[t]);
        const float* row = cj + t * ksub + c;
        d0 = _mm512_sub_ps(qt, _mm512_loadu_ps(row));
        d1 = _mm512_sub_ps(qt, _mm512_loadu_ps(row + 16));
        a0 = _mm512_add_ps(a0, _mm512_mul_ps(d0, d0));
        a1 = _mm512_add_ps(a1, _mm512_mul_ps(d1, d1));
      }
      TakeMin(a0, idx0, &min0, &arg0);
      TakeMin(a1, idx1, &min1, &arg1);
      idx0 = _mm512_add_epi32(idx0, thirtytwo);
      idx1 = _mm512_add_epi32(idx1, thirtytwo);
    }
    for (; c < ksub; c += 16) {
      __m512 d0 = _mm512_sub_ps(_mm512_set1_ps(qj[0]), _mm512_loadu_ps(cj + c));
      __m512 a0 = _mm512_mul_ps(d0, d0);
      for (size_t t = 1; t < dsub; ++t) {
        d0 = _mm512_sub_ps(_mm512_set1_ps(qj[t]),
                           _mm512_loadu_ps(cj + t * ksub + c));
        a0 = _mm512_add_ps(a0, _mm512_mul_ps(d0, d0));
      }
      TakeMin(a0, idx0, &min0, &arg0);
      idx0 = _mm512_add_epi32(idx0, sixteen);
    }
    // Merge the two sets (equal values: the smaller index), then the lanes.
    const __mmask16 lt = _mm512_cmp_ps_mask(min1, min0, _CMP_LT_OQ);
    const __mmask16 eq = _mm512_cmp_ps_mask(min1, min0, _CMP_EQ_OQ);
    arg0 = _mm512_mask_mov_epi32(arg0, lt, arg1);
    arg0 = _mm512_mask_min_epu32(arg0, eq, arg0, arg1);
    min0 = _mm512_mask_mov_ps(min0, lt, min1);
    const float mn = _mm512_reduce_min_ps(min0);
    const __mmask16 at =
        _mm512_cmp_ps_mask(min0, _mm512_set1_ps(mn), _CMP_EQ_OQ);
    const uint32_t b = _mm512_mask_reduce_min_epu32(at, arg0);
    best[j] = static_cast<uint8_t>(b == UINT32_MAX ? 0 : b);
  }
}

void CodebookIpAvx512(const float* q, const float* cb_t, size_t m, size_t dsub,
                      size_t ksub, float* out) {
  for (size_t j = 0; j < m; ++j) {
    float* o = out + j * ksub;
    const float* qj = q + j * dsub;
    const float* cj = cb_t + j * dsub * ksub;
    size_t c = 0;
    for (; c + 32 <= ksub; c += 32) {
      const __m512 q0 = _mm512_set1_ps(qj[0]);
      __m512 a0 = _mm512_mul_ps(q0, _mm512_loadu_ps(cj + c));
      __m512 a1 = _mm512_mul_ps(q0, _mm512_loadu_ps(cj + c + 16));
      for (size_t t = 1; t < dsub; ++t) {
        const __m512 qt = _mm512_set1_ps(qj[t]);
        const float* row = cj + t * ksub + c;
        a0 = _mm512_add_ps(a0, _mm512_mul_ps(qt, _mm512_loadu_ps(row)));
        a1 = _mm512_add_ps(a1, _mm512_mul_ps(qt, _mm512_loadu_ps(row + 16)));
      }
      _mm512_storeu_ps(o + c, a0);
      _mm512_storeu_ps(o + c + 16, a1);
    }
    for (; c < ksub; c += 16) {
      __m512 a0 = _mm512_mul_ps(_mm512_set1_ps(qj[0]), _mm512_loadu_ps(cj + c));
      for (size_t t = 1; t < dsub; ++t) {
        a0 = _mm512_add_ps(a0,
                           _mm512_mul_ps(_mm512_set1_ps(qj[t]),
                                         _mm512_loadu_ps(cj + t * ksub + c)));
      }
      _mm512_storeu_ps(o + c, a0);
    }
  }
}

void CodebookL2Avx512(const float* q, const float* cb_t, size_t m, size_t dsub,
                      size_t ksub, float* out) {
  for (size_t j = 0; j < m; ++j) {
    float* o = out + j * ksub;
    const float* qj = q + j * dsub;
    const float* cj = cb_t + j * dsub * ksub;
    size_t c = 0;
    for (; c + 32 <= ksub; c += 32) {
      const __m512 q0 = _mm512_set1_ps(qj[0]);
      __m512 d0 = _mm512_sub_ps(q0, _mm512_loadu_ps(cj + c));
      __m512 d1 = _mm512_sub_ps(q0, _mm512_loadu_ps(cj + c + 16));
      __m512 a0 = _mm512_mul_ps(d0, d0);
      __m512 a1 = _mm512_mul_ps(d1, d1);
      for (size_t t = 1; t < dsub; ++t) {
        const __m512 qt = _mm512_set1_ps(qj[t]);
        const float* row = cj + t * ksub + c;
        d0 = _mm512_sub_ps(qt, _mm512_loadu_ps(row));
        d1 = _mm512_sub_ps(qt, _mm512_loadu_ps(row + 16));
        a0 = _mm512_add_ps(a0, _mm512_mul_ps(d0, d0));
        a1 = _mm512_add_ps(a1, _mm512_mul_ps(d1, d1));
      }
      _mm512_storeu_ps(o + c, a0);
      _mm512_storeu_ps(o + c + 16, a1);
    }
    for (; c < ksub; c += 16) {
      __m512 d0 = _mm512_sub_ps(_mm512_set1_ps(qj[0]), _mm512_loadu_ps(cj + c));
      __m512 a0 = _mm512_mul_ps(d0, d0);
      for (size_t t = 1; t < dsub; ++t) {
        d0 = _mm512_sub_ps(_mm512_set1_ps(qj[t]),
                           _mm512_loadu_ps(cj + t * ksub + c));
        a0 = _mm512_add_ps(a0, _mm512_mul_ps(d0, d0));
      }
      _mm512_storeu_ps(o + c, a0);
    }
  }
}

void AxpyAvx512(const float* a, float scale, const float* b, size_t n,
                float* out) {
  const __m512 s = _mm512_set1_ps(scale);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(out + i,
                     _mm512_add_ps(_mm512_loadu_ps(a + i),
                                   _mm512_mul_ps(s, _mm512_loadu_ps(b + i))));
  }
  if (i < n) {
    const __mmask16 k = TailMask(n - i);
    _mm512_mask_storeu_ps(
        out + i, k,
        _mm512_add_ps(_mm512_maskz_loadu_ps(k, a + i),
                      _mm512_mul_ps(s, _mm512_maskz_loadu_ps(k, b + i))));
  }
}

void AdcScan8Avx512(const float* lut, const uint8_t* codes, size_t n, size_t m,
                    float bias, float* out) {
  size_t i = 0;
  if (m >= 4) {
    const __m512i lane =
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i row_stride =
        _mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<int>(m)));
    const __m512i byte_mask = _mm512_set1_epi32(0xff);
    const size_t m4 = m & ~size_t{3};
    for (; i + 16 <= n; i += 16) {
      const uint8_t* base = codes + i * m;
      __m512 acc = _mm512_set1_ps(bias);
      for (size_t j = 0; j < m4; j += 4) {
        const __m512i w = _mm512_i32gather_epi32(row_stride, base + j, 1);
        const float* l = lut + j * 256;
        __m512i idx = _mm512_and_si512(w, byte_mask);
        acc = _mm512_add_ps(acc, _mm512_i32gather_ps(idx, l, 4));
        idx = _mm512_and_si512(_mm512_srli_epi32(w, 8), byte_mask);
        acc = _mm512_add_ps(acc, _mm512_i32gather_ps(idx, l + 256, 4));
        idx = _mm512_and_si512(_mm512_srli_epi32(w, 16), byte_mask);
        acc = _mm512_add_ps(acc, _mm512_i32gather_ps(idx, l + 512, 4));
        idx = _mm512_srli_epi32(w, 24);
        acc = _mm512_add_ps(acc, _mm512_i32gather_ps(idx, l + 768, 4));
      }
      if (m4 < m) {
        const __m512i w = _mm512_i32gather_epi32(row_stride, base + m - 4, 1);
        for (size_t j = m4; j < m; ++j) {
          const unsigned shift = static_cast<unsigned>(8 * (j + 4 - m));
          const __m512i idx = _mm512_and_si512(
              _mm512_srl_epi32(w, _mm_cvtsi32_si128(static_cast<int>(shift))),
              byte_mask);
          acc = _mm512_add_ps(acc, _mm512_i32gather_ps(idx, lut + j * 256, 4));
        }
      }
      _mm512_storeu_ps(out + i, acc);
    }
  }
  for (; i < n; ++i) {
    const uint8_t* c = codes + i * m;
    float acc = bias;
    for (size_t j = 0; j < m; ++j) acc += lut[j * 256 + c[j]];
    out[i] = acc;
  }
}

void FastScan4Avx512(const uint8_t* blocks, size_t nblocks, size_t npairs,
                     const uint8_t* lut_q, uint16_t threshold, uint16_t* acc,
                     uint32_t* mask) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i low8 = _mm512_set1_epi16(0x00ff);
  const __m256i low4y = _mm256_set1_epi8(0x0f);
  const __m256i low8y = _mm256_set1_epi16(0x00ff);
  const __m512i thr = _mm512_set1_epi16(static_cast<int16_t>(threshold));
  const size_t npairs2 = npairs & ~size_t{1};
  for (size_t b = 0; b < nblocks; ++b) {
    const uint8_t* blk = blocks + b * npairs * 32;
    // Four 128-bit lanes: sub-quantizers 2t, 2t+1, 2t+2, 2t+3.
    __m512i lo_e = _mm512_setzero_si512(), lo_o = _mm512_setzero_si512();
    __m512i hi_e = _mm512_setzero_si512(), hi_o = _mm512_setzero_si512();
    for (size_t t = 0; t < npairs2; t += 2) {
      const __m512i c = _mm512_loadu_si512(blk + t * 32);
      const __m512i l = _mm512_loadu_si512(lut_q + t * 32);
      const __m512i rlo = _mm512_shuffle_epi8(l, _mm512_and_si512(c, low4));
      const __m512i rhi = _mm512_shuffle_epi8(
          l, _mm512_and_si512(_mm512_srli_epi16(c, 4), low4));
      lo_e = _mm512_adds_epu16(lo_e, _mm512_and_si512(rlo, low8));
      lo_o = _mm512_adds_epu16(lo_o, _mm512_srli_epi16(rlo, 8));
      hi_e = _mm512_adds_epu16(hi_e, _mm512_and_si512(rhi, low8));
      hi_o = _mm512_adds_epu16(hi_o, _mm512_srli_epi16(rhi, 8));
    }
    // Fold to two 128-bit lanes (sub-quantizers 2t and 2t+1), as in AVX2.
    __m256i lo_e2 = _mm256_adds_epu16(_mm512_castsi512_si256(lo_e),
                                      _mm512_extracti64x4_epi64(lo_e, 1));
    __m256i lo_o2 = _mm256_adds_epu16(_mm512_castsi512_si256(lo_o),
                                      _mm512_extracti64x4_epi64(lo_o, 1));
    __m256i hi_e2 = _mm256_adds_epu16(_mm512_castsi512_si256(hi_e),
                                      _mm512_extracti64x4_epi64(hi_e, 1));
    __m256i hi_o2 = _mm256_adds_epu16(_mm512_castsi512_si256(hi_o),
                                      _mm512_extracti64x4_epi64(hi_o, 1));
    if (npairs2 < npairs) {
      const size_t t = npairs2;
      const __m256i c =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + t * 32));
      const __m256i l =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lut_q + t * 32));
      const __m256i rlo = _mm256_shuffle_epi8(l, _mm256_and_si256(c, low4y));
      const __m256i rhi = _mm256_shuffle_epi8(
          l, _mm256_and_si256(_mm256_srli_epi16(c, 4), low4y));
      lo_e2 = _mm256_adds_epu16(lo_e2, _mm256_and_si256(rlo, low8y));
      lo_o2 = _mm256_adds_epu16(lo_o2, _mm256_srli_epi16(rlo, 8));
      hi_e2 = _mm256_adds_epu16(hi_e2, _mm256_and_si256(rhi, low8y));
      hi_o2 = _mm256_adds_epu16(hi_o2, _mm256_srli_epi16(rhi, 8));
    }
    const __m128i le = _mm_adds_epu16(_mm256_castsi256_si128(lo_e2),
                                      _mm256_extracti128_si256(lo_e2, 1));
    const __m128i lo = _mm_adds_epu16(_mm256_castsi256_si128(lo_o2),
                                      _mm256_extracti128_si256(lo_o2, 1));
    const __m128i he = _mm_adds_epu16(_mm256_castsi256_si128(hi_e2),
                                      _mm256_extracti128_si256(hi_e2, 1));
    const __m128i ho = _mm_adds_epu16(_mm256_castsi256_si128(hi_o2),
                                      _mm256_extracti128_si256(hi_o2, 1));
    __m512i all = _mm512_castsi128_si512(_mm_unpacklo_epi16(le, lo));
    all = _mm512_inserti32x4(all, _mm_unpackhi_epi16(le, lo), 1);
    all = _mm512_inserti32x4(all, _mm_unpacklo_epi16(he, ho), 2);
    all = _mm512_inserti32x4(all, _mm_unpackhi_epi16(he, ho), 3);
    _mm512_storeu_si512(acc + b * 32, all);
    mask[b] = static_cast<uint32_t>(_mm512_cmple_epu16_mask(all, thr));
  }
}

// Minimum and maximum of each of 16 rows of 16 floats (rows[i] = row i) in
// one reduction tree: every step halves each row while packing two rows in
// one register. min/max are exact, so the result equals a row-by-row scan.
inline void MinMax16Rows(const float* lut, __m512* mins, __m512* maxs) {
  __m512 lo[8], hi[8];
  for (int i = 0; i < 8; ++i) {
    const __m512 a = _mm512_loadu_ps(lut + (2 * i) * 16);
    const __m512 b = _mm512_loadu_ps(lut + (2 * i + 1) * 16);
    // [a.q0 a.q1 b.q0 b.q1] vs [a.q2 a.q3 b.q2 b.q3].
    const __m512 x = _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 y = _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2));
    lo[i] = _mm512_min_ps(x, y);
    hi[i] = _mm512_max_ps(x, y);
  }
  for (int i = 0; i < 4; ++i) {  // rows 4i..4i+3, one 128-bit lane each
    const __m512 xl =
        _mm512_shuffle_f32x4(lo[2 * i], lo[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512 yl =
        _mm512_shuffle_f32x4(lo[2 * i], lo[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1));
    const __m512 xh =
        _mm512_shuffle_f32x4(hi[2 * i], hi[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512 yh =
        _mm512_shuffle_f32x4(hi[2 * i], hi[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1));
    lo[i] = _mm512_min_ps(xl, yl);
    hi[i] = _mm512_max_ps(xh, yh);
  }
  for (int i = 0; i < 2; ++i) {  // lane k: rows 8i+k and 8i+k+4, 2 each
    const __m512 xl =
        _mm512_shuffle_ps(lo[2 * i], lo[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 yl =
        _mm512_shuffle_ps(lo[2 * i], lo[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512 xh =
        _mm512_shuffle_ps(hi[2 * i], hi[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 yh =
        _mm512_shuffle_ps(hi[2 * i], hi[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2));
    lo[i] = _mm512_min_ps(xl, yl);
    hi[i] = _mm512_max_ps(xh, yh);
  }
  // Lane k, element e: row k + 4e.
  const __m512 zl =
      _mm512_min_ps(_mm512_shuffle_ps(lo[0], lo[1], _MM_SHUFFLE(2, 0, 2, 0)),
                    _mm512_shuffle_ps(lo[0], lo[1], _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512 zh =
      _mm512_max_ps(_mm512_shuffle_ps(hi[0], hi[1], _MM_SHUFFLE(2, 0, 2, 0)),
                    _mm512_shuffle_ps(hi[0], hi[1], _MM_SHUFFLE(3, 1, 3, 1)));
  // Row r sits at 4 * (r % 4) + r / 4.
  const __m512i order =
      _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  *mins = _mm512_permutexvar_ps(order, zl);
  *maxs = _mm512_permutexvar_ps(order, zh);
}

float QuantizeLut4Avx512(const float* lut, size_t m, uint8_t* lut_q,
                         float* sum_min) {
  const size_t npairs = (m + 1) / 2;
  alignas(64) float mins[256];
  float span = 0;
  size_t j = 0;
  __m512 spans = _mm512_setzero_ps();
  for (; j + 16 <= m; j += 16) {
    __m512 mn, mx;
    MinMax16Rows(lut + j * 16, &mn, &mx);
    _mm512_store_ps(mins + j, mn);
    spans = _mm512_max_ps(spans, _mm512_sub_ps(mx, mn));
  }
  span = _mm512_reduce_max_ps(spans);
  for (; j < m; ++j) {
    const __m512 a = _mm512_loadu_ps(lut + j * 16);
    const float mn = _mm512_reduce_min_ps(a);
    const float mx = _mm512_reduce_max_ps(a);
    mins[j] = mn;
    const float s = mx - mn;
    span = s > span ? s : span;
  }
  const float scale = span > 0 ? 255.0f / span : 1.0f;
  float total = 0;
  for (size_t j = 0; j < m; ++j) total += mins[j];
  *sum_min = total;
  const __m512 vscale = _mm512_set1_ps(scale);
  const __m512 half = _mm512_set1_ps(0.5f);
  const __m512i max255 = _mm512_set1_epi32(255);
  for (size_t j = 0; j < 2 * npairs; ++j) {
    uint8_t* q = lut_q + (j >> 1) * 32 + (j & 1) * 16;
    if (j >= m) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm_setzero_si128());
      continue;
    }
    const __m512 v =
        _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(lut + j * 16),
                                                  _mm512_set1_ps(mins[j])),
                                    vscale),
                      half);
    const __m512i i = _mm512_min_epi32(_mm512_cvttps_epi32(v), max255);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtepi32_epi8(i));
  }
  return scale;
}

// One term of a blocked16 lane group: (x[t] - y[t])^2 or x[t] * y[t] for
// the 16 lanes at `lanes` (row t of the block).
template <bool kL2>
inline __m512 Blocked16Term(float xt, const float* lanes, size_t t) {
  const __m512 y = _mm512_loadu_ps(lanes + t * kDistBlock);
  const __m512 xv = _mm512_set1_ps(xt);
  if constexpr (kL2) {
    const __m512 diff = _mm512_sub_ps(xv, y);
    return _mm512_mul_ps(diff, diff);
  } else {
    return _mm512_mul_ps(xv, y);
  }
}

// Partial sums s[j] (terms t = j, j + 16, ...) and s[j + 8] for four j at a
// time, eight independent chains, each summed in order of t; then the tree
// s[i] += s[i + 8], s[i] += s[i + 4], s[i] += s[i + 2], s[0] + s[1].
template <bool kL2>
void Blocked16Avx512(const float* x, const float* bt, size_t nblocks, size_t d,
                     float* out) {
  const size_t full = d / 16 * 16;
  for (size_t b = 0; b < nblocks; ++b) {
    for (size_t h = 0; h < 1; ++h) {
      const float* lanes = bt + b * d * kDistBlock + h * 16;
      __m512 u[8];
      for (size_t j0 = 0; j0 < 8; j0 += 4) {
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(),
               a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        __m512 c0 = _mm512_setzero_ps(), c1 = _mm512_setzero_ps(),
               c2 = _mm512_setzero_ps(), c3 = _mm512_setzero_ps();
        for (size_t r = 0; r < full; r += 16) {
          const size_t t = r + j0;
          a0 = _mm512_add_ps(a0, Blocked16Term<kL2>(x[t], lanes, t));
          a1 = _mm512_add_ps(a1, Blocked16Term<kL2>(x[t + 1], lanes, t + 1));
          a2 = _mm512_add_ps(a2, Blocked16Term<kL2>(x[t + 2], lanes, t + 2));
          a3 = _mm512_add_ps(a3, Blocked16Term<kL2>(x[t + 3], lanes, t + 3));
          c0 = _mm512_add_ps(c0, Blocked16Term<kL2>(x[t + 8], lanes, t + 8));
          c1 = _mm512_add_ps(c1, Blocked16Term<kL2>(x[t + 9], lanes, t + 9));
          c2 = _mm512_add_ps(c2, Blocked16Term<kL2>(x[t + 10], lanes, t + 10));
          c3 = _mm512_add_ps(c3, Blocked16Term<kL2>(x[t + 11], lanes, t + 11));
        }
        // The last, partial row of 16 terms.
        __m512* acc[8] = {&a0, &a1, &a2, &a3, &c0, &c1, &c2, &c3};
        for (size_t q = 0; q < 8; ++q) {
          const size_t t = full + j0 + (q & 3) + (q >= 4 ? 8 : 0);
          if (t < d)
            *acc[q] =
                _mm512_add_ps(*acc[q], Blocked16Term<kL2>(x[t], lanes, t));
        }
        u[j0] = _mm512_add_ps(a0, c0);
        u[j0 + 1] = _mm512_add_ps(a1, c1);
        u[j0 + 2] = _mm512_add_ps(a2, c2);
        u[j0 + 3] = _mm512_add_ps(a3, c3);
      }
      for (size_t i = 0; i < 4; ++i) u[i] = _mm512_add_ps(u[i], u[i + 4]);
      for (size_t i = 0; i < 2; ++i) u[i] = _mm512_add_ps(u[i], u[i + 2]);
      _mm512_storeu_ps(out + b * kDistBlock + h * 16,
                       _mm512_add_ps(u[0], u[1]));
    }
  }
}

void L2SqrBlocked16Avx512(const float* x, const float* bt, size_t nblocks,
                          size_t d, float* out) {
  Blocked16Avx512<true>(x, bt, nblocks, d, out);
}

void IpBlocked16Avx512(const float* x, const float* bt, size_t nblocks,
                       size_t d, float* out) {
  Blocked16Avx512<false>(x, bt, nblocks, d, out);
}

}  // namespace

// The argmin / top-m scans are AVX2's (every AVX-512 CPU has AVX2; their
// results are exact, so the level does not change them).
// HalfToFloatRef's steps, 16 lanes at a time.
void HalfToFloatAvx512(const uint16_t* h, size_t n, float scale, float* out) {
  const __m512i em_mask = _mm512_set1_epi32(0x7fff);
  const __m512i sign_mask = _mm512_set1_epi32(0x8000);
  const __m512 magic = _mm512_set1_ps(0x1p112f);
  const __m512 s = _mm512_set1_ps(scale);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i v = _mm512_cvtepu16_epi32(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(h + i)));
    const __m512i em = _mm512_slli_epi32(_mm512_and_si512(v, em_mask), 13);
    const __m512i sign = _mm512_slli_epi32(_mm512_and_si512(v, sign_mask), 16);
    const __m512 f = _mm512_mul_ps(_mm512_castsi512_ps(em), magic);
    const __m512 signed_f =
        _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(f), sign));
    _mm512_storeu_ps(out + i, _mm512_mul_ps(signed_f, s));
  }
  ScalarKernels().half_to_float(h + i, n - i, scale, out + i);
}

// U8ToFloatRef's fused multiply-add, 16 lanes at a time.
void U8ToFloatAvx512(const uint8_t* c, size_t n, float offset, float step,
                     float* out) {
  const __m512 o = _mm512_set1_ps(offset);
  const __m512 s = _mm512_set1_ps(step);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i v = _mm512_cvtepu8_epi32(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i)));
    _mm512_storeu_ps(out + i, _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), s, o));
  }
  ScalarKernels().u8_to_float(c + i, n - i, offset, step, out + i);
}

const KernelTable& Avx512Kernels() {
  static const KernelTable table = {
      .level = SimdLevel::kAvx512,
      .l2sqr = L2SqrAvx512,
      .inner_product = InnerProductAvx512,
      .l2sqr_many = L2SqrManyAvx512,
      .l2sqr_blocked16 = L2SqrBlocked16Avx512,
      .ip_blocked16 = IpBlocked16Avx512,
      .argmin_biased = avx2::ArgMinBiased,
      .argmin2_biased = avx2::ArgMin2Biased,
      .group_mins = avx2::GroupMins,
      .collect_at_most = avx2::CollectAtMost,
      .codebook_ip = CodebookIpAvx512,
      .codebook_l2 = CodebookL2Avx512,
      .codebook_l2_argmin = CodebookL2ArgMinAvx512,
      .axpy = AxpyAvx512,
      .half_to_float = HalfToFloatAvx512,
      .u8_to_float = U8ToFloatAvx512,
      .adc_scan8 = AdcScan8Avx512,
      .fast_scan4 = FastScan4Avx512,
      .quantize_lut4 = QuantizeLut4Avx512,
  };
  return table;
}

}  // namespace quiver::index::kernels
