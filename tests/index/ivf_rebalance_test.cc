// IvfPqIndex::Rebalance: list splits and merges in place of a retraining.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "index/flat_index.h"
#include "index/ivf_pq_index.h"
#include "index/metric.h"
#include "tests/testing/data.h"
#include "tests/testing/testing.h"

namespace quiver::index {
namespace {

constexpr size_t kDim = 32;

// Vectors by id: row id of a matrix, except ids listed as deleted.
class RowSource : public VectorSource {
 public:
  RowSource(const std::vector<float>* x, size_t dim) : x_(x), dim_(dim) {}
  bool GetVector(uint64_t id, float* out) const override {
    if ((id + 1) * dim_ > x_->size() || deleted_.contains(id)) return false;
    std::memcpy(out, x_->data() + id * dim_, dim_ * sizeof(float));
    return true;
  }
  void Delete(uint64_t id) { deleted_.insert(id); }

 private:
  const std::vector<float>* x_;
  size_t dim_;
  absl::flat_hash_set<uint64_t> deleted_;
};

struct Built {
  std::unique_ptr<IvfPqIndex> index;
  std::vector<float> x;
};

// Trained on the first `train` rows of clustered data; every row added.
Built Make(size_t n, size_t train, uint32_t nlist, uint32_t nbits,
           uint64_t seed = 3) {
  Built b;
  b.x = testing::Clustered(n, kDim, 40, seed);
  IvfPqParams p;
  p.dim = kDim;
  p.nlist = nlist;
  p.m = nbits == 8 ? 8 : 16;
  p.nbits = nbits;
  p.threads = 1;
  auto trained = IvfPqIndex::Train(p, b.x.data(), train);
  EXPECT_TRUE(trained.ok()) << trained.status();
  b.index = std::move(*trained);
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = i;
  b.index->Add(ids.data(), b.x.data(), n);
  return b;
}

// The list and code of every id.
struct Entry {
  uint32_t list;
  std::vector<uint8_t> code;
};
absl::flat_hash_map<uint64_t, Entry> Entries(const IvfPqIndex& index) {
  absl::flat_hash_map<uint64_t, Entry> out;
  std::vector<uint64_t> ids;
  std::vector<uint8_t> codes;
  const size_t cs = index.code_size();
  for (uint32_t l = 0; l < index.params().nlist; ++l) {
    index.GetList(l, &ids, &codes);
    for (size_t i = 0; i < ids.size(); ++i) {
      EXPECT_FALSE(out.contains(ids[i])) << "id " << ids[i] << " twice";
      out[ids[i]] = {l, std::vector<uint8_t>(codes.begin() + i * cs,
                                             codes.begin() + (i + 1) * cs)};
    }
  }
  return out;
}

double Recall(const IvfPqIndex& index, const std::vector<float>& x, size_t n,
              uint32_t nprobe, const VectorSource* source) {
  FlatIndex flat(Metric::kL2, kDim);
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = i;
  flat.Add(ids.data(), x.data(), n);
  const std::vector<float> q = testing::Clustered(200, kDim, 40, 3);
  const auto truth = flat.Search(q.data(), 200, 10);
  SearchParams sp;
  sp.k = 10;
  sp.nprobe = nprobe;
  sp.rerank = 4;
  sp.vectors = source;
  size_t hits = 0;
  for (size_t i = 0; i < 200; ++i) {
    absl::flat_hash_set<uint64_t> want;
    for (const Neighbor& nb : truth[i]) want.insert(nb.id);
    for (const Neighbor& nb : index.Search(&q[i * kDim], sp)) {
      hits += want.count(nb.id);
    }
  }
  return hits / 2000.0;
}

void CheckRebalanced(uint32_t nbits) {
  SCOPED_TRACE(nbits);
  constexpr size_t kN = 6000;
  Built b = Make(kN, kN, 32, nbits);
  RowSource source(&b.x, kDim);
  const std::vector<size_t> sizes = b.index->list_sizes();
  std::vector<uint32_t> order(sizes.size());
  for (uint32_t l = 0; l < order.size(); ++l) order[l] = l;
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t c) { return sizes[a] > sizes[c]; });
  RebalanceOptions o;
  o.split = {order[0], order[1]};
  o.merge = {order[30], order[31]};
  o.neighbors = 3;
  const auto before = Entries(*b.index);
  const double recall_before = Recall(*b.index, b.x, kN, 4, &source);
  absl::StatusOr<RebalanceResult> r = b.index->Rebalance(o, source);
  QUIVER_ASSERT_OK(r);
  ASSERT_NE(r->index, nullptr);
  EXPECT_EQ(r->splits, 2u);
  EXPECT_EQ(r->merges, 2u);
  const IvfPqIndex& ix = *r->index;
  EXPECT_EQ(ix.params().nlist, 32u);
  EXPECT_EQ(ix.size(), kN);
  EXPECT_EQ(ix.pq_codebooks(), b.index->pq_codebooks());
  const auto after = Entries(ix);
  ASSERT_EQ(after.size(), kN);
  // The moved entries are exactly those that differ, and each is what
  // encoding its vector with the new index gives.
  absl::flat_hash_map<uint64_t, size_t> moved;
  for (size_t i = 0; i < r->moved_ids.size(); ++i) moved[r->moved_ids[i]] = i;
  const size_t cs = ix.code_size();
  std::vector<uint8_t> code(cs);
  size_t reencoded = 0;
  for (const auto& [id, e] : after) {
    auto it = moved.find(id);
    if (it == moved.end()) {
      // Kept as it was: same list number, same code, not in a renewed slot.
      EXPECT_EQ(e.list, before.at(id).list) << id;
      EXPECT_EQ(e.code, before.at(id).code) << id;
      EXPECT_FALSE(r->renewed[e.list]) << id;
      continue;
    }
    EXPECT_EQ(r->moved_lists[it->second], e.list);
    EXPECT_TRUE(std::equal(e.code.begin(), e.code.end(),
                           r->moved_codes.begin() + it->second * cs));
    uint32_t list = 0;
    ix.Encode(&b.x[id * kDim], 1, &list, code.data());
    if (list == e.list) {
      EXPECT_EQ(code, e.code) << id;
      ++reencoded;
    } else {
      // Moved under another number with its old code.
      EXPECT_EQ(e.code, before.at(id).code) << id;
      EXPECT_TRUE(r->renewed[e.list]);
    }
  }
  EXPECT_GT(reencoded, 0u);
  EXPECT_LT(moved.size(), kN * 3 / 4) << "a rebalance touches a few lists only";
  // Every entry of a renewed slot was written by the rebalance.
  for (const auto& [id, e] : after) {
    if (r->renewed[e.list]) {
      EXPECT_TRUE(moved.contains(id)) << id;
    }
  }
  // The split lists are gone as they were: the largest list is smaller.
  const std::vector<size_t> new_sizes = ix.list_sizes();
  EXPECT_LT(*std::max_element(new_sizes.begin(), new_sizes.end()),
            sizes[order[0]]);
  EXPECT_GE(Recall(ix, b.x, kN, 4, &source), recall_before - 0.03);
}

