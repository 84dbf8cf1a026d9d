// TopK (the scan's reservoir): for streams with many ties, negative
// distances and both zeros, the result is exactly the best `capacity` in
// Closer order (ties by id) of everything pushed, whatever the push order;
// and the threshold never drops below the capacity-th best pushed so far,
// so no candidate that belongs in the result is ever rejected.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "index/ivf/topk.h"

namespace quiver::index::ivf {
namespace {

std::vector<Neighbor> Reference(std::vector<Neighbor> all, size_t capacity) {
  std::sort(all.begin(), all.end(), Closer);
  if (all.size() > capacity) all.resize(capacity);
  return all;
}

// distinct: how many different distance values (few = many ties).
std::vector<Neighbor> Stream(size_t n, int distinct, std::mt19937_64* rng) {
  std::vector<Neighbor> v(n);
  std::uniform_real_distribution<float> real(-3.0f, 3.0f);
  for (size_t i = 0; i < n; ++i) {
    v[i].id = (*rng)() % (4 * n + 1);  // repeated ids too
    if (distinct > 0) {
      v[i].distance = static_cast<float>(static_cast<int>((*rng)() % distinct) -
                                         distinct / 2) *
                      0.25f;
    } else {
      v[i].distance = real(*rng);
    }
    if ((*rng)() % 50 == 0) v[i].distance = ((*rng)() % 2) ? 0.0f : -0.0f;
  }
  return v;
}

void ExpectSame(const std::vector<Neighbor>& got,
                const std::vector<Neighbor>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].id, want[i].id) << "rank " << i;
    EXPECT_EQ(got[i].distance, want[i].distance) << "rank " << i;
  }
}

TEST(TopKTest, KeepsExactlyTheBestWhateverTheTiesAndOrder) {
  std::mt19937_64 rng(7);
  TopK top;
  for (size_t capacity : {1, 2, 3, 10, 80, 100}) {
    for (int distinct : {0, 1, 2, 5, 40, 1000}) {
      for (size_t n : {size_t{0}, capacity, 3 * capacity + 1, size_t{2000}}) {
        std::vector<Neighbor> all = Stream(n, distinct, &rng);
        const std::vector<Neighbor> want = Reference(all, capacity);
        for (int order = 0; order < 2; ++order) {
          if (order == 1) std::shuffle(all.begin(), all.end(), rng);
          top.Reset(capacity);
          std::vector<Neighbor> seen;
          for (const Neighbor& e : all) {
            top.Push(e.distance, e.id);
            // The threshold never excludes a candidate that would beat the
            // capacity-th best pushed so far.
            seen.push_back(e);
            seen = Reference(seen, capacity);  // only these can matter
            if (seen.size() == capacity) {
              ASSERT_GE(top.threshold(), seen.back().distance)
                  << "capacity " << capacity << " distinct " << distinct;
            }
          }
          std::vector<Neighbor> got;
          top.SortInto(&got);
          SCOPED_TRACE(testing::Message()
                       << "capacity " << capacity << " distinct " << distinct
                       << " n " << n << " order " << order);
          ExpectSame(got, want);
        }
      }
    }
  }
}

TEST(TopKTest, ZeroCapacityKeepsNothing) {
  TopK top;
  top.Reset(0);
  for (int i = 0; i < 10; ++i) top.Push(static_cast<float>(i), i);
  std::vector<Neighbor> got;
  top.SortInto(&got);
  EXPECT_TRUE(got.empty());
}

TEST(TopKTest, ThresholdTightensAsBetterCandidatesArrive) {
  TopK top;
  top.Reset(4);
  // Descending distances: every push is better than all before it.
  for (int i = 1000; i > 0; --i) top.Push(static_cast<float>(i), i);
  EXPECT_LE(top.threshold(), 8.0f);  // at most 2 x capacity kept
  std::vector<Neighbor> got;
  top.SortInto(&got);
  ASSERT_EQ(got.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(got[i].id, i + 1);
}

}  // namespace
}  // namespace quiver::index::ivf
