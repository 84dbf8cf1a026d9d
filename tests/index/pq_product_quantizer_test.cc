// ProductQuantizer: code format (8-bit bytes, 4-bit nibbles), encode picks
// the nearest centroid per sub-space, decode reconstructs, ADC tables equal
// the distances to decoded vectors, and training reduces the error.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "index/pq/product_quantizer.h"
#include "tests/testing/data.h"
#include "tests/testing/testing.h"

namespace quiver::index::pq {
namespace {

using ::quiver::testing::Gaussian;

double MeanSquaredError(const ProductQuantizer& pq,
                        const std::vector<float>& x) {
  const size_t n = x.size() / pq.dim();
  std::vector<uint8_t> codes(n * pq.code_size());
  std::vector<float> rec(x.size());
  pq.Encode(x.data(), n, codes.data());
  pq.Decode(codes.data(), n, rec.data());
  double err = 0;
  for (size_t i = 0; i < x.size(); ++i)
    err += (x[i] - rec[i]) * (x[i] - rec[i]);
  return err / static_cast<double>(n);
}

class PqTest : public ::testing::TestWithParam<size_t> {};

TEST_P(PqTest, EncodeDecodeAndTables) {
  const size_t nbits = GetParam(), dim = 12, m = 3;
  const std::vector<float> x = Gaussian(1000, dim, 1);
  ProductQuantizer pq(dim, m, nbits);
  EXPECT_EQ(pq.ksub(), size_t{1} << nbits);
  EXPECT_EQ(pq.dsub(), 4u);
  EXPECT_EQ(pq.code_size(), nbits == 8 ? 3u : 2u);
  QUIVER_ASSERT_OK(pq.Train(x.data(), 1000, 10, 7, 1));
  ASSERT_EQ(pq.codebooks().size(), m * pq.ksub() * pq.dsub());
  // Transposed copy agrees.
  for (size_t j = 0; j < m; ++j) {
    for (size_t c = 0; c < pq.ksub(); ++c) {
      for (size_t t = 0; t < pq.dsub(); ++t) {
        ASSERT_EQ(pq.codebooks_t()[(j * pq.dsub() + t) * pq.ksub() + c],
                  pq.centroid(j, c)[t]);
      }
    }
  }
  const std::vector<float> q = Gaussian(20, dim, 2);
  std::vector<uint8_t> codes(20 * pq.code_size());
  pq.Encode(q.data(), 20, codes.data());
  std::vector<float> l2(m * pq.ksub()), ip(m * pq.ksub());
  for (size_t i = 0; i < 20; ++i) {
    const uint8_t* code = codes.data() + i * pq.code_size();
    if (nbits == 4) {
      EXPECT_EQ(code[1] >> 4, 0) << "padding nibble must be 0";
    }
    pq.ComputeL2Table(q.data() + i * dim, l2.data());
    pq.ComputeIpTable(q.data() + i * dim, ip.data());
    for (size_t j = 0; j < m; ++j) {
      // The code is the argmin of the L2 table row.
      const uint32_t c = pq.SubCode(code, j);
      for (size_t o = 0; o < pq.ksub(); ++o) {
        ASSERT_LE(l2[j * pq.ksub() + c], l2[j * pq.ksub() + o]);
      }
      // Tables against a direct computation.
      double d2 = 0, dot = 0;
      for (size_t t = 0; t < pq.dsub(); ++t) {
        const float qv = q[i * dim + j * pq.dsub() + t],
                    cv = pq.centroid(j, c)[t];
        d2 += (qv - cv) * (qv - cv);
        dot += qv * cv;
      }
      EXPECT_NEAR(l2[j * pq.ksub() + c], d2, 1e-4);
      EXPECT_NEAR(ip[j * pq.ksub() + c], dot, 1e-4);
    }
  }
  // Decode returns the centroids named by the code.
  std::vector<float> rec(20 * dim);
  pq.Decode(codes.data(), 20, rec.data());
  for (size_t j = 0; j < m; ++j) {
    const float* c = pq.centroid(j, pq.SubCode(codes.data(), j));
    for (size_t t = 0; t < pq.dsub(); ++t)
      EXPECT_EQ(rec[j * pq.dsub() + t], c[t]);
  }
  // Training beats random Gaussian codebooks.
  ProductQuantizer untrained(dim, m, nbits);
  std::vector<float> random_cb = Gaussian(pq.ksub(), dim, 3);
  QUIVER_ASSERT_OK(untrained.SetCodebooks(random_cb));
  EXPECT_LT(MeanSquaredError(pq, x), MeanSquaredError(untrained, x));
}

INSTANTIATE_TEST_SUITE_P(Bits, PqTest, ::testing::Values(size_t{8}, size_t{4}));

TEST(PqErrorsTest, TooFewPointsAndBadCodebooks) {
  ProductQuantizer pq(8, 2, 8);
  const std::vector<float> x = Gaussian(100, 8, 1);
  EXPECT_EQ(pq.Train(x.data(), 100, 5, 1, 1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pq.SetCodebooks(std::vector<float>(10)).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<float> cb(2 * 256 * 4, 1.0f);
  cb[5] = std::nanf("");
  EXPECT_EQ(pq.SetCodebooks(cb).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quiver::index::pq
