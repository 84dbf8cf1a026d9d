// IvfPqIndex::Encode, the server's ingest path: a batch (blocked GEMM coarse
// assignment, fused PQ kernel) gives exactly the lists and codes of encoding
// the vectors one at a time, and both equal a plain scalar reference (brute
// force nearest list with the scalar kernels, then the nearest sub-centroid
// of each residual), for every metric and code size, including vectors on
// near ties between two lists (midpoints of centroid pairs).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "index/ivf_pq_index.h"
#include "index/kernels/kernels.h"
#include "index/metric.h"
#include "tests/testing/data.h"
#include "tests/testing/testing.h"

namespace quiver::index {
namespace {

using ::quiver::testing::Gaussian;

// The scalar reference: nearest list by the scalar l2sqr (or largest scalar
// inner product), the first on ties; then per sub-quantizer the first
// nearest centroid of the residual, from the scalar codebook_l2 table.
void ReferenceEncode(const IvfPqIndex& index, const float* x, uint32_t* list,
                     uint8_t* code) {
  const kernels::KernelTable& ref = kernels::ScalarKernels();
  const IvfPqParams& p = index.params();
  const size_t dim = p.dim, nlist = p.nlist, m = p.m;
  const size_t ksub = size_t{1} << p.nbits, dsub = dim / m;
  std::vector<float> xs(x, x + dim);
  if (p.metric == Metric::kCosine) NormalizeL2(xs.data(), 1, dim);
  const std::vector<float>& c = index.coarse_centroids();
  float best = std::numeric_limits<float>::infinity();
  uint32_t best_l = 0;
  for (size_t l = 0; l < nlist; ++l) {
    const float* cl = c.data() + l * dim;
    const float s = p.metric == Metric::kL2
                        ? ref.l2sqr(xs.data(), cl, dim)
                        : -ref.inner_product(xs.data(), cl, dim);
    if (s < best) {
      best = s;
      best_l = static_cast<uint32_t>(l);
    }
  }
  *list = best_l;
  std::vector<float> r(dim);
  for (size_t t = 0; t < dim; ++t) r[t] = xs[t] - c[best_l * dim + t];
  // Transposed codebooks, as the kernels read them.
  const std::vector<float>& cb = index.pq_codebooks();
  std::vector<float> cb_t(cb.size());
  for (size_t j = 0; j < m; ++j) {
    for (size_t k = 0; k < ksub; ++k) {
      for (size_t t = 0; t < dsub; ++t) {
        cb_t[(j * dsub + t) * ksub + k] = cb[(j * ksub + k) * dsub + t];
      }
    }
  }
  std::vector<float> table(m * ksub);
  ref.codebook_l2(r.data(), cb_t.data(), m, dsub, ksub, table.data());
  std::fill(code, code + index.code_size(), 0);
  for (size_t j = 0; j < m; ++j) {
    size_t b = 0;
    for (size_t k = 1; k < ksub; ++k) {
      if (table[j * ksub + k] < table[j * ksub + b]) b = k;
    }
    if (p.nbits == 8) {
      code[j] = static_cast<uint8_t>(b);
    } else {
      code[j >> 1] |= static_cast<uint8_t>(b << ((j & 1) * 4));
    }
  }
}

struct Case {
  Metric metric;
  uint32_t nbits;
  float mean;  // an offset from the origin makes the GEMM's rounding larger
};

class EncodeTest : public ::testing::TestWithParam<Case> {};

TEST_P(EncodeTest, BatchEqualsOneAtATimeAndScalarReference) {
  const Case tc = GetParam();
  const size_t dim = 48, ntrain = 3000;
  const std::vector<float> train = Gaussian(ntrain, dim, 1, tc.mean);
  IvfPqParams p;
  p.metric = tc.metric;
  p.dim = dim;
  p.nlist = 64;
  p.m = 12;
  p.nbits = tc.nbits;
  p.niter = 6;
  p.threads = 1;
  auto trained = IvfPqIndex::Train(p, train.data(), ntrain);
  QUIVER_ASSERT_OK(trained);
  const IvfPqIndex& index = **trained;

  // Fresh vectors, copies of centroids, and midpoints of centroid pairs
  // (equidistant from two lists up to rounding).
  std::vector<float> x = Gaussian(900, dim, 2, tc.mean);
  const std::vector<float>& c = index.coarse_centroids();
  for (size_t a = 0; a < 20; ++a) {
    const size_t b = (a * 7 + 3) % p.nlist;
    for (size_t t = 0; t < dim; ++t) x.push_back(c[a * dim + t]);
    for (size_t t = 0; t < dim; ++t) {
      x.push_back(0.5f * (c[a * dim + t] + c[b * dim + t]));
    }
  }
  const size_t n = x.size() / dim, cs = index.code_size();

  std::vector<uint32_t> lists(n), one_list(n), ref_list(n);
  std::vector<uint8_t> codes(n * cs), one_codes(n * cs), ref_codes(n * cs);
  index.Encode(x.data(), n, lists.data(), codes.data());
  for (size_t i = 0; i < n; ++i) {
    index.Encode(x.data() + i * dim, 1, &one_list[i], &one_codes[i * cs]);
    ReferenceEncode(index, x.data() + i * dim, &ref_list[i],
                    &ref_codes[i * cs]);
  }
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(lists[i], one_list[i]) << "vector " << i;
    ASSERT_EQ(lists[i], ref_list[i]) << "vector " << i;
  }
  EXPECT_EQ(codes, one_codes);
  EXPECT_EQ(codes, ref_codes);

  // On several threads (the index's own count is 1) too.
  for (int threads : {0, 4}) {
    std::vector<uint32_t> tl(n);
    std::vector<uint8_t> tc_codes(n * cs);
    index.Encode(x.data(), n, tl.data(), tc_codes.data(), threads);
    EXPECT_EQ(tl, lists) << threads << " threads";
    EXPECT_EQ(tc_codes, codes) << threads << " threads";
  }

  // Batches of other sizes (one GEMM block and a partial one) agree too.
  for (size_t batch : {2, 100, 257}) {
    std::vector<uint32_t> bl(n);
    std::vector<uint8_t> bc(n * cs);
    for (size_t b0 = 0; b0 < n; b0 += batch) {
      const size_t nb = std::min(batch, n - b0);
      index.Encode(x.data() + b0 * dim, nb, &bl[b0], &bc[b0 * cs]);
    }
    EXPECT_EQ(bl, lists) << "batch " << batch;
    EXPECT_EQ(bc, codes) << "batch " << batch;
  }
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  const char* metric = c.metric == Metric::kL2             ? "L2"
                       : c.metric == Metric::kInnerProduct ? "IP"
                                                           : "Cosine";
  return std::string(metric) + "_" + std::to_string(c.nbits) + "bit_mean" +
         std::to_string(static_cast<int>(c.mean));
}

INSTANTIATE_TEST_SUITE_P(MetricsAndBits, EncodeTest,
                         ::testing::Values(Case{Metric::kL2, 8, 0.0f},
                                           Case{Metric::kL2, 4, 0.0f},
                                           Case{Metric::kL2, 8, 30.0f},
                                           Case{Metric::kInnerProduct, 8, 0.0f},
                                           Case{Metric::kInnerProduct, 4, 5.0f},
                                           Case{Metric::kCosine, 8, 1.0f}),
                         CaseName);

}  // namespace
}  // namespace quiver::index
