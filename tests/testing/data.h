// Test data for Quiver's tests: seeded synthetic matrices, and SIFT-small
// when ../shared/data holds it (synthetic clustered data otherwise), so
// that every test runs on a fresh clone.
#ifndef QUIVER_TESTS_TESTING_DATA_H_
#define QUIVER_TESTS_TESTING_DATA_H_

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tests/testing/testing.h"

namespace quiver::testing {

// n x dim standard normal values, row-major, seeded.
inline std::vector<float> Gaussian(size_t n, size_t dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
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
