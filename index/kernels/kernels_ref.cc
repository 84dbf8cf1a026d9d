// Scalar reference kernels: the oracle every SIMD level is tested against.
// Written for clarity in the exact summation order documented in kernels.h.
// g++ contracts a * b + c into FMA by default (-ffp-contract=fast), which
// would make levels round differently: keep products and sums separate.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#else
#pragma GCC optimize("fp-contract=off")
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "index/kernels/kernels.h"

namespace quiver::index::kernels {
namespace {

// Reduces 16 partial sums in the documented tree order.
inline float Reduce16(float* s) {
  for (int i = 0; i < 8; ++i) s[i] += s[i + 8];
  for (int i = 0; i < 4; ++i) s[i] += s[i + 4];
  for (int i = 0; i < 2; ++i) s[i] += s[i + 2];
  return s[0] + s[1];
}

float L2SqrRef(const float* a, const float* b, size_t d) {
  float s[16] = {};
  for (size_t i = 0; i < d; ++i) {
    const float diff = a[i] - b[i];
    const float sq = diff * diff;
    s[i % 16] += sq;
  }
  return Reduce16(s);
}

float InnerProductRef(const float* a, const float* b, size_t d) {
  float s[16] = {};
  for (size_t i = 0; i < d; ++i) {
    const float p = a[i] * b[i];
    s[i % 16] += p;
  }
  return Reduce16(s);
}

void CodebookIpRef(const float* q, const float* cb_t, size_t m, size_t dsub,
                   size_t ksub, float* out) {
  for (size_t j = 0; j < m; ++j) {
    float* o = out + j * ksub;
    const float* qj = q + j * dsub;
    const float* cj = cb_t + j * dsub * ksub;
    for (size_t c = 0; c < ksub; ++c) {
      float acc = qj[0] * cj[c];
      for (size_t t = 1; t < dsub; ++t) {
        const float p = qj[t] * cj[t * ksub + c];
        acc += p;
      }
      o[c] = acc;
    }
  }
}

void CodebookL2Ref(const float* q, const float* cb_t, size_t m, size_t dsub,
                   size_t ksub, float* out) {
  for (size_t j = 0; j < m; ++j) {
    float* o = out + j * ksub;
    const float* qj = q + j * dsub;
    const float* cj = cb_t + j * dsub * ksub;
    for (size_t c = 0; c < ksub; ++c) {
      float diff = qj[0] - cj[c];
      float acc = diff * diff;
      for (size_t t = 1; t < dsub; ++t) {
        diff = qj[t] - cj[t * ksub + c];
        const float sq = diff * diff;
        acc += sq;
      }
      o[c] = acc;
    }
  }
}

// The 16 partial sums of one lane of a block-transposed block, in order.
void L2SqrBlocked16Ref(const float* x, const float* bt, size_t nblocks,
                       size_t d, float* out) {
  for (size_t b = 0; b < nblocks; ++b) {
    const float* blk = bt + b * d * kDistBlock;
    for (size_t i = 0; i < kDistBlock; ++i) {
      float s[16] = {};
      for (size_t t = 0; t < d; ++t) {
        const float diff = x[t] - blk[t * kDistBlock + i];
        const float sq = diff * diff;
        s[t % 16] += sq;
      }
      out[b * kDistBlock + i] = Reduce16(s);
    }
  }
}

void IpBlocked16Ref(const float* x, const float* bt, size_t nblocks, size_t d,
                    float* out) {
  for (size_t b = 0; b < nblocks; ++b) {
    const float* blk = bt + b * d * kDistBlock;
    for (size_t i = 0; i < kDistBlock; ++i) {
      float s[16] = {};
      for (size_t t = 0; t < d; ++t) {
        const float p = x[t] * blk[t * kDistBlock + i];
        s[t % 16] += p;
      }
      out[b * kDistBlock + i] = Reduce16(s);
    }
  }
}

void L2SqrManyRef(const float* x, const float* q, size_t nq, size_t d,
                  float* out) {
  for (size_t c = 0; c < nq; ++c) out[c] = L2SqrRef(x, q + c * d, d);
}

size_t ArgMinBiasedRef(const float* v, const float* bias, size_t n,
                       float* min_value) {
  size_t best = 0;
  float best_value = std::numeric_limits<float>::infinity();
  for (size_t j = 0; j < n; ++j) {
    const float x = v[j] + bias[j];
    if (x < best_value) {
      best_value = x;
      best = j;
    }
  }
  *min_value = best_value;
  return best;
}

size_t ArgMin2BiasedRef(const float* v, const float* bias, size_t n,
                        float* min_value, float* second_value) {
  size_t best = 0;
  float best_value = std::numeric_limits<float>::infinity();
  float second = best_value;
  for (size_t j = 0; j < n; ++j) {
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

void GroupMinsRef(const float* v, const float* bias, size_t ngroups, size_t gs,
                  float* gmin) {
  for (size_t g = 0; g < ngroups; ++g) {
    float mn = v[g] + bias[g];
    for (size_t t = 1; t < gs; ++t) {
      const float x = v[t * ngroups + g] + bias[t * ngroups + g];
      mn = x < mn ? x : mn;
    }
    gmin[g] = mn;
  }
}

size_t CollectAtMostRef(const float* v, const float* bias, size_t n,
                        float bound, uint32_t label0, size_t cap, float* vals,
                        uint32_t* labels, size_t* count) {
  size_t c = *count;
  size_t j = 0;
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

void CodebookL2ArgMinRef(const float* q, const float* cb_t, size_t m,
                         size_t dsub, size_t ksub, uint8_t* best) {
  for (size_t j = 0; j < m; ++j) {
    const float* qj = q + j * dsub;
    const float* cj = cb_t + j * dsub * ksub;
    size_t best_c = 0;
    float best_value = std::numeric_limits<float>::infinity();
    for (size_t c = 0; c < ksub; ++c) {
      // The same operations as CodebookL2Ref.
      float diff = qj[0] - cj[c];
      float acc = diff * diff;
      for (size_t t = 1; t < dsub; ++t) {
        diff = qj[t] - cj[t * ksub + c];
        const float sq = diff * diff;
        acc += sq;
      }
      if (acc < best_value) {
        best_value = acc;
        best_c = c;
      }
    }
    best[j] = static_cast<uint8_t>(best_c);
  }
}

void AxpyRef(const float* a, float scale, const float* b, size_t n,
             float* out) {
  for (size_t i = 0; i < n; ++i) {
    const float p = scale * b[i];
    out[i] = a[i] + p;
  }
}

void AdcScan8Ref(const float* lut, const uint8_t* codes, size_t n, size_t m,
                 float bias, float* out) {
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* c = codes + i * m;
    float acc = bias;
    for (size_t j = 0; j < m; ++j) acc += lut[j * 256 + c[j]];
    out[i] = acc;
  }
}

}  // namespace

void AdcScan8Interleaved(const float* lut, const uint8_t* codes, size_t n,
                         size_t m, float bias, float* out) {
  size_t i = 0;
  // Eight independent sums keep the adds and the loads busy; each sum is
  // still accumulated in sub-quantizer order (equal to AdcScan8Ref).
  for (; i + 8 <= n; i += 8) {
    const uint8_t* c = codes + i * m;
    float a0 = bias, a1 = bias, a2 = bias, a3 = bias;
    float a4 = bias, a5 = bias, a6 = bias, a7 = bias;
    for (size_t j = 0; j < m; ++j) {
      const float* l = lut + j * 256;
      a0 += l[c[j]];
      a1 += l[c[m + j]];
      a2 += l[c[2 * m + j]];
      a3 += l[c[3 * m + j]];
      a4 += l[c[4 * m + j]];
      a5 += l[c[5 * m + j]];
      a6 += l[c[6 * m + j]];
      a7 += l[c[7 * m + j]];
    }
    out[i] = a0;
    out[i + 1] = a1;
    out[i + 2] = a2;
    out[i + 3] = a3;
    out[i + 4] = a4;
    out[i + 5] = a5;
    out[i + 6] = a6;
    out[i + 7] = a7;
  }
  for (; i < n; ++i) {
    const uint8_t* c = codes + i * m;
    float acc = bias;
    for (size_t j = 0; j < m; ++j) acc += lut[j * 256 + c[j]];
    out[i] = acc;
  }
}

namespace {

void FastScan4Ref(const uint8_t* blocks, size_t nblocks, size_t npairs,
                  const uint8_t* lut_q, uint16_t threshold, uint16_t* acc,
                  uint32_t* mask) {
  for (size_t b = 0; b < nblocks; ++b) {
    const uint8_t* blk = blocks + b * npairs * 32;
    uint32_t bits = 0;
    for (size_t v = 0; v < 32; ++v) {
      const size_t byte = v & 15;
      const int shift = v < 16 ? 0 : 4;
      uint32_t sum = 0;
      for (size_t t = 0; t < npairs; ++t) {
        const uint8_t* p = blk + t * 32;
        const uint8_t* l = lut_q + t * 32;
        sum += l[(p[byte] >> shift) & 15];
        sum += l[16 + ((p[16 + byte] >> shift) & 15)];
      }
      const uint16_t a = sum > 65535 ? 65535 : static_cast<uint16_t>(sum);
      acc[b * 32 + v] = a;
      if (a <= threshold) bits |= 1u << v;
    }
    mask[b] = bits;
  }
}

float QuantizeLut4Ref(const float* lut, size_t m, uint8_t* lut_q,
                      float* sum_min) {
  const size_t npairs = (m + 1) / 2;
  float mins[256];
  float span = 0;
  for (size_t j = 0; j < m; ++j) {
    const float* l = lut + j * 16;
    float mn = l[0], mx = l[0];
    for (size_t c = 1; c < 16; ++c) {
      mn = l[c] < mn ? l[c] : mn;
      mx = l[c] > mx ? l[c] : mx;
    }
    mins[j] = mn;
    const float s = mx - mn;
    span = s > span ? s : span;
  }
  const float scale = span > 0 ? 255.0f / span : 1.0f;
  float total = 0;
  for (size_t j = 0; j < m; ++j) total += mins[j];
  *sum_min = total;
  for (size_t j = 0; j < 2 * npairs; ++j) {
    uint8_t* q = lut_q + (j >> 1) * 32 + (j & 1) * 16;
    if (j >= m) {
      for (size_t c = 0; c < 16; ++c) q[c] = 0;
      continue;
    }
    const float* l = lut + j * 16;
    for (size_t c = 0; c < 16; ++c) {
      const float d = l[c] - mins[j];
      const float p = d * scale;
      const float v = p + 0.5f;
      const int32_t i = static_cast<int32_t>(v);
      q[c] = static_cast<uint8_t>(i > 255 ? 255 : i);
    }
  }
  return scale;
}

}  // namespace

void TransposeBlocks16(const float* y, size_t n, size_t d, float* bt) {
  const size_t nblocks = (n + kDistBlock - 1) / kDistBlock;
  for (size_t b = 0; b < nblocks; ++b) {
    float* blk = bt + b * d * kDistBlock;
    for (size_t i = 0; i < kDistBlock; ++i) {
      const size_t row = b * kDistBlock + i;
      for (size_t t = 0; t < d; ++t) {
        blk[t * kDistBlock + i] = row < n ? y[row * d + t] : 0.0f;
      }
    }
  }
}

void HalfToFloatRef(const uint16_t* h, size_t n, float scale, float* out) {
  for (size_t i = 0; i < n; ++i) {
    const uint32_t em = (uint32_t{h[i]} & 0x7fffu) << 13;
    float f;
    std::memcpy(&f, &em, sizeof(f));
    f *= 0x1p112f;
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof(bits));
    bits |= (uint32_t{h[i]} & 0x8000u) << 16;
    std::memcpy(&f, &bits, sizeof(f));
    out[i] = f * scale;
  }
}

void U8ToFloatRef(const uint8_t* c, size_t n, float offset, float step,
                  float* out) {
  for (size_t i = 0; i < n; ++i) {
    out[i] = std::fma(static_cast<float>(c[i]), step, offset);
  }
}

const KernelTable& ScalarKernels() {
  static const KernelTable table = {
      .level = SimdLevel::kScalar,
      .l2sqr = L2SqrRef,
      .inner_product = InnerProductRef,
      .l2sqr_many = L2SqrManyRef,
      .l2sqr_blocked16 = L2SqrBlocked16Ref,
      .ip_blocked16 = IpBlocked16Ref,
      .argmin_biased = ArgMinBiasedRef,
      .argmin2_biased = ArgMin2BiasedRef,
      .group_mins = GroupMinsRef,
      .collect_at_most = CollectAtMostRef,
      .codebook_ip = CodebookIpRef,
      .codebook_l2 = CodebookL2Ref,
      .codebook_l2_argmin = CodebookL2ArgMinRef,
      .axpy = AxpyRef,
      .half_to_float = HalfToFloatRef,
      .u8_to_float = U8ToFloatRef,
      .adc_scan8 = AdcScan8Ref,
      .fast_scan4 = FastScan4Ref,
      .quantize_lut4 = QuantizeLut4Ref,
  };
  return table;
}

}  // namespace quiver::index::kernels
