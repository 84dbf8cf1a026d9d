// IdMap (id -> inverted list): random operations against std::map, for
// dense, sparse and mixed ids; dense ids cost ~4 bytes each.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include "index/ivf/id_map.h"

namespace quiver::index::ivf {
namespace {

void RandomOps(uint64_t max_id_dense, bool sparse_too, uint64_t seed) {
  std::mt19937_64 rng(seed);
  IdMap map;
  std::map<uint64_t, uint32_t> ref;
  for (int step = 0; step < 20000; ++step) {
    uint64_t id = rng() % max_id_dense;
    if (sparse_too && rng() % 3 == 0) id = rng();  // anywhere in 2^64
    const uint32_t list = static_cast<uint32_t>(rng() % 1000);
    switch (rng() % 3) {
      case 0:
      case 1: {
        uint32_t old = 99999;
        const bool had = map.Set(id, list, &old);
        auto it = ref.find(id);
        ASSERT_EQ(had, it != ref.end()) << "id " << id;
        if (had) {
          ASSERT_EQ(old, it->second);
        }
        ref[id] = list;
        break;
      }
      default: {
        uint32_t got = 99999;
        const bool had = map.Erase(id, &got);
        auto it = ref.find(id);
        ASSERT_EQ(had, it != ref.end()) << "id " << id;
        if (had) {
          ASSERT_EQ(got, it->second);
          ref.erase(it);
        }
      }
    }
    ASSERT_EQ(map.size(), ref.size());
  }
  for (const auto& [id, list] : ref) {
    uint32_t got = 0;
    ASSERT_TRUE(map.Find(id, &got)) << id;
    EXPECT_EQ(got, list);
  }
  uint32_t got = 0;
  EXPECT_FALSE(map.Find(max_id_dense + 12345, &got));
}

TEST(IdMapTest, DenseIds) { RandomOps(5000, false, 1); }
TEST(IdMapTest, SparseIds) { RandomOps(uint64_t{1} << 62, false, 2); }
TEST(IdMapTest, MixedIds) { RandomOps(3000, true, 3); }

TEST(IdMapTest, SparseIdsBelowTheBoundMoveIntoTheArray) {
  IdMap map;
  uint32_t old = 0, got = 0;
  // 5000 is too far ahead of 0 entries + 1024 margin: goes to the hash map.
  EXPECT_FALSE(map.Set(5000, 7, &old));
  for (uint64_t id = 0; id < 4000; ++id) EXPECT_FALSE(map.Set(id, 1, &old));
  ASSERT_TRUE(map.Find(5000, &got));
  EXPECT_EQ(got, 7u);
  EXPECT_TRUE(map.Set(5000, 8, &old));
  EXPECT_EQ(old, 7u);
  EXPECT_EQ(map.size(), 4001u);
}

TEST(IdMapTest, DenseIdsCostAboutFourBytes) {
  IdMap map;
  uint32_t old = 0;
  const size_t n = 100000;
  for (uint64_t id = 0; id < n; ++id)
    map.Set(id, static_cast<uint32_t>(id % 64), &old);
  EXPECT_EQ(map.size(), n);
  EXPECT_LT(map.MemoryBytes(), n * 5 + 8192) << map.MemoryBytes();
}

TEST(IdMapTest, ShuffledDenseIdsCostAboutFourBytes) {
  // Dense ids arriving out of order first pass through the hash map; its
  // buckets must be given back once the direct array covers them.
  const size_t n = 100000;
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = i;
  std::mt19937_64 rng(7);
  std::shuffle(ids.begin(), ids.end(), rng);
  IdMap map;
  uint32_t old = 0, got = 0;
  for (uint64_t id : ids) map.Set(id, static_cast<uint32_t>(id % 64), &old);
  EXPECT_EQ(map.size(), n);
  for (uint64_t id = 0; id < n; id += 997) {
    ASSERT_TRUE(map.Find(id, &got)) << id;
    EXPECT_EQ(got, id % 64);
  }
  EXPECT_LT(map.MemoryBytes(), n * 5 + 8192) << map.MemoryBytes();
}

}  // namespace
}  // namespace quiver::index::ivf
