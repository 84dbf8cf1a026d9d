#include "tests/bench/bench_core.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace quiver::bench {
namespace {

void RunPass(Searcher& searcher, const float* queries, size_t nq, size_t dim,
             const MeasureOptions& options, int64_t* ids) {
  if (options.threads <= 1) {
    for (size_t i = 0; i < nq; ++i) {
      searcher.Search(queries + i * dim, options.k, ids + i * options.k);
    }
  } else {
    searcher.SearchBatch(queries, nq, options.k, options.threads, ids);
  }
}

// The row with the highest QPS among those of (system, config) reaching
// target_recall, or nullptr.
const ResultRow* CheapestReaching(const std::vector<ResultRow>& rows,
                                  const std::string& system,
                                  const std::string& config,
                                  double target_recall) {
  const ResultRow* best = nullptr;
  for (const ResultRow& r : rows) {
    if (r.system != system || r.config != config) continue;
    if (r.recall10 < target_recall) continue;
    if (best == nullptr || r.qps > best->qps) best = &r;
  }
  return best;
}

double BestRecall(const std::vector<ResultRow>& rows, const std::string& system,
                  const std::string& config) {
  double best = 0;
  for (const ResultRow& r : rows) {
    if (r.system == system && r.config == config) {
      best = std::max(best, r.recall10);
    }
  }
  return best;
}

std::string Describe(const ResultRow* r, const std::vector<ResultRow>& rows,
                     const std::string& system, const std::string& config) {
  if (r == nullptr) {
    return absl::StrFormat("not reached (best R@10 %.3f)",
                           BestRecall(rows, system, config));
  }
  return absl::StrFormat("nprobe %zu, R@10 %.3f, %.0f QPS", r->nprobe,
                         r->recall10, r->qps);
}

// RFC 4180 quoting for a field that holds commas (configs do).
std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

// Quiver configs may carry ",balanced" (a Quiver-only option); they pair
// with the FAISS config without it.
std::string PairKey(const std::string& config) {
  const std::string tag = ",balanced";
  std::string key = config;
  const size_t pos = key.find(tag);
  if (pos != std::string::npos) key.erase(pos, tag.size());
  return key;
}

}  // namespace

double NowSeconds() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

namespace {
bool build_clock_process_cpu = false;
}  // namespace

void SetBuildClockProcessCpu(bool process_cpu) {
  build_clock_process_cpu = process_cpu;
}

bool BuildClockIsProcessCpu() { return build_clock_process_cpu; }

