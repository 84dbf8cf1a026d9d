// Compiled with the flags of QUIVER_BENCH_HNSWLIB_ISA (tests/bench/
// CMakeLists.txt); the only file that includes hnswlib. Callers check
// HnswIsaSupported() (compiled generically, in hnsw_isa.cc) before calling
// anything else here.
#include "tests/bench/hnsw_runner.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <queue>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace quiver::bench {
namespace {

using Hnsw = hnswlib::HierarchicalNSW<float>;

class HnswSearcher final : public Searcher {
 public:
  HnswSearcher(std::unique_ptr<hnswlib::SpaceInterface<float>> space,
               std::unique_ptr<Hnsw> index)
      : space_(std::move(space)), index_(std::move(index)) {}

  // The Searcher's "nprobe" is hnswlib's ef (searchKnn uses max(ef, k)).
  void SetNprobe(size_t nprobe) override { index_->setEf(nprobe); }

  void Search(const float* query, size_t k, int64_t* ids) override {
    std::priority_queue<std::pair<float, hnswlib::labeltype>> top =
        index_->searchKnn(query, k);
    // The queue pops the farthest first.
    std::fill(ids, ids + k, int64_t{-1});
    while (top.size() > k) top.pop();
    for (size_t i = top.size(); i > 0; --i) {
      ids[i - 1] = static_cast<int64_t>(top.top().second);
      top.pop();
    }
  }

  void SearchBatch(const float* queries, size_t nq, size_t k, int threads,
                   int64_t* ids) override {
    const size_t workers = std::max(1, threads);
    std::atomic<size_t> next{0};
    std::vector<std::thread> pool;
    for (size_t w = 0; w < workers; ++w) {
      pool.emplace_back([&] {
        for (size_t q; (q = next.fetch_add(1)) < nq;) {
          Search(queries + q * space_->get_data_size() / sizeof(float), k,
                 ids + q * k);
        }
      });
    }
    for (std::thread& t : pool) t.join();
  }

 private:
  std::unique_ptr<hnswlib::SpaceInterface<float>> space_;  // outlives index_
  std::unique_ptr<Hnsw> index_;
};

}  // namespace

absl::StatusOr<HnswBuilt> BuildHnsw(const HnswSetup& setup, const float* base,
                                    size_t nb) {
  if (setup.dim == 0 || nb == 0) {
    return absl::InvalidArgumentError("hnswlib: empty data");
  }
  HnswBuilt out;
  out.config = absl::StrCat("HNSW", setup.m, ",efC", setup.ef_construction);
  try {
    std::unique_ptr<hnswlib::SpaceInterface<float>> space;
    if (setup.metric == BenchMetric::kL2) {
      space = std::make_unique<hnswlib::L2Space>(setup.dim);
    } else {
      space = std::make_unique<hnswlib::InnerProductSpace>(setup.dim);
    }
    auto index = std::make_unique<Hnsw>(space.get(), nb, setup.m,
                                        setup.ef_construction, setup.seed);
    const double t0 = BuildSeconds();
    // The first point alone (it becomes the entry point), then the rest in
    // parallel, as hnswlib's own Python binding does.
    index->addPoint(base, 0);
    const size_t workers = std::max(1, setup.threads);
    std::atomic<size_t> next{1};
    std::vector<std::exception_ptr> errors(workers);
    std::vector<std::thread> pool;
    for (size_t w = 0; w < workers; ++w) {
      pool.emplace_back([&, w] {
        try {
          for (size_t i; (i = next.fetch_add(1)) < nb;) {
            index->addPoint(base + i * setup.dim, i);
          }
        } catch (...) {
          errors[w] = std::current_exception();
        }
      });
    }
    for (std::thread& t : pool) t.join();
    for (const std::exception_ptr& e : errors) {
      if (e) std::rethrow_exception(e);
    }
    out.add_s = BuildSeconds() - t0;
    size_t upper = 0;
    for (size_t i = 0; i < nb; ++i) {
      upper += static_cast<size_t>(index->element_levels_[i]) *
               index->size_links_per_element_;
    }
    out.bytes_per_vector = static_cast<double>(index->size_data_per_element_) +
                           static_cast<double>(upper) / static_cast<double>(nb);
    out.searcher =
        std::make_unique<HnswSearcher>(std::move(space), std::move(index));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("hnswlib: ", e.what()));
  }
  return out;
}

}  // namespace quiver::bench
