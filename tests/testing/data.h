// Test data for Quiver's tests: seeded synthetic matrices, and SIFT-small
// when ../shared/data holds it (synthetic clustered data otherwise, or a
// skipped test), so that every test runs on a fresh clone.
#ifndef QUIVER_TESTS_TESTING_DATA_H_
#define QUIVER_TESTS_TESTING_DATA_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tests/testing/testing.h"

namespace quiver::testing {

// n x dim normal values (unit variance, the given mean), row-major, seeded
// (std::mt19937_64).
inline std::vector<float> Gaussian(size_t n, size_t dim, uint64_t seed,
                                   float mean = 0.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(mean, 1.0f);
  std::vector<float> x(n * dim);
  for (float& v : x) v = g(rng);
  return x;
}

// n x dim points around `clusters` seeded Gaussian centres (spread 4),
// unit noise: data with structure an IVF index can exploit.
inline std::vector<float> Clustered(size_t n, size_t dim, size_t clusters,
                                    uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> centres(clusters * dim);
  for (float& v : centres) v = 4 * g(rng);
  std::uniform_int_distribution<size_t> pick(0, clusters - 1);
  std::vector<float> x(n * dim);
  for (size_t i = 0; i < n; ++i) {
    const float* c = &centres[pick(rng) * dim];
    for (size_t j = 0; j < dim; ++j) x[i * dim + j] = c[j] + g(rng);
  }
  return x;
}

// SIFT-small (../shared/data/siftsmall): 10,000 x 128 base vectors, 100
// queries and their exact top-100 neighbours (ivecs ground truth).
struct SiftSmall {
  size_t dim = 0, nb = 0, nq = 0, gt_dim = 0;
  std::vector<float> base, queries;
  std::vector<int32_t> gt;  // nq rows of gt_dim base row numbers
};

// Reads SIFT-small from `dir`; a malformed file fails the test.
inline SiftSmall LoadSiftSmall(const std::string& dir) {
  SiftSmall d;
  size_t qdim = 0;
  d.base = ReadVecs<float>(dir + "/siftsmall_base.fvecs", &d.dim);
  d.queries = ReadVecs<float>(dir + "/siftsmall_query.fvecs", &qdim);
  d.gt = ReadVecs<int32_t>(dir + "/siftsmall_groundtruth.ivecs", &d.gt_dim);
  if (qdim != d.dim) {
    ADD_FAILURE() << dir << ": query dimension " << qdim
                  << " != base dimension " << d.dim;
  }
  if (d.dim != 0) {
    d.nb = d.base.size() / d.dim;
    d.nq = d.queries.size() / d.dim;
  }
  return d;
}

// SIFT-small, or nullopt when the data set is absent (the caller skips; see
// QUIVER_LOAD_SIFTSMALL_OR_SKIP).
inline std::optional<SiftSmall> LoadSiftSmall() {
  const std::string dir = DataSet("siftsmall");
  if (dir.empty()) return std::nullopt;
  return LoadSiftSmall(dir);
}

// In a test body (or SetUp): declares `const SiftSmall& var`, or skips the
// test when SIFT-small is absent.
#define QUIVER_LOAD_SIFTSMALL_OR_SKIP(var)                                     \
  const std::optional<::quiver::testing::SiftSmall> var##_or =                 \
      ::quiver::testing::LoadSiftSmall();                                      \
  if (!var##_or.has_value())                                                   \
    GTEST_SKIP() << "data set 'siftsmall' not found under ../shared/data (or " \
                    "$QUIVER_DATA_DIR)";                                       \
  const ::quiver::testing::SiftSmall& var = *var##_or

// A base set for recall tests: SIFT-small's 10,000 x 128 base vectors when
// present, else 10,000 x 32 clustered synthetic vectors. `name` says which.
struct BaseSet {
  std::string name;
  size_t n = 0, dim = 0;
  std::vector<float> x;
};

inline BaseSet SiftSmallOrSynthetic() {
  BaseSet b;
  const std::string dir = DataSet("siftsmall");
  if (!dir.empty()) {
    b.x = ReadVecs<float>(dir + "/siftsmall_base.fvecs", &b.dim);
    if (b.dim != 0) {
      b.name = "siftsmall";
      b.n = b.x.size() / b.dim;
      return b;
    }
  }
  b.name = "synthetic clustered 10000x32";
  b.n = 10000;
  b.dim = 32;
  b.x = Clustered(b.n, b.dim, 64, 42);
  return b;
}

}  // namespace quiver::testing

#endif  // QUIVER_TESTS_TESTING_DATA_H_
