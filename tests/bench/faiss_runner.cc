#include "tests/bench/faiss_runner.h"

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexIVFPQFastScan.h>
#include <faiss/IndexRefine.h>
#include <faiss/impl/FaissException.h>
#include <faiss/invlists/BlockInvertedLists.h>
#include <faiss/invlists/InvertedLists.h>
#include <faiss/utils/utils.h>
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>

#include "absl/strings/str_cat.h"

namespace quiver::bench {
namespace {

// FAISS 1.7.3 has no faiss::idx_t yet.
using FaissIdx = faiss::Index::idx_t;

faiss::MetricType ToFaiss(BenchMetric m) {
  return m == BenchMetric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
}

// Bytes of the inverted lists' codes and ids.
size_t ListBytes(const faiss::IndexIVF& ivf) {
  size_t bytes = 0;
  if (auto* a = dynamic_cast<const faiss::ArrayInvertedLists*>(ivf.invlists)) {
    for (size_t l = 0; l < a->nlist; ++l) {
      bytes += a->codes[l].size() + a->ids[l].size() * sizeof(FaissIdx);
    }
  } else if (auto* b =
                 dynamic_cast<const faiss::BlockInvertedLists*>(ivf.invlists)) {
    for (size_t l = 0; l < b->nlist; ++l) {
      bytes += b->codes[l].size() + b->ids[l].size() * sizeof(FaissIdx);
    }
  } else {
    bytes = ivf.ntotal * (ivf.code_size + sizeof(FaissIdx));
  }
  return bytes;
}

[[noreturn]] void DieOnFaiss(const char* what) {
  std::fprintf(stderr, "ann_bench: FAISS search failed: %s\n", what);
  std::abort();
}

// Searches `index` (which may wrap `ivf`); `keep` holds what must outlive it.
class FaissSearcher final : public Searcher {
 public:
  FaissSearcher(std::shared_ptr<faiss::Index> index, faiss::IndexIVF* ivf,
                std::shared_ptr<faiss::Index> keep)
      : keep_(std::move(keep)), index_(std::move(index)), ivf_(ivf) {}

  void SetNprobe(size_t nprobe) override { ivf_->nprobe = nprobe; }

  void Search(const float* query, size_t k, int64_t* ids) override {
    distances_.resize(k);
    try {
      index_->search(1, query, static_cast<FaissIdx>(k), distances_.data(),
                     ids);
    } catch (const std::exception& e) {
      DieOnFaiss(e.what());
    }
  }

  void SearchBatch(const float* queries, size_t nq, size_t k, int threads,
                   int64_t* ids) override {
    distances_.resize(nq * k);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    try {
      index_->search(static_cast<FaissIdx>(nq), queries,
                     static_cast<FaissIdx>(k), distances_.data(), ids);
    } catch (const std::exception& e) {
      DieOnFaiss(e.what());
    }
    omp_set_num_threads(saved);
  }

