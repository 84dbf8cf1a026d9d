// The FAISS side of ann_bench. This file's .cc is compiled once per FAISS
// flavour (Debian's generic libfaiss for ann_bench, libfaiss_avx2.a for
// ann_bench_avx2); nothing else in the benchmark includes FAISS headers, and
// no binary links both flavours.
//
//   IvfPqSetup s;  s.dim = 128;  s.nlist = 256;  s.m = 16;  s.nbits = 8;
//   QUIVER_ASSIGN_OR_RETURN(auto built, BuildFaissIvfPq(s, train, nt, base,
//   nb)); for (FaissBuilt& b : built) Measure(*b.searcher, ...);
//
// Thread safety: not thread-safe (FAISS's OpenMP thread count is a process
// global that these functions set).
#ifndef QUIVER_TESTS_BENCH_FAISS_RUNNER_H_
#define QUIVER_TESTS_BENCH_FAISS_RUNNER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/bench/bench_core.h"

namespace quiver::bench {

// Cosine is run as inner product on vectors normalised beforehand.
enum class BenchMetric { kL2, kInnerProduct };

// The parameters shared by the Quiver and FAISS indexes of one comparison.
struct IvfPqSetup {
  BenchMetric metric = BenchMetric::kL2;
  size_t dim = 0;
  size_t nlist = 0;
  size_t m = 0;
  size_t nbits = 8;  // 8: IndexIVFPQ; 4: IndexIVFPQFastScan (bbs 32)
  int niter = 20;    // k-means iterations, coarse quantizer and PQ
  uint64_t seed = 1234;
  int train_threads = 1;
  size_t rerank = 0;  // > 0: also an IndexRefineFlat with k_factor = rerank
};

// "generic (...)" or "avx2 (...)" plus faiss::get_compile_options().
std::string FaissFlavour();

struct FaissBuilt {
  std::string system;  // faiss_ivfpq, faiss_ivfpq_refine, ...
  std::unique_ptr<Searcher> searcher;
  size_t rerank = 0;
  double train_s = 0;
  double add_s = 0;
  double bytes_per_vector = 0;  // list codes + ids (+ 4 * dim with refine)
};

// Trains on train (ntrain * dim), adds base (nb * dim, ids = row numbers).
// 8-bit: faiss_ivfpq, and with rerank > 0 also faiss_ivfpq_refine (sharing
// the same trained and filled IndexIVFPQ). 4-bit: with rerank > 0
// faiss_ivfpq_fastscan_refine, else faiss_ivfpq_fastscan.
// INTERNAL with FAISS's message if FAISS throws.
absl::StatusOr<std::vector<FaissBuilt>> BuildFaissIvfPq(const IvfPqSetup& setup,
                                                        const float* train,
                                                        size_t ntrain,
                                                        const float* base,
                                                        size_t nb);

// Exact top-k ids (nq * k, nearest first) with faiss::IndexFlat.
absl::StatusOr<std::vector<int32_t>> FaissGroundTruth(
    BenchMetric metric, const float* base, size_t nb, const float* queries,
    size_t nq, size_t dim, size_t k, int threads);

// faiss::Clustering on all n points (no further sampling).
struct FaissKMeansResult {
  std::vector<float> centroids;  // k * dim
  double seconds = 0;
  int iterations = 0;
};
absl::StatusOr<FaissKMeansResult> FaissKMeans(const float* x, size_t n,
                                              size_t dim, size_t k, int niter,
                                              uint64_t seed, bool spherical,
                                              int threads);

// Quality of any centroid set on x, measured the same way for both systems:
// exact nearest-centroid assignment with faiss::IndexFlatL2.
struct ClusterQuality {
  double mse = 0;  // mean squared L2 distance to the nearest centroid
  size_t min_size = 0;
  size_t max_size = 0;
  size_t empty = 0;
  double imbalance = 0;  // max_size / (n / k)
};
absl::StatusOr<ClusterQuality> EvaluateCentroids(const float* x, size_t n,
                                                 size_t dim,
                                                 const float* centroids,
                                                 size_t k);

}  // namespace quiver::bench

#endif  // QUIVER_TESTS_BENCH_FAISS_RUNNER_H_
