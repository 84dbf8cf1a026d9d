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
// the answer is the smallest nprobe of the ladder reaching the aim, which
// can only grow as rerank shrinks. The reranks are taken largest first:
// its answer is the smallest nprobe (found from the defaults in force,
// down by galloping or up one ladder step at a time), and its cost caps
// how far up the ladder each smaller rerank is measured, from the previous
// answer up. Ascending with a binary search over the whole ladder, a
// rerank too small to reach the aim at any nprobe was measured up to
// nprobe = nlist, a full scan per query: most of the time of a
// measurement of the defaults (2,048 lists, 96-d: 20-36 s). Under the
// model it returns what measuring every setting would.
//
// Pure logic: no locks, no I/O. Thread safety: none needed.
#ifndef QUIVER_SERVER_ENGINE_TUNING_H_
#define QUIVER_SERVER_ENGINE_TUNING_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

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

// The settings tried for an index of `nlist` lists: nprobe in steps of
// about 1.5x (1, 2, 3, 4, 6, 8, 12, ...) up to nlist, rerank in 2, 3, 4, 5,
// 6, 8, 10, 12, 16 (a step of rerank moves recall about as much as one of
// nprobe). Doubling steps made the defaults a coin toss near the aim: an
// index measuring just under it at nprobe 8 went to 16 and paid twice the
// scan for recall it was not asked for (stream_bench at 768-d: 0.76x a
// fresh build's QPS).
std::vector<uint32_t> NprobeLadder(uint32_t nlist);
inline constexpr uint32_t kRerankLadder[] = {2, 3, 4, 5, 6, 8, 10, 12, 16};

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
