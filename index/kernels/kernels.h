// Quiver's SIMD kernels: every distance and scan of index/ (vector
// distances, the argmin / top-m scans of k-means, the flat index and the
// coarse quantizer, PQ encoding, ADC look-up tables, the 8-bit ADC scan and
// the 4-bit fast-scan), in one function-pointer table per instruction set
// (scalar reference, AVX2, AVX-512), chosen once at start-up. This is the
// only SIMD dispatch in index/: QUIVER_SIMD=scalar makes k-means, the flat
// index, PQ encoding and the scans all run the scalar reference.
//
//   const KernelTable& k = Kernels();
//   k.adc_scan8(lut, codes, n, m, bias, out);
//
// Every SIMD kernel returns bit-for-bit what the scalar reference returns:
// float sums follow one fixed order in every level (see each kernel), no
// kernel uses fused multiply-add, and the 4-bit kernels work on integers.
// tests/index/kernels_test.cc checks this on every level the CPU supports.
//
// Thread safety: kernels are pure functions (no state, no allocation, no
// locks). Pointers need no alignment unless stated.
#ifndef QUIVER_INDEX_KERNELS_KERNELS_H_
#define QUIVER_INDEX_KERNELS_KERNELS_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace quiver::index::kernels {

enum class SimdLevel { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

std::string_view SimdLevelToString(SimdLevel level);

// Fast-scan block geometry: codes of 32 vectors are interleaved in blocks.
// For each pair of sub-quantizers (2t, 2t+1) a block holds 32 bytes: byte
// i < 16 has the code of sub-quantizer 2t of vector i in its low nibble and
// that of vector i + 16 in its high nibble; byte 16 + i the same for
// sub-quantizer 2t + 1. A block is npairs * 32 bytes (npairs = ceil(m / 2);
// an odd m is padded with a sub-quantizer whose codes and LUT are zero).
inline constexpr size_t kFastScanBlock = 32;

// Block-transposed layout of n vectors of d floats for the *_blocked16
// kernels: blocks of 16 vectors; block b holds, for t < d, the 16 floats
// y_{16b+i}[t] at bt[(b*d + t)*16 + i] (i < 16). The last block is padded
// with zero vectors. Blocked16Floats(n, d) floats in all.
inline constexpr size_t kDistBlock = 16;
inline size_t Blocked16Floats(size_t n, size_t d) {
  return (n + kDistBlock - 1) / kDistBlock * kDistBlock * d;
}
// Writes y (n x d, row-major) into bt (Blocked16Floats(n, d) floats).
void TransposeBlocks16(const float* y, size_t n, size_t d, float* bt);

struct KernelTable {
  SimdLevel level;

  // Squared L2 distance and inner product of two d-float vectors.
  // Summation order: 16 partial sums (element i goes to sum i % 16, in
  // order), then reduced as s[i] += s[i + 8], s[i] += s[i + 4],
  // s[i] += s[i + 2], s[0] + s[1].
  float (*l2sqr)(const float* a, const float* b, size_t d);
  float (*inner_product)(const float* a, const float* b, size_t d);

  // out[c] = l2sqr(x, q + c * d, d) for c < nq, bit for bit (x is read
  // once for several q's). Tuned for nq of 2..20 (k-means++ candidates).
  void (*l2sqr_many)(const float* x, const float* q, size_t nq, size_t d,
                     float* out);

  // Distances from x to 16 vectors at a time, stored block-transposed
  // (layout above): for b < nblocks and i < 16,
  //   l2sqr_blocked16: out[16b + i] = l2sqr(x, y_{16b+i}, d)
  //   ip_blocked16:    out[16b + i] = inner_product(x, y_{16b+i}, d)
  // bit for bit: each lane keeps the same 16 partial sums (element t to sum
  // t % 16) and reduces them in the same tree. No horizontal reduction and
  // no call per vector: the single-query coarse search over thousands of
  // centroids. out: nblocks * 16 floats (padding lanes included).
  void (*l2sqr_blocked16)(const float* x, const float* bt, size_t nblocks,
                          size_t d, float* out);
  void (*ip_blocked16)(const float* x, const float* bt, size_t nblocks,
                       size_t d, float* out);

  // Index of the smallest of v[0] + bias[0], ..., v[n-1] + bias[n-1] (the
  // first one on ties) and that value in *min_value. REQUIRES: n >= 1.
  // Tuned for rows of 16..4096 (one row of a GEMM block).
  size_t (*argmin_biased)(const float* v, const float* bias, size_t n,
                          float* min_value);
  // The same, plus the second smallest value (counting a repeated minimum
  // twice; +inf when n == 1) in *second_value.
  size_t (*argmin2_biased)(const float* v, const float* bias, size_t n,
                           float* min_value, float* second_value);
  // gmin[g] = min over t < gs of v[t * ngroups + g] + bias[t * ngroups + g]
  // for g < ngroups (strided groups; a bound for the top-m selection).
  void (*group_mins)(const float* v, const float* bias, size_t ngroups,
                     size_t gs, float* gmin);
  // Appends (v[j] + bias[j], label0 + j) for every j < n whose value is <=
  // bound, in order of j, to (vals, labels) at index *count (updated),
  // stopping once *count reaches cap: returns the j it stopped at (n when
  // done); entries before it are all collected, none after.
  size_t (*collect_at_most)(const float* v, const float* bias, size_t n,
                            float bound, uint32_t label0, size_t cap,
                            float* vals, uint32_t* labels, size_t* count);

