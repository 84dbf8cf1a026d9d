#include "client/cli/bench_stats.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/cli/plot.h"

namespace quiver::cli {

double RecallAtK(const std::vector<std::vector<int64_t>>& found,
                 const client::Matrix<int32_t>& truth, size_t k) {
  const size_t nq = std::min(found.size(), truth.rows);
  if (nq == 0 || k == 0) return 0;
  double sum = 0;
  for (size_t q = 0; q < nq; ++q) {
    std::set<int64_t> gt;
    for (size_t j = 0; j < k && j < truth.dim; ++j) gt.insert(truth.row(q)[j]);
    size_t hits = 0;
    for (size_t j = 0; j < k && j < found[q].size(); ++j) {
      if (found[q][j] >= 0) hits += gt.count(found[q][j]);
    }
    sum += static_cast<double>(hits) / static_cast<double>(k);
  }
  return sum / static_cast<double>(nq);
}

double Percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
  const size_t i = static_cast<size_t>(std::max(1.0, rank)) - 1;
  return values[std::min(i, values.size() - 1)];
}

std::string BenchCsvHeader() {
  return "nprobe,rerank,concurrency,recall_at_1,recall_at_10,qps,p50_ms,"
         "p95_ms,p99_ms\n";
}

std::string BenchCsvLine(const BenchRow& r) {
  return absl::StrFormat("%d,%d,%d,%.4f,%.4f,%.1f,%.3f,%.3f,%.3f\n", r.nprobe,
                         r.rerank, r.concurrency, r.recall_at_1, r.recall_at_10,
                         r.qps, r.p50_ms, r.p95_ms, r.p99_ms);
}

std::string BenchPlotSvg(const std::vector<BenchRow>& rows,
                         const std::string& title) {
  std::map<std::pair<int64_t, int64_t>, std::vector<BenchRow>> groups;
  for (const BenchRow& r : rows) groups[{r.rerank, r.concurrency}].push_back(r);
  std::vector<PlotSeries> series;
  double min_recall = 1;
  for (auto& [key, group] : groups) {
    std::sort(group.begin(), group.end(),
              [](const BenchRow& a, const BenchRow& b) {
                return a.nprobe < b.nprobe;
              });
    PlotSeries s;
    s.name = absl::StrCat("rerank ", key.first, ", ", key.second,
                          key.second == 1 ? " client" : " clients");
    for (const BenchRow& r : group) {
      s.points.push_back({r.recall_at_10, r.qps, absl::StrCat(r.nprobe)});
      min_recall = std::min(min_recall, r.recall_at_10);
    }
    series.push_back(std::move(s));
  }
  PlotOptions o;
  o.title = title;
  o.x_label = "recall@10";
  o.y_label = "queries per second";
  o.log_y = true;
  o.x_min = std::max(0.0, std::floor(min_recall * 10 - 0.5) / 10);
  o.x_max = 1.02;  // room for the points at recall 1.0 and their labels
  o.legend_note = "point labels: nprobe";
  return RenderSvgPlot(series, o);
}

}  // namespace quiver::cli