 private:
  std::shared_ptr<faiss::Index> keep_;  // destroyed after index_
  std::shared_ptr<faiss::Index> index_;
  faiss::IndexIVF* ivf_;
  std::vector<float> distances_;
};

}  // namespace

std::string FaissFlavour() {
#ifdef QUIVER_BENCH_FAISS_AVX2
  std::string s =
      "avx2 (FAISS 1.7.3 from Debian's source, FAISS_OPT_LEVEL=avx2, "
      "libfaiss_avx2.a)";
#else
  std::string s =
      "generic (Debian libfaiss-dev 1.7.3, baseline x86-64: fast-scan runs "
      "emulated SIMD)";
#endif
  return absl::StrCat(s, "; compile options: ", faiss::get_compile_options());
}

absl::StatusOr<std::vector<FaissBuilt>> BuildFaissIvfPq(const IvfPqSetup& s,
                                                        const float* train,
                                                        size_t ntrain,
                                                        const float* base,
                                                        size_t nb) {
  std::vector<FaissBuilt> out;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(std::max(1, s.train_threads));
  try {
    const faiss::MetricType metric = ToFaiss(s.metric);
    auto* quantizer =
        new faiss::IndexFlat(static_cast<FaissIdx>(s.dim), metric);
    std::shared_ptr<faiss::IndexIVF> ivf;
    if (s.nbits == 4) {
      auto fs = std::make_shared<faiss::IndexIVFPQFastScan>(
          quantizer, s.dim, s.nlist, s.m, 4, metric, /*bbs=*/32);
      fs->pq.cp.niter = s.niter;
      fs->pq.cp.seed = static_cast<int>(s.seed);
      ivf = fs;
    } else {
      auto pq = std::make_shared<faiss::IndexIVFPQ>(quantizer, s.dim, s.nlist,
                                                    s.m, s.nbits, metric);
      pq->pq.cp.niter = s.niter;
      pq->pq.cp.seed = static_cast<int>(s.seed);
      ivf = pq;
    }
    ivf->own_fields = true;
    ivf->cp.niter = s.niter;
    ivf->cp.seed = static_cast<int>(s.seed);
    ivf->verbose = false;

    double t = BuildSeconds();
    ivf->train(static_cast<FaissIdx>(ntrain), train);
    const double train_s = BuildSeconds() - t;
    t = BuildSeconds();
    ivf->add(static_cast<FaissIdx>(nb), base);
    const double add_s = BuildSeconds() - t;
    const double list_bpv = static_cast<double>(ListBytes(*ivf)) / nb;

    const std::string prefix =
        s.nbits == 4 ? "faiss_ivfpq_fastscan" : "faiss_ivfpq";
    if (s.nbits != 4 || s.rerank == 0) {
      FaissBuilt b;
      b.system = prefix;
      b.searcher = std::make_unique<FaissSearcher>(ivf, ivf.get(), nullptr);
      b.train_s = train_s;
      b.add_s = add_s;
      b.bytes_per_vector = list_bpv;
      out.push_back(std::move(b));
    }
    if (s.rerank > 0) {
      t = BuildSeconds();
      // Wraps the filled index; copies the nb vectors into its flat index.
      auto refine = std::make_shared<faiss::IndexRefineFlat>(ivf.get(), base);
      refine->k_factor = static_cast<float>(s.rerank);
      const double refine_add_s = BuildSeconds() - t;
      FaissBuilt b;
      b.system = prefix + "_refine";
      b.searcher = std::make_unique<FaissSearcher>(refine, ivf.get(), ivf);
      b.rerank = s.rerank;
      b.train_s = train_s;
      b.add_s = add_s + refine_add_s;
      b.bytes_per_vector = list_bpv + 4.0 * s.dim;
      out.push_back(std::move(b));
    }
  } catch (const std::exception& e) {
    omp_set_num_threads(saved);
    return absl::InternalError(
        absl::StrCat("FAISS IVF-PQ build failed: ", e.what()));
  }
  omp_set_num_threads(saved);
  return out;
}

absl::StatusOr<std::vector<int32_t>> FaissGroundTruth(
    BenchMetric metric, const float* base, size_t nb, const float* queries,
    size_t nq, size_t dim, size_t k, int threads) {
  if (nb > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return absl::InvalidArgumentError(
        absl::StrCat("ground truth ids are int32; nb = ", nb, " is too large"));
  }
  k = std::min(k, nb);
  std::vector<int32_t> gt(nq * k);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(std::max(1, threads));
  try {
    faiss::IndexFlat flat(static_cast<FaissIdx>(dim), ToFaiss(metric));
    flat.add(static_cast<FaissIdx>(nb), base);
    std::vector<float> d(nq * k);
    std::vector<FaissIdx> ids(nq * k);
    flat.search(static_cast<FaissIdx>(nq), queries, static_cast<FaissIdx>(k),
                d.data(), ids.data());
    for (size_t i = 0; i < ids.size(); ++i)
      gt[i] = static_cast<int32_t>(ids[i]);
  } catch (const std::exception& e) {
    omp_set_num_threads(saved);
    return absl::InternalError(
        absl::StrCat("FAISS exact search failed: ", e.what()));
  }
  omp_set_num_threads(saved);
  return gt;
}

absl::StatusOr<FaissKMeansResult> FaissKMeans(const float* x, size_t n,
                                              size_t dim, size_t k, int niter,
                                              uint64_t seed, bool spherical,
                                              int threads) {
  FaissKMeansResult r;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(std::max(1, threads));
  try {
    faiss::ClusteringParameters cp;
    cp.niter = niter;
    cp.seed = static_cast<int>(seed);
    cp.spherical = spherical;
    cp.max_points_per_centroid = std::numeric_limits<int>::max();
    cp.min_points_per_centroid = 1;
    faiss::Clustering clus(static_cast<int>(dim), k, cp);
    faiss::IndexFlatL2 index(static_cast<FaissIdx>(dim));
    const double t = BuildSeconds();
    clus.train(static_cast<FaissIdx>(n), x, index);
    r.seconds = BuildSeconds() - t;
    r.iterations = static_cast<int>(clus.iteration_stats.size());
    r.centroids = clus.centroids;
  } catch (const std::exception& e) {
    omp_set_num_threads(saved);
    return absl::InternalError(
        absl::StrCat("faiss::Clustering failed: ", e.what()));
  }
  omp_set_num_threads(saved);
  return r;
}

absl::StatusOr<ClusterQuality> EvaluateCentroids(const float* x, size_t n,
                                                 size_t dim,
                                                 const float* centroids,
                                                 size_t k) {
  ClusterQuality q;
  if (n == 0 || k == 0) return q;
  try {
    faiss::IndexFlatL2 index(static_cast<FaissIdx>(dim));
    index.add(static_cast<FaissIdx>(k), centroids);
    std::vector<float> d(n);
    std::vector<FaissIdx> label(n);
    index.search(static_cast<FaissIdx>(n), x, 1, d.data(), label.data());
    std::vector<size_t> sizes(k, 0);
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
      sum += d[i];
      if (label[i] >= 0) ++sizes[label[i]];
    }
    q.mse = sum / n;
    q.min_size = *std::min_element(sizes.begin(), sizes.end());
    q.max_size = *std::max_element(sizes.begin(), sizes.end());
    q.empty = std::count(sizes.begin(), sizes.end(), size_t{0});
    q.imbalance = static_cast<double>(q.max_size) * k / n;
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("FAISS assignment failed: ", e.what()));
  }
  return q;
}

}  // namespace quiver::bench
