// Search runs concurrently with Add/Remove (per-list locks): readers never
// see a removed id after Remove() returned, never crash, and the index ends
// consistent. Bounded in time; meant for TSan too.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <numeric>
#include <thread>
#include <vector>

#include "index/ivf_pq_index.h"
#include "tests/testing/data.h"
#include "tests/testing/testing.h"

namespace quiver::index {
namespace {

using ::quiver::testing::Gaussian;

class ConcurrencyTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(ConcurrencyTest, SearchWhileAddingAndRemoving) {
  const size_t dim = 16, n = 4000;
  const std::vector<float> x = Gaussian(n, dim, 21);
  IvfPqParams p;
  p.dim = dim;
  p.nlist = 8;
  p.m = 4;
  p.nbits = GetParam();
  p.niter = 5;
  auto trained = IvfPqIndex::Train(p, x.data(), n);
  QUIVER_ASSERT_OK(trained);
  IvfPqIndex& index = **trained;
  // Ids [0, n/2) are stable; [n/2, n) churn.
  std::vector<uint64_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  index.Add(ids.data(), x.data(), n / 2);

  std::atomic<bool> stop{false};
  std::atomic<size_t> searches{0};
  std::atomic<size_t> short_results{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      SearchParams sp;
      sp.k = 10;
      sp.nprobe = 8;
      size_t q = static_cast<size_t>(r);
      while (!stop.load()) {
        const auto res = index.Search(x.data() + (q % n) * dim, sp);
        if (res.size() != 10) short_results.fetch_add(1);
        if (r == 0) {
          // Batch search also takes list locks one at a time.
          (void)index.SearchBatch(x.data(), 4, sp, 2);
        }
        ++q;
        searches.fetch_add(1);
      }
    });
  }
  std::thread writer([&] {
    for (int round = 0; round < 6; ++round) {
      index.Add(ids.data() + n / 2, x.data() + (n / 2) * dim, n / 2);
      for (size_t i = n / 2; i < n; i += 3) EXPECT_TRUE(index.Remove(ids[i]));
      for (size_t i = n / 2; i < n; ++i) {
        if ((i - n / 2) % 3 != 0) {
          EXPECT_TRUE(index.Remove(ids[i]));
        }
      }
      // Single-vector updates of stable ids (re-add replaces).
      for (size_t i = 0; i < 50; ++i) index.Add(&ids[i], x.data() + i * dim, 1);
    }
    stop.store(true);
  });
  writer.join();
  for (std::thread& t : readers) t.join();

  EXPECT_GT(searches.load(), 0u);
  // Stable ids always give 10 results.
  EXPECT_EQ(short_results.load(), 0u);
  EXPECT_EQ(index.size(), n / 2);
  EXPECT_EQ(index.list_stats().total, n / 2);
  SearchParams sp;
  sp.k = 100;
  sp.nprobe = 8;
  for (size_t q = 0; q < 10; ++q) {
    for (const Neighbor& h : index.Search(x.data() + q * dim, sp)) {
      EXPECT_LT(h.id, n / 2) << "removed id returned";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Bits, ConcurrencyTest, ::testing::Values(8u, 4u));

}  // namespace
}  // namespace quiver::index
