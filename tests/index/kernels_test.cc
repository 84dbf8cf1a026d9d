// Every SIMD kernel level the CPU supports returns exactly (bit for bit)
// what the scalar reference returns: odd sizes, unaligned pointers, list
// lengths that are not a multiple of the SIMD width or of 32.
#include "index/kernels/kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "index/ivf/inverted_lists.h"
#include "index/simd.h"

namespace quiver::index::kernels {
namespace {

std::vector<const KernelTable*> SimdTables() {
  std::vector<const KernelTable*> out;
  for (SimdLevel level : {SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (const KernelTable* t = KernelsFor(level)) out.push_back(t);
  }
  return out;
}

// The scalar table too, so that the level-independent variants are checked
// on CPUs without AVX2.
std::vector<const KernelTable*> AllTables() {
  std::vector<const KernelTable*> out = {&ScalarKernels()};
  for (const KernelTable* t : SimdTables()) out.push_back(t);
  return out;
}

std::string Name(const KernelTable* t) {
  return std::string(SimdLevelToString(t->level));
}

// Floats at an odd offset into a larger buffer (unaligned on purpose).
class Floats {
 public:
  Floats(size_t n, std::mt19937* rng, float lo = -2, float hi = 2)
      : buf_(n + 3) {
    std::uniform_real_distribution<float> u(lo, hi);
    for (float& v : buf_) v = u(*rng);
  }
  float* data() { return buf_.data() + 1; }

 private:
  std::vector<float> buf_;
};

TEST(KernelsTest, DispatchIsConsistent) {
  const std::string_view name = SimdLevelName();
  EXPECT_TRUE(name == "scalar" || name == "avx2" || name == "avx512") << name;
  EXPECT_EQ(SimdLevelToString(Kernels().level), name);
  EXPECT_NE(KernelsFor(SimdLevel::kScalar), nullptr);
  EXPECT_EQ(KernelsFor(Kernels().level)->level, Kernels().level);
  if (SimdTables().empty()) {
    GTEST_LOG_(INFO) << "CPU has no AVX2: only the scalar kernels run";
  }
}

TEST(KernelsTest, DistancesMatchScalar) {
  std::mt19937 rng(1);
  const KernelTable& ref = ScalarKernels();
  for (const KernelTable* t : SimdTables()) {
    for (size_t d : {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 128, 1000}) {
      for (int rep = 0; rep < 5; ++rep) {
        Floats a(d, &rng), b(d, &rng);
        EXPECT_EQ(t->l2sqr(a.data(), b.data(), d),
                  ref.l2sqr(a.data(), b.data(), d))
            << Name(t) << " d=" << d;
        EXPECT_EQ(t->inner_product(a.data(), b.data(), d),
                  ref.inner_product(a.data(), b.data(), d))
            << Name(t) << " d=" << d;
      }
    }
  }
}

TEST(KernelsTest, ScalarDistancesAreCorrect) {
  std::mt19937 rng(2);
  const KernelTable& ref = ScalarKernels();
  Floats a(37, &rng), b(37, &rng);
  double l2 = 0, ip = 0;
  for (size_t i = 0; i < 37; ++i) {
    l2 += (a.data()[i] - b.data()[i]) * (a.data()[i] - b.data()[i]);
    ip += a.data()[i] * b.data()[i];
  }
  EXPECT_NEAR(ref.l2sqr(a.data(), b.data(), 37), l2, 1e-4);
  EXPECT_NEAR(ref.inner_product(a.data(), b.data(), 37), ip, 1e-4);
}

TEST(KernelsTest, CodebookTablesAndAxpyMatchScalar) {
  std::mt19937 rng(3);
  const KernelTable& ref = ScalarKernels();
  for (const KernelTable* t : SimdTables()) {
    for (size_t ksub : {16, 256}) {
      for (size_t m : {1, 3, 16}) {
        for (size_t dsub : {1, 2, 3, 8, 12}) {
          Floats q(m * dsub, &rng), cb(m * dsub * ksub, &rng);
          std::vector<float> a(m * ksub), b(m * ksub);
          ref.codebook_ip(q.data(), cb.data(), m, dsub, ksub, a.data());
          t->codebook_ip(q.data(), cb.data(), m, dsub, ksub, b.data());
          EXPECT_EQ(a, b) << Name(t) << " ip m=" << m << " dsub=" << dsub;
          ref.codebook_l2(q.data(), cb.data(), m, dsub, ksub, a.data());
          t->codebook_l2(q.data(), cb.data(), m, dsub, ksub, b.data());
          EXPECT_EQ(a, b) << Name(t) << " l2 m=" << m << " dsub=" << dsub;
        }
      }
    }
    for (size_t n : {1, 5, 8, 16, 17, 255, 4096}) {
      Floats x(n, &rng), y(n, &rng);
      std::vector<float> a(n), b(n);
      ref.axpy(x.data(), -2.0f, y.data(), n, a.data());
      t->axpy(x.data(), -2.0f, y.data(), n, b.data());
      EXPECT_EQ(a, b) << Name(t) << " axpy n=" << n;
    }
  }
}

TEST(KernelsTest, AdcScan8MatchesScalar) {
  std::mt19937 rng(4);
  const KernelTable& ref = ScalarKernels();
  for (const KernelTable* t : AllTables()) {
    for (size_t m : {1, 2, 3, 4, 5, 7, 8, 16, 17, 32, 64}) {
      Floats lut(m * 256, &rng, 0, 100);
      for (size_t n : {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 256}) {
        // Unaligned codes, exactly n * m bytes long (ASan catches overreads).
        std::vector<uint8_t> storage(n * m + 1);
        for (uint8_t& c : storage) c = static_cast<uint8_t>(rng());
        std::vector<uint8_t> codes(storage.begin() + 1, storage.end());
        std::vector<float> a(n + 1, -1), b(n + 1, -1);
        ref.adc_scan8(lut.data(), codes.data(), n, m, 1.5f, a.data());
        t->adc_scan8(lut.data(), codes.data(), n, m, 1.5f, b.data());
        EXPECT_EQ(a, b) << Name(t) << " m=" << m << " n=" << n;
        std::fill(b.begin(), b.end(), -1.0f);
        AdcScan8Interleaved(lut.data(), codes.data(), n, m, 1.5f, b.data());
        EXPECT_EQ(a, b) << "interleaved m=" << m << " n=" << n;
        std::fill(b.begin(), b.end(), -1.0f);
        Kernels().adc_scan8(lut.data(), codes.data(), n, m, 1.5f, b.data());
        EXPECT_EQ(a, b) << "dispatched m=" << m << " n=" << n;
      }
    }
  }
}

TEST(KernelsTest, AdcScan8ScalarIsCorrect) {
  const size_t m = 3;
  std::vector<float> lut(m * 256);
  for (size_t i = 0; i < lut.size(); ++i) lut[i] = static_cast<float>(i % 97);
  const uint8_t codes[6] = {1, 2, 3, 250, 0, 7};
  float out[2];
  ScalarKernels().adc_scan8(lut.data(), codes, 2, m, 10.0f, out);
  EXPECT_EQ(out[0], 10 + lut[1] + lut[256 + 2] + lut[512 + 3]);
  EXPECT_EQ(out[1], 10 + lut[250] + lut[256 + 0] + lut[512 + 7]);
}

// Packs random 4-bit codes of n vectors into fast-scan blocks.
std::vector<uint8_t> RandomBlocks(size_t n, size_t m, std::mt19937* rng,
                                  std::vector<uint8_t>* packed) {
  const size_t npairs = (m + 1) / 2;
  packed->assign(n * npairs, 0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < m; ++j) {
      (*packed)[i * npairs + j / 2] |=
          static_cast<uint8_t>(((*rng)() & 15) << ((j & 1) * 4));
    }
  }
  const size_t nblocks = (n + 31) / 32;
  std::vector<uint8_t> blocks(nblocks * 32 * npairs + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    ivf::InvertedLists::PutBlockCode(packed->data() + i * npairs, npairs,
                                     blocks.data() + 1 + (i / 32) * 32 * npairs,
                                     i % 32);
  }
  return blocks;  // data starts at offset 1 (unaligned)
}

TEST(KernelsTest, FastScan4MatchesScalarAndDefinition) {
  std::mt19937 rng(5);
  const KernelTable& ref = ScalarKernels();
  for (size_t m : {1, 2, 3, 4, 7, 8, 16, 31, 32, 64, 256}) {
    const size_t npairs = (m + 1) / 2;
    std::vector<uint8_t> lut_q(npairs * 32 + 1, 0);
    for (size_t j = 0; j < m; ++j) {
      for (size_t c = 0; c < 16; ++c) {
        lut_q[1 + (j / 2) * 32 + (j & 1) * 16 + c] =
            static_cast<uint8_t>(rng());
      }
    }
    for (size_t n : {1, 31, 32, 33, 64, 100}) {
      std::vector<uint8_t> packed;
      const std::vector<uint8_t> blocks = RandomBlocks(n, m, &rng, &packed);
      const size_t nblocks = (n + 31) / 32;
      for (uint16_t thr :
           {uint16_t{0},
            static_cast<uint16_t>(std::min<size_t>(100 * m, 65535)),
            uint16_t{65535}}) {
        std::vector<uint16_t> acc_ref(nblocks * 32);
        std::vector<uint32_t> mask_ref(nblocks);
        ref.fast_scan4(blocks.data() + 1, nblocks, npairs, lut_q.data() + 1,
                       thr, acc_ref.data(), mask_ref.data());
        // The reference against the definition.
        for (size_t i = 0; i < n; ++i) {
          uint32_t sum = 0;
          for (size_t j = 0; j < m; ++j) {
            const uint32_t c =
                (packed[i * npairs + j / 2] >> ((j & 1) * 4)) & 15;
            sum += lut_q[1 + (j / 2) * 32 + (j & 1) * 16 + c];
          }
          ASSERT_EQ(acc_ref[i], sum) << "m=" << m << " i=" << i;
          ASSERT_EQ((mask_ref[i / 32] >> (i % 32)) & 1, sum <= thr ? 1u : 0u);
        }
        for (const KernelTable* t : SimdTables()) {
          std::vector<uint16_t> acc(nblocks * 32);
          std::vector<uint32_t> mask(nblocks);
          t->fast_scan4(blocks.data() + 1, nblocks, npairs, lut_q.data() + 1,
                        thr, acc.data(), mask.data());
          EXPECT_EQ(acc, acc_ref) << Name(t) << " m=" << m << " n=" << n;
          EXPECT_EQ(mask, mask_ref) << Name(t) << " m=" << m << " n=" << n;
        }
      }
    }
  }
}

TEST(KernelsTest, QuantizeLut4MatchesScalarAndDefinition) {
  std::mt19937 rng(7);
  const KernelTable& ref = ScalarKernels();
  for (size_t m : {1, 2, 3, 8, 31, 32, 64, 256}) {
    const size_t npairs = (m + 1) / 2;
    for (int rep = 0; rep < 3; ++rep) {
      Floats lut(m * 16, &rng, -50, 300);
      if (rep == 2) {
        for (size_t i = 0; i < m * 16; ++i) lut.data()[i] = 7.0f;  // zero span
      }
      std::vector<uint8_t> qa(npairs * 32, 0xAB), qb(npairs * 32, 0xCD);
      float sa = 0, sb = 0;
      const float scale_a = ref.quantize_lut4(lut.data(), m, qa.data(), &sa);
      // Definition: every row spans [0, <= 255]; the widest reaches 255.
      uint8_t top = 0;
      for (size_t j = 0; j < m; ++j) {
        uint8_t lo = 255;
        for (size_t c = 0; c < 16; ++c) {
          const uint8_t v = qa[(j / 2) * 32 + (j & 1) * 16 + c];
          lo = std::min(lo, v);
          top = std::max(top, v);
        }
        EXPECT_EQ(lo, 0) << "m=" << m << " row " << j;
      }
      EXPECT_EQ(top, rep == 2 ? 0 : 255) << "m=" << m;
      if (m % 2 == 1) {
        for (size_t c = 0; c < 16; ++c)
          EXPECT_EQ(qa[(npairs - 1) * 32 + 16 + c], 0);
      }
      for (const KernelTable* t : SimdTables()) {
        std::fill(qb.begin(), qb.end(), 0xCD);
        const float scale_b = t->quantize_lut4(lut.data(), m, qb.data(), &sb);
        EXPECT_EQ(scale_a, scale_b) << Name(t) << " m=" << m;
        EXPECT_EQ(sa, sb) << Name(t) << " m=" << m;
        EXPECT_EQ(qa, qb) << Name(t) << " m=" << m;
      }
    }
  }
}

TEST(KernelsTest, BlockCodesRoundTrip) {
  std::mt19937 rng(6);
  for (size_t m : {1, 2, 5, 16}) {
    std::vector<uint8_t> packed;
    const std::vector<uint8_t> blocks = RandomBlocks(70, m, &rng, &packed);
    const size_t npairs = (m + 1) / 2;
    std::vector<uint8_t> code(npairs);
    for (size_t i = 0; i < 70; ++i) {
      ivf::InvertedLists::GetBlockCode(
          blocks.data() + 1 + (i / 32) * 32 * npairs, npairs, i % 32,
          code.data());
      EXPECT_EQ(0,
                std::memcmp(code.data(), packed.data() + i * npairs, npairs));
    }
  }
}

}  // namespace
}  // namespace quiver::index::kernels
