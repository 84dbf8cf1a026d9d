// Measurement helpers for `quiver bench`: recall against ground truth,
// latency percentiles and the CSV/plot output.
//
// Thread safety: pure functions.
#ifndef QUIVER_CLIENT_CLI_BENCH_STATS_H_
#define QUIVER_CLIENT_CLI_BENCH_STATS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "client/readers.h"

namespace quiver::cli {

// Mean over queries of |found[q][:k] ∩ truth[q][:k]| / k. found[q] holds the
// returned ids best first (-1 for an id that is not a row number; it never
// matches). Queries beyond truth.rows are ignored. REQUIRES: k >= 1.
double RecallAtK(const std::vector<std::vector<int64_t>>& found,
                 const client::Matrix<int32_t>& truth, size_t k);

// Nearest-rank percentile (p in (0, 100]) of `values`, which it sorts;
// 0 for an empty vector.
double Percentile(std::vector<double>& values, double p);

// One measured setting: a row of the CSV.
struct BenchRow {
  int64_t nprobe = 0;
  int64_t rerank = 0;
  int64_t concurrency = 1;
  double recall_at_1 = 0;
  double recall_at_10 = 0;
  double qps = 0;
  double p50_ms = 0;
  double p95_ms = 0;
  double p99_ms = 0;
};

// The CSV header line (with "\n"):
// nprobe,rerank,concurrency,recall_at_1,recall_at_10,qps,p50_ms,p95_ms,p99_ms
std::string BenchCsvHeader();
std::string BenchCsvLine(const BenchRow& row);

// Recall@10 (x) against QPS (y, log scale), one series per
// (rerank, concurrency), points labelled by nprobe.
std::string BenchPlotSvg(const std::vector<BenchRow>& rows,
                         const std::string& title);

}  // namespace quiver::cli

#endif  // QUIVER_CLIENT_CLI_BENCH_STATS_H_
