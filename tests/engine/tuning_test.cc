// FindCheapestSetting against measuring every setting, on random recall
// surfaces that follow the model (recall grows with nprobe and rerank).
#include "server/engine/tuning.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <utility>
#include <vector>

namespace quiver::engine {
namespace {

const std::vector<uint32_t> kReranks(std::begin(kRerankLadder),
                                     std::end(kRerankLadder));

// recall(i, j) = 1 - (1 - a_i)(1 - b_j) with a, b non-decreasing in [0, 1):
// monotone in both, with ties where a step adds nothing.
struct Surface {
  std::vector<double> a, b;
  double At(size_t i, size_t j) const { return 1 - (1 - a[i]) * (1 - b[j]); }
};

Surface RandomSurface(size_t n, size_t m, std::mt19937_64* rng) {
  std::uniform_real_distribution<double> u(0, 1);
  auto ramp = [&](size_t len, double top) {
    std::vector<double> v(len);
    double s = 0;
    for (double& x : v) {
      if (u(*rng) < 0.8) s += u(*rng);  // sometimes flat
      x = s;
    }
    for (double& x : v) x = s == 0 ? 0 : top * x / s;
    return v;
  };
  return {ramp(n, 0.9 + 0.0999 * u(*rng)), ramp(m, 0.5 + 0.4 * u(*rng))};
}

double Cost(uint32_t nprobe, uint32_t rerank) {
  return nprobe * 40.0 + rerank * 10.0 * 22.0;
}

struct TuneRun {
  TuningResult result;
  std::map<std::pair<uint32_t, uint32_t>, int> calls;
};

TuneRun Tune(const Surface& s, const std::vector<uint32_t>& nprobes, double aim,
             uint32_t start) {
  TuneRun run;
  std::map<uint32_t, size_t> index_of;
  for (size_t i = 0; i < nprobes.size(); ++i) index_of[nprobes[i]] = i;
  std::map<uint32_t, size_t> rerank_index;
  for (size_t j = 0; j < kReranks.size(); ++j) rerank_index[kReranks[j]] = j;
  run.result = FindCheapestSetting(
      nprobes, kReranks, aim, start, Cost,
      [&](uint32_t nprobe, uint32_t rerank) -> std::optional<double> {
        ++run.calls[{nprobe, rerank}];
        return s.At(index_of.at(nprobe), rerank_index.at(rerank));
      });
  return run;
}

TEST(FindCheapestSettingTest, MatchesMeasuringEverySetting) {
  std::mt19937_64 rng(42);
  int reached = 0, missed = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    const uint32_t nlist = uint32_t{1} << (1 + trial % 12);  // 2 .. 4096
    const std::vector<uint32_t> nprobes = NprobeLadder(nlist);
    const Surface s = RandomSurface(nprobes.size(), kReranks.size(), &rng);
    const double aim = std::uniform_real_distribution<double>(0.6, 0.999)(rng);
    const uint32_t start =
        std::uniform_int_distribution<uint32_t>(0, 2 * nlist)(rng);
    SCOPED_TRACE(testing::Message() << "trial " << trial << " nlist " << nlist
                                    << " aim " << aim << " start " << start);
    // Every setting: the cheapest reaching the aim, and the best recall.
    double cheapest = -1, top_recall = -1;
    for (size_t i = 0; i < nprobes.size(); ++i) {
      for (size_t j = 0; j < kReranks.size(); ++j) {
        const double c = Cost(nprobes[i], kReranks[j]);
        if (s.At(i, j) >= aim && (cheapest < 0 || c < cheapest)) cheapest = c;
        top_recall = std::max(top_recall, s.At(i, j));
      }
    }
    const TuneRun run = Tune(s, nprobes, aim, start);
    const TuningResult& r = run.result;
    EXPECT_FALSE(r.cancelled);
    EXPECT_EQ(r.measured, run.calls.size());
    for (const auto& [setting, n] : run.calls) {
      EXPECT_EQ(n, 1) << "measured twice: nprobe " << setting.first
                      << " rerank " << setting.second;
    }
    EXPECT_EQ(r.reached, cheapest >= 0);
    if (cheapest >= 0) {
      ++reached;
      EXPECT_EQ(r.best.cost, cheapest);
      EXPECT_GE(r.best.recall, aim);
      EXPECT_EQ(r.best.cost, Cost(r.best.nprobe, r.best.rerank));
    } else {
      ++missed;
      // Out of reach: the best recall measured (the largest nprobe at some
      // rerank is always measured, so at least that of the top row).
      EXPECT_LT(r.best.recall, aim);
      EXPECT_GT(r.best.nprobe, 0u);
    }
    // The recall reported is the one measured for the setting chosen.
    size_t i = 0, j = 0;
    while (nprobes[i] != r.best.nprobe) ++i;
    while (kReranks[j] != r.best.rerank) ++j;
    EXPECT_EQ(r.best.recall, s.At(i, j));
    if (HasFailure()) break;
  }
  // Both branches were exercised.
  EXPECT_GT(reached, 500);
  EXPECT_GT(missed, 20);
}

// Measured again after growth, the defaults barely moved: started at the
// previous answer, the search measures a handful of settings, none of them
// far above it, where a binary search over the ladder first measured its
// middle (nprobe 64-96 of 2048) at every rerank.
TEST(FindCheapestSettingTest, WarmStartMeasuresFewCheapSettings) {
  const std::vector<uint32_t> nprobes = NprobeLadder(2048);
  // recall at nprobe p, rerank r: a smooth saturating surface.
  Surface s;
  for (uint32_t p : nprobes) s.a.push_back(1 - 1.0 / (1 + 0.35 * p));
  for (uint32_t r : kReranks) s.b.push_back(1 - 1.0 / (1 + 0.5 * r));
  const double aim = 0.97;
  const TuneRun cold = Tune(s, nprobes, aim, /*start=*/0);
  ASSERT_TRUE(cold.result.reached);
  const TuneRun warm = Tune(s, nprobes, aim, cold.result.best.nprobe);
  ASSERT_TRUE(warm.result.reached);
  EXPECT_EQ(warm.result.best.nprobe, cold.result.best.nprobe);
  EXPECT_EQ(warm.result.best.rerank, cold.result.best.rerank);
  EXPECT_LE(warm.result.measured, cold.result.measured);
  EXPECT_LE(warm.result.measured, 2 * kReranks.size());
  uint32_t largest = 0;
  for (const auto& [setting, n] : warm.calls) {
    largest = std::max(largest, setting.first);
  }
  EXPECT_LE(largest, 4 * warm.result.best.nprobe)
      << "measured nprobe " << largest << " for an answer at "
      << warm.result.best.nprobe;
}

// Small reranks cap the recall below the aim whatever the nprobe (too few
// candidates re-scored, as with coarse PQ codes): they must not be
// measured up to nprobe = nlist (a full scan per query), since the larger
// reranks already found a cheaper setting.
TEST(FindCheapestSettingTest, RerankThatCannotReachIsNotClimbed) {
  const std::vector<uint32_t> nprobes = NprobeLadder(2048);
  Surface s;
  for (uint32_t p : nprobes) s.a.push_back(1 - 1.0 / (1 + 0.5 * p));
  for (uint32_t r : kReranks) s.b.push_back(r <= 3 ? 0 : 0.5);
  // The caps: recall <= 0.93 at rerank 2 and 3, 0.9999 beyond.
  auto capped = [&](size_t i, size_t j) {
    return std::min(s.At(i, j), kReranks[j] <= 3 ? 0.93 : 0.9999);
  };
  std::map<uint32_t, size_t> index_of;
  for (size_t i = 0; i < nprobes.size(); ++i) index_of[nprobes[i]] = i;
  uint32_t largest = 0;
  const TuningResult r = FindCheapestSetting(
      nprobes, kReranks, 0.97, /*start_nprobe=*/0, Cost,
      [&](uint32_t nprobe, uint32_t rerank) -> std::optional<double> {
        largest = std::max(largest, nprobe);
        size_t j = 0;
        while (kReranks[j] != rerank) ++j;
        return capped(index_of.at(nprobe), j);
      });
  ASSERT_TRUE(r.reached);
  EXPECT_GT(r.best.rerank, 3u);
  EXPECT_LE(largest, 4 * r.best.nprobe)
      << "measured nprobe " << largest << " for an answer at nprobe "
      << r.best.nprobe << ", rerank " << r.best.rerank << " (" << r.measured
      << " settings)";
}

TEST(FindCheapestSettingTest, StopsWhenMeasureIsCancelled) {
  const std::vector<uint32_t> nprobes = NprobeLadder(256);
  int calls = 0;
  const TuningResult r = FindCheapestSetting(
      nprobes, kReranks, 0.95, 8, Cost,
      [&](uint32_t nprobe, uint32_t) -> std::optional<double> {
        if (++calls > 3) return std::nullopt;
        return nprobe / 512.0;  // never reaches 0.95 below 486
      });
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.measured, 3u);
  EXPECT_EQ(calls, 4);
}

}  // namespace
}  // namespace quiver::engine
