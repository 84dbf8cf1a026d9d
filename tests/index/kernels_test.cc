// Every SIMD kernel level the CPU supports returns exactly (bit for bit)
// what the scalar reference returns: odd sizes, unaligned pointers, list
// lengths that are not a multiple of the SIMD width or of 32. This covers
// every kernel of index/ (the distances and scans of k-means, the flat index
// and PQ encoding as well as the ADC scans), and the scalar reference
// against plain definitions.
#include "index/kernels/kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
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

// The canonical summation order of l2sqr / inner_product (kernels.h): term
// i into partial sum i % 16, then the fixed reduction tree.
float CanonicalSum(const std::vector<float>& terms) {
  float p[16] = {};
  for (size_t i = 0; i < terms.size(); ++i) p[i % 16] += terms[i];
  for (int i = 0; i < 8; ++i) p[i] += p[i + 8];
  for (int i = 0; i < 4; ++i) p[i] += p[i + 4];
  for (int i = 0; i < 2; ++i) p[i] += p[i + 2];
  return p[0] + p[1];
}

TEST(KernelsTest, DistancesFollowCanonicalOrder) {
  std::mt19937 rng(10);
  for (const KernelTable* t : AllTables()) {
    for (size_t d : {1, 3, 15, 16, 17, 33, 100, 128, 1000}) {
      Floats a(d, &rng, -10, 10), b(d, &rng, -10, 10);
      std::vector<float> sq(d), prod(d);
      for (size_t i = 0; i < d; ++i) {
        const float diff = a.data()[i] - b.data()[i];
        sq[i] = diff * diff;
        prod[i] = a.data()[i] * b.data()[i];
      }
      EXPECT_EQ(t->l2sqr(a.data(), b.data(), d), CanonicalSum(sq))
          << Name(t) << " d=" << d;
      EXPECT_EQ(t->inner_product(a.data(), b.data(), d), CanonicalSum(prod))
          << Name(t) << " d=" << d;
    }
  }
}

TEST(KernelsTest, L2SqrManyEqualsL2Sqr) {
  std::mt19937 rng(11);
  for (const KernelTable* t : AllTables()) {
    for (size_t d : {1, 3, 8, 9, 15, 16, 17, 24, 31, 33, 100, 128}) {
      for (size_t nq : {1, 3, 4, 5, 9, 13}) {
        Floats x(d, &rng), q(nq * d, &rng);
        std::vector<float> out(nq + 1, -1);
        t->l2sqr_many(x.data(), q.data(), nq, d, out.data());
        for (size_t c = 0; c < nq; ++c) {
          EXPECT_EQ(out[c],
                    ScalarKernels().l2sqr(x.data(), q.data() + c * d, d))
              << Name(t) << " d=" << d << " nq=" << nq << " c=" << c;
        }
        EXPECT_EQ(out[nq], -1) << "wrote past nq";
      }
    }
  }
}

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// The blocked kernels equal l2sqr / inner_product of the scalar table bit
// for bit on every level (odd d, partial last rows of 16, n not a multiple
// of 16, signed zeros), and write exactly nblocks * 16 outputs.
TEST(KernelsTest, Blocked16EqualsScalarDistances) {
  std::mt19937 rng(21);
  for (const KernelTable* t : AllTables()) {
    for (size_t d : {1, 3, 7, 8, 9, 15, 16, 17, 24, 31, 33, 96, 100, 128}) {
      for (size_t n : {1, 5, 16, 17, 40, 64}) {
        Floats x(d, &rng), y(n * d, &rng);
        // Zeros of both signs: 0 * -y and -0 * y terms.
        x.data()[0] = -0.0f;
        if (d > 2) x.data()[2] = 0.0f;
        const size_t nblocks = (n + kDistBlock - 1) / kDistBlock;
        ASSERT_EQ(Blocked16Floats(n, d), nblocks * kDistBlock * d);
        std::vector<float> bt(Blocked16Floats(n, d) + 1, 7.0f);
        TransposeBlocks16(y.data(), n, d, bt.data());
        ASSERT_EQ(bt.back(), 7.0f) << "transpose wrote past the end";
        for (size_t i = 0; i < n; ++i) {
          for (size_t j = 0; j < d; ++j) {
            const size_t b = i / kDistBlock, lane = i % kDistBlock;
            ASSERT_EQ(bt[(b * d + j) * kDistBlock + lane], y.data()[i * d + j]);
          }
        }
        std::vector<float> l2(nblocks * kDistBlock + 1, -1.0f);
        std::vector<float> ip(nblocks * kDistBlock + 1, -1.0f);
        t->l2sqr_blocked16(x.data(), bt.data(), nblocks, d, l2.data());
        t->ip_blocked16(x.data(), bt.data(), nblocks, d, ip.data());
        EXPECT_EQ(l2.back(), -1.0f) << "wrote past nblocks * 16";
        EXPECT_EQ(ip.back(), -1.0f) << "wrote past nblocks * 16";
        for (size_t i = 0; i < n; ++i) {
          const float* yi = y.data() + i * d;
          EXPECT_EQ(Bits(l2[i]), Bits(ScalarKernels().l2sqr(x.data(), yi, d)))
              << Name(t) << " d=" << d << " n=" << n << " i=" << i;
          EXPECT_EQ(Bits(ip[i]),
                    Bits(ScalarKernels().inner_product(x.data(), yi, d)))
              << Name(t) << " d=" << d << " n=" << n << " i=" << i;
        }
        // Padding lanes are distances to the zero vector.
        for (size_t i = n; i < nblocks * kDistBlock; ++i) {
          EXPECT_EQ(Bits(ip[i]), Bits(0.0f)) << Name(t) << " d=" << d;
        }
      }
    }
  }
}

