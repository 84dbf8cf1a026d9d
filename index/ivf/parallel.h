// ParallelFor: splits [0, n) into contiguous ranges over up to `threads`
// std::threads (0 = hardware concurrency); runs inline for one thread or a
// small n.
//
//   ParallelFor(n, threads, 64, [&](size_t begin, size_t end) { ... });
//
// Thread safety: fn runs concurrently on disjoint ranges.
#ifndef QUIVER_INDEX_IVF_PARALLEL_H_
#define QUIVER_INDEX_IVF_PARALLEL_H_

#include <algorithm>
#include <cstddef>
#include <thread>
#include <vector>

namespace quiver::index::ivf {

inline size_t ResolveThreads(int threads) {
  if (threads > 0) return static_cast<size_t>(threads);
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : hw;
}

// Each worker gets at least `min_per_thread` items.
template <typename Fn>
void ParallelFor(size_t n, int threads, size_t min_per_thread, Fn&& fn) {
  if (n == 0) return;
  size_t workers = ResolveThreads(threads);
  workers = std::min(
      workers, (n + min_per_thread - 1) / std::max<size_t>(min_per_thread, 1));
  if (workers <= 1) {
    fn(size_t{0}, n);
    return;
  }
  const size_t chunk = (n + workers - 1) / workers;
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (size_t w = 1; w < workers; ++w) {
    const size_t begin = std::min(n, w * chunk);
    const size_t end = std::min(n, begin + chunk);
    if (begin < end) pool.emplace_back([&fn, begin, end] { fn(begin, end); });
  }
  fn(size_t{0}, std::min(n, chunk));
  for (std::thread& t : pool) t.join();
}

}  // namespace quiver::index::ivf

#endif  // QUIVER_INDEX_IVF_PARALLEL_H_
