#include "server/engine/tuning.h"

#include <algorithm>
#include <vector>

namespace quiver::engine {

TuningResult FindCheapestSetting(
    absl::Span<const uint32_t> nprobes, absl::Span<const uint32_t> reranks,
    double aim, uint32_t start_nprobe,
    absl::FunctionRef<double(uint32_t nprobe, uint32_t rerank)> cost,
    absl::FunctionRef<std::optional<double>(uint32_t nprobe, uint32_t rerank)>
        measure) {
  TuningResult out;
  TuningChoice most;
  const size_t n = nprobes.size();
  if (n == 0 || reranks.empty()) return out;
  // The recall measured at each nprobe index for the current rerank.
  std::vector<double> recall(n);
  auto reaches = [&](size_t i, uint32_t rerank) {
    if (out.cancelled) return false;
    const std::optional<double> r = measure(nprobes[i], rerank);
    if (!r.has_value()) {
      out.cancelled = true;
      return false;
    }
    ++out.measured;
    recall[i] = *r;
    if (*r > most.recall) {
      most = {nprobes[i], rerank, *r, cost(nprobes[i], rerank)};
    }
    return *r >= aim;
  };
  // The smallest index in [0, top) reaching the aim at `rerank`, galloping
  // from g (< top): `top` if none does (or the search was cancelled).
  auto smallest = [&](size_t top, size_t g, uint32_t rerank) -> size_t {
    size_t good = top;  // the smallest index known to reach
    size_t bad = 0;     // every index below `floor` is known to fail
    size_t floor = 0;
    if (reaches(g, rerank)) {
      good = g;
      for (size_t step = 1; good > 0; step *= 2) {
        const size_t t = good > step ? good - step : 0;
        if (reaches(t, rerank)) {
          good = t;
        } else {
          if (out.cancelled) return top;
          floor = t + 1;
          break;
        }
      }
    } else {
      if (out.cancelled) return top;
      bad = g;
      for (size_t step = 1; bad + 1 < top; step *= 2) {
        const size_t t = std::min(top - 1, bad + step);
        if (reaches(t, rerank)) {
          good = t;
          break;
        }
        if (out.cancelled) return top;
        bad = t;
      }
      if (good == top) return top;
      floor = bad + 1;
    }
    // Binary search over [floor, good): good reaches, floor - 1 fails.
    while (floor < good) {
      const size_t mid = floor + (good - floor) / 2;
      if (reaches(mid, rerank)) {
        good = mid;
      } else {
        if (out.cancelled) return top;
        floor = mid + 1;
      }
    }
    return good;
  };
  const size_t start = static_cast<size_t>(
      std::upper_bound(nprobes.begin(), nprobes.end(), start_nprobe) -
      nprobes.begin());
  size_t hi = n;  // the previous rerank's answer (n: none yet)
  for (uint32_t rerank : reranks) {
    // Only nprobes below the previous answer can improve on it (the same
    // nprobe with a larger rerank costs more), and only cheaper ones.
    size_t top = hi;
    while (top > 0 && out.best.nprobe != 0 &&
           cost(nprobes[top - 1], rerank) >= out.best.cost) {
      --top;
    }
    // Even nprobe 1 costs more than the best: so will every larger rerank.
    if (top == 0) break;
    const size_t g =
        hi == n ? std::min(start == 0 ? 0 : start - 1, top - 1) : top - 1;
    const size_t f = smallest(top, g, rerank);
    if (out.cancelled) break;
    if (f == top) continue;
    const TuningChoice c = {nprobes[f], rerank, recall[f],
                            cost(nprobes[f], rerank)};
    if (out.best.nprobe == 0 || c.cost < out.best.cost) out.best = c;
    hi = f;
  }
  out.reached = out.best.nprobe != 0;
  if (!out.reached) out.best = most;
  return out;
}

}  // namespace quiver::engine
