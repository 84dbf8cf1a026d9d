// ann_bench: Quiver's IvfPqIndex against FAISS's IndexIVFPQ (+ IndexRefineFlat)
// and IndexIVFPQFastScan + IndexRefineFlat, in one process, on the same data,
// nlist, M, bits and training sample; sweeps nprobe and reports recall@1,
// recall@10 and QPS (one query at a time on one thread unless --threads).
//
//   ann_bench --base B.fvecs --query Q.fvecs --groundtruth G.ivecs
//       [--metric l2|ip|cosine] [--nlist N] [--m M] [--nbits 4|8]
//       [--nprobe 1,2,4,8,16,32,64] [--rerank R] [--balanced] [--threads T]
//       [--csv FILE]
//   ann_bench --synthetic N,D,CLUSTERS,SEED ...        (instead of files)
//   ann_bench --kmeans --k 1024 --niter 20 (--base B.fvecs | --synthetic ...)
//
// Every index run also measures hnswlib (Debian's libhnswlib-dev, HNSW with
// --hnsw_m links, an ef sweep in --hnsw_ef) on the same base and queries.
//
// Built twice: ann_bench links Debian's generic FAISS, ann_bench_avx2 (when
// QUIVER_FAISS_AVX2_DIR is set) links FAISS built with FAISS_OPT_LEVEL=avx2.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "index/metric.h"
#include "tests/bench/bench_core.h"
#include "tests/bench/env_info.h"
#include "tests/bench/faiss_runner.h"
#include "tests/bench/hnsw_runner.h"
#include "tests/bench/quiver_runner.h"
#include "tests/bench/synthetic.h"
#include "tests/bench/vecs_io.h"

ABSL_FLAG(std::string, base, "", "Base vectors (.fvecs or .bvecs)");
ABSL_FLAG(std::string, query, "", "Query vectors (.fvecs or .bvecs)");
ABSL_FLAG(std::string, groundtruth, "",
          "Ground-truth ids (.ivecs, 0-based, nearest first); computed "
          "exactly with faiss::IndexFlat when absent");
ABSL_FLAG(std::string, synthetic, "",
          "N,D,CLUSTERS,SEED: generate a seeded Gaussian-mixture data set "
          "instead of reading files");
ABSL_FLAG(int, synthetic_queries, 1000, "Queries drawn for --synthetic");
ABSL_FLAG(std::string, metric, "l2", "l2, ip or cosine");
ABSL_FLAG(std::string, nlist, "0",
          "Inverted lists, one build per value (comma-separated; 0 = largest "
          "power of two <= 4 * sqrt(nb)): the cheapest setting of each is "
          "compared, and the best over all of them");
ABSL_FLAG(int, m, 0,
          "PQ sub-quantizers. 0 = auto (dim/m >= 4 for 8-bit, >= 2 for "
          "4-bit). Without --nbits, the 4-bit config uses 2 * m when that "
          "divides dim");
ABSL_FLAG(std::string, nbits, "",
          "8 (IVFPQ ADC) or 4 (fast-scan); empty = run both");
ABSL_FLAG(std::string, nprobe, "1,2,4,8,16,32,64", "nprobe values to sweep");
ABSL_FLAG(int, rerank, 4,
          "Re-rank factor R (exact re-scoring of the best k*R): quiver "
          "rerank=R vs FAISS IndexRefineFlat k_factor=R; 0 = none");
ABSL_FLAG(bool, balanced, false,
          "Quiver: balanced k-means for the coarse quantizer");
ABSL_FLAG(int, threads, 1,
          "Search threads: 1 = one query at a time on one thread; > 1 = "
          "batched search with that many threads");
ABSL_FLAG(int, train_threads, 0,
          "Threads for training, adding and ground truth (0 = all cores)");
ABSL_FLAG(std::string, csv, "", "Write the result rows to this CSV file");
ABSL_FLAG(int, niter, 20, "k-means iterations (coarse quantizer and PQ)");
ABSL_FLAG(uint64_t, seed, 1234, "Seed for training samples and k-means");
ABSL_FLAG(int64_t, train_size, 0,
          "Training sample size, the same rows for both systems (0 = "
          "min(nb, max(64 * nlist, 65536)))");
