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

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "index/kernels/kernels.h"

namespace quiver::index::kernels {
namespace {

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

}  // namespace

const KernelTable& Avx2Kernels() {
  static const KernelTable table = {
      SimdLevel::kAvx2, L2SqrAvx2,      InnerProductAvx2,
      CodebookIpAvx2,   CodebookL2Avx2, AxpyAvx2,
      AdcScan8Avx2,     FastScan4Avx2,  QuantizeLut4Avx2,
  };
  return table;
}

}  // namespace quiver::index::kernels
