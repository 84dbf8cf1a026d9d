#include "server/engine/tuning.h"

#include <algorithm>
#include <vector>

namespace quiver::engine {

std::vector<uint32_t> NprobeLadder(uint32_t nlist) {
  std::vector<uint32_t> out;
  for (uint32_t p = 1; p < nlist; p *= 2) {
    out.push_back(p);
    if (p >= 2 && p + p / 2 < nlist) out.push_back(p + p / 2);
  }
  out.push_back(nlist);
  return out;
}

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
  // The smallest index in [lo, top) reaching the aim at `rerank`, galloping
  // from g (in [lo, top)); `top` if none does (or the search was
  // cancelled). Indices below lo are known to fail.
  auto smallest = [&](size_t lo, size_t top, size_t g,
                      uint32_t rerank) -> size_t {
    size_t good = top;  // the smallest index known to reach
    size_t floor = lo;  // every index below it is known to fail
    if (reaches(g, rerank)) {
      good = g;
      for (size_t step = 1; good > lo; step *= 2) {
        const size_t t = good - std::min(step, good - lo);
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
      // Up one step of the ladder at a time (about 1.5x nprobe): a
      // measurement costs its nprobe, so overshooting the answer costs
      // more than the steps below it (doubling the step went from
      // nprobe 16 to 256 for an answer at 24).
      size_t bad = g;
      while (bad + 1 < top) {
        const size_t t = bad + 1;
        if (reaches(t, rerank)) {
          good = t;
          break;
        }
        if (out.cancelled) return top;
        bad = t;
      }
      return good;  // the step below it failed (or none reached: top)
    }
    // Down: binary search over [floor, good): good reaches, floor - 1 fails.
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
  // The largest rerank first: its answer is the smallest nprobe, cheap to
  // find, and its cost then caps how far up the ladder a smaller rerank
  // is measured. (Ascending, a rerank too small to reach the aim at any
  // nprobe climbed to nprobe = nlist: a full scan per query, most of a
  // measurement's time at 2,048 lists.)
  const size_t start = static_cast<size_t>(
      std::upper_bound(nprobes.begin(), nprobes.end(), start_nprobe) -
      nprobes.begin());
  size_t lo = 0;  // every nprobe index below it fails at smaller reranks
  for (size_t ri = reranks.size(); ri-- > 0;) {
    const uint32_t rerank = reranks[ri];
    if (lo >= n) break;
    // Only settings cheaper than the best can improve on it.
    size_t top = n;
    while (top > lo && out.best.nprobe != 0 &&
           cost(nprobes[top - 1], rerank) >= out.best.cost) {
      --top;
    }
    if (top == lo) continue;  // a smaller rerank may still be cheaper
    const size_t g = out.best.nprobe == 0
                         ? std::clamp(start == 0 ? 0 : start - 1, lo, top - 1)
                         : lo;
    const size_t f = smallest(lo, top, g, rerank);
    if (out.cancelled) break;
    if (f == top) {
      // Every index below top fails here, so at every smaller rerank.
      lo = top;
      continue;
    }
    const TuningChoice c = {nprobes[f], rerank, recall[f],
                            cost(nprobes[f], rerank)};
    if (out.best.nprobe == 0 || c.cost < out.best.cost) out.best = c;
    lo = f;
  }
  out.reached = out.best.nprobe != 0;
  if (!out.reached) out.best = most;
  return out;
}

}  // namespace quiver::engine