ABSL_FLAG(int64_t, max_base, 0, "Use only the first N base vectors (0 = all)");
ABSL_FLAG(int64_t, max_queries, 0, "Use only the first N queries (0 = all)");
ABSL_FLAG(double, min_time_s, 0.5,
          "Repeat the query set until each measurement took this long");
ABSL_FLAG(std::string, clock, "cpu",
          "cpu: single-thread QPS from the searching thread's CPU time, and "
          "train/add times from the process CPU time when --train_threads=1 "
          "(both robust on a shared, busy machine); wall: the wall clock "
          "everywhere. Batched search and multi-threaded training always "
          "use the wall clock");
ABSL_FLAG(double, target_recall, 0.95,
          "Recall@10 target for the 'cheapest setting' comparison");
ABSL_FLAG(bool, hnsw, true,
          "Also measure hnswlib (system 'hnswlib'; its ef in the nprobe "
          "column)");
ABSL_FLAG(int, hnsw_m, 16, "hnswlib: M (links per node; 2M on level 0)");
ABSL_FLAG(int, hnsw_ef_construction, 200, "hnswlib: efConstruction");
ABSL_FLAG(std::string, hnsw_ef, "10,16,24,32,48,64,96,128,192,256,384,512",
          "hnswlib: ef values to sweep (searchKnn uses max(ef, k))");
ABSL_FLAG(bool, kmeans, false,
          "Compare Quiver's KMeans with faiss::Clustering instead");
ABSL_FLAG(int, k, 1024, "--kmeans: clusters");
ABSL_FLAG(int, max_points_per_centroid, 256,
          "--kmeans: sample at most k * this many points (same sample for "
          "both systems)");

namespace quiver::bench {
namespace {

struct Dataset {
  std::string name;
  index::Metric metric = index::Metric::kL2;
  size_t dim = 0;
  size_t nb = 0;
  size_t nq = 0;
  size_t gt_k = 0;
  std::vector<float> base;     // nb * dim (normalised for cosine)
  std::vector<float> queries;  // nq * dim (normalised for cosine)
  std::vector<int32_t> gt;     // nq * gt_k
};

BenchMetric ToBenchMetric(index::Metric m) {
  return m == index::Metric::kL2 ? BenchMetric::kL2
                                 : BenchMetric::kInnerProduct;
}

absl::StatusOr<index::Metric> ParseMetric(const std::string& s) {
  if (s == "l2") return index::Metric::kL2;
  if (s == "ip") return index::Metric::kInnerProduct;
  if (s == "cosine") return index::Metric::kCosine;
  return absl::InvalidArgumentError(
      absl::StrCat("--metric must be l2, ip or cosine; got '", s, "'"));
}

absl::StatusOr<std::vector<size_t>> ParseList(const std::string& flag,
                                              const std::string& text) {
  std::vector<size_t> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    size_t v = 0;
    if (!absl::SimpleAtoi(part, &v) || v == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": '", part, "' in '", text,
                       "' is not a positive integer"));
    }
    out.push_back(v);
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " is empty"));
  }
  return out;
}

void Normalize(std::vector<float>& x, size_t dim) {
  if (dim == 0) return;
  index::NormalizeL2(x.data(), x.size() / dim, dim);
}

}  // namespace

