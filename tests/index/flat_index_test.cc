// Tests of the exact flat index against a naive scalar brute force, and of
// FlatIndex::BruteForce against the shipped siftsmall ground truth.
#include "index/flat_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "index/metric.h"
#include "index/refine.h"
#include "tests/testing/data.h"
#include "tests/testing/testing.h"

namespace quiver::index {
namespace {

using ::quiver::testing::Gaussian;

// Scalar reference distance ("smaller is better") in double.
double RefDistance(Metric m, const float* q, const float* x, size_t d) {
  double l2 = 0, ip = 0, qq = 0, xx = 0;
  for (size_t l = 0; l < d; ++l) {
    l2 += (double{q[l]} - x[l]) * (double{q[l]} - x[l]);
    ip += double{q[l]} * x[l];
    qq += double{q[l]} * q[l];
    xx += double{x[l]} * x[l];
  }
  switch (m) {
    case Metric::kL2:
      return l2;
    case Metric::kInnerProduct:
      return -ip;
    case Metric::kCosine:
      return -ip / std::sqrt(qq * xx);
  }
  return 0;
}

struct Ref {
  uint64_t id;
  double dist;
};

std::vector<Ref> RefSearch(Metric m, const std::vector<uint64_t>& ids,
                           const std::vector<float>& x, const float* q,
                           size_t d, size_t k,
                           bool (*accept)(uint64_t) = nullptr) {
  std::vector<Ref> all;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (accept && !accept(ids[i])) continue;
    all.push_back({ids[i], RefDistance(m, q, &x[i * d], d)});
  }
  std::sort(all.begin(), all.end(), [](const Ref& a, const Ref& b) {
    return a.dist != b.dist ? a.dist < b.dist : a.id < b.id;
  });
  if (all.size() > k) all.resize(k);
  return all;
}

// Same ranks as the reference: equal distances rank by rank, and the same
// ids except where two candidates are within `tol` of each other.
void ExpectMatches(const std::vector<Neighbor>& got,
                   const std::vector<Ref>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t r = 0; r < want.size(); ++r) {
    EXPECT_NEAR(got[r].distance, want[r].dist,
                tol * (1 + std::fabs(want[r].dist)))
        << "rank " << r;
    if (got[r].id != want[r].id) {
      // Only a near tie may swap ids.
      const bool tie =
          (r > 0 && std::fabs(want[r].dist - want[r - 1].dist) <
                        tol * (1 + std::fabs(want[r].dist))) ||
          (r + 1 < want.size() && std::fabs(want[r].dist - want[r + 1].dist) <
                                      tol * (1 + std::fabs(want[r].dist)));
      EXPECT_TRUE(tie) << "rank " << r << " got id " << got[r].id << " want "
                       << want[r].id;
    }
  }
}

class FlatIndexMetricTest : public ::testing::TestWithParam<Metric> {};

TEST_P(FlatIndexMetricTest, MatchesScalarBruteForce) {
  const Metric m = GetParam();
  const size_t d = 37, nb = 5000, nq = 45, k = 10;  // > one block each way
  std::vector<float> x = Gaussian(nb, d, 1);
  std::vector<float> q = Gaussian(nq, d, 2);
  std::vector<uint64_t> ids(nb);
  for (size_t i = 0; i < nb; ++i) ids[i] = 1000 + 7 * i;
  FlatIndex flat(m, d);
  flat.Add(ids.data(), x.data(), nb);
  EXPECT_EQ(flat.size(), nb);
  auto res = flat.Search(q.data(), nq, k);
  ASSERT_EQ(res.size(), nq);
  for (size_t i = 0; i < nq; ++i) {
    ExpectMatches(res[i], RefSearch(m, ids, x, &q[i * d], d, k), 1e-4);
  }
  // The static brute force uses row numbers as ids.
  std::vector<uint64_t> rows(nb);
  for (size_t i = 0; i < nb; ++i) rows[i] = i;
  auto bf = FlatIndex::BruteForce(m, x.data(), nb, q.data(), nq, d, k);
  ASSERT_EQ(bf.size(), nq);
  for (size_t i = 0; i < nq; ++i) {
    ExpectMatches(bf[i], RefSearch(m, rows, x, &q[i * d], d, k), 1e-4);
  }
}

