// The Quiver side of ann_bench: builds an IvfPqIndex with the same setup as
// the FAISS side and wraps it in Searchers, and runs Quiver's KMeans.
//
//   QUIVER_ASSIGN_OR_RETURN(QuiverBuilt q, BuildQuiverIvfPq(setup, metric,
//                                                           false, ...));
//   Measure(*q.plain, ...);  Measure(*q.reranked, ...);
//
// Thread safety: not thread-safe (sets process-wide thread counts).
#ifndef QUIVER_TESTS_BENCH_QUIVER_RUNNER_H_
#define QUIVER_TESTS_BENCH_QUIVER_RUNNER_H_

#include <cstddef>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "index/flat_index.h"
#include "index/ivf_pq_index.h"
#include "index/kmeans.h"
#include "index/metric.h"
#include "tests/bench/bench_core.h"
#include "tests/bench/faiss_runner.h"

namespace quiver::bench {

struct QuiverBuilt {
  std::shared_ptr<index::IvfPqIndex> index;
  std::unique_ptr<Searcher> plain;     // rerank 0
  std::unique_ptr<Searcher> reranked;  // rerank = setup.rerank; null if 0
  // The server's half-precision store of the base vectors (before its
  // searcher, which reads it, so that it is destroyed after).
  std::shared_ptr<index::FlatIndex> half_store;
  // The same, re-ranking with half-precision vectors (the server's store,
  // FlatEncoding::kFloat16); null if rerank is 0.
  std::unique_ptr<Searcher> reranked_half;
  // Re-ranking with 8-bit rows (FlatEncoding::kScalar8), then re-scored with
  // the exact vectors where the rows' error bounds leave a doubt
  // (SearchParams::refine_vectors, index::Refine); null if rerank is 0.
  std::shared_ptr<index::FlatIndex> byte_store;
  std::unique_ptr<Searcher> reranked_byte;
  double train_s = 0;
  double add_s = 0;
  double bytes_per_vector = 0;  // memory_bytes() / nb (no raw vectors)
};

// Trains on train (ntrain * dim) and adds base (nb * dim, ids = row
// numbers). `base` must outlive the result: re-ranking reads the exact
// vectors from it. For cosine, pass vectors already normalised.
// Errors from IvfPqIndex::Train are returned as is.
absl::StatusOr<QuiverBuilt> BuildQuiverIvfPq(const IvfPqSetup& setup,
                                             index::Metric metric,
                                             bool balanced, const float* train,
                                             size_t ntrain, const float* base,
                                             size_t nb);

struct QuiverKMeansRun {
  std::vector<float> centroids;  // k * dim
  double seconds = 0;
  int iterations = 0;
  std::vector<double> mse_per_iteration;      // KMeansStats's
  std::vector<double> seconds_per_iteration;  // wall clock, KMeansStats's
};
// Quiver's KMeans on all n points (no further sampling).
absl::StatusOr<QuiverKMeansRun> RunQuiverKMeans(const float* x, size_t n,
                                                size_t dim, size_t k, int niter,
                                                uint64_t seed, bool balanced,
                                                bool spherical, int threads);

}  // namespace quiver::bench

#endif  // QUIVER_TESTS_BENCH_QUIVER_RUNNER_H_
