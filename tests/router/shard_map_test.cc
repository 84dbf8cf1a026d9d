// The router's pure parts: the documented shard hash, --shards expansion,
// the exact top-k merge and the aggregate collection description.
#include "server/router/shard_map.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace quiver::router {
namespace {

TEST(ShardMapTest, HashIsXxh64WithSeedZero) {
  // XXH64 reference values (xxHash's own test vectors for seed 0).
  EXPECT_EQ(IdHash(""), 0xEF46DB3751D8E999ull);
  EXPECT_EQ(IdHash("a"), 0xD24EC4F1A98C6E5Bull);
  EXPECT_EQ(ShardOf("", 3), 0xEF46DB3751D8E999ull % 3);
  EXPECT_EQ(ShardOf("anything", 1), 0u);
}

TEST(ShardMapTest, IdsSpreadOverShards) {
  std::vector<int> per(3);
  for (int i = 0; i < 30000; ++i) ++per[ShardOf(absl::StrCat(i), 3)];
  for (int n : per) {
    EXPECT_GT(n, 9000);
    EXPECT_LT(n, 11000);
  }
}

TEST(ShardMapTest, ExpandNodes) {
  auto plain = ExpandNodes("a:1, b:2");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(*plain, (std::vector<std::string>{"a:1", "b:2"}));
  auto range = ExpandNodes("quiver-{0..2}.quiver:50051");
  ASSERT_TRUE(range.ok()) << range.status();
  EXPECT_EQ(*range, (std::vector<std::string>{"quiver-0.quiver:50051",
                                              "quiver-1.quiver:50051",
                                              "quiver-2.quiver:50051"}));
  for (const char* bad : {"", ",", "a", "a:0", "a:x", "a:1,a:1", "q-{2..1}:1",
                          "q-{0..}:1", "q-{0..1:1", ":5"}) {
    EXPECT_FALSE(ExpandNodes(bad).ok()) << bad;
  }
}

TEST(ShardMapTest, FirstNode) {
  EXPECT_EQ(FirstNode("c", 3, 3), 0u);
  EXPECT_LT(FirstNode("c", 1, 3), 3u);
  std::set<uint32_t> firsts;
  for (int i = 0; i < 100; ++i) firsts.insert(FirstNode(absl::StrCat(i), 1, 3));
  EXPECT_EQ(firsts.size(), 3u);
}

v1::SearchResponse Response(
    const std::vector<std::vector<std::pair<std::string, float>>>& queries) {
  v1::SearchResponse r;
  for (const auto& hits : queries) {
    v1::QueryResult* q = r.add_results();
    for (const auto& [id, d] : hits) {
      v1::Hit* h = q->add_hits();
      h->set_id(id);
      h->set_distance(d);
    }
  }
  return r;
}

TEST(ShardMapTest, MergeKeepsTheBestKByDistanceThenId) {
  std::vector<v1::SearchResponse> shards = {
      Response({{{"a", 1}, {"c", 3}, {"e", 5}}, {{"x", 0.5f}}}),
      Response({{{"b", 2}, {"z", 3}, {"f", 6}}, {}}),
      Response({{{"y", 3}, {"d", 4}}, {{"w", 0.25f}}}),
  };
  v1::SearchResponse m = MergeSearch(shards, 4);
  ASSERT_EQ(m.results_size(), 2);
  std::vector<std::string> ids;
  for (const auto& h : m.results(0).hits()) ids.push_back(h.id());
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "c", "y"}));
  ASSERT_EQ(m.results(1).hits_size(), 2);
  EXPECT_EQ(m.results(1).hits(0).id(), "w");
  EXPECT_EQ(m.results(1).hits(1).id(), "x");
  EXPECT_FALSE(m.partial());
}

TEST(ShardMapTest, AggregateInfo) {
  std::vector<v1::CollectionInfo> infos(3);
  for (uint32_t s = 0; s < 3; ++s) {
    v1::CollectionInfo& i = infos[2 - s];  // any order
    i.set_name("c");
    i.set_count(10 + s);
    i.set_memory_bytes(100);
    i.set_state(s == 1 ? v1::COLLECTION_STATE_TRAINING
                       : v1::COLLECTION_STATE_READY);
    i.set_list_min(5 + s);
    i.set_list_max(50 + s);
    i.set_measured_recall(0.9 + 0.01 * s);
    i.mutable_placement()->set_shard(s);
    i.mutable_placement()->set_shard_count(3);
  }
  v1::CollectionInfo a = AggregateInfo(infos);
  EXPECT_EQ(a.count(), 33u);
  EXPECT_EQ(a.memory_bytes(), 300u);
  EXPECT_EQ(a.shards(), 3u);
  EXPECT_EQ(a.state(), v1::COLLECTION_STATE_TRAINING);
  EXPECT_EQ(a.list_min(), 5u);
  EXPECT_EQ(a.list_max(), 52u);
  EXPECT_DOUBLE_EQ(a.measured_recall(), 0.9);
  EXPECT_EQ(a.placement().shard_count(), 3u);
}

}  // namespace
}  // namespace quiver::router
