// quiver bench: recall and throughput of a collection through the server.
#include <atomic>
#include <fstream>
#include <iostream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/cli/bench_stats.h"
#include "client/cli/commands.h"
#include "client/cli/common.h"
#include "client/readers.h"

namespace quiver::cli {
namespace {

struct Setting {
  int64_t nprobe;
  int64_t rerank;
  int64_t concurrency;
};

// Runs every query `repeat` times with `concurrency` threads, one query per
// request. found (first pass) and latencies are filled in.
absl::Status RunSetting(client::QuiverClient& client,
                        const std::string& collection,
                        const client::Matrix<float>& queries, size_t nq,
                        int64_t k, const Setting& s, int64_t repeat,
                        std::vector<std::vector<int64_t>>* found,
                        std::vector<double>* latencies_ms, double* wall_s) {
  found->assign(nq, {});
  latencies_ms->clear();
  const size_t total = nq * static_cast<size_t>(repeat);
  std::atomic<size_t> next{0};
  absl::Mutex mu;
  absl::Status error;
  bool bad_ids = false;
  auto worker = [&]() {
    std::vector<double> lat;
    v1::SearchRequest request;
    request.set_collection(collection);
    request.set_k(static_cast<uint32_t>(k));
    request.set_nprobe(static_cast<uint32_t>(s.nprobe));
    request.set_rerank(static_cast<uint32_t>(s.rerank));
    v1::Vector* q = request.add_queries();
    while (true) {
      const size_t i = next.fetch_add(1);
      if (i >= total) break;
      const size_t qi = i % nq;
      q->mutable_values()->Assign(queries.row(qi),
                                  queries.row(qi) + queries.dim);
      const absl::Time t0 = absl::Now();
      absl::StatusOr<v1::SearchResponse> r = client.Search(request);
      lat.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
      if (!r.ok() || r->results_size() != 1) {
        absl::MutexLock lock(&mu);
        if (error.ok()) {
          error = r.ok() ? absl::InternalError(absl::StrCat(
                               "Search returned ", r->results_size(),
                               " results for 1 query"))
                         : r.status();
        }
        next.store(total);
        break;
      }
      if (i < nq) {
        std::vector<int64_t> ids;
        for (const v1::Hit& h : r->results(0).hits()) {
          int64_t id = -1;
          if (!absl::SimpleAtoi(h.id(), &id)) {
            id = -1;
            bad_ids = true;
          }
          ids.push_back(id);
        }
        (*found)[qi] = std::move(ids);
      }
    }
    absl::MutexLock lock(&mu);
    latencies_ms->insert(latencies_ms->end(), lat.begin(), lat.end());
  };
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int64_t t = 0; t < s.concurrency; ++t) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();
  *wall_s = absl::ToDoubleSeconds(absl::Now() - start);
  if (bad_ids) {
    std::cerr << "quiver bench: warning: some hit ids are not row numbers; "
                 "recall assumes the collection was ingested with default "
                 "ids (0-based rows of the base file)\n";
  }
  return error;
}

}  // namespace