// Rows for the argmin scans: random values, or values from a small set (many
// ties), including a repeated minimum.
std::vector<float> ScanRow(size_t n, bool ties, std::mt19937* rng) {
  std::vector<float> v(n + 1);
  std::uniform_real_distribution<float> uni(-100.0f, 100.0f);
  std::uniform_int_distribution<int> small(0, 5);
  for (float& x : v) x = ties ? static_cast<float>(small(*rng)) : uni(*rng);
  return v;
}

// half_to_float: every finite half, at several scales, on every level, and
// the scalar reference against the IEEE 754 definition.
TEST(KernelsTest, HalfToFloatMatchesScalarAndDefinition) {
  std::vector<uint16_t> all;
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if (((h >> 10) & 0x1f) != 0x1f) all.push_back(static_cast<uint16_t>(h));
  }
  const size_t n = all.size() - 3;  // odd length, unaligned start below
  for (const float scale : {1.0f, 0x1p-20f, 0x1p7f}) {
    std::vector<float> ref(n), got(n);
    ScalarKernels().half_to_float(all.data() + 1, n, scale, ref.data());
    for (size_t i = 0; i < n; ++i) {
      const uint16_t h = all[i + 1];
      const int e = (h >> 10) & 0x1f;
      const int mant = h & 0x3ff;
      const double mag =
          e == 0 ? std::ldexp(mant, -24) : std::ldexp(1024 + mant, e - 25);
      const double want = ((h & 0x8000) ? -mag : mag) * scale;
      ASSERT_EQ(ref[i], static_cast<float>(want)) << "half " << h;
    }
    for (const KernelTable* t : SimdTables()) {
      t->half_to_float(all.data() + 1, n, scale, got.data());
      ASSERT_EQ(0, std::memcmp(ref.data(), got.data(), n * sizeof(float)))
          << Name(t) << " scale " << scale;
    }
  }
}

