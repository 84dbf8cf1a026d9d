// The search for a collection's default search settings: the cheapest
// (nprobe, rerank) whose measured recall reaches an aim, with few
// measurements, and those mostly of cheap settings.
//
//   TuningResult r = FindCheapestSetting(nprobes, reranks, /*aim=*/0.97,
//                                        /*start_nprobe=*/16, cost, measure);
//   if (r.cancelled) return;
//   use(r.best.nprobe, r.best.rerank);  // r.reached: r.best reaches the aim
//
// Model: recall grows with nprobe at a fixed rerank and with rerank at a
// fixed nprobe, and cost(nprobe, rerank) grows with both. For each rerank
// (ascending) the answer is the smallest nprobe of the ladder reaching the
// aim, which can only shrink as rerank grows; only nprobes below the
// previous rerank's answer and cheaper than the best so far can improve on
// it. Each answer is found by galloping from a start (the previous
// defaults' nprobe for the first rerank, the previous answer for the
// others): one or two measurements when the defaults barely moved, and
// nprobes near the answer rather than the middle of the ladder (a binary
// search over 2,048 lists first measured nprobe 64-96 at every rerank).
// Under the model it returns what measuring every setting would.
//
// Pure logic: no locks, no I/O. Thread safety: none needed.
#ifndef QUIVER_SERVER_ENGINE_TUNING_H_
#define QUIVER_SERVER_ENGINE_TUNING_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"

namespace quiver::engine {

struct TuningChoice {
  uint32_t nprobe = 0;  // 0: none measured
  uint32_t rerank = 0;
  double recall = -1;
  double cost = 0;
};

struct TuningResult {
  // The cheapest setting reaching the aim; if none does, the one measured
  // with the highest recall.
  TuningChoice best;
  bool reached = false;
  bool cancelled = false;  // measure returned nullopt; best is partial
  size_t measured = 0;     // settings measured (each at most once)
};

// `nprobes` and `reranks` ascending and non-empty. `measure` returns the
// recall of a setting, or nullopt to stop the search (cancelled).
TuningResult FindCheapestSetting(
    absl::Span<const uint32_t> nprobes, absl::Span<const uint32_t> reranks,
    double aim, uint32_t start_nprobe,
    absl::FunctionRef<double(uint32_t nprobe, uint32_t rerank)> cost,
    absl::FunctionRef<std::optional<double>(uint32_t nprobe, uint32_t rerank)>
        measure);

}  // namespace quiver::engine

#endif  // QUIVER_SERVER_ENGINE_TUNING_H_