TEST_P(FlatIndexMetricTest, RemoveReplaceAndFilter) {
  const Metric m = GetParam();
  const size_t d = 12, nb = 600, nq = 20, k = 15;
  std::vector<float> x = Gaussian(nb, d, 3);
  std::vector<float> q = Gaussian(nq, d, 4);
  std::vector<uint64_t> ids(nb);
  for (size_t i = 0; i < nb; ++i) ids[i] = i * 3;
  FlatIndex flat(m, d);
  flat.Add(ids.data(), x.data(), nb);

  // Remove every fourth id (swap-remove moves other rows around).
  std::vector<uint64_t> kept_ids;
  std::vector<float> kept;
  for (size_t i = 0; i < nb; ++i) {
    if (i % 4 == 1) {
      EXPECT_TRUE(flat.Remove(ids[i]));
    } else {
      kept_ids.push_back(ids[i]);
      kept.insert(kept.end(), &x[i * d], &x[(i + 1) * d]);
    }
  }
  EXPECT_FALSE(flat.Remove(ids[1]));
  EXPECT_FALSE(flat.Remove(1));  // never added
  EXPECT_EQ(flat.size(), kept_ids.size());

  // Replace one vector under an existing id.
  std::vector<float> fresh = Gaussian(1, d, 5);
  flat.Add(&kept_ids[10], fresh.data(), 1);
  std::copy(fresh.begin(), fresh.end(), kept.begin() + 10 * d);
  EXPECT_EQ(flat.size(), kept_ids.size());
  std::vector<float> got(d);
  ASSERT_TRUE(flat.GetVector(kept_ids[10], got.data()));
  std::vector<float> expect(fresh);
  if (m == Metric::kCosine) NormalizeL2(expect.data(), 1, d);
  for (size_t l = 0; l < d; ++l) EXPECT_NEAR(got[l], expect[l], 1e-6);
  EXPECT_FALSE(flat.GetVector(ids[1], got.data()));

  auto res = flat.Search(q.data(), nq, k);
  for (size_t i = 0; i < nq; ++i) {
    ExpectMatches(res[i], RefSearch(m, kept_ids, kept, &q[i * d], d, k), 1e-4);
  }

  // Filter: only ids divisible by 2 (i.e. even row numbers).
  struct EvenFilter : IdFilter {
    bool Accept(uint64_t id) const override { return id % 2 == 0; }
  } even;
  auto filtered = flat.Search(q.data(), nq, k, &even);
  for (size_t i = 0; i < nq; ++i) {
    ExpectMatches(filtered[i],
                  RefSearch(m, kept_ids, kept, &q[i * d], d, k,
                            [](uint64_t id) { return id % 2 == 0; }),
                  1e-4);
  }

  // SearchSubset over the even ids (and some unknown and removed ones,
  // skipped) answers what the filtered search does, without scanning the
  // rest; Prefetch of any ids changes nothing.
  std::vector<uint64_t> subset = {1, ids[1], 999999};
  for (uint64_t id : kept_ids) {
    if (id % 2 == 0) subset.push_back(id);
  }
  flat.Prefetch(subset.data(), subset.size());
  auto sub = flat.SearchSubset(q.data(), nq, k, subset.data(), subset.size());
  for (size_t i = 0; i < nq; ++i) {
    ExpectMatches(sub[i],
                  RefSearch(m, kept_ids, kept, &q[i * d], d, k,
                            [](uint64_t id) { return id % 2 == 0; }),
                  1e-4);
  }
  EXPECT_TRUE(flat.SearchSubset(q.data(), nq, k, nullptr, 0)[0].empty());

  // k larger than the index: everything, best first.
  auto all = flat.Search(q.data(), 1, 10000);
  ASSERT_EQ(all[0].size(), kept_ids.size());
  for (size_t r = 1; r < all[0].size(); ++r) {
    EXPECT_LE(all[0][r - 1].distance, all[0][r].distance);
  }
}

// The long-batch search beside writers answers as Search does, for every
// encoding, with a filter, over more queries than one chunk and more rows
// than one block.
TEST_P(FlatIndexMetricTest, SearchYieldingMatchesSearch) {
  const Metric m = GetParam();
  const size_t d = 37, nb = 9000, nq = 300, k = 10;
  std::vector<float> x = Gaussian(nb, d, 21);
  std::vector<float> q = Gaussian(nq, d, 22);
  std::vector<uint64_t> ids(nb);
  for (size_t i = 0; i < nb; ++i) ids[i] = 11 + 5 * i;
  struct Odd final : IdFilter {
    bool Accept(uint64_t id) const override { return id % 2 == 1; }
  } odd;
  for (FlatEncoding enc : {FlatEncoding::kFloat32, FlatEncoding::kFloat16,
                           FlatEncoding::kScalar8}) {
    SCOPED_TRACE(static_cast<int>(enc));
    FlatIndex flat(m, d, enc);
    flat.Add(ids.data(), x.data(), nb);
    for (const IdFilter* filter : {static_cast<const IdFilter*>(nullptr),
                                   static_cast<const IdFilter*>(&odd)}) {
      const auto want = flat.Search(q.data(), nq, k, filter);
      const auto got = flat.SearchYielding(q.data(), nq, k, filter);
      ASSERT_EQ(got.size(), nq);
      for (size_t i = 0; i < nq; ++i) {
        std::vector<Ref> ref;
        for (const Neighbor& n : want[i]) ref.push_back({n.id, n.distance});
        ExpectMatches(got[i], ref, 1e-5);
        for (const Neighbor& n : got[i]) {
          if (filter != nullptr) {
            EXPECT_EQ(n.id % 2, 1u);
          }
        }
      }
    }
  }
  // A cancel already set: nothing is scanned.
  FlatIndex flat(m, d);
  flat.Add(ids.data(), x.data(), nb);
  std::atomic<bool> cancel{true};
  for (const auto& r : flat.SearchYielding(q.data(), nq, k, nullptr, &cancel)) {
    EXPECT_TRUE(r.empty());
  }
}

