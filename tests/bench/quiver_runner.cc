#include "tests/bench/quiver_runner.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "common/status.h"
#include "index/flat_index.h"
#include "tests/bench/env_info.h"

namespace quiver::bench {
namespace {

// Exact vectors for re-ranking, read from the benchmark's base matrix.
class ArrayVectorSource final : public index::VectorSource {
 public:
  ArrayVectorSource(const float* base, size_t nb, size_t dim)
      : base_(base), nb_(nb), dim_(dim) {}
  bool GetVector(uint64_t id, float* out) const override {
    if (id >= nb_) return false;
    std::memcpy(out, base_ + id * dim_, dim_ * sizeof(float));
    return true;
  }
  void Prefetch(const uint64_t* ids, size_t n) const override {
    for (size_t i = 0; i < n; ++i) {
      if (ids[i] >= nb_) continue;
      const char* row = reinterpret_cast<const char*>(base_ + ids[i] * dim_);
      const size_t bytes = dim_ * sizeof(float);
      for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(row + b);
      __builtin_prefetch(row + bytes - 1);  // rows need not be line-aligned
    }
  }

 private:
  const float* base_;
  size_t nb_;
  size_t dim_;
};

class QuiverSearcher final : public Searcher {
 public:
  // With `refine`, the best refine_factor * k re-ranked candidates are
  // re-scored with its vectors (SearchParams::refine_vectors).
  QuiverSearcher(std::shared_ptr<const index::IvfPqIndex> index, size_t rerank,
                 std::shared_ptr<const index::VectorSource> vectors,
                 std::shared_ptr<const index::VectorSource> refine = nullptr,
                 size_t refine_factor = 0)
      : index_(std::move(index)),
        vectors_(std::move(vectors)),
        refine_(std::move(refine)),
        refine_factor_(refine_factor) {
    params_.rerank = rerank;
    params_.vectors = rerank > 0 ? vectors_.get() : nullptr;
    params_.refine_vectors = refine_.get();
  }

  void SetNprobe(size_t nprobe) override { params_.nprobe = nprobe; }

  void Search(const float* query, size_t k, int64_t* ids) override {
    params_.k = k;
    params_.refine_k = refine_factor_ * k;
    const std::vector<index::Neighbor> hits = index_->Search(query, params_);
    Copy(hits, k, ids);
  }

  void SearchBatch(const float* queries, size_t nq, size_t k, int threads,
                   int64_t* ids) override {
    params_.k = k;
    params_.refine_k = refine_factor_ * k;
    const std::vector<std::vector<index::Neighbor>> hits =
        index_->SearchBatch(queries, nq, params_, threads);
    for (size_t i = 0; i < nq && i < hits.size(); ++i) {
      Copy(hits[i], k, ids + i * k);
    }
  }

 private:
  static void Copy(const std::vector<index::Neighbor>& hits, size_t k,
                   int64_t* ids) {
    for (size_t j = 0; j < k; ++j) {
      ids[j] = j < hits.size() ? static_cast<int64_t>(hits[j].id) : -1;
    }
  }

  std::shared_ptr<const index::IvfPqIndex> index_;
  std::shared_ptr<const index::VectorSource> vectors_;
  std::shared_ptr<const index::VectorSource> refine_;
  size_t refine_factor_;
  index::SearchParams params_;
};

}  // namespace

absl::StatusOr<QuiverBuilt> BuildQuiverIvfPq(const IvfPqSetup& setup,
                                             index::Metric metric,
                                             bool balanced, const float* train,
                                             size_t ntrain, const float* base,
                                             size_t nb) {
  index::IvfPqParams p;
  p.metric = metric;
  p.dim = static_cast<uint32_t>(setup.dim);
  p.nlist = static_cast<uint32_t>(setup.nlist);
  p.m = static_cast<uint32_t>(setup.m);
  p.nbits = static_cast<uint32_t>(setup.nbits);
  p.balanced = balanced;
  p.niter = setup.niter;
  p.seed = setup.seed;
  p.threads = setup.train_threads;
  SetComputeThreads(setup.train_threads);

  QuiverBuilt out;
  double t = BuildSeconds();
  QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<index::IvfPqIndex> idx,
                          index::IvfPqIndex::Train(p, train, ntrain));
  out.train_s = BuildSeconds() - t;

  std::vector<uint64_t> ids(nb);
  std::iota(ids.begin(), ids.end(), uint64_t{0});
  t = BuildSeconds();
  idx->Add(ids.data(), base, nb);
  out.add_s = BuildSeconds() - t;
  out.bytes_per_vector = static_cast<double>(idx->memory_bytes()) / nb;
  out.index = std::move(idx);

  auto vectors = std::make_shared<ArrayVectorSource>(base, nb, setup.dim);
  out.plain = std::make_unique<QuiverSearcher>(out.index, 0, vectors);
  if (setup.rerank > 0) {
    out.reranked =
        std::make_unique<QuiverSearcher>(out.index, setup.rerank, vectors);
    out.half_store = std::make_shared<index::FlatIndex>(
        metric, setup.dim, index::FlatEncoding::kFloat16);
    out.half_store->Add(ids.data(), base, nb);
    out.reranked_half = std::make_unique<QuiverSearcher>(
        out.index, setup.rerank,
        std::make_shared<index::FlatVectorSource>(out.half_store.get()));
    out.byte_store = std::make_shared<index::FlatIndex>(
        metric, setup.dim, index::FlatEncoding::kScalar8);
    out.byte_store->Add(ids.data(), base, nb);
    out.reranked_byte = std::make_unique<QuiverSearcher>(
        out.index, setup.rerank,
        std::make_shared<index::FlatVectorSource>(out.byte_store.get()),
        vectors, /*refine_factor=*/2);
  }
  return out;
}

absl::StatusOr<QuiverKMeansRun> RunQuiverKMeans(const float* x, size_t n,
                                                size_t dim, size_t k, int niter,
                                                uint64_t seed, bool balanced,
                                                bool spherical, int threads) {
  index::KMeansParams p;
  p.k = k;
  p.niter = niter;
  p.seed = seed;
  p.threads = threads;
  p.max_points_per_centroid = 0;
  p.balanced = balanced;
  p.spherical = spherical;
  SetComputeThreads(threads);
  QuiverKMeansRun run;
  const double t = BuildSeconds();
  QUIVER_ASSIGN_OR_RETURN(index::KMeansResult r, index::KMeans(x, n, dim, p));
  run.seconds = BuildSeconds() - t;
  run.iterations = r.stats.iterations;
  run.mse_per_iteration = r.stats.objective_per_iteration;
  run.seconds_per_iteration = r.stats.seconds_per_iteration;
  run.centroids = std::move(r.centroids);
  return run;
}

}  // namespace quiver::bench