// u8_to_float: every code, at an unaligned start and odd length, with steps
// and offsets whose product and sum round, on every level bit for bit; the
// scalar reference against std::fma and, to float rounding, against
// offset + code * step.
TEST(KernelsTest, U8ToFloatMatchesScalarAndDefinition) {
  std::vector<uint8_t> codes(1 + 3 * 256 + 5);
  for (size_t i = 0; i < codes.size(); ++i) {
    codes[i] = static_cast<uint8_t>((i * 37 + 11) & 0xff);
  }
  const size_t n = codes.size() - 1;  // unaligned start, odd length
  const float cases[][2] = {
      {0.0f, 1.0f}, {-1.7f, 0.0131f}, {1234.5f, 0.3333f}, {-3e-5f, 7e-8f}};
  for (const auto& c : cases) {
    const float offset = c[0], step = c[1];
    std::vector<float> ref(n), got(n);
    ScalarKernels().u8_to_float(codes.data() + 1, n, offset, step, ref.data());
    for (size_t i = 0; i < n; ++i) {
      const float want =
          std::fma(static_cast<float>(codes[i + 1]), step, offset);
      ASSERT_EQ(ref[i], want) << "code " << int{codes[i + 1]};
      ASSERT_NEAR(ref[i], offset + static_cast<double>(codes[i + 1]) * step,
                  1e-6 * (std::fabs(offset) + 255.0 * step));
    }
    for (const KernelTable* t : SimdTables()) {
      std::fill(got.begin(), got.end(), -1.0f);
      t->u8_to_float(codes.data() + 1, n, offset, step, got.data());
      ASSERT_EQ(0, std::memcmp(ref.data(), got.data(), n * sizeof(float)))
          << Name(t) << " offset " << offset << " step " << step;
    }
  }
}

TEST(KernelsTest, ArgMinScansMatchScalarAndDefinition) {
  std::mt19937 rng(12);
  const KernelTable& ref = ScalarKernels();
  for (size_t n : {1, 2, 7, 15, 16, 17, 31, 33, 100, 1024, 2049}) {
    for (bool ties : {false, true}) {
      const std::vector<float> v = ScanRow(n, ties, &rng);
      const std::vector<float> bias = ScanRow(n, ties, &rng);
      const float* vs = v.data() + 1;  // unaligned
      const float* bs = bias.data() + 1;
      // The scalar reference against its definition.
      size_t want = 0;
      float want_min = vs[0] + bs[0];
      for (size_t j = 1; j < n; ++j) {
        if (vs[j] + bs[j] < want_min) {
          want_min = vs[j] + bs[j];
          want = j;
        }
      }
      std::vector<float> sorted(n);
      for (size_t j = 0; j < n; ++j) sorted[j] = vs[j] + bs[j];
      std::sort(sorted.begin(), sorted.end());
      const float want_second =
          n > 1 ? sorted[1] : std::numeric_limits<float>::infinity();
      float mn = 0, second = 0;
      ASSERT_EQ(ref.argmin_biased(vs, bs, n, &mn), want) << n;
      ASSERT_EQ(mn, want_min);
      ASSERT_EQ(ref.argmin2_biased(vs, bs, n, &mn, &second), want) << n;
      ASSERT_EQ(mn, want_min);
      ASSERT_EQ(second, want_second);
      for (const KernelTable* t : SimdTables()) {
        float tmn = 0, tsecond = 0;
        EXPECT_EQ(t->argmin_biased(vs, bs, n, &tmn), want)
            << Name(t) << " n=" << n << " ties=" << ties;
        EXPECT_EQ(tmn, want_min) << Name(t) << " n=" << n;
        EXPECT_EQ(t->argmin2_biased(vs, bs, n, &tmn, &tsecond), want)
            << Name(t) << " n=" << n << " ties=" << ties;
        EXPECT_EQ(tmn, want_min) << Name(t) << " n=" << n;
        EXPECT_EQ(tsecond, want_second) << Name(t) << " n=" << n;
      }
    }
  }
}