TEST(IvfRebalanceTest, SplitsAndMergesTouchOnlyTheirListsAndNeighbours8Bit) {
  CheckRebalanced(8);
}

TEST(IvfRebalanceTest, SplitsAndMergesTouchOnlyTheirListsAndNeighbours4Bit) {
  CheckRebalanced(4);
}

// Vectors streamed into one region after training overfill its lists;
// splitting them brings the largest list back down without a retraining,
// keeps recall, and scans fewer codes per query at the same nprobe.
TEST(IvfRebalanceTest, SplittingOverfullListsAfterSkewedGrowth) {
  constexpr size_t kN = 4000;
  Built b = Make(kN, kN, 16, 8);
  // 4,000 more vectors near one trained point.
  std::vector<float> extra(kN * kDim);
  std::vector<float> noise = testing::Gaussian(kN, kDim, 9);
  for (size_t i = 0; i < kN; ++i) {
    for (size_t t = 0; t < kDim; ++t) {
      extra[i * kDim + t] = b.x[t] + 0.5f * noise[i * kDim + t];
    }
  }
  b.x.insert(b.x.end(), extra.begin(), extra.end());
  std::vector<uint64_t> ids(kN);
  for (size_t i = 0; i < kN; ++i) ids[i] = kN + i;
  b.index->Add(ids.data(), extra.data(), kN);
  RowSource source(&b.x, kDim);
  std::unique_ptr<IvfPqIndex> index = std::move(b.index);
  const size_t max0 = index->list_stats().max;
  ASSERT_GT(max0, kN / 2);
  const double recall0 = Recall(*index, b.x, 2 * kN, 2, &source);
  for (int round = 0; round < 6; ++round) {
    const std::vector<size_t> sizes = index->list_sizes();
    const double mean = 2.0 * kN / sizes.size();
    RebalanceOptions o;
    for (uint32_t l = 0; l < sizes.size(); ++l) {
      if (sizes[l] > 2 * mean) o.split.push_back(l);
    }
    absl::StatusOr<RebalanceResult> r = index->Rebalance(o, source);
    QUIVER_ASSERT_OK(r);
    if (r->index == nullptr) break;
    EXPECT_EQ(r->index->size(), 2 * kN);
    index = std::move(r->index);
  }
  EXPECT_GT(index->params().nlist, 16u);
  EXPECT_LT(index->list_stats().max, max0 / 2);
  EXPECT_GE(Recall(*index, b.x, 2 * kN, 2, &source), recall0 - 0.05);
}

TEST(IvfRebalanceTest, DeletedVectorsAreLeftOutAndNothingToDoIsNull) {
  constexpr size_t kN = 3000;
  Built b = Make(kN, kN, 16, 8);
  RowSource source(&b.x, kDim);
  RebalanceOptions none;
  none.split = {99};  // out of range: ignored
  absl::StatusOr<RebalanceResult> r = b.index->Rebalance(none, source);
  QUIVER_ASSERT_OK(r);
  EXPECT_EQ(r->index, nullptr);
  // Merging every list but one leaves one list with every vector.
  RebalanceOptions all;
  for (uint32_t l = 0; l < 16; ++l) all.merge.push_back(l);
  std::vector<uint64_t> ids;
  b.index->GetList(0, &ids, nullptr);
  ASSERT_FALSE(ids.empty());
  source.Delete(ids[0]);
  r = b.index->Rebalance(all, source);
  QUIVER_ASSERT_OK(r);
  ASSERT_NE(r->index, nullptr);
  EXPECT_EQ(r->index->params().nlist, 1u);
  EXPECT_EQ(r->merges, 15u);
  EXPECT_EQ(r->index->size(), kN - 1);
  EXPECT_FALSE(r->index->Contains(ids[0]));
}

}  // namespace
}  // namespace quiver::index
