// index/parallel.h: every index is visited exactly once, ranges are
// contiguous and ordered by worker, small work stays on one thread.
#include "index/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace quiver::index {
namespace {

TEST(ParallelTest, ResolveAndThreadsFor) {
  EXPECT_EQ(ResolveThreads(3), 3u);
  EXPECT_GE(ResolveThreads(0), 1u);
  EXPECT_EQ(ResolveThreads(-1), ResolveThreads(0));
  EXPECT_EQ(ThreadsFor(8, kMinParallelWork / 2, 100), 1u);
  EXPECT_EQ(ThreadsFor(8, kMinParallelWork * 4, 1), 1u);
  EXPECT_EQ(ThreadsFor(8, kMinParallelWork * 4, 3), 3u);
  EXPECT_EQ(ThreadsFor(2, kMinParallelWork * 4, 100), 2u);
}

TEST(ParallelTest, ParallelForCoversEachIndexOnce) {
  for (size_t n : {0, 1, 2, 7, 100, 1001}) {
    for (size_t workers : {0, 1, 2, 3, 8, 2000}) {
      std::vector<std::atomic<int>> hits(n);
      ParallelFor(n, workers, [&](size_t begin, size_t end) {
        ASSERT_LT(begin, end);
        ASSERT_LE(end, n);
        for (size_t i = begin; i < end; ++i) hits[i].fetch_add(1);
      });
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(hits[i].load(), 1) << "n " << n << " workers " << workers;
      }
    }
  }
}

TEST(ParallelTest, WorkQueueHandsOutEachIndexOnce) {
  const size_t n = 5000;
  std::vector<std::atomic<int>> hits(n);
  WorkQueue queue(n);
  std::atomic<size_t> workers_seen{0};
  RunWorkers(4, [&](size_t w) {
    EXPECT_LT(w, 4u);
    workers_seen.fetch_add(1);
    for (size_t i; queue.Next(&i);) hits[i].fetch_add(1);
  });
  EXPECT_EQ(workers_seen.load(), 4u);
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << i;
}

TEST(ParallelTest, OneWorkerRunsOnTheCallingThread) {
  const std::thread::id self = std::this_thread::get_id();
  std::thread::id seen;
  RunWorkers(1, [&](size_t) { seen = std::this_thread::get_id(); });
  EXPECT_EQ(seen, self);
  ParallelFor(10, 1,
              [&](size_t, size_t) { seen = std::this_thread::get_id(); });
  EXPECT_EQ(seen, self);
}

}  // namespace
}  // namespace quiver::index