TEST(KernelsTest, GroupMinsAndCollectMatchScalar) {
  std::mt19937 rng(13);
  const KernelTable& ref = ScalarKernels();
  for (size_t ngroups : {1, 4, 8, 12, 36, 256}) {
    for (size_t gs : {1, 2, 16}) {
      for (bool ties : {false, true}) {
        const size_t n = ngroups * gs;
        const std::vector<float> v = ScanRow(n, ties, &rng);
        const std::vector<float> bias = ScanRow(n, ties, &rng);
        std::vector<float> want(ngroups);
        ref.group_mins(v.data() + 1, bias.data() + 1, ngroups, gs, want.data());
        for (size_t g = 0; g < ngroups; ++g) {
          float mn = std::numeric_limits<float>::infinity();
          for (size_t t = 0; t < gs; ++t) {
            mn = std::min(mn,
                          v[1 + t * ngroups + g] + bias[1 + t * ngroups + g]);
          }
          ASSERT_EQ(want[g], mn) << "g=" << g;
        }
        for (const KernelTable* t : SimdTables()) {
          std::vector<float> got(ngroups);
          t->group_mins(v.data() + 1, bias.data() + 1, ngroups, gs, got.data());
          EXPECT_EQ(got, want) << Name(t) << " ngroups=" << ngroups;
        }
        // collect_at_most at a median bound, with a roomy and a tight cap.
        const float bound = ties ? 4.0f : 0.0f;
        for (size_t cap : {n + 8, n / 3 + 1}) {
          std::vector<float> rv(cap + 2, 0), tv(cap + 2, 0);
          std::vector<uint32_t> rl(cap + 2, 0), tl(cap + 2, 0);
          size_t rc = 2, tc = 2;  // appends after existing entries
          const size_t rj =
              ref.collect_at_most(v.data() + 1, bias.data() + 1, n, bound, 5,
                                  cap + 2, rv.data(), rl.data(), &rc);
          // The reference: every j < rj with value <= bound, in order.
          size_t c = 2;
          for (size_t j = 0; j < rj; ++j) {
            const float x = v[1 + j] + bias[1 + j];
            if (x > bound) continue;
            ASSERT_LT(c, rc);
            EXPECT_EQ(rv[c], x);
            EXPECT_EQ(rl[c++], 5 + j);
          }
          ASSERT_EQ(c, rc);
          if (rj < n) {
            EXPECT_EQ(rc, cap + 2);
          }
          for (const KernelTable* t : SimdTables()) {
            std::fill(tv.begin(), tv.end(), 0.0f);
            std::fill(tl.begin(), tl.end(), 0u);
            tc = 2;
            const size_t tj =
                t->collect_at_most(v.data() + 1, bias.data() + 1, n, bound, 5,
                                   cap + 2, tv.data(), tl.data(), &tc);
            EXPECT_EQ(tj, rj) << Name(t) << " n=" << n << " cap=" << cap;
            ASSERT_EQ(tc, rc) << Name(t) << " n=" << n << " cap=" << cap;
            for (size_t r = 2; r < tc; ++r) {
              EXPECT_EQ(tv[r], rv[r]) << Name(t) << " r=" << r;
              EXPECT_EQ(tl[r], rl[r]) << Name(t) << " r=" << r;
            }
          }
        }
      }
    }
  }
}

TEST(KernelsTest, CodebookL2ArgMinMatchesScalarAndTable) {
  std::mt19937 rng(14);
  const KernelTable& ref = ScalarKernels();
  for (size_t ksub : {16, 32, 48, 256}) {
    for (size_t m : {1, 3, 24}) {
      for (size_t dsub : {1, 2, 3, 4, 8}) {
        for (bool ties : {false, true}) {
          Floats q(m * dsub, &rng), cb(m * dsub * ksub, &rng);
          if (ties) {
            // Integer-valued data: many exactly equal distances.
            std::uniform_int_distribution<int> small(0, 2);
            for (size_t i = 0; i < m * dsub; ++i) {
              q.data()[i] = static_cast<float>(small(rng));
            }
            for (size_t i = 0; i < m * dsub * ksub; ++i) {
              cb.data()[i] = static_cast<float>(small(rng));
            }
          }
          // The reference against the first minimum of codebook_l2's table.
          std::vector<float> table(m * ksub);
          ref.codebook_l2(q.data(), cb.data(), m, dsub, ksub, table.data());
          std::vector<uint8_t> want(m + 1, 0xEE);
          ref.codebook_l2_argmin(q.data(), cb.data(), m, dsub, ksub,
                                 want.data());
          for (size_t j = 0; j < m; ++j) {
            const float* row = table.data() + j * ksub;
            const size_t first =
                static_cast<size_t>(std::min_element(row, row + ksub) - row);
            ASSERT_EQ(want[j], first) << "j=" << j;
          }
          ASSERT_EQ(want[m], 0xEE);
          for (const KernelTable* t : SimdTables()) {
            std::vector<uint8_t> got(m + 1, 0xEE);
            t->codebook_l2_argmin(q.data(), cb.data(), m, dsub, ksub,
                                  got.data());
            EXPECT_EQ(got, want) << Name(t) << " ksub=" << ksub << " m=" << m
                                 << " dsub=" << dsub << " ties=" << ties;
          }
        }
      }
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
