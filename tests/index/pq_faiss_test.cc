// Our product quantizer's reconstruction error on siftsmall is no worse
// than faiss::ProductQuantizer's (within 2%) on the same training sample.
#include <faiss/impl/ProductQuantizer.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <cstdint>
#include <cstdio>
#include <vector>

#include "index/pq/product_quantizer.h"
#include "tests/testing/testing.h"

namespace quiver::index::pq {
namespace {

double Error(const std::vector<float>& x, const std::vector<float>& rec,
             size_t n) {
  double err = 0;
  for (size_t i = 0; i < x.size(); ++i)
    err += (x[i] - rec[i]) * (x[i] - rec[i]);
  return err / static_cast<double>(n);
}

TEST(PqFaissTest, ReconstructionErrorWithinTwoPercentOfFaiss) {
  QUIVER_SKIP_IF_NO_DATA(dir, "siftsmall");
  omp_set_num_threads(1);
  size_t dim = 0;
  // Train on 5000 vectors, measure on the other 5000.
  const std::vector<float> all =
      quiver::testing::ReadVecs<float>(dir + "/siftsmall_base.fvecs", &dim);
  const size_t n = all.size() / dim / 2;
  const std::vector<float> train(all.begin(), all.begin() + n * dim);
  const std::vector<float> test(all.begin() + n * dim,
                                all.begin() + 2 * n * dim);
  for (size_t nbits : {size_t{8}, size_t{4}}) {
    const size_t m = nbits == 8 ? 16 : 32;
    ProductQuantizer ours(dim, m, nbits);
    QUIVER_ASSERT_OK(ours.Train(train.data(), n, 20, 1234, 1));
    std::vector<uint8_t> codes(n * ours.code_size());
    std::vector<float> rec(n * dim);
    ours.Encode(test.data(), n, codes.data());
    ours.Decode(codes.data(), n, rec.data());
    const double our_err = Error(test, rec, n);

    faiss::ProductQuantizer theirs(dim, m, nbits);
    theirs.cp.niter = 20;
    theirs.cp.min_points_per_centroid = 1;  // silence its sample-size warning
    theirs.train(n, train.data());
    ASSERT_EQ(theirs.code_size, ours.code_size());
    theirs.compute_codes(test.data(), codes.data(), n);
    theirs.decode(codes.data(), rec.data(), n);
    const double faiss_err = Error(test, rec, n);
    std::printf(
        "PQ%zux%zu held-out squared error: quiver %.1f, faiss %.1f (%.3f)\n", m,
        nbits, our_err, faiss_err, our_err / faiss_err);
    EXPECT_LE(our_err, faiss_err * 1.02) << "nbits " << nbits;
  }
}

}  // namespace
}  // namespace quiver::index::pq
