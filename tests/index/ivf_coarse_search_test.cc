// The single-query coarse search (IvfPqState::CoarseSearchOne: blocked
// centroid kernels, then the best-nprobe selection) returns exactly what a
// plain reference does: scalar l2sqr / -inner_product per centroid, all
// lists sorted by (score, list). Covers nlist not a multiple of 16, odd dim,
// duplicated centroids (exact ties, broken by the smaller list), and nprobe
// on both sides of the selection's switch to nth_element, for L2 and inner
// product.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "index/ivf/ivf_pq_state.h"
#include "index/ivf_pq_index.h"
#include "index/kernels/kernels.h"

namespace quiver::index::ivf {
namespace {

struct Case {
  Metric metric;
  uint32_t dim;
  uint32_t nlist;
};

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return std::string(info.param.metric == Metric::kL2 ? "L2" : "IP") + "_d" +
         std::to_string(info.param.dim) + "_nlist" +
         std::to_string(info.param.nlist);
}

class CoarseSearchTest : public ::testing::TestWithParam<Case> {};

TEST_P(CoarseSearchTest, EqualsScalarFullSort) {
  const Case c = GetParam();
  IvfPqParams p;
  p.metric = c.metric;
  p.dim = c.dim;
  p.nlist = c.nlist;
  p.m = 1;
  p.nbits = 4;
  IvfPqState state(p);
  std::mt19937 rng(c.dim * 131 + c.nlist);
  std::normal_distribution<float> g;
  std::vector<float> centroids(size_t{c.nlist} * c.dim);
  for (float& v : centroids) v = g(rng);
  // Every 7th centroid repeats an earlier one: exact ties.
  for (size_t l = 7; l < c.nlist; l += 7) {
    std::copy_n(centroids.begin() + (l / 2) * c.dim, c.dim,
                centroids.begin() + l * c.dim);
  }
  std::vector<float> codebooks(16 * c.dim);
  for (float& v : codebooks) v = g(rng);
  ASSERT_TRUE(state.Build(centroids, codebooks).ok());

  const kernels::KernelTable& ref = kernels::ScalarKernels();
  for (int qi = 0; qi < 20; ++qi) {
    std::vector<float> x(c.dim);
    for (float& v : x) v = g(rng);
    if (qi % 5 == 0) {
      // Equidistant from a duplicated pair and near a centroid.
      const size_t l = std::min<size_t>(7 * (qi / 5 + 1), c.nlist - 1);
      for (size_t t = 0; t < c.dim; ++t) {
        x[t] = centroids[l * c.dim + t] + 0.01f * x[t];
      }
    }
    std::vector<std::pair<float, uint32_t>> all(c.nlist);
    for (uint32_t l = 0; l < c.nlist; ++l) {
      const float* cl = centroids.data() + size_t{l} * c.dim;
      all[l] = {c.metric == Metric::kL2
                    ? ref.l2sqr(x.data(), cl, c.dim)
                    : -ref.inner_product(x.data(), cl, c.dim),
                l};
    }
    std::sort(all.begin(), all.end());
    for (size_t nprobe :
         {size_t{1}, size_t{2}, size_t{7}, size_t{8}, size_t{32}, size_t{33},
          size_t{100}, size_t{c.nlist}}) {
      if (nprobe > c.nlist) continue;
      std::vector<uint32_t> labels(nprobe);
      std::vector<float> dis(nprobe);
      state.CoarseSearchOne(x.data(), nprobe, labels.data(), dis.data());
      for (size_t i = 0; i < nprobe; ++i) {
        ASSERT_EQ(labels[i], all[i].second)
            << "query " << qi << " nprobe " << nprobe << " rank " << i;
        ASSERT_EQ(dis[i], all[i].first)
            << "query " << qi << " nprobe " << nprobe << " rank " << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    MetricsAndSizes, CoarseSearchTest,
    ::testing::Values(Case{Metric::kL2, 96, 4096}, Case{Metric::kL2, 17, 100},
                      Case{Metric::kL2, 3, 33},
                      Case{Metric::kInnerProduct, 96, 1000},
                      Case{Metric::kInnerProduct, 50, 37}),
    CaseName);

}  // namespace
}  // namespace quiver::index::ivf