  // ADC tables against a transposed codebook cb_t (m x dsub x ksub floats:
  // for sub-quantizer j, dimension t, centroid c at cb_t[(j*dsub + t)*ksub +
  // c]) for a query q (m * dsub floats). out: m x ksub floats.
  //   ip:  out[j*ksub + c] = sum_t q[j*dsub + t] * cb_t[j][t][c]
  //   l2:  out[j*ksub + c] = sum_t (q[j*dsub + t] - cb_t[j][t][c])^2
  // summed in order of t. ksub must be a multiple of 16.
  void (*codebook_ip)(const float* q, const float* cb_t, size_t m, size_t dsub,
                      size_t ksub, float* out);
  void (*codebook_l2)(const float* q, const float* cb_t, size_t m, size_t dsub,
                      size_t ksub, float* out);

  // PQ encoding of one vector: best[j] = the c < ksub minimising
  // codebook_l2's out[j*ksub + c] (same values bit for bit; the first c on
  // ties), for j < m. ksub must be a multiple of 16 and <= 256. Tuned for
  // ksub 256 with dsub 2..8 and ksub 16.
  void (*codebook_l2_argmin)(const float* q, const float* cb_t, size_t m,
                             size_t dsub, size_t ksub, uint8_t* best);

  // out[i] = a[i] + scale * b[i] for i < n (a product, then a sum).
  void (*axpy)(const float* a, float scale, const float* b, size_t n,
               float* out);

  // out[i] = Half(h[i]) * scale for i < n: h[i] is an IEEE 754 binary16
  // bit pattern, converted exactly (every half is a float) by placing its
  // exponent and mantissa bits in a float and multiplying by 2^112, then
  // one product with scale. An infinity or NaN pattern comes out as a
  // finite value (the flat index never stores one). No F16C instructions.
  void (*half_to_float)(const uint16_t* h, size_t n, float scale, float* out);

  // out[i] = fma(c[i], step, offset) for i < n: an 8-bit code decoded with
  // one fused multiply-add (rounded once, so every level agrees bit for
  // bit; the scalar path calls std::fma).
  void (*u8_to_float)(const uint8_t* c, size_t n, float offset, float step,
                      float* out);

  // 8-bit ADC scan: for each of n codes (row-major, m bytes each),
  //   out[i] = bias + lut[0*256 + code[i][0]] + ... + lut[(m-1)*256 + ...]
  // summed left to right. lut: m x 256 floats. Tuned for m a multiple of 4
  // and n in the hundreds (one inverted list chunk, LUT in L1).
  void (*adc_scan8)(const float* lut, const uint8_t* codes, size_t n, size_t m,
                    float bias, float* out);

  // 4-bit fast-scan over nblocks blocks of 32 codes (layout above):
  //   acc[b*32 + v] = sum_j lut_q[j][code_j(v)]   (uint16; no overflow for
  //   npairs <= 128), and bit v of mask[b] = acc[b*32 + v] <= threshold.
  // lut_q: npairs x 32 bytes: for pair t, lut of sub-quantizer 2t (16
  // entries) then of 2t + 1. Tuned for npairs 4..64.
  void (*fast_scan4)(const uint8_t* blocks, size_t nblocks, size_t npairs,
                     const uint8_t* lut_q, uint16_t threshold, uint16_t* acc,
                     uint32_t* mask);

  // Quantises a 4-bit float LUT (m x 16) for fast_scan4: with mn_j the
  // minimum of row j and scale = 255 / max_j (max of row j - mn_j) (1 if
  // that span is 0), lut_q[j] = min(255, (int)((lut[j][c] - mn_j) * scale +
  // 0.5f)) in the pair layout above (rows >= m are zero). Returns scale;
  // *sum_min = mn_0 + mn_1 + ... (in order). m <= 256.
  float (*quantize_lut4)(const float* lut, size_t m, uint8_t* lut_q,
                         float* sum_min);
};

// The 8-bit ADC scan with plain loads, 8 codes interleaved (baseline ISA).
// Equal to ScalarKernels().adc_scan8 bit for bit. On CPUs with slow
// gathers (e.g. AMD Zen 4: ~11 cycles per 8-lane gather) it beats the
// gather kernels by ~2x; Kernels() picks whichever of the two is faster on
// this CPU, measured once at start-up (the results are identical).
void AdcScan8Interleaved(const float* lut, const uint8_t* codes, size_t n,
                         size_t m, float bias, float* out);

// The table of the best level this CPU supports, or the level forced by the
// environment variable QUIVER_SIMD=scalar|avx2|avx512 ("ref" = scalar;
// capped at what the CPU has). Chosen on first use; never changes
// afterwards. Every SIMD call in index/ goes through this table. Its
// adc_scan8 is the level's kernel or AdcScan8Interleaved, whichever runs
// faster here.
const KernelTable& Kernels();

// The table of one level, or nullptr if the CPU lacks it (for tests and
// benchmarks).
const KernelTable* KernelsFor(SimdLevel level);

// Per-level tables (defined in kernels_ref.cc, kernels_avx2.cc,
// kernels_avx512.cc). Calling a SIMD table's kernels on a CPU without that
// instruction set is undefined: go through KernelsFor().
const KernelTable& ScalarKernels();
const KernelTable& Avx2Kernels();
const KernelTable& Avx512Kernels();

}  // namespace quiver::index::kernels

#endif  // QUIVER_INDEX_KERNELS_KERNELS_H_
