// The hnswlib side of ann_bench: Debian's header-only hnswlib (libhnswlib-dev,
// /usr/include/hnswlib) built on the same base vectors, searched one query at
// a time on one thread with an ef sweep. Only hnsw_runner.cc includes the
// hnswlib headers (they define non-inline functions), compiled for the ISA in
// QUIVER_BENCH_HNSWLIB_ISA (tests/bench/CMakeLists.txt).
//
//   QUIVER_ASSIGN_OR_RETURN(HnswBuilt h, BuildHnsw(setup, base, nb));
//   h.searcher->SetNprobe(ef);   // the Searcher's "nprobe" is hnswlib's ef
//   Measure(*h.searcher, ...);
//
// Thread safety: BuildHnsw adds with setup.threads threads; a Searcher is
// used by one thread at a time.
#ifndef QUIVER_TESTS_BENCH_HNSW_RUNNER_H_
#define QUIVER_TESTS_BENCH_HNSW_RUNNER_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tests/bench/bench_core.h"
#include "tests/bench/faiss_runner.h"

namespace quiver::bench {

struct HnswSetup {
  BenchMetric metric = BenchMetric::kL2;  // cosine: kInnerProduct, normalised
  size_t dim = 0;
  size_t m = 16;
  size_t ef_construction = 200;
  uint64_t seed = 100;
  int threads = 1;  // for adding
};

struct HnswBuilt {
  std::unique_ptr<Searcher> searcher;  // SetNprobe(n) sets ef = max(n, k)
  std::string config;                  // e.g. "HNSW16,efC200"
  double add_s = 0;
  double bytes_per_vector = 0;  // hnswlib's level-0 element size + upper links
};

// The SIMD level the hnswlib code was compiled for ("avx2", "avx512",
// "generic") and whether this CPU can run it.
std::string HnswIsa();
bool HnswIsaSupported();

// Adds base (nb * dim, labels = row numbers) to a fresh
// hnswlib::HierarchicalNSW. `base` need not outlive the result (hnswlib
// copies the vectors). INTERNAL with hnswlib's message if it throws.
absl::StatusOr<HnswBuilt> BuildHnsw(const HnswSetup& setup, const float* base,
                                    size_t nb);

}  // namespace quiver::bench

#endif  // QUIVER_TESTS_BENCH_HNSW_RUNNER_H_
