// The one way index/ runs work on several threads: plain std::threads
// started for a call and joined before it returns. There is no pool and no
// OpenMP, so no thread exists, let alone spins, between calls; small calls
// (below kMinParallelWork) run inline on the caller's thread, which is what
// a server encoding upsert batches of a few hundred vectors wants.
//
//   const size_t workers = ThreadsFor(threads, 2.0 * n * k * d, nblocks);
//   ParallelFor(n, workers, [&](size_t begin, size_t end) { ... });
//
//   WorkQueue queue(nblocks);  // dynamic schedule, per-worker scratch
//   RunWorkers(workers, [&](size_t /*worker*/) {
//     Scratch s;
//     for (size_t b; queue.Next(&b);) Process(b, &s);
//   });
//
// Thread safety: fn runs concurrently on different workers; the helpers
// themselves keep no state.
#ifndef QUIVER_INDEX_PARALLEL_H_
#define QUIVER_INDEX_PARALLEL_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace quiver::index {

// Worker threads for a `threads` setting: threads > 0 -> threads; 0 (or
// negative) -> the hardware concurrency. Always >= 1.
inline size_t ResolveThreads(int threads) {
  if (threads > 0) return static_cast<size_t>(threads);
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : hw;
}

// Below this many flops a call runs on one thread: starting and joining
// threads (tens of microseconds each) would cost more than it saves, and
// much more on an oversubscribed machine.
inline constexpr double kMinParallelWork = 1 << 23;

// Threads worth using for about `work` flops split into `units` independent
// parts: 1 below kMinParallelWork or for one unit, else
// min(ResolveThreads(threads), units).
inline size_t ThreadsFor(int threads, double work, size_t units) {
  if (work < kMinParallelWork || units <= 1) return 1;
  return std::min(ResolveThreads(threads), units);
}

// Runs fn(worker) for worker = 0 .. workers - 1, worker 0 on the calling
// thread and the others on threads started here; returns when all are done.
// workers == 0 counts as 1.
template <typename Fn>
void RunWorkers(size_t workers, Fn&& fn) {
  if (workers <= 1) {
    fn(size_t{0});
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (size_t w = 1; w < workers; ++w) {
    pool.emplace_back([&fn, w] { fn(w); });
  }
  fn(size_t{0});
  for (std::thread& t : pool) t.join();
}

// Splits [0, n) into at most `workers` contiguous ranges of equal size (the
// last may be shorter) and runs fn(begin, end) on each, in parallel.
template <typename Fn>
void ParallelFor(size_t n, size_t workers, Fn&& fn) {
  if (n == 0) return;
  workers = std::max<size_t>(1, std::min(workers, n));
  const size_t chunk = (n + workers - 1) / workers;
  RunWorkers((n + chunk - 1) / chunk, [&fn, n, chunk](size_t w) {
    fn(w * chunk, std::min(n, (w + 1) * chunk));
  });
}

// Hands out 0, 1, ..., n - 1 once each to whichever worker asks next (a
// dynamic schedule for blocks of uneven cost).
class WorkQueue {
 public:
  explicit WorkQueue(size_t n) : n_(n) {}
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // The next unclaimed index in *i; false when none is left.
  bool Next(size_t* i) {
    *i = next_.fetch_add(1, std::memory_order_relaxed);
    return *i < n_;
  }

 private:
  const size_t n_;
  std::atomic<size_t> next_{0};
};

}  // namespace quiver::index

#endif  // QUIVER_INDEX_PARALLEL_H_