// Wide rows, so that the rows span many chunks (1,024 to 4,096 rows a
// chunk at this width): added in batches that do not line up with the
// chunks, 45% removed (each hole filled from the last row, across chunks),
// replaced and added again. Every live id reads back what a fresh index of
// the live set holds, searches match the scalar reference over those rows,
// and mass removal gives chunks back.
TEST_P(FlatIndexMetricTest, RowsAcrossChunksAddRemoveAndSearch) {
  const Metric m = GetParam();
  const size_t d = 640, nb = 9000, nq = 12, k = 10;
  std::vector<float> x = Gaussian(nb + 1000, d, 31);
  std::vector<float> q = Gaussian(nq, d, 32);
  for (FlatEncoding enc : {FlatEncoding::kFloat32, FlatEncoding::kFloat16,
                           FlatEncoding::kScalar8}) {
    SCOPED_TRACE(static_cast<int>(enc));
    FlatIndex flat(m, d, enc);
    std::map<uint64_t, const float*> live;  // id -> its current vector
    std::vector<uint64_t> ids(nb);
    for (size_t i = 0; i < nb; ++i) ids[i] = 5 + 3 * i;
    for (size_t off = 0; off < nb; off += 700) {
      const size_t n = std::min<size_t>(700, nb - off);
      flat.Add(&ids[off], &x[off * d], n);
      for (size_t i = off; i < off + n; ++i) live[ids[i]] = &x[i * d];
    }
    std::mt19937_64 rng(7);
    for (size_t i = 0; i < nb; ++i) {
      if (rng() % 100 < 45) {
        ASSERT_TRUE(flat.Remove(ids[i]));
        live.erase(ids[i]);
      }
    }
    // Replace 500 live ids with the extra vectors, then add 500 new ids.
    std::vector<uint64_t> again;
    for (auto it = live.begin(); it != live.end() && again.size() < 500; ++it) {
      again.push_back(it->first);
    }
    for (uint64_t id = 1; again.size() < 1000; id += 3) again.push_back(id);
    flat.Add(again.data(), &x[nb * d], again.size());
    for (size_t j = 0; j < again.size(); ++j) {
      live[again[j]] = &x[(nb + j) * d];
    }
    ASSERT_EQ(flat.size(), live.size());

    std::vector<uint64_t> live_ids;
    std::vector<float> live_x;
    for (const auto& [id, v] : live) {
      live_ids.push_back(id);
      live_x.insert(live_x.end(), v, v + d);
    }
    FlatIndex fresh(m, d, enc);
    fresh.Add(live_ids.data(), live_x.data(), live_ids.size());
    std::vector<float> decoded(live_ids.size() * d), want(d);
    for (size_t j = 0; j < live_ids.size(); ++j) {
      ASSERT_TRUE(flat.GetVector(live_ids[j], &decoded[j * d]));
      ASSERT_TRUE(fresh.GetVector(live_ids[j], want.data()));
      ASSERT_TRUE(std::equal(want.begin(), want.end(), &decoded[j * d]))
          << live_ids[j];
    }
    const auto got = flat.Search(q.data(), nq, k);
    const auto yielding = flat.SearchYielding(q.data(), nq, k);
    // Cosine compares the normalised query with the stored (normalised,
    // then decoded) row by inner product.
    std::vector<float> qn = q;
    if (m == Metric::kCosine) NormalizeL2(qn.data(), nq, d);
    const Metric ref_metric = m == Metric::kCosine ? Metric::kInnerProduct : m;
    for (size_t i = 0; i < nq; ++i) {
      const std::vector<Ref> ref =
          RefSearch(ref_metric, live_ids, decoded, &qn[i * d], d, k);
      ExpectMatches(got[i], ref, 1e-4);
      ExpectMatches(yielding[i], ref, 1e-4);
    }
    // Removals left the rows in 55% of the room they had: the chunks given
    // back, the last one under half its room at most.
    EXPECT_LE(flat.memory_bytes(), fresh.memory_bytes() * 1.25 + (2 << 20));

    // Down to about 500 rows: the chunks they left are given back.
    const size_t before = flat.memory_bytes();
    for (size_t j = 500; j < live_ids.size(); ++j) {
      ASSERT_TRUE(flat.Remove(live_ids[j]));
    }
    live_ids.resize(500);
    EXPECT_LT(flat.memory_bytes(), before / 4);
    for (uint64_t id : live_ids) {
      ASSERT_TRUE(flat.GetVector(id, want.data())) << id;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllMetrics, FlatIndexMetricTest,
                         ::testing::Values(Metric::kL2, Metric::kInnerProduct,
                                           Metric::kCosine),
                         [](const auto& info) {
                           return std::string(MetricName(info.param));
                         });

TEST(FlatIndexTest, DenseAndSparseIdsKeepTheirRows) {
  // Dense ids (a collection's internal ids) sit in the id map's direct
  // array, others in its hash map; removes move rows and re-adds reuse ids.
  const size_t d = 8;
  std::mt19937_64 rng(23);
  std::vector<uint64_t> all;
  for (uint64_t i = 0; i < 1500; ++i) all.push_back(i);
  for (int i = 0; i < 500; ++i) all.push_back(rng() | (uint64_t{1} << 40));
  std::shuffle(all.begin(), all.end(), rng);
  FlatIndex flat(Metric::kL2, d);
  std::map<uint64_t, std::vector<float>> ref;
  for (int round = 0; round < 6; ++round) {
    for (uint64_t id : all) {
      if (rng() % 3 == 0) {
        EXPECT_EQ(flat.Remove(id), ref.erase(id) == 1) << id;
      } else if (rng() % 2 == 0) {
        std::vector<float> v = Gaussian(1, d, rng());
        flat.Add(&id, v.data(), 1);
        ref[id] = v;
      }
    }
    ASSERT_EQ(flat.size(), ref.size());
    std::vector<float> got(d);
    for (uint64_t id : all) {
      auto it = ref.find(id);
      ASSERT_EQ(flat.GetVector(id, got.data()), it != ref.end()) << id;
      if (it != ref.end()) {
        ASSERT_EQ(got, it->second) << id;
      }
    }
  }
}

TEST(FlatIndexTest, DenseIdsCostFourBytesInTheIdMap) {
  const size_t d = 4, n = 100000;
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = i;
  std::vector<float> x = Gaussian(n, d, 9);
  FlatIndex flat(Metric::kL2, d);
  flat.Add(ids.data(), x.data(), n);
  // A row: 4 * d floats, its norm and its id; the id -> row map adds about
  // 4 bytes (a hash map entry was 17 bytes a bucket).
  const double row = 4 * d + 4 + 8;
  EXPECT_LE(static_cast<double>(flat.memory_bytes()) / n, row + 5);
  EXPECT_GE(static_cast<double>(flat.memory_bytes()) / n, row + 4);
}

// Added in batches (rows grow 1.25x at a time), then 35% removed: under
// the third Remove waits for, so the room stays until ShrinkToFit, after
// which the rows cost what a fresh index of the survivors costs, and every
// survivor reads back.
TEST(FlatIndexTest, ShrinkToFitGivesBackTheRoomOfRemovedRows) {
  const size_t d = 16, n = 20000;
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = i;
  std::vector<float> x = Gaussian(n, d, 3);
  FlatIndex flat(Metric::kL2, d, FlatEncoding::kFloat16);
  for (size_t off = 0; off < n; off += 1000) {
    flat.Add(ids.data() + off, x.data() + off * d, 1000);
  }
  std::vector<uint64_t> kept;
  for (size_t i = 0; i < n; ++i) {
    if (i % 20 < 7) {
      ASSERT_TRUE(flat.Remove(i));
    } else {
      kept.push_back(i);
    }
  }
  const size_t before = flat.memory_bytes();
  FlatIndex fresh(Metric::kL2, d, FlatEncoding::kFloat16);
  std::vector<float> kx(kept.size() * d);
  for (size_t j = 0; j < kept.size(); ++j) {
    std::copy_n(&x[kept[j] * d], d, &kx[j * d]);
  }
  fresh.Add(kept.data(), kx.data(), kept.size());
  flat.ShrinkToFit();
  const size_t after = flat.memory_bytes();
  EXPECT_LT(after, before);
  // The id map still spans the removed ids (4 bytes each, n in all).
  EXPECT_LE(after, fresh.memory_bytes() + 4 * (n - kept.size()))
      << "before " << before;
  ASSERT_EQ(flat.size(), kept.size());
  std::vector<float> got(d), want(d);
  for (uint64_t id : kept) {
    ASSERT_TRUE(flat.GetVector(id, got.data())) << id;
    ASSERT_TRUE(fresh.GetVector(id, want.data())) << id;
    ASSERT_EQ(got, want) << id;
  }
  EXPECT_FALSE(flat.GetVector(0, got.data()));
}

TEST(FlatIndexTest, EmptyAndZeroK) {
  FlatIndex flat(Metric::kL2, 4);
  const float q[4] = {1, 2, 3, 4};
  auto res = flat.Search(q, 1, 5);
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(res[0].empty());
  const uint64_t id = 9;
  flat.Add(&id, q, 1);
  EXPECT_TRUE(flat.Search(q, 1, 0)[0].empty());
  auto one = flat.Search(q, 1, 3);
  ASSERT_EQ(one[0].size(), 1u);
  EXPECT_EQ(one[0][0].id, 9u);
  EXPECT_EQ(one[0][0].distance, 0.0f);
}

TEST(FlatIndexTest, SearchConcurrentWithAdd) {
  const size_t d = 16, n = 2000;
  std::vector<float> x = Gaussian(n, d, 9);
  FlatIndex flat(Metric::kL2, d);
  std::thread writer([&] {
    for (size_t i = 0; i < n; ++i) {
      const uint64_t id = i;
      flat.Add(&id, &x[i * d], 1);
      if (i % 3 == 0) flat.Remove(id);
    }
  });
  for (int it = 0; it < 50; ++it) {
    auto res = flat.Search(x.data(), 2, 5);
    for (const auto& r : res) {
      for (size_t j = 1; j < r.size(); ++j) {
        EXPECT_LE(r[j - 1].distance, r[j].distance);
      }
    }
  }
  writer.join();
  EXPECT_EQ(flat.size(), n - (n + 2) / 3);
}

// Removes move the last row into the hole while SearchYielding reads the
// rows a block at a time: every vector stored for the whole call is still
// found, once. The queries are stored vectors near the end (the rows the
// removes move), so each finds itself first at distance 0; the rows removed
// are interleaved with them.
TEST(FlatIndexTest, SearchYieldingFindsEveryRowWhileRowsMove) {
  const size_t d = 256, n = 8000, nq = 64;  // 8 blocks of rows
  std::vector<float> x = Gaussian(n, d, 31);
  std::vector<uint64_t> queries_of;
  std::vector<float> q;
  for (size_t i = n - 1; queries_of.size() < nq; i -= 23) {
    if (i % 4 == 3) continue;
    queries_of.push_back(i);
    q.insert(q.end(), &x[i * d], &x[(i + 1) * d]);
  }
  std::mt19937 rng(7);
  for (int round = 0; round < 8; ++round) {
    FlatIndex flat(Metric::kL2, d);
    std::vector<uint64_t> removed;  // every fourth row
    for (size_t i = 0; i < n; ++i) {
      const uint64_t id = i;
      flat.Add(&id, &x[i * d], 1);
      if (i % 4 == 3) removed.push_back(id);
    }
    std::shuffle(removed.begin(), removed.end(), rng);
    std::atomic<bool> done{false};
    std::thread writer([&] {
      for (uint64_t id : removed) {
        flat.Remove(id);
        std::this_thread::yield();
      }
      done.store(true);
    });
    do {
      const auto res = flat.SearchYielding(q.data(), nq, 5);
      for (size_t i = 0; i < nq; ++i) {
        ASSERT_FALSE(res[i].empty());
        EXPECT_EQ(res[i][0].id, queries_of[i]) << "round " << round;
        EXPECT_EQ(res[i][0].distance, 0.0f);
        std::set<uint64_t> seen;
        for (const Neighbor& nb : res[i]) {
          EXPECT_TRUE(seen.insert(nb.id).second) << "id " << nb.id << " twice";
        }
      }
    } while (!done.load());
    writer.join();
    EXPECT_EQ(flat.size(), n - removed.size());
  }
}

TEST(FlatIndexTest, MetricNamesAndNormalize) {
  EXPECT_EQ(MetricName(Metric::kL2), "l2");
  EXPECT_EQ(MetricName(Metric::kInnerProduct), "inner_product");
  EXPECT_EQ(MetricName(Metric::kCosine), "cosine");
  float v[6] = {3, 4, 0, 0, 0, 0};
  EXPECT_FALSE(NormalizeL2(v, 2, 3));  // second vector is zero
  EXPECT_FLOAT_EQ(v[0], 0.6f);
  EXPECT_FLOAT_EQ(v[1], 0.8f);
  EXPECT_EQ(v[3], 0.0f);
  EXPECT_TRUE(NormalizeL2(v, 1, 3));
  // Norms whose float square under- or overflows are still exact.
  for (float scale : {1e-30f, 1e-36f, 3e38f}) {
    float w[3] = {0.6f * scale, 0.8f * scale, 0};
    ASSERT_TRUE(NormalizeL2(w, 1, 3)) << scale;
    EXPECT_NEAR(w[0], 0.6f, 1e-6) << scale;
    EXPECT_NEAR(w[1], 0.8f, 1e-6) << scale;
  }
}

// For the compact encodings: Search and SearchSubset are exact over the
// decoded rows (`decoded`, nb * d, for `ids`); replacing and removing rows
// keeps the others as they were. Cosine rows decode to vectors of norm
// close to, not exactly, 1: the reference takes their inner products with
// the normalised queries, as the scan does.
void ExpectDecodedSearchAndMutations(Metric m, FlatIndex* flat,
                                     const std::vector<uint64_t>& ids,
                                     const std::vector<float>& decoded,
                                     std::vector<float> q, size_t d, size_t k,
                                     uint32_t seed) {
  const size_t nb = ids.size(), nq = q.size() / d;
  auto res = flat->Search(q.data(), nq, k);
  std::vector<uint64_t> subset;
  std::vector<float> subset_x;
  for (size_t i = 0; i < nb; i += 3) {
    subset.push_back(ids[i]);
    subset_x.insert(subset_x.end(), &decoded[i * d], &decoded[(i + 1) * d]);
  }
  auto sub = flat->SearchSubset(q.data(), nq, k, subset.data(), subset.size());
  ASSERT_EQ(res.size(), nq);
  ASSERT_EQ(sub.size(), nq);
  const Metric ref_m = m == Metric::kCosine ? Metric::kInnerProduct : m;
  if (m == Metric::kCosine) NormalizeL2(q.data(), nq, d);
  for (size_t i = 0; i < nq; ++i) {
    ExpectMatches(res[i], RefSearch(ref_m, ids, decoded, &q[i * d], d, k),
                  1e-4);
    ExpectMatches(sub[i], RefSearch(ref_m, subset, subset_x, &q[i * d], d, k),
                  1e-4);
  }
  const std::vector<float> fresh = Gaussian(1, d, seed);
  flat->Add(&ids[10], fresh.data(), 1);
  EXPECT_TRUE(flat->Remove(ids[0]));
  std::vector<float> again(d), fresh_decoded(d);
  ASSERT_TRUE(flat->GetVector(ids[nb - 1], again.data()));  // moved to row 0
  EXPECT_EQ(again,
            std::vector<float>(&decoded[(nb - 1) * d], &decoded[nb * d]));
  ASSERT_TRUE(flat->GetVector(ids[10], fresh_decoded.data()));
  EXPECT_NE(fresh_decoded,
            std::vector<float>(&decoded[10 * d], &decoded[11 * d]));
  EXPECT_FALSE(flat->GetVector(ids[0], again.data()));
  EXPECT_EQ(flat->size(), nb - 1);
}

// kFloat16 stores each component as the nearest half (ties to even) of
// x / scale, scale a power of two putting the row's largest |x| in
// [2^14, 2^15): the decoded vector is within 2^-11 of that largest |x| per
// component, exact where x fits in a half, and every read sees it.
TEST_P(FlatIndexMetricTest, Float16RowsRoundToNearestAndSearchDecoded) {
  const Metric m = GetParam();
  const size_t d = 37, nb = 3000, nq = 30, k = 10;
  std::vector<float> x = Gaussian(nb, d, 5);
  // Rows of very different magnitudes, and one of small integers (exact).
  for (size_t j = 0; j < d; ++j) {
    x[1 * d + j] *= 1e-6f;
    x[2 * d + j] *= 1e6f;
    x[3 * d + j] = static_cast<float>(static_cast<int>(j) - 18);
  }
  std::vector<float> q = Gaussian(nq, d, 6);
  std::vector<uint64_t> ids(nb);
  for (size_t i = 0; i < nb; ++i) ids[i] = 5 + 3 * i;
  FlatIndex flat(m, d, FlatEncoding::kFloat16);
  FlatIndex full(m, d);
  EXPECT_EQ(flat.encoding(), FlatEncoding::kFloat16);
  flat.Add(ids.data(), x.data(), nb);
  full.Add(ids.data(), x.data(), nb);
  EXPECT_LT(flat.memory_bytes(), full.memory_bytes() * 0.75);

  std::vector<float> decoded(nb * d), stored(d);
  for (size_t i = 0; i < nb; ++i) {
    ASSERT_TRUE(flat.GetVector(ids[i], &decoded[i * d]));
    ASSERT_TRUE(full.GetVector(ids[i], stored.data()));  // normalised
    double max_abs = 0;
    for (size_t j = 0; j < d; ++j) {
      max_abs = std::max(max_abs, std::fabs(double{stored[j]}));
    }
    // The half grid at this row's scale 2^(e - 15) (max_abs = f * 2^e, f in
    // [0.5, 1)): 2^(ilogb(x) - 10) apart around x, and 2^(e - 39) among the
    // subnormal halves; the nearest point is within half a step.
    int e = 0;
    std::frexp(max_abs, &e);
    for (size_t j = 0; j < d; ++j) {
      const double got = decoded[i * d + j], want = stored[j];
      const double exp_j =
          want == 0 ? e - 39 : std::max<double>(e - 39, std::ilogb(want) - 10);
      const double step = std::ldexp(1.0, static_cast<int>(exp_j));
      EXPECT_LE(std::fabs(got - want), step / 2 * (1 + 1e-9))
          << "row " << i << " component " << j;
      EXPECT_LE(std::fabs(got - want), max_abs * std::ldexp(1.0, -11));
    }
  }
  if (m == Metric::kL2) {  // cosine rows are normalised first
    for (size_t j = 0; j < d; ++j) EXPECT_EQ(decoded[3 * d + j], x[3 * d + j]);
  }

  ExpectDecodedSearchAndMutations(m, &flat, ids, decoded, q, d, k, 7);
}

// kScalar8 rows: each component within half a step of its value, the step
// (max - min) / 255 of its row; constant rows and the row's extremes are
// exact; Search and SearchSubset are exact over the decoded vectors; replace
// and remove keep the other rows.
TEST_P(FlatIndexMetricTest, Scalar8RowsWithinHalfAStepAndSearchDecoded) {
  const Metric m = GetParam();
  const size_t d = 37, nb = 3000, nq = 30, k = 10;
  std::vector<float> x = Gaussian(nb, d, 15);
  for (size_t j = 0; j < d; ++j) {
    x[1 * d + j] *= 1e-6f;
    x[2 * d + j] = x[2 * d + j] * 1e6f + 3e7f;  // far from the origin
    x[3 * d + j] = 0.25f;                       // constant: exact
  }
  const std::vector<float> q = Gaussian(nq, d, 16);
  std::vector<uint64_t> ids(nb);
  for (size_t i = 0; i < nb; ++i) ids[i] = 7 + 2 * i;
  FlatIndex flat(m, d, FlatEncoding::kScalar8);
  FlatIndex full(m, d);
  EXPECT_EQ(flat.encoding(), FlatEncoding::kScalar8);
  flat.Add(ids.data(), x.data(), nb);
  full.Add(ids.data(), x.data(), nb);
  // d + 8 bytes a row against 4 d.
  EXPECT_LT(flat.memory_bytes(), full.memory_bytes() * 0.5);

  std::vector<float> decoded(nb * d), stored(d);
  for (size_t i = 0; i < nb; ++i) {
    ASSERT_TRUE(flat.GetVector(ids[i], &decoded[i * d]));
    ASSERT_TRUE(full.GetVector(ids[i], stored.data()));  // normalised
    const auto [lo, hi] = std::minmax_element(stored.begin(), stored.end());
    const double step = (double{*hi} - double{*lo}) / 255;
    for (size_t j = 0; j < d; ++j) {
      const double got = decoded[i * d + j], want = stored[j];
      // Half a step, and the float rounding of min + code * step.
      EXPECT_LE(std::fabs(got - want),
                step / 2 * (1 + 1e-4) + 1e-6 * std::fabs(want))
          << "row " << i << " component " << j;
      if (stored[j] == *lo) {
        EXPECT_EQ(got, want) << "row " << i;
      }
    }
  }
  for (size_t j = 0; j < d; ++j) {
    if (m != Metric::kCosine) {
      EXPECT_EQ(decoded[3 * d + j], 0.25f);
    }
    EXPECT_EQ(decoded[3 * d + j], decoded[3 * d]);
  }

  ExpectDecodedSearchAndMutations(m, &flat, ids, decoded, q, d, k, 17);
}

// Refine with the compact rows' error bounds: every candidate ranked on
// 8-bit (or half-precision) rows, re-scored only where the bound leaves a
// doubt, gives exactly the best k at full precision of all the candidates,
// re-scoring far fewer than all; the rows' bounds hold; a hit the source
// does not know keeps its distance.
TEST_P(FlatIndexMetricTest, RefineWithErrorBoundsIsExact) {
  const Metric m = GetParam();
  const size_t d = 24, nb = 2000, nq = 20, k = 10;
  const std::vector<float> x = Gaussian(nb, d, 21);
  std::vector<float> q = Gaussian(nq, d, 22);
  if (m == Metric::kCosine) NormalizeL2(q.data(), nq, d);
  std::vector<uint64_t> ids(nb);
  for (size_t i = 0; i < nb; ++i) ids[i] = 3 * i + 1;
  FlatIndex full(m, d);
  full.Add(ids.data(), x.data(), nb);
  const FlatVectorSource full_source(&full);
  for (FlatEncoding enc : {FlatEncoding::kScalar8, FlatEncoding::kFloat16}) {
    FlatIndex compact(m, d, enc);
    compact.Add(ids.data(), x.data(), nb);
    std::vector<float> rows(nb * d), exact_rows(nb * d), errors(nb);
    std::vector<char> found(nb), found2(nb);
    compact.GetVectors(ids.data(), nb, rows.data(),
                       reinterpret_cast<bool*>(found.data()), errors.data());
    full.GetVectors(ids.data(), nb, exact_rows.data(),
                    reinterpret_cast<bool*>(found2.data()));
    float max_err = 0;  // some row is not exact
    for (size_t i = 0; i < nb; ++i) {
      double e2 = 0;
      for (size_t j = 0; j < d; ++j) {
        const double t = double{rows[i * d + j]} - exact_rows[i * d + j];
        e2 += t * t;
      }
      ASSERT_LE(std::sqrt(e2), errors[i]) << "row " << i;
      max_err = std::max(max_err, errors[i]);
    }
    EXPECT_GT(max_err, 0.0f);
    const auto ranked = compact.Search(q.data(), nq, nb);
    const auto want = full.Search(q.data(), nq, k);
    size_t total = 0;
    for (size_t i = 0; i < nq; ++i) {
      std::vector<Neighbor> hits = ranked[i];
      std::vector<float> errs(hits.size());
      for (size_t h = 0; h < hits.size(); ++h) {
        errs[h] = errors[(hits[h].id - 1) / 3];
      }
      total += Refine(m, &q[i * d], d, full_source, k, &hits, errs.data());
      ASSERT_EQ(hits.size(), k);
      for (size_t h = 0; h < k; ++h) {
        EXPECT_EQ(hits[h].id, want[i][h].id) << "query " << i << " rank " << h;
        EXPECT_NEAR(hits[h].distance, want[i][h].distance,
                    1e-5 * (1 + std::fabs(want[i][h].distance)));
      }
    }
    EXPECT_LT(total, nq * nb / 10) << "re-scored " << total;
    // Without bounds every hit is re-scored.
    std::vector<Neighbor> all = ranked[0];
    EXPECT_EQ(Refine(m, q.data(), d, full_source, k, &all), nb);
  }
  // A hit the source does not know keeps its distance.
  std::vector<Neighbor> unknown = {{0, -1e9f}, {ids[0], 1e9f}};
  Refine(m, q.data(), d, full_source, 1, &unknown);
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_EQ(unknown[0].id, 0u);
}

// GetVectors is GetVector for many ids under one lock, in both encodings:
// the same rows, unknown ids flagged and their rows left alone.
TEST(FlatIndexTest, GetVectorsEqualsGetVector) {
  const size_t d = 19, nb = 400;
  const std::vector<float> x = Gaussian(nb, d, 8);
  std::vector<uint64_t> ids(nb);
  for (size_t i = 0; i < nb; ++i) ids[i] = 2 * i;
  for (FlatEncoding enc : {FlatEncoding::kFloat32, FlatEncoding::kFloat16,
                           FlatEncoding::kScalar8}) {
    FlatIndex flat(Metric::kL2, d, enc);
    flat.Add(ids.data(), x.data(), nb);
    flat.Remove(ids[7]);
    const std::vector<uint64_t> want = {ids[3],   1,      ids[7],
                                        ids[399], ids[3], ids[0]};
    std::vector<float> out(want.size() * d, -42.0f);
    bool found[6];
    flat.GetVectors(want.data(), want.size(), out.data(), found);
    for (size_t i = 0; i < want.size(); ++i) {
      std::vector<float> one(d, -42.0f);
      EXPECT_EQ(found[i], flat.GetVector(want[i], one.data())) << i;
      EXPECT_EQ(std::vector<float>(&out[i * d], &out[(i + 1) * d]), one)
          << "id " << want[i];
    }
    EXPECT_FALSE(found[1]);
    EXPECT_FALSE(found[2]);
  }
}

// The half-precision store keeps siftsmall's exact top-10: recall@10 of its
// exact search against the shipped ground truth.
TEST(FlatIndexTest, SiftSmallFloat16Recall) {
  QUIVER_LOAD_SIFTSMALL_OR_SKIP(sift);
  const size_t d = sift.dim, nb = sift.nb, nq = sift.nq, k = 10;
  std::vector<uint64_t> ids(nb);
  for (size_t i = 0; i < nb; ++i) ids[i] = i;
  FlatIndex flat(Metric::kL2, d, FlatEncoding::kFloat16);
  flat.Add(ids.data(), sift.base.data(), nb);
  auto res = flat.Search(sift.queries.data(), nq, k);
  std::vector<std::vector<uint64_t>> found(nq);
  for (size_t i = 0; i < nq; ++i) {
    for (const Neighbor& n : res[i]) found[i].push_back(n.id);
  }
  const double recall = testing::RecallAtK(found, sift.gt, sift.gt_dim, k);
  EXPECT_GE(recall, 0.998);
  std::printf("siftsmall half-precision exact recall@10 = %.4f\n", recall);
}

// 8-bit rows alone misorder near ties at the 10th place; ranked on them and
// the best 20 re-scored with the exact vectors (Refine), siftsmall's exact
// top-10 comes back.
TEST(FlatIndexTest, SiftSmallScalar8RefinedRecall) {
  QUIVER_LOAD_SIFTSMALL_OR_SKIP(sift);
  const size_t d = sift.dim, nb = sift.nb, nq = sift.nq, k = 10;
  std::vector<uint64_t> ids(nb);
  for (size_t i = 0; i < nb; ++i) ids[i] = i;
  FlatIndex bytes(Metric::kL2, d, FlatEncoding::kScalar8);
  FlatIndex exact(Metric::kL2, d);
  bytes.Add(ids.data(), sift.base.data(), nb);
  exact.Add(ids.data(), sift.base.data(), nb);
  const FlatVectorSource full(&exact);
  auto alone = bytes.Search(sift.queries.data(), nq, k);
  auto res = bytes.Search(sift.queries.data(), nq, 2 * k);
  std::vector<std::vector<uint64_t>> found(nq), found_alone(nq);
  for (size_t i = 0; i < nq; ++i) {
    Refine(Metric::kL2, &sift.queries[i * d], d, full, k, &res[i]);
    ASSERT_EQ(res[i].size(), k);
    for (const Neighbor& n : res[i]) found[i].push_back(n.id);
    for (const Neighbor& n : alone[i]) found_alone[i].push_back(n.id);
    // The distances are the exact ones.
    std::vector<float> v(d);
    ASSERT_TRUE(exact.GetVector(res[i][0].id, v.data()));
    float dist = 0;
    for (size_t j = 0; j < d; ++j) {
      dist +=
          (v[j] - sift.queries[i * d + j]) * (v[j] - sift.queries[i * d + j]);
    }
    EXPECT_NEAR(res[i][0].distance, dist, 1e-4 * dist);
  }
  const double recall = testing::RecallAtK(found, sift.gt, sift.gt_dim, k);
  const double alone_recall =
      testing::RecallAtK(found_alone, sift.gt, sift.gt_dim, k);
  EXPECT_GE(recall, 0.998);
  std::printf("siftsmall 8-bit exact recall@10 = %.4f, refined = %.4f\n",
              alone_recall, recall);
}

// BruteForce reproduces siftsmall's ground truth top-10 (ties aside: a
// mismatching ground-truth id must be exactly as far as our 10th result).
TEST(FlatIndexTest, SiftSmallGroundTruth) {
  QUIVER_LOAD_SIFTSMALL_OR_SKIP(sift);
  const std::vector<float>& base = sift.base;
  const std::vector<float>& queries = sift.queries;
  const std::vector<int32_t>& gt = sift.gt;
  const size_t d = sift.dim, gd = sift.gt_dim;
  const size_t nb = sift.nb, nq = sift.nq, k = 10;
  ASSERT_GT(nb, 0u);
  ASSERT_EQ(gt.size() / gd, nq);
  auto res = FlatIndex::BruteForce(Metric::kL2, base.data(), nb, queries.data(),
                                   nq, d, k);
  std::vector<std::vector<uint64_t>> found(nq);
  size_t ties = 0;
  for (size_t i = 0; i < nq; ++i) {
    ASSERT_EQ(res[i].size(), k);
    std::set<uint64_t> ours;
    for (const Neighbor& nb_ : res[i]) {
      found[i].push_back(nb_.id);
      ours.insert(nb_.id);
      EXPECT_EQ(nb_.distance,
                static_cast<float>(RefDistance(Metric::kL2, &queries[i * d],
                                               &base[nb_.id * d], d)));
    }
    for (size_t j = 0; j < k; ++j) {
      const uint64_t g = gt[i * gd + j];
      if (ours.count(g)) continue;
      ++ties;
      EXPECT_EQ(RefDistance(Metric::kL2, &queries[i * d], &base[g * d], d),
                res[i][k - 1].distance)
          << "query " << i << " misses ground-truth id " << g;
    }
  }
  const double recall = testing::RecallAtK(found, gt, gd, k);
  EXPECT_GE(recall, 1.0 - static_cast<double>(ties) / (nq * k) - 1e-12);
  std::printf("siftsmall brute force recall@10 = %.4f (%zu ties)\n", recall,
              ties);
}

}  // namespace
}  // namespace quiver::index