int RunBench(const std::vector<std::string>& args) {
  const std::string cmd = "bench";
  GlobalFlags global;
  std::string collection, queries_file, gt_file, format, csv_path, plot_path;
  std::string queries_dataset, gt_dataset;
  std::string nprobe_list = "1,2,4,8,16,32", rerank_list = "0",
              concurrency_list = "1";
  int64_t k = 10, limit = 0, repeat = 1, warmup = 100;
  FlagSet flags(
      "quiver bench",
      "--collection C --queries Q --groundtruth GT.ivecs|GT.hdf5 [-k 10] "
      "[--nprobe 1,2,4,...] [--rerank R] [--concurrency N] [--csv FILE] "
      "[--plot FILE.svg]",
      "Measures recall@1, recall@10, queries per second and latency "
      "percentiles through the server for every combination of --nprobe, "
      "--rerank and --concurrency (each a comma-separated list). One query "
      "per request; latency is the client-side round trip. Ground-truth ids "
      "are 0-based rows of the base file, so the collection must have been "
      "ingested with default ids (row numbers).\n"
      "ann-benchmarks: --queries F.hdf5 --groundtruth F.hdf5 takes the "
      "queries from the dataset 'test' and the neighbours from 'neighbors' "
      "(after `quiver ingest --collection C F.hdf5`, which loads 'train').\n"
      "CSV columns: nprobe,rerank,concurrency,recall_at_1,recall_at_10,qps,"
      "p50_ms,p95_ms,p99_ms. The SVG plots recall@10 against QPS (log), one "
      "line per rerank/concurrency, points labelled by nprobe.");
  flags.String("collection", &collection, "collection to query", "NAME");
  flags.String("queries", &queries_file, "query vectors (any input format)",
               "FILE");
  flags.String("format", &format, "format of --queries (default: extension)",
               "FMT");
  flags.String("groundtruth", &gt_file,
               "true neighbours per query (.ivecs or .hdf5, 0-based base "
               "rows, best first)",
               "FILE");
  flags.String("queries_dataset", &queries_dataset,
               "HDF5 --queries: the dataset (default: test)", "NAME");
  flags.String("groundtruth_dataset", &gt_dataset,
               "HDF5 --groundtruth: the integer dataset (default: neighbors)",
               "NAME");
  flags.Int("k", &k, "neighbours per query (recall@10 needs k >= 10)");
  flags.String("nprobe", &nprobe_list, "lists probed, e.g. 1,2,4,8", "LIST");
  flags.String("rerank", &rerank_list,
               "re-rank factors (0 = collection default)", "LIST");
  flags.String("concurrency", &concurrency_list, "concurrent clients (threads)",
               "LIST");
  flags.Int("limit", &limit, "use only the first N queries (0 = all)");
  flags.Int("repeat", &repeat, "passes over the queries per setting");
  flags.Int("warmup", &warmup, "warm-up queries before measuring");
  flags.String("csv", &csv_path, "write the results as CSV", "FILE");
  flags.String("plot", &plot_path, "write a recall-vs-QPS SVG plot", "FILE");
  AddGlobalFlags(&flags, &global);
  if (auto rc = ParseFlags(flags, args)) return *rc;
  if (collection.empty()) return UsageError(cmd, "missing --collection");
  if (queries_file.empty()) return UsageError(cmd, "missing --queries");
  if (gt_file.empty()) return UsageError(cmd, "missing --groundtruth");
  if (!flags.positional().empty()) {
    return UsageError(
        cmd, absl::StrCat("unexpected argument '", flags.positional()[0], "'"));
  }
  if (k < 1 || k > 1024) return UsageError(cmd, "-k must be in 1..1024");
  if (repeat < 1) return UsageError(cmd, "--repeat must be >= 1");
  std::vector<int64_t> nprobes, reranks, concurrencies;
  if (absl::Status s = ParseIntList(nprobe_list, "nprobe", &nprobes); !s.ok()) {
    return UsageError(cmd, s.message());
  }
  if (absl::Status s = ParseIntList(rerank_list, "rerank", &reranks); !s.ok()) {
    return UsageError(cmd, s.message());
  }
  if (absl::Status s =
          ParseIntList(concurrency_list, "concurrency", &concurrencies);
      !s.ok()) {
    return UsageError(cmd, s.message());
  }
  for (int64_t v : nprobes) {
    if (v < 0) return UsageError(cmd, "--nprobe values must be >= 0");
  }
  for (int64_t v : reranks) {
    if (v < 0) return UsageError(cmd, "--rerank values must be >= 0");
  }
  for (int64_t v : concurrencies) {
    if (v < 1 || v > 256) {
      return UsageError(cmd, "--concurrency values must be in 1..256");
    }
  }

  client::ReaderOptions ropts;
  if (!format.empty()) {
    absl::StatusOr<client::Format> f = client::ParseFormat(format);
    if (!f.ok()) return UsageError(cmd, f.status().message());
    ropts.format = *f;
  }
  // HDF5 queries (ann-benchmarks): 'test', not the reader's 'train'.
  ropts.dataset = queries_dataset.empty() ? "test" : queries_dataset;
  absl::StatusOr<client::Matrix<float>> queries = client::ReadVectors(
      queries_file, ropts, limit > 0 ? static_cast<size_t>(limit) : SIZE_MAX);
  if (!queries.ok()) return ReportError(cmd, queries.status());
  absl::StatusOr<client::Matrix<int32_t>> gt =
      client::ReadNeighbors(gt_file, SIZE_MAX, gt_dataset);
  if (!gt.ok()) return ReportError(cmd, gt.status());
  const size_t nq = std::min(queries->rows, gt->rows);
  if (queries->rows != gt->rows && limit == 0) {
    std::cerr << "quiver bench: warning: " << queries->rows << " queries but "
              << gt->rows << " ground-truth rows; using " << nq << "\n";
  }
  if (k < 10 || gt->dim < 10) {
    std::cerr << "quiver bench: warning: recall@10 compares the top "
              << std::min<int64_t>(k, 10) << " hits with the top "
              << std::min<size_t>(gt->dim, 10) << " true neighbours\n";
  }

  auto client_or = MakeClient(global);
  if (!client_or.ok()) return ReportError(cmd, client_or.status());
  client::QuiverClient& client = **client_or;
  absl::StatusOr<v1::CollectionInfo> info = client.GetCollection(collection);
  if (!info.ok()) return ReportError(cmd, info.status());
  if (info->dimension() != queries->dim) {
    return ReportError(
        cmd, absl::InvalidArgumentError(absl::StrCat(
                 "collection '", collection, "' has dimension ",
                 info->dimension(), " but the queries have ", queries->dim)));
  }
  if (info->state() != v1::COLLECTION_STATE_READY) {
    std::cerr << "quiver bench: warning: collection '" << collection << "' is "
              << StateName(info->state())
              << "; searches may be exact (train it first)\n";
  }
  std::cerr << absl::StrFormat(
      "bench '%s': %d vectors, dim %d, %s, nlist %d; %d queries, k=%d\n",
      collection, info->count(), info->dimension(), MetricName(info->metric()),
      info->index().nlist(), nq, k);
  if (info->state() == v1::COLLECTION_STATE_READY) {
    std::cerr << absl::StrFormat(
        "defaults (nprobe 0 / rerank 0): nprobe %d, rerank %d, measured "
        "recall@10 %.3f\n",
        info->index().nprobe(), info->index().rerank(),
        info->measured_recall());
  }
  // nprobe values above nlist would all mean "every list" (the server
  // clamps them): keep the first such value only, as nlist.
  const uint32_t nlist =
      info->state() == v1::COLLECTION_STATE_READY ? info->index().nlist() : 0;
  if (nlist > 0) {
    std::vector<int64_t> kept;
    bool all_lists = false;
    for (int64_t v : nprobes) {
      if (v <= static_cast<int64_t>(nlist) && v != nlist) {
        kept.push_back(v);
      } else if (!all_lists) {
        kept.push_back(nlist);
        all_lists = true;
      }
    }
    if (kept.size() != nprobes.size()) {
      std::cerr << "quiver bench: nprobe values above nlist " << nlist
                << " skipped (probing all lists once)\n";
    }
    nprobes = std::move(kept);
  }

  // Warm-up: connections, caches.
  if (warmup > 0) {
    std::vector<std::vector<int64_t>> found;
    std::vector<double> lat;
    double wall = 0;
    const Setting s{nprobes[0], reranks[0], 1};
    const size_t n = std::min<size_t>(nq, static_cast<size_t>(warmup));
    absl::Status st = RunSetting(client, collection, *queries, n, k, s, 1,
                                 &found, &lat, &wall);
    if (!st.ok()) return ReportError(cmd, st);
  }

  std::vector<BenchRow> rows;
  std::cout << absl::StrFormat(
      "%7s %7s %5s %10s %10s %10s %9s %9s %9s\n", "nprobe", "rerank", "conc",
      "recall@1", "recall@10", "QPS", "p50 ms", "p95 ms", "p99 ms");
  for (int64_t rerank : reranks) {
    for (int64_t conc : concurrencies) {
      for (int64_t nprobe : nprobes) {
        const Setting s{nprobe, rerank, conc};
        std::vector<std::vector<int64_t>> found;
        std::vector<double> lat;
        double wall = 0;
        absl::Status st = RunSetting(client, collection, *queries, nq, k, s,
                                     repeat, &found, &lat, &wall);
        if (!st.ok()) return ReportError(cmd, st);
        BenchRow r;
        r.nprobe = nprobe;
        r.rerank = rerank;
        r.concurrency = conc;
        r.recall_at_1 = RecallAtK(found, *gt, 1);
        r.recall_at_10 = RecallAtK(found, *gt, 10);
        r.qps = wall > 0 ? static_cast<double>(lat.size()) / wall : 0;
        r.p50_ms = Percentile(lat, 50);
        r.p95_ms = Percentile(lat, 95);
        r.p99_ms = Percentile(lat, 99);
        rows.push_back(r);
        std::cout << absl::StrFormat(
            "%7d %7d %5d %10.4f %10.4f %10.1f %9.3f %9.3f %9.3f\n", nprobe,
            rerank, conc, r.recall_at_1, r.recall_at_10, r.qps, r.p50_ms,
            r.p95_ms, r.p99_ms);
        std::cout.flush();
      }
    }
  }
  if (!csv_path.empty()) {
    std::ofstream out(csv_path);
    out << BenchCsvHeader();
    for (const BenchRow& r : rows) out << BenchCsvLine(r);
    out.close();
    if (!out) {
      return ReportError(
          cmd, absl::UnavailableError(absl::StrCat("cannot write ", csv_path)));
    }
    std::cerr << "wrote " << csv_path << "\n";
  }
  if (!plot_path.empty()) {
    std::ofstream out(plot_path);
    out << BenchPlotSvg(
        rows, absl::StrFormat("quiver bench: %s (%s vectors, %d queries, k=%d)",
                              collection, FormatCount(info->count()), nq, k));
    out.close();
    if (!out) {
      return ReportError(cmd, absl::UnavailableError(
                                  absl::StrCat("cannot write ", plot_path)));
    }
    std::cerr << "wrote " << plot_path << "\n";
  }
  return kExitOk;
}

}  // namespace quiver::cli
