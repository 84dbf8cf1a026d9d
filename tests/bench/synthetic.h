// A seeded synthetic data set for benchmarks: a mixture of anisotropic
// Gaussian clusters. Each cluster has a random centre (N(0, 1) per
// dimension), its own per-dimension scales (log-normal around a per-cluster
// width), a random orientation (two Householder reflections of the scaled
// noise) and a random weight (log-normal), so cluster sizes vary.
//
//   SyntheticMixture mix(/*dim=*/96, /*clusters=*/1000, /*seed=*/1);
//   std::vector<float> base = mix.Generate(kBaseStream, 0, 1'000'000);
//   std::vector<float> queries = mix.Generate(kQueryStream, 0, 1000);
//
// Point i of a stream depends only on (seed, stream, i): results do not
// depend on threads or on how the range is split, and the query stream draws
// fresh points from the same distribution. The generator uses its own RNG and
// normal sampler, so the output is identical across standard libraries.
//
// Thread safety: Generate() is const and may run concurrently.
#ifndef QUIVER_TESTS_BENCH_SYNTHETIC_H_
#define QUIVER_TESTS_BENCH_SYNTHETIC_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace quiver::bench {

inline constexpr uint64_t kBaseStream = 0;
inline constexpr uint64_t kQueryStream = 1;
inline constexpr uint64_t kTrainStream = 2;

// "N,D,CLUSTERS,SEED" as given to --synthetic.
struct SyntheticSpec {
  size_t n = 0;
  size_t dim = 0;
  size_t clusters = 0;
  uint64_t seed = 0;
};

// Parses "N,D,CLUSTERS,SEED"; INVALID_ARGUMENT naming the bad field.
absl::StatusOr<SyntheticSpec> ParseSyntheticSpec(const std::string& text);

class SyntheticMixture {
 public:
  // REQUIRES: dim >= 1, clusters >= 1.
  SyntheticMixture(size_t dim, size_t clusters, uint64_t seed);

  size_t dim() const { return dim_; }
  size_t clusters() const { return clusters_; }

  // Writes points first .. first+count-1 of `stream` into out
  // (count * dim floats, row-major). Uses up to `threads` threads (0 = all).
  void Generate(uint64_t stream, size_t first, size_t count, float* out,
                int threads = 0) const;
  std::vector<float> Generate(uint64_t stream, size_t first, size_t count,
                              int threads = 0) const;

 private:
  void GenerateRange(uint64_t stream, size_t first, size_t count,
                     float* out) const;

  size_t dim_;
  size_t clusters_;
  uint64_t seed_;
  std::vector<float> centres_;     // clusters * dim
  std::vector<float> scales_;      // clusters * dim, per-dimension std dev
  std::vector<float> reflect_;     // clusters * 2 * dim, unit vectors
  std::vector<double> cumweight_;  // clusters, cumulative, last = 1
};

}  // namespace quiver::bench

#endif  // QUIVER_TESTS_BENCH_SYNTHETIC_H_