double ProcessCpuSeconds(int pid) {
  std::FILE* f = std::fopen(absl::StrFormat("/proc/%d/stat", pid).c_str(), "r");
  if (f == nullptr) return -1;
  char buf[2048];
  const size_t len = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[len] = '\0';
  // Fields after the command name (which may hold spaces) start after ')':
  // state is field 3; utime and stime are fields 14 and 15.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return -1;
  unsigned long long utime = 0, stime = 0;  // NOLINT(runtime/int)
  if (std::sscanf(p + 2,
                  "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                  &utime, &stime) != 2) {
    return -1;
  }
  return static_cast<double>(utime + stime) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

double BuildSeconds() {
  if (!build_clock_process_cpu) return NowSeconds();
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

Measurement Measure(Searcher& searcher, const float* queries, size_t nq,
                    size_t dim, const int32_t* gt, size_t gt_k, size_t nprobe,
                    const MeasureOptions& options) {
  Measurement m;
  if (nq == 0) return m;
  const size_t k = options.k;
  const bool cpu = options.thread_cpu_clock && options.threads <= 1;
  auto now = cpu ? ThreadCpuSeconds : NowSeconds;
  searcher.SetNprobe(nprobe);
  std::vector<int64_t> ids(nq * k, -1);
  const double t0 = now();
  RunPass(searcher, queries, nq, dim, options, ids.data());
  const double first = now() - t0;

  // Recall of the first pass.
  const size_t k10 = std::min<size_t>({10, k, gt_k});
  double hits1 = 0, hits10 = 0;
  for (size_t q = 0; q < nq; ++q) {
    const int64_t* found = &ids[q * k];
    const int32_t* truth = gt + q * gt_k;
    if (found[0] == truth[0]) hits1 += 1;
    for (size_t i = 0; i < k10; ++i) {
      if (found[i] < 0) continue;
      for (size_t j = 0; j < k10; ++j) {
        if (found[i] == truth[j]) {
          hits10 += 1;
          break;
        }
      }
    }
  }
  m.recall1 = hits1 / nq;
  m.recall10 = k10 == 0 ? 0 : hits10 / (nq * k10);

  // Timing: the first pass counts when it is long enough by itself (it then
  // dominates any cold-cache effect); otherwise it is a warm-up.
  if (options.min_time_s <= 0 || first >= 2 * options.min_time_s) {
    m.qps = nq / std::max(first, 1e-9);
    m.queries_timed = nq;
    return m;
  }
  double elapsed = 0;
  size_t done = 0;
  while (elapsed < options.min_time_s) {
    const double t = now();
    RunPass(searcher, queries, nq, dim, options, ids.data());
    elapsed += now() - t;
    done += nq;
  }
  m.qps = done / std::max(elapsed, 1e-9);
  m.queries_timed = done;
  return m;
}

const char* CsvHeader() {
  return "system,config,nprobe,rerank,recall_at_1,recall_at_10,qps,train_s,"
         "add_s,bytes_per_vector";
}

absl::Status WriteCsv(const std::string& path,
                      const std::vector<ResultRow>& rows) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create CSV '", path, "'"));
  }
  std::fprintf(f, "%s\n", CsvHeader());
  for (const ResultRow& r : rows) {
    std::fprintf(f, "%s,%s,%zu,%zu,%.4f,%.4f,%.1f,%.3f,%.3f,%.2f\n",
                 CsvField(r.system).c_str(), CsvField(r.config).c_str(),
                 r.nprobe, r.rerank, r.recall1, r.recall10, r.qps, r.train_s,
                 r.add_s, r.bytes_per_vector);
  }
  if (std::fclose(f) != 0) {
    return absl::InternalError(absl::StrCat("writing CSV '", path, "' failed"));
  }
  return absl::OkStatus();
}

void PrintTable(std::FILE* out, const std::vector<ResultRow>& rows) {
  std::fprintf(out, "%-28s %-26s %6s %6s %7s %7s %10s %8s %8s %8s\n", "system",
               "config", "nprobe", "rerank", "R@1", "R@10", "QPS", "train_s",
               "add_s", "B/vec");
  for (const ResultRow& r : rows) {
    std::fprintf(
        out, "%-28s %-26s %6zu %6zu %7.4f %7.4f %10.1f %8.2f %8.2f %8.1f\n",
        r.system.c_str(), r.config.c_str(), r.nprobe, r.rerank, r.recall1,
        r.recall10, r.qps, r.train_s, r.add_s, r.bytes_per_vector);
  }
}

void PrintComparison(std::FILE* out, const std::vector<ResultRow>& rows,
                     double target_recall) {
  // config -> FAISS systems that ran it, in first-seen order.
  std::vector<std::string> configs;
  std::map<std::string, std::vector<std::string>> faiss_systems;
  for (const ResultRow& r : rows) {
    if (r.system == "quiver") {
      if (std::find(configs.begin(), configs.end(), r.config) ==
          configs.end()) {
        configs.push_back(r.config);
      }
    } else {
      std::vector<std::string>& s = faiss_systems[PairKey(r.config)];
      if (std::find(s.begin(), s.end(), r.system) == s.end()) {
        s.push_back(r.system);
      }
    }
  }
  for (const std::string& config : configs) {
    const std::string key = PairKey(config);
    for (const std::string& fsys : faiss_systems[key]) {
      std::fprintf(out, "\n%s: quiver vs %s\n", config.c_str(), fsys.c_str());
      std::fprintf(out, "  %6s %8s %8s %10s %10s %9s\n", "nprobe", "q.R@10",
                   "f.R@10", "q.QPS", "f.QPS", "QPS q/f");
      const ResultRow* qtrain = nullptr;
      const ResultRow* ftrain = nullptr;
      for (const ResultRow& q : rows) {
        if (q.system != "quiver" || q.config != config) continue;
        qtrain = &q;
        for (const ResultRow& f : rows) {
          if (f.system != fsys || f.config != key || f.nprobe != q.nprobe) {
            continue;
          }
          ftrain = &f;
          std::fprintf(out, "  %6zu %8.4f %8.4f %10.1f %10.1f %9.2f\n",
                       q.nprobe, q.recall10, f.recall10, q.qps, f.qps,
                       f.qps > 0 ? q.qps / f.qps : 0.0);
        }
      }
      const ResultRow* qb =
          CheapestReaching(rows, "quiver", config, target_recall);
      const ResultRow* fb = CheapestReaching(rows, fsys, key, target_recall);
      std::fprintf(out, "  at R@10 >= %.2f: quiver %s | %s %s", target_recall,
                   Describe(qb, rows, "quiver", config).c_str(), fsys.c_str(),
                   Describe(fb, rows, fsys, key).c_str());
      if (qb != nullptr && fb != nullptr && fb->qps > 0) {
        std::fprintf(out, " | ratio %.2f", qb->qps / fb->qps);
      }
      std::fprintf(out, "\n");
      if (qtrain != nullptr && ftrain != nullptr) {
        std::fprintf(out,
                     "  train %.2f s vs %.2f s, add %.2f s vs %.2f s, "
                     "%.1f vs %.1f bytes/vector\n",
                     qtrain->train_s, ftrain->train_s, qtrain->add_s,
                     ftrain->add_s, qtrain->bytes_per_vector,
                     ftrain->bytes_per_vector);
      }
    }
  }
}

void PrintHnswComparison(std::FILE* out, const std::vector<ResultRow>& rows,
                         double target_recall) {
  std::vector<std::string> quiver_configs;
  std::string hnsw_config;
  for (const ResultRow& r : rows) {
    if (r.system == "quiver" &&
        std::find(quiver_configs.begin(), quiver_configs.end(), r.config) ==
            quiver_configs.end()) {
      quiver_configs.push_back(r.config);
    }
    if (r.system == "hnswlib" && hnsw_config.empty()) hnsw_config = r.config;
  }
  if (hnsw_config.empty()) return;
  const ResultRow* hb =
      CheapestReaching(rows, "hnswlib", hnsw_config, target_recall);
  const std::string hnsw_best =
      hb == nullptr ? Describe(hb, rows, "hnswlib", hnsw_config)
                    : absl::StrFormat("ef %zu, R@10 %.3f, %.0f QPS", hb->nprobe,
                                      hb->recall10, hb->qps);
  std::fprintf(out, "\nquiver vs hnswlib %s at R@10 >= %.2f: hnswlib %s\n",
               hnsw_config.c_str(), target_recall, hnsw_best.c_str());
  for (const std::string& config : quiver_configs) {
    const ResultRow* qb =
        CheapestReaching(rows, "quiver", config, target_recall);
    std::fprintf(out, "  %-32s quiver %s", config.c_str(),
                 Describe(qb, rows, "quiver", config).c_str());
    if (qb != nullptr && hb != nullptr && hb->qps > 0) {
      std::fprintf(out, " | ratio quiver/hnswlib %.2f", qb->qps / hb->qps);
    }
    std::fprintf(out, "\n");
  }
}

void PrintBestOverall(std::FILE* out, const std::vector<ResultRow>& rows,
                      double target_recall) {
  // system -> its cheapest row reaching the target, in first-seen order.
  std::vector<std::string> systems;
  std::map<std::string, const ResultRow*> best;
  for (const ResultRow& r : rows) {
    if (best.find(r.system) == best.end()) {
      systems.push_back(r.system);
      best[r.system] = nullptr;
    }
    const ResultRow*& b = best[r.system];
    if (r.recall10 >= target_recall && (b == nullptr || r.qps > b->qps)) {
      b = &r;
    }
  }
  std::fprintf(out,
               "\nbest setting per system over all configs, R@10 >= %.2f:\n",
               target_recall);
  const ResultRow* faiss = nullptr;
  for (const std::string& s : systems) {
    const ResultRow* b = best[s];
    if (b == nullptr) {
      std::fprintf(out, "  %-30s not reached\n", s.c_str());
      continue;
    }
    std::fprintf(out, "  %-30s %-36s %s %4zu  R@10 %.3f  %10.1f QPS\n",
                 s.c_str(), b->config.c_str(),
                 s == "hnswlib" ? "ef    " : "nprobe", b->nprobe, b->recall10,
                 b->qps);
    if (s != "quiver" && s != "hnswlib" &&
        (faiss == nullptr || b->qps > faiss->qps)) {
      faiss = b;
    }
  }
  const ResultRow* q = best.count("quiver") ? best["quiver"] : nullptr;
  const ResultRow* h = best.count("hnswlib") ? best["hnswlib"] : nullptr;
  if (q != nullptr && faiss != nullptr && faiss->qps > 0) {
    std::fprintf(out, "  quiver / best FAISS (%s): %.2f\n",
                 faiss->system.c_str(), q->qps / faiss->qps);
  }
  if (q != nullptr && h != nullptr && h->qps > 0) {
    std::fprintf(out, "  quiver / hnswlib: %.2f\n", q->qps / h->qps);
  }
}

}  // namespace quiver::bench
