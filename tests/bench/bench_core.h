// The measurement and reporting core of ann_bench: a Searcher interface that
// both Quiver and FAISS implement, recall/QPS measurement over a query set,
// result rows, the CSV file and the quiver/faiss comparison summary.
//
//   Measurement m = Measure(searcher, queries, nq, dim, gt, gt_k, nprobe, opt);
//   rows.push_back({"quiver", "IVF256,PQ16x8", nprobe, 0, m.recall1, ...});
//   PrintComparison(stdout, rows, /*target_recall=*/0.95);
//
// Thread safety: free functions without shared state; a Searcher is used by
// one thread at a time (it may fan out internally in SearchBatch).
#ifndef QUIVER_TESTS_BENCH_BENCH_CORE_H_
#define QUIVER_TESTS_BENCH_BENCH_CORE_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace quiver::bench {

// One index under test, already trained and filled.
class Searcher {
 public:
  virtual ~Searcher() = default;
  // Inverted lists probed by the following searches.
  virtual void SetNprobe(size_t nprobe) = 0;
  // k nearest of one query (dim floats) into ids (k entries, -1 = none),
  // on the calling thread only.
  virtual void Search(const float* query, size_t k, int64_t* ids) = 0;
  // nq queries at once with `threads` workers; ids: nq * k.
  virtual void SearchBatch(const float* queries, size_t nq, size_t k,
                           int threads, int64_t* ids) = 0;
};

struct MeasureOptions {
  size_t k = 10;
  // Keep repeating the query set until the timed passes add up to this many
  // seconds (0 = time the single first pass).
  double min_time_s = 0.5;
  // 1 = one query at a time on this thread (Search); > 1 = SearchBatch.
  int threads = 1;
  // With threads == 1: time with this thread's CPU clock instead of the wall
  // clock. Search runs entirely on the calling thread, so on an idle machine
  // both agree; on a shared, busy machine the CPU clock leaves out the time
  // the thread waited for a core (cache interference still counts).
  bool thread_cpu_clock = false;
};

struct Measurement {
  double recall1 = 0;   // fraction of queries whose true nearest is first
  double recall10 = 0;  // mean |found top-10 ∩ true top-10| / 10
  double qps = 0;
  size_t queries_timed = 0;
};

// Runs the nq queries (nq * dim floats) at `nprobe`, scores them against the
// ground truth (nq * gt_k ids, nearest first) and times them.
Measurement Measure(Searcher& searcher, const float* queries, size_t nq,
                    size_t dim, const int32_t* gt, size_t gt_k, size_t nprobe,
                    const MeasureOptions& options);

// One line of the results (and of the CSV file).
struct ResultRow {
  std::string system;  // quiver, faiss_ivfpq, faiss_ivfpq_refine, ...
  std::string config;  // e.g. "IVF1024,PQ32x4fs,rerank4"; equal on both sides
  size_t nprobe = 0;
  size_t rerank = 0;
  double recall1 = 0;
  double recall10 = 0;
  double qps = 0;
  double train_s = 0;
  double add_s = 0;
  double bytes_per_vector = 0;
};

// "system,config,nprobe,rerank,recall_at_1,recall_at_10,qps,train_s,add_s,
// bytes_per_vector". Fields holding commas (config) are double-quoted
// (RFC 4180), e.g. faiss_ivfpq,"IVF256,PQ32x8",8,0,...
const char* CsvHeader();
// Writes the header and the rows; INTERNAL on I/O failure.
absl::Status WriteCsv(const std::string& path,
                      const std::vector<ResultRow>& rows);

// A readable table of all rows.
void PrintTable(std::FILE* out, const std::vector<ResultRow>& rows);

// For each config run by both Quiver and a FAISS system: QPS and recall side
// by side at each nprobe with the QPS ratio quiver/faiss, and the QPS of
// each system at its cheapest setting reaching recall@10 >= target_recall.
void PrintComparison(std::FILE* out, const std::vector<ResultRow>& rows,
                     double target_recall);

// For each Quiver config: its QPS at its cheapest setting reaching
// recall@10 >= target_recall against hnswlib's (system "hnswlib", whose rows
// hold ef in the nprobe column) and the ratio quiver/hnswlib.
void PrintHnswComparison(std::FILE* out, const std::vector<ResultRow>& rows,
                         double target_recall);

// Across every config of the run (several nlists, bit widths, re-rank
// stores): each system's cheapest row reaching recall@10 >= target_recall,
// and Quiver's best over FAISS's best (any FAISS system) and over hnswlib's.
void PrintBestOverall(std::FILE* out, const std::vector<ResultRow>& rows,
                      double target_recall);

// Seconds since an arbitrary fixed point (steady clock).
double NowSeconds();
// CPU seconds consumed by the calling thread (user + system).
double ThreadCpuSeconds();
// CPU seconds (user + system, all threads) used so far by process `pid`,
// from /proc/PID/stat (clock ticks, 10 ms); -1 if unreadable.
double ProcessCpuSeconds(int pid);

// The clock for training and adding times (BuildSeconds()): the wall clock
// (default), or the CPU time of the whole process, which on a shared, busy
// machine leaves out time spent waiting for a core. Only meaningful with one
// training thread: with more, CPU time adds up across threads (and counts
// OpenMP's spin-waiting). Set once from main() before any build.
void SetBuildClockProcessCpu(bool process_cpu);
bool BuildClockIsProcessCpu();
double BuildSeconds();

}  // namespace quiver::bench

#endif  // QUIVER_TESTS_BENCH_BENCH_CORE_H_