// --train_threads, or every core when 0.
int TrainThreads() {
  const int t = absl::GetFlag(FLAGS_train_threads);
  if (t > 0) return t;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

namespace {

// Loads base and queries (files or --synthetic) and the ground truth.
// need_queries = false for --kmeans.
absl::StatusOr<Dataset> LoadDataset(bool need_queries) {
  Dataset ds;
  QUIVER_ASSIGN_OR_RETURN(ds.metric, ParseMetric(absl::GetFlag(FLAGS_metric)));
  const size_t max_base = absl::GetFlag(FLAGS_max_base) > 0
                              ? absl::GetFlag(FLAGS_max_base)
                              : SIZE_MAX;
  const size_t max_queries = absl::GetFlag(FLAGS_max_queries) > 0
                                 ? absl::GetFlag(FLAGS_max_queries)
                                 : SIZE_MAX;
  const std::string synthetic = absl::GetFlag(FLAGS_synthetic);
  bool have_gt = false;
  if (!synthetic.empty()) {
    if (!absl::GetFlag(FLAGS_base).empty()) {
      return absl::InvalidArgumentError(
          "give either --synthetic or --base/--query, not both");
    }
    QUIVER_ASSIGN_OR_RETURN(SyntheticSpec spec, ParseSyntheticSpec(synthetic));
    SyntheticMixture mix(spec.dim, spec.clusters, spec.seed);
    ds.name = absl::StrCat("synthetic ", synthetic);
    ds.dim = spec.dim;
    ds.nb = std::min(spec.n, max_base);
    ds.base = mix.Generate(kBaseStream, 0, ds.nb);
    if (need_queries) {
      ds.nq = std::min<size_t>(
          std::max(1, absl::GetFlag(FLAGS_synthetic_queries)), max_queries);
      ds.queries = mix.Generate(kQueryStream, 0, ds.nq);
    }
  } else {
    if (absl::GetFlag(FLAGS_base).empty()) {
      return absl::InvalidArgumentError(
          "need --base (and --query) or --synthetic N,D,CLUSTERS,SEED");
    }
    QUIVER_ASSIGN_OR_RETURN(VecsMatrix<float> base,
                            ReadFloatVecs(absl::GetFlag(FLAGS_base), max_base));
    ds.name = absl::GetFlag(FLAGS_base);
    ds.dim = base.dim;
    ds.nb = base.rows;
    ds.base = std::move(base.data);
    if (need_queries) {
      if (absl::GetFlag(FLAGS_query).empty()) {
        return absl::InvalidArgumentError("--base needs --query");
      }
      QUIVER_ASSIGN_OR_RETURN(
          VecsMatrix<float> q,
          ReadFloatVecs(absl::GetFlag(FLAGS_query), max_queries));
      if (q.dim != ds.dim) {
        return absl::InvalidArgumentError(absl::StrCat(
            "queries have dim ", q.dim, ", base has dim ", ds.dim));
      }
      ds.nq = q.rows;
      ds.queries = std::move(q.data);
      const std::string gt_path = absl::GetFlag(FLAGS_groundtruth);
      if (!gt_path.empty() && absl::GetFlag(FLAGS_max_base) == 0) {
        QUIVER_ASSIGN_OR_RETURN(VecsMatrix<int32_t> gt,
                                ReadIntVecs(gt_path, ds.nq));
        if (gt.rows < ds.nq) {
          return absl::InvalidArgumentError(absl::StrCat(
              gt_path, " has ", gt.rows, " rows for ", ds.nq, " queries"));
        }
        for (int32_t id : gt.data) {
          if (id < 0 || static_cast<size_t>(id) >= ds.nb) {
            return absl::InvalidArgumentError(
                absl::StrCat(gt_path, ": id ", id, " is outside the ", ds.nb,
                             " base vectors (ids must be 0-based)"));
          }
        }
        ds.gt_k = gt.dim;
        ds.gt = std::move(gt.data);
        have_gt = true;
      } else if (!gt_path.empty()) {
        std::printf(
            "note: --max_base set; ignoring %s, computing exact "
            "ground truth\n",
            gt_path.c_str());
      }
    }
  }
  if (ds.metric == index::Metric::kCosine) {
    Normalize(ds.base, ds.dim);
    Normalize(ds.queries, ds.dim);
  }
  if (need_queries && !have_gt) {
    const double t = NowSeconds();
    ds.gt_k = std::min<size_t>(10, ds.nb);
    SetComputeThreads(TrainThreads());
    QUIVER_ASSIGN_OR_RETURN(
        ds.gt, FaissGroundTruth(ToBenchMetric(ds.metric), ds.base.data(), ds.nb,
                                ds.queries.data(), ds.nq, ds.dim, ds.gt_k,
                                TrainThreads()));
    std::printf("exact ground truth (faiss::IndexFlat): %.2f s\n",
                NowSeconds() - t);
  }
  return ds;
}

// A seeded sample of `count` distinct rows of x (n * dim), in row order.
std::vector<float> SampleRows(const std::vector<float>& x, size_t n, size_t dim,
                              size_t count, uint64_t seed) {
  std::vector<size_t> rows(n);
  for (size_t i = 0; i < n; ++i) rows[i] = i;
  uint64_t state = seed ^ 0x5DEECE66DULL;
  for (size_t i = 0; i < count; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const size_t j = i + (state >> 33) % (n - i);
    std::swap(rows[i], rows[j]);
  }
  rows.resize(count);
  std::sort(rows.begin(), rows.end());
  std::vector<float> out(count * dim);
  for (size_t i = 0; i < count; ++i) {
    std::copy_n(&x[rows[i] * dim], dim, &out[i * dim]);
  }
  return out;
}

size_t AutoNlist(size_t nb) {
  const double target = 4 * std::sqrt(static_cast<double>(nb));
  size_t nlist = 1;
  while (nlist * 2 <= target) nlist *= 2;
  return nlist;
}

// Largest divisor m of dim with dim / m >= min_dsub.
size_t AutoM(size_t dim, size_t min_dsub) {
  for (size_t m = dim / min_dsub; m >= 1; --m) {
    if (dim % m == 0) return m;
  }
  return 1;
}

std::string ConfigName(size_t nlist, size_t m, size_t nbits, size_t rerank) {
  std::string s = absl::StrCat("IVF", nlist, ",PQ", m, "x", nbits);
  if (nbits == 4) s += "fs";
  if (rerank > 0) absl::StrAppend(&s, ",rerank", rerank);
  return s;
}

// One index under test in one configuration.
struct Candidate {
  std::string system;
  std::string config;
  Searcher* searcher = nullptr;
  size_t rerank = 0;
  double train_s = 0;
  double add_s = 0;
  double bytes_per_vector = 0;
  // Its own sweep (hnswlib's ef values); empty = the nprobe list.
  std::vector<size_t> sweep;
};

// Measures every candidate at every setting, interleaved (all candidates at
// their i-th setting, then the (i+1)-th), so that load changes on a shared
// machine hit all systems alike. Rows come out grouped by candidate.
absl::Status SweepAll(const std::vector<Candidate>& candidates,
                      const Dataset& ds, const std::vector<size_t>& nprobes,
                      std::vector<ResultRow>* rows) {
  MeasureOptions opt;
  opt.k = 10;
  opt.min_time_s = absl::GetFlag(FLAGS_min_time_s);
  opt.threads = std::max(1, absl::GetFlag(FLAGS_threads));
  opt.thread_cpu_clock = absl::GetFlag(FLAGS_clock) == "cpu";
  SetComputeThreads(opt.threads);
  std::vector<std::vector<ResultRow>> per(candidates.size());
  size_t steps = nprobes.size();
  for (const Candidate& cand : candidates) {
    steps = std::max(steps, cand.sweep.size());
  }
  for (size_t step = 0; step < steps; ++step) {
    for (size_t c = 0; c < candidates.size(); ++c) {
      const Candidate& cand = candidates[c];
      const std::vector<size_t>& sweep =
          cand.sweep.empty() ? nprobes : cand.sweep;
      if (step >= sweep.size()) continue;
      const size_t nprobe = sweep[step];
      const Measurement m = Measure(*cand.searcher, ds.queries.data(), ds.nq,
                                    ds.dim, ds.gt.data(), ds.gt_k, nprobe, opt);
      std::printf("  %-28s %-24s %-6s %4zu  R@1 %.4f  R@10 %.4f  %10.1f QPS\n",
                  cand.system.c_str(), cand.config.c_str(),
                  cand.sweep.empty() ? "nprobe" : "ef", nprobe, m.recall1,
                  m.recall10, m.qps);
      std::fflush(stdout);
      per[c].push_back({cand.system, cand.config, nprobe, cand.rerank,
                        m.recall1, m.recall10, m.qps, cand.train_s, cand.add_s,
                        cand.bytes_per_vector});
    }
  }
  for (std::vector<ResultRow>& r : per) {
    rows->insert(rows->end(), r.begin(), r.end());
  }
  return absl::OkStatus();
}

absl::Status RunIndexBench() {
  QUIVER_ASSIGN_OR_RETURN(Dataset ds, LoadDataset(/*need_queries=*/true));
  const int train_threads = TrainThreads();
  const int search_threads = std::max(1, absl::GetFlag(FLAGS_threads));
  PrintEnvironment(stdout, FaissFlavour(), train_threads, search_threads);
  std::printf(
      "Data:          %s: %zu base x %zu dim, %zu queries, metric %s, "
      "ground truth top-%zu\n",
      ds.name.c_str(), ds.nb, ds.dim, ds.nq,
      absl::GetFlag(FLAGS_metric).c_str(), ds.gt_k);

  QUIVER_ASSIGN_OR_RETURN(std::vector<size_t> nlists,
                          ParseList("nlist", absl::GetFlag(FLAGS_nlist)));
  for (size_t& nlist : nlists) {
    if (nlist == 0) nlist = AutoNlist(ds.nb);
  }
  QUIVER_ASSIGN_OR_RETURN(const std::vector<size_t> all_nprobes,
                          ParseList("nprobe", absl::GetFlag(FLAGS_nprobe)));

  // (nbits, m) configurations.
  std::vector<std::pair<size_t, size_t>> configs;
  const size_t m_flag = std::max(0, absl::GetFlag(FLAGS_m));
  const std::string nbits_flag = absl::GetFlag(FLAGS_nbits);
  if (nbits_flag == "8" || nbits_flag.empty()) {
    configs.emplace_back(8, m_flag > 0 ? m_flag : AutoM(ds.dim, 4));
  }
  if (nbits_flag == "4" || nbits_flag.empty()) {
    size_t m4 = AutoM(ds.dim, 2);
    if (m_flag > 0) {
      m4 = (nbits_flag.empty() && 2 * m_flag <= ds.dim &&
            ds.dim % (2 * m_flag) == 0)
               ? 2 * m_flag
               : m_flag;
    }
    configs.emplace_back(4, m4);
  }
  if (configs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--nbits must be 4 or 8 (or empty); got '", nbits_flag, "'"));
  }

  // hnswlib: built once, measured with the first configuration's sweep.
  std::vector<size_t> hnsw_efs;
  HnswBuilt hnsw;
  if (absl::GetFlag(FLAGS_hnsw)) {
    QUIVER_ASSIGN_OR_RETURN(hnsw_efs,
                            ParseList("hnsw_ef", absl::GetFlag(FLAGS_hnsw_ef)));
    if (!HnswIsaSupported()) {
      std::printf(
          "hnswlib: SKIPPED: compiled for %s, which this CPU lacks "
          "(configure with -DQUIVER_BENCH_HNSWLIB_ISA=generic)\n\n",
          HnswIsa().c_str());
    } else {
      HnswSetup hs;
      hs.metric = ToBenchMetric(ds.metric);
      hs.dim = ds.dim;
      hs.m = static_cast<size_t>(std::max(2, absl::GetFlag(FLAGS_hnsw_m)));
      hs.ef_construction = static_cast<size_t>(
          std::max(1, absl::GetFlag(FLAGS_hnsw_ef_construction)));
      hs.threads = train_threads;
      std::printf("[hnswlib] building HNSW%zu,efC%zu (%s) on %d threads...\n",
                  hs.m, hs.ef_construction, HnswIsa().c_str(), train_threads);
      std::fflush(stdout);
      QUIVER_ASSIGN_OR_RETURN(hnsw, BuildHnsw(hs, ds.base.data(), ds.nb));
      std::printf("  hnswlib: add %.2f s, %.1f bytes/vector\n", hnsw.add_s,
                  hnsw.bytes_per_vector);
    }
  }

  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  const size_t rerank = std::max(0, absl::GetFlag(FLAGS_rerank));
  const bool balanced = absl::GetFlag(FLAGS_balanced);
  std::vector<ResultRow> rows;
  for (const size_t nlist : nlists) {
    std::vector<size_t> nprobes = all_nprobes;
    nprobes.erase(std::remove_if(nprobes.begin(), nprobes.end(),
                                 [nlist](size_t p) { return p > nlist; }),
                  nprobes.end());
    if (nprobes.empty()) nprobes.push_back(nlist);
    size_t train_n = absl::GetFlag(FLAGS_train_size) > 0
                         ? static_cast<size_t>(absl::GetFlag(FLAGS_train_size))
                         : std::max<size_t>(64 * nlist, 65536);
    train_n = std::min(train_n, ds.nb);
    std::vector<float> train_sample;
    const float* train = ds.base.data();
    if (train_n < ds.nb) {
      train_sample = SampleRows(ds.base, ds.nb, ds.dim, train_n, seed);
      train = train_sample.data();
    }
    std::printf(
        "Setup:         nlist %zu, training sample %zu rows (same for "
        "both), niter %d, seed %llu, rerank %zu, quiver coarse k-means "
        "%s\nClocks:        QPS %s; train/add %s\n\n",
        nlist, train_n, absl::GetFlag(FLAGS_niter),
        static_cast<unsigned long long>(seed), rerank,
        balanced ? "BALANCED" : "plain",
        search_threads > 1                    ? "wall clock (batched)"
        : absl::GetFlag(FLAGS_clock) == "cpu" ? "searching thread's CPU time"
                                              : "wall clock",
        BuildClockIsProcessCpu() ? "process CPU time (1 training thread)"
                                 : "wall clock");

    for (const auto& [nbits, m] : configs) {
      IvfPqSetup setup;
      setup.metric = ToBenchMetric(ds.metric);
      setup.dim = ds.dim;
      setup.nlist = nlist;
      setup.m = m;
      setup.nbits = nbits;
      setup.niter = absl::GetFlag(FLAGS_niter);
      setup.seed = seed;
      setup.train_threads = train_threads;
      setup.rerank = rerank;
      if (ds.dim % m != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("m = ", m, " does not divide dim = ", ds.dim));
      }

      std::vector<Candidate> candidates;
      std::printf("[%s] training FAISS...\n",
                  ConfigName(nlist, m, nbits, 0).c_str());
      std::fflush(stdout);
      SetComputeThreads(train_threads);
      QUIVER_ASSIGN_OR_RETURN(
          std::vector<FaissBuilt> faiss_built,
          BuildFaissIvfPq(setup, train, train_n, ds.base.data(), ds.nb));
      for (FaissBuilt& b : faiss_built) {
        std::printf("  %s: train %.2f s, add %.2f s\n", b.system.c_str(),
                    b.train_s, b.add_s);
        candidates.push_back({b.system,
                              ConfigName(nlist, m, nbits, b.rerank),
                              b.searcher.get(),
                              b.rerank,
                              b.train_s,
                              b.add_s,
                              b.bytes_per_vector,
                              {}});
      }

      std::printf("[%s] training Quiver...\n",
                  ConfigName(nlist, m, nbits, 0).c_str());
      std::fflush(stdout);
      QUIVER_ASSIGN_OR_RETURN(
          QuiverBuilt q, BuildQuiverIvfPq(setup, ds.metric, balanced, train,
                                          train_n, ds.base.data(), ds.nb));
      const index::ListStats ls = q.index->list_stats();
      std::printf(
          "  quiver: train %.2f s, add %.2f s; lists min %zu, max %zu, "
          "mean %.1f\n",
          q.train_s, q.add_s, ls.min, ls.max, ls.mean);
      const std::string suffix = balanced ? ",balanced" : "";
      // One Quiver row per searcher: its config name (+ suffix + tag),
      // re-rank factor and bytes a vector.
      auto add_quiver = [&](Searcher* searcher, size_t rr,
                            const std::string& tag, double bytes) {
        candidates.push_back({"quiver",
                              ConfigName(nlist, m, nbits, rr) + suffix + tag,
                              searcher,
                              rr,
                              q.train_s,
                              q.add_s,
                              bytes,
                              {}});
      };
      if (nbits == 8 || rerank == 0) {
        add_quiver(q.plain.get(), 0, "", q.bytes_per_vector);
      }
      if (q.reranked != nullptr) {
        add_quiver(q.reranked.get(), rerank, "",
                   q.bytes_per_vector + 4.0 * ds.dim);
        // The server's re-ranking store: 2 * dim bytes and a scale.
        add_quiver(q.reranked_half.get(), rerank, ",fp16",
                   q.bytes_per_vector + 2.0 * ds.dim + 4.0);
        // 8-bit rows (dim + 12 bytes with the error bound), re-scored at full
        // precision where the bounds leave a doubt (index::Refine: from the
        // floats here; in a server they would be read from the store).
        add_quiver(q.reranked_byte.get(), rerank, ",sq8+refine",
                   q.bytes_per_vector + ds.dim + 12.0);
      }
      if (hnsw.searcher != nullptr) {
        candidates.push_back({"hnswlib", hnsw.config, hnsw.searcher.get(), 0, 0,
                              hnsw.add_s, hnsw.bytes_per_vector, hnsw_efs});
      }
      QUIVER_RETURN_IF_ERROR(SweepAll(candidates, ds, nprobes, &rows));
      hnsw.searcher.reset();  // measured once
    }
  }

  std::printf("\n");
  PrintTable(stdout, rows);
  PrintComparison(stdout, rows, absl::GetFlag(FLAGS_target_recall));
  PrintHnswComparison(stdout, rows, absl::GetFlag(FLAGS_target_recall));
  PrintBestOverall(stdout, rows, absl::GetFlag(FLAGS_target_recall));
  if (!IsOptimizedBuild()) {
    std::printf(
        "\nWARNING: not an optimized Release build; timings are NOT "
        "meaningful.\n");
  }
  const std::string csv = absl::GetFlag(FLAGS_csv);
  if (!csv.empty()) {
    QUIVER_RETURN_IF_ERROR(WriteCsv(csv, rows));
    std::printf("\nwrote %zu rows to %s\n", rows.size(), csv.c_str());
  }
  return absl::OkStatus();
}

absl::Status RunKMeansBench() {
  QUIVER_ASSIGN_OR_RETURN(Dataset ds, LoadDataset(/*need_queries=*/false));
  const int threads = TrainThreads();
  PrintEnvironment(stdout, FaissFlavour(), threads, threads);
  const size_t k = static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_k)));
  const int niter = absl::GetFlag(FLAGS_niter);
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  if (k > ds.nb) {
    return absl::InvalidArgumentError(
        absl::StrCat("--k ", k, " exceeds the ", ds.nb, " data points"));
  }
  const size_t max_ppc = static_cast<size_t>(
      std::max(1, absl::GetFlag(FLAGS_max_points_per_centroid)));
  const size_t n = std::min(ds.nb, k * max_ppc);
  std::vector<float> sample;
  const float* x = ds.base.data();
  if (n < ds.nb) {
    sample = SampleRows(ds.base, ds.nb, ds.dim, n, seed);
    x = sample.data();
  }
  const bool spherical = ds.metric == index::Metric::kCosine;
  std::printf(
      "Data:          %s: %zu x %zu; k-means on a sample of %zu "
      "(same rows for both), k %zu, niter %d, %s; times: %s\n\n",
      ds.name.c_str(), ds.nb, ds.dim, n, k, niter,
      spherical ? "spherical" : "L2",
      BuildClockIsProcessCpu() ? "process CPU time" : "wall clock");

  struct Run {
    std::string system, config;
    double seconds;
    int iterations;
    ClusterQuality q;
  };
  std::vector<Run> runs;
  const std::string cfg = absl::StrCat("k", k, ",niter", niter);
  {
    SetComputeThreads(threads);
    QUIVER_ASSIGN_OR_RETURN(
        FaissKMeansResult f,
        FaissKMeans(x, n, ds.dim, k, niter, seed, spherical, threads));
    QUIVER_ASSIGN_OR_RETURN(
        ClusterQuality q,
        EvaluateCentroids(x, n, ds.dim, f.centroids.data(), k));
    runs.push_back({"faiss_clustering", cfg, f.seconds, f.iterations, q});
  }
  for (bool balanced : {false, true}) {
    QUIVER_ASSIGN_OR_RETURN(QuiverKMeansRun r,
                            RunQuiverKMeans(x, n, ds.dim, k, niter, seed,
                                            balanced, spherical, threads));
    QUIVER_ASSIGN_OR_RETURN(
        ClusterQuality q,
        EvaluateCentroids(x, n, ds.dim, r.centroids.data(), k));
    runs.push_back({"quiver_kmeans", balanced ? cfg + ",balanced" : cfg,
                    r.seconds, r.iterations, q});
    // The first iteration whose objective (the mse of the centroids a run
    // stopped there would return) is at most FAISS's final mse, and its
    // share of the run's time (wall-clock fractions applied to `seconds`).
    const double faiss_mse = runs[0].q.mse;
    const double faiss_s = runs[0].seconds;
    const std::vector<double>& mse = r.mse_per_iteration;
    const std::vector<double>& at = r.seconds_per_iteration;
    size_t reach = mse.size();
    for (size_t i = 0; i < mse.size(); ++i) {
      if (mse[i] <= faiss_mse) {
        reach = i;
        break;
      }
    }
    if (reach < mse.size() && !at.empty() && at.back() > 0) {
      const double t = r.seconds * at[reach] / at.back();
      std::printf(
          "%s: reaches faiss_clustering's mse %.6g after iteration %zu "
          "(mse %.6g), ~%.3f s = %.2f x faiss's time\n",
          runs.back().config.c_str(), faiss_mse, reach + 1, mse[reach], t,
          faiss_s > 0 ? t / faiss_s : 0.0);
    } else {
      std::printf(
          "%s: does not reach faiss_clustering's mse %.6g (best %.6g)\n",
          runs.back().config.c_str(), faiss_mse,
          mse.empty() ? 0.0 : *std::min_element(mse.begin(), mse.end()));
    }
  }
  std::printf("%-18s %-26s %9s %5s %14s %8s %8s %6s %9s\n", "system", "config",
              "seconds", "iters", "mse", "min", "max", "empty", "max/mean");
  for (const Run& r : runs) {
    std::printf("%-18s %-26s %9.3f %5d %14.6g %8zu %8zu %6zu %9.2f\n",
                r.system.c_str(), r.config.c_str(), r.seconds, r.iterations,
                r.q.mse, r.q.min_size, r.q.max_size, r.q.empty, r.q.imbalance);
  }
  const Run& f = runs[0];
  for (size_t i = 1; i < runs.size(); ++i) {
    std::printf("%s vs faiss: time ratio %.2f, mse ratio %.4f\n",
                runs[i].config.c_str(), runs[i].seconds / f.seconds,
                f.q.mse > 0 ? runs[i].q.mse / f.q.mse : 0.0);
  }
  const std::string csv = absl::GetFlag(FLAGS_csv);
  if (!csv.empty()) {
    std::FILE* out = std::fopen(csv.c_str(), "w");
    if (out == nullptr) {
      return absl::InternalError(absl::StrCat("cannot create CSV '", csv, "'"));
    }
    std::fprintf(out,
                 "system,config,k,n_train,niter,threads,seconds,"
                 "iterations,mse,min_size,max_size,empty,imbalance\n");
    for (const Run& r : runs) {
      std::fprintf(out, "%s,%s,%zu,%zu,%d,%d,%.4f,%d,%.6g,%zu,%zu,%zu,%.4f\n",
                   r.system.c_str(), r.config.c_str(), k, n, niter, threads,
                   r.seconds, r.iterations, r.q.mse, r.q.min_size, r.q.max_size,
                   r.q.empty, r.q.imbalance);
    }
    if (std::fclose(out) != 0) {
      return absl::InternalError(absl::StrCat("writing '", csv, "' failed"));
    }
    std::printf("wrote %zu rows to %s\n", runs.size(), csv.c_str());
  }
  if (!IsOptimizedBuild()) {
    std::printf(
        "\nWARNING: not an optimized Release build; timings are NOT "
        "meaningful.\n");
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace quiver::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Quiver IVF-PQ vs FAISS. ann_bench --base B.fvecs --query Q.fvecs "
      "--groundtruth G.ivecs [...] | --synthetic N,D,CLUSTERS,SEED [...] | "
      "--kmeans --k K [...]");
  absl::ParseCommandLine(argc, argv);
  const std::string clock = absl::GetFlag(FLAGS_clock);
  if (clock != "cpu" && clock != "wall") {
    std::fprintf(stderr, "ann_bench: --clock must be cpu or wall; got '%s'\n",
                 clock.c_str());
    return 1;
  }
  quiver::bench::SetBuildClockProcessCpu(clock == "cpu" &&
                                         quiver::bench::TrainThreads() == 1);
  const absl::Status st = absl::GetFlag(FLAGS_kmeans)
                              ? quiver::bench::RunKMeansBench()
                              : quiver::bench::RunIndexBench();
  if (!st.ok()) {
    std::fprintf(stderr, "ann_bench: %s\n", st.ToString().c_str());
    return 1;
  }
  return 0;
}
