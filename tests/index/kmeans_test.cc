// Tests of the clustering core (index/kmeans.h) on seeded synthetic data.
#include "index/kmeans.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "index/clustering/distances.h"
#include "index/clustering/kmeans_internal.h"
#include "tests/testing/testing.h"

namespace quiver::index {
namespace {

double Sq(const float* a, const float* b, size_t d) {
  double s = 0;
  for (size_t l = 0; l < d; ++l) {
    const double t = double{a[l]} - b[l];
    s += t * t;
  }
  return s;
}

struct Blobs {
  std::vector<float> x;        // n * d
  std::vector<float> centers;  // nblobs * d
  size_t n = 0;
};

// nblobs Gaussian blobs with centres uniform in [-box, box]^d and the given
// per-dimension standard deviation; `weights` (optional) skews blob sizes.
Blobs MakeBlobs(size_t nblobs, size_t per_blob, size_t d, float box,
                float sigma, uint32_t seed,
                const std::vector<size_t>& sizes = {}) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> uni(-box, box);
  std::normal_distribution<float> noise(0.0f, sigma);
  Blobs b;
  b.centers.resize(nblobs * d);
  for (float& v : b.centers) v = uni(gen);
  for (size_t c = 0; c < nblobs; ++c) {
    const size_t count = sizes.empty() ? per_blob : sizes[c];
    for (size_t i = 0; i < count; ++i) {
      for (size_t l = 0; l < d; ++l) {
        b.x.push_back(b.centers[c * d + l] + noise(gen));
      }
    }
    b.n += count;
  }
  return b;
}

std::vector<float> Uniform(size_t n, size_t d, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  std::vector<float> x(n * d);
  for (float& v : x) v = uni(gen);
  return x;
}

TEST(KMeansTest, RecoversWellSeparatedBlobCenters) {
  const size_t d = 16, nblobs = 10;
  Blobs b = MakeBlobs(nblobs, 300, d, 10.0f, 0.5f, 42);
  for (uint64_t seed : {1, 2, 3}) {
    KMeansParams p;
    p.k = nblobs;
    p.seed = seed;
    p.max_points_per_centroid = 0;  // train on all 3000 points
    auto r = KMeans(b.x.data(), b.n, d, p);
    QUIVER_ASSERT_OK(r);
    ASSERT_EQ(r->centroids.size(), nblobs * d);
    // Every true centre has a found centroid nearby (the mean of 300 points
    // with sigma 0.5 lies within ~0.03 per dimension; blobs are ~20 apart).
    for (size_t c = 0; c < nblobs; ++c) {
      double best = std::numeric_limits<double>::infinity();
      for (size_t j = 0; j < nblobs; ++j) {
        best = std::min(best, Sq(&b.centers[c * d], &r->centroids[j * d], d));
      }
      EXPECT_LT(std::sqrt(best), 0.3) << "blob " << c << " seed " << seed;
    }
    EXPECT_EQ(r->stats.min_size, 300u);
    EXPECT_EQ(r->stats.max_size, 300u);
    // Per-point MSE ~ d * sigma^2 = 4.
    EXPECT_NEAR(r->stats.mse, d * 0.25, 0.4);
  }
}

TEST(KMeansTest, ObjectiveNeverRises) {
  const size_t n = 4000, d = 24;
  std::vector<float> x = Uniform(n, d, 7);
  for (KMeansInit init : {KMeansInit::kKMeansPlusPlus, KMeansInit::kRandom}) {
    KMeansParams p;
    p.k = 40;
    p.niter = 30;
    p.convergence_tol = 0;
    p.init = init;
    auto r = KMeans(x.data(), n, d, p);
    QUIVER_ASSERT_OK(r);
    const std::vector<double>& obj = r->stats.objective_per_iteration;
    ASSERT_EQ(obj.size(), static_cast<size_t>(r->stats.iterations));
    ASSERT_GE(obj.size(), 10u);
    for (size_t i = 1; i < obj.size(); ++i) {
      EXPECT_LE(obj[i], obj[i - 1] * (1 + 1e-6)) << "iteration " << i;
    }
    EXPECT_LT(obj.back(), obj.front());
    EXPECT_DOUBLE_EQ(r->stats.mse, obj.back());
  }
}

TEST(KMeansTest, StatsMatchAssignment) {
  const size_t n = 3000, d = 20;
  std::vector<float> x = Uniform(n, d, 11);
  KMeansParams p;
  p.k = 30;
  auto r = KMeans(x.data(), n, d, p);
  QUIVER_ASSERT_OK(r);
  ASSERT_EQ(r->assignment.size(), n);
  EXPECT_EQ(r->stats.n_trained, n);
  std::vector<size_t> sizes(p.k, 0);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t a = r->assignment[i];
    ASSERT_LT(a, p.k);
    ++sizes[a];
    const double da = Sq(&x[i * d], &r->centroids[a * d], d);
    sum += da;
    // The assignment is the nearest centroid (up to float rounding).
    for (size_t j = 0; j < p.k; ++j) {
      ASSERT_GE(Sq(&x[i * d], &r->centroids[j * d], d), da - 1e-4)
          << "point " << i;
    }
  }
  EXPECT_NEAR(r->stats.mse, sum / n, 1e-4 * sum / n);
  EXPECT_EQ(r->stats.min_size, *std::min_element(sizes.begin(), sizes.end()));
  EXPECT_EQ(r->stats.max_size, *std::max_element(sizes.begin(), sizes.end()));
  EXPECT_NEAR(r->stats.imbalance,
              static_cast<double>(r->stats.max_size) * p.k / n, 1e-9);
  EXPECT_GE(r->stats.seconds, 0);
}

// Blobs of very different sizes (2400, 800, 300, 100 points): plain k-means
// spreads centroids by distortion, not by count, so cluster sizes come out
// skewed; the balanced mode must cap them.
TEST(KMeansTest, BalancedBoundsClusterSizes) {
  const size_t d = 8;
  Blobs b = MakeBlobs(4, 0, d, 5.0f, 1.0f, 3, {2400, 800, 300, 100});
  const size_t n = b.n, k = 16;
  KMeansParams p;
  p.k = k;
  p.niter = 20;
  auto plain = KMeans(b.x.data(), n, d, p);
  QUIVER_ASSERT_OK(plain);
  const size_t bound = static_cast<size_t>(std::ceil(1.25 * n / k));
  // The data must actually need balancing for this test to mean anything.
  ASSERT_GT(plain->stats.max_size, bound);

  p.balanced = true;
  auto bal = KMeans(b.x.data(), n, d, p);
  QUIVER_ASSERT_OK(bal);
  EXPECT_LE(bal->stats.max_size, bound);
  EXPECT_LE(bal->stats.imbalance, p.max_balance + 1e-9);
  std::vector<size_t> sizes(k, 0);
  for (uint32_t a : bal->assignment) ++sizes[a];
  EXPECT_LE(*std::max_element(sizes.begin(), sizes.end()), bound);
  EXPECT_EQ(*std::max_element(sizes.begin(), sizes.end()), bal->stats.max_size);
  // Balancing costs some distortion, but not much.
  EXPECT_LE(bal->stats.mse, 1.3 * plain->stats.mse)
      << "plain " << plain->stats.mse << " balanced " << bal->stats.mse;

  p.max_balance = 1.0;  // perfectly even (n divisible by k)
  auto even = KMeans(b.x.data(), n, d, p);
  QUIVER_ASSERT_OK(even);
  EXPECT_EQ(even->stats.max_size, n / k);
  EXPECT_EQ(even->stats.min_size, n / k);
}

TEST(KMeansTest, DeterministicForSeedAndThreads) {
  // Big enough for the assignment to run on 2 threads, small enough to stay
  // quick on a loaded 2-core machine.
  const size_t n = 6000, d = 32;
  std::vector<float> x = Uniform(n, d, 5);
  KMeansParams p;
  p.k = 48;
  p.seed = 99;
  p.niter = 10;
  p.threads = 2;
  for (bool balanced : {false, true}) {
    p.balanced = balanced;
    auto a = KMeans(x.data(), n, d, p);
    auto b = KMeans(x.data(), n, d, p);
    QUIVER_ASSERT_OK(a);
    QUIVER_ASSERT_OK(b);
    ASSERT_EQ(a->centroids.size(), b->centroids.size());
    EXPECT_EQ(0, std::memcmp(a->centroids.data(), b->centroids.data(),
                             a->centroids.size() * sizeof(float)));
    EXPECT_EQ(a->assignment, b->assignment);
    // Work is cut into fixed blocks whatever the thread count, so one thread
    // gives the same result too.
    KMeansParams p1 = p;
    p1.threads = 1;
    auto c = KMeans(x.data(), n, d, p1);
    QUIVER_ASSERT_OK(c);
    EXPECT_EQ(0, std::memcmp(a->centroids.data(), c->centroids.data(),
                             a->centroids.size() * sizeof(float)));
  }
}

TEST(KMeansTest, SeedChangesResult) {
  const size_t n = 1000, d = 8;
  std::vector<float> x = Uniform(n, d, 6);
  KMeansParams p;
  p.k = 20;
  p.threads = 1;
  p.seed = 1;
  auto a = KMeans(x.data(), n, d, p);
  p.seed = 2;
  auto b = KMeans(x.data(), n, d, p);
  QUIVER_ASSERT_OK(a);
  QUIVER_ASSERT_OK(b);
  EXPECT_NE(0, std::memcmp(a->centroids.data(), b->centroids.data(),
                           a->centroids.size() * sizeof(float)));
}

// 10 distinct points, each repeated 20 times, and k = 10: random seeding
// picks duplicates (empty clusters), which splitting must repair until every
// distinct point has its own centroid.
TEST(KMeansTest, RepairsEmptyClusters) {
  const size_t d = 6, distinct = 10, reps = 20;
  std::vector<float> base = Uniform(distinct, d, 17);
  std::vector<float> x;
  for (size_t r = 0; r < reps; ++r) {
    x.insert(x.end(), base.begin(), base.end());
  }
  const size_t n = distinct * reps;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    for (KMeansInit init : {KMeansInit::kRandom, KMeansInit::kKMeansPlusPlus}) {
      KMeansParams p;
      p.k = distinct;
      p.seed = seed;
      p.init = init;
      p.niter = 30;
      auto r = KMeans(x.data(), n, d, p);
      QUIVER_ASSERT_OK(r);
      EXPECT_LT(r->stats.mse, 1e-6) << "seed " << seed;
      EXPECT_EQ(r->stats.min_size, reps) << "seed " << seed;
      EXPECT_EQ(r->stats.max_size, reps) << "seed " << seed;
    }
  }
}

TEST(KMeansTest, FewerDistinctPointsThanClusters) {
  const size_t d = 4;
  std::vector<float> base = Uniform(3, d, 2);
  std::vector<float> x;
  for (int r = 0; r < 10; ++r) x.insert(x.end(), base.begin(), base.end());
  KMeansParams p;
  p.k = 8;
  auto r = KMeans(x.data(), 30, d, p);
  QUIVER_ASSERT_OK(r);
  EXPECT_LT(r->stats.mse, 1e-6);
  for (float v : r->centroids) EXPECT_TRUE(std::isfinite(v));
}

TEST(KMeansTest, KEqualsN) {
  const size_t n = 50, d = 5;
  std::vector<float> x = Uniform(n, d, 8);
  KMeansParams p;
  p.k = n;
  auto r = KMeans(x.data(), n, d, p);
  QUIVER_ASSERT_OK(r);
  EXPECT_LT(r->stats.mse, 1e-6);
  EXPECT_EQ(r->stats.min_size, 1u);
  EXPECT_EQ(r->stats.max_size, 1u);
}

TEST(KMeansTest, TrainsOnSample) {
  const size_t n = 20000, d = 8;
  std::vector<float> x = Uniform(n, d, 4);
  KMeansParams p;
  p.k = 10;
  p.max_points_per_centroid = 100;
  auto r = KMeans(x.data(), n, d, p);
  QUIVER_ASSERT_OK(r);
  EXPECT_EQ(r->stats.n_trained, 1000u);
  EXPECT_EQ(r->assignment.size(), 1000u);
  p.max_points_per_centroid = 0;
  auto all = KMeans(x.data(), n, d, p);
  QUIVER_ASSERT_OK(all);
  EXPECT_EQ(all->stats.n_trained, n);
}

TEST(KMeansTest, SphericalCentroidsHaveUnitNorm) {
  const size_t n = 2000, d = 16;
  std::vector<float> x = Uniform(n, d, 21);
  for (float& v : x) v -= 0.5f;
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (size_t l = 0; l < d; ++l) s += double{x[i * d + l]} * x[i * d + l];
    for (size_t l = 0; l < d; ++l) x[i * d + l] /= std::sqrt(s);
  }
  KMeansParams p;
  p.k = 12;
  p.spherical = true;
  auto r = KMeans(x.data(), n, d, p);
  QUIVER_ASSERT_OK(r);
  for (size_t j = 0; j < p.k; ++j) {
    double s = 0;
    for (size_t l = 0; l < d; ++l) {
      s += double{r->centroids[j * d + l]} * r->centroids[j * d + l];
    }
    EXPECT_NEAR(s, 1.0, 1e-5) << "centroid " << j;
  }
}

TEST(KMeansTest, RejectsInvalidArguments) {
  const size_t n = 100, d = 4;
  std::vector<float> x = Uniform(n, d, 1);
  KMeansParams p;
  p.k = 0;
  EXPECT_EQ(KMeans(x.data(), n, d, p).status().code(),
            absl::StatusCode::kInvalidArgument);
  p.k = n + 1;
  EXPECT_EQ(KMeans(x.data(), n, d, p).status().code(),
            absl::StatusCode::kInvalidArgument);
  p.k = 5;
  EXPECT_EQ(KMeans(x.data(), n, 0, p).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KMeans(nullptr, n, d, p).status().code(),
            absl::StatusCode::kInvalidArgument);
  KMeansParams bad = p;
  bad.niter = 0;
  EXPECT_EQ(KMeans(x.data(), n, d, bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = p;
  bad.balanced = true;
  bad.max_balance = 0.5;
  EXPECT_EQ(KMeans(x.data(), n, d, bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<float> nan = x;
  nan[37] = std::numeric_limits<float>::quiet_NaN();
  auto r = KMeans(nan.data(), n, d, p);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("vector 9"), std::string::npos)
      << r.status();
  std::vector<float> inf = x;
  inf[5] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(KMeans(inf.data(), n, d, p).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KMeansTest, AssignNearestMatchesScalar) {
  for (size_t d : {1, 3, 17, 100}) {
    const size_t n = 700, k = 1100;  // k above one column block
    std::vector<float> x = Uniform(n, d, 31);
    std::vector<float> c = Uniform(k, d, 32);
    std::vector<uint32_t> labels(n);
    std::vector<float> dist(n);
    AssignNearest(x.data(), n, c.data(), k, d, labels.data(), dist.data(),
                  /*threads=*/2);
    for (size_t i = 0; i < n; ++i) {
      double best = std::numeric_limits<double>::infinity();
      for (size_t j = 0; j < k; ++j) {
        best = std::min(best, Sq(&x[i * d], &c[j * d], d));
      }
      ASSERT_LT(labels[i], k);
      const double got = Sq(&x[i * d], &c[labels[i] * d], d);
      EXPECT_NEAR(got, best, 1e-4 + 1e-4 * best) << "d " << d << " i " << i;
      EXPECT_NEAR(dist[i], best, 1e-4 + 1e-4 * best) << "d " << d;
    }
    // Without distances.
    std::vector<uint32_t> labels2(n);
    AssignNearest(x.data(), n, c.data(), k, d, labels2.data(), nullptr, 1);
    EXPECT_EQ(labels, labels2);
  }
}

// The private scan helpers against plain sorting, including ties (values
// drawn from a small set) and rows longer than one segment.
TEST(KMeansInternalTest, TopSmallestMatchesSort) {
  std::mt19937 gen(3);
  for (size_t n : {5, 31, 40, 256, 1000, 1500, 5000}) {
    for (size_t m : {1, 2, 3, 6, 8, 9, 16}) {
      for (bool ties : {false, true}) {
        std::vector<float> v(n), bias(n);
        std::uniform_int_distribution<int> small(0, 6);
        std::uniform_real_distribution<float> uni(-100.0f, 100.0f);
        for (size_t j = 0; j < n; ++j) {
          v[j] = ties ? static_cast<float>(small(gen)) : uni(gen);
          bias[j] = ties ? 0.0f : uni(gen);
        }
        std::vector<std::pair<float, uint32_t>> want;
        for (size_t j = 0; j < n; ++j) {
          want.push_back({v[j] + bias[j], static_cast<uint32_t>(j)});
        }
        std::sort(want.begin(), want.end());
        want.resize(std::min(n, m));
        // Split the row in two calls to exercise merging.
        std::vector<float> vals(m);
        std::vector<uint32_t> labels(m);
        size_t len = 0;
        const size_t half = n / 2;
        clustering::TopSmallestBiased(v.data(), bias.data(), half, 0, m,
                                      vals.data(), labels.data(), &len);
        clustering::TopSmallestBiased(v.data() + half, bias.data() + half,
                                      n - half, static_cast<uint32_t>(half), m,
                                      vals.data(), labels.data(), &len);
        ASSERT_EQ(len, want.size()) << n << " " << m;
        for (size_t r = 0; r < len; ++r) {
          EXPECT_EQ(vals[r], want[r].first) << n << " " << m << " " << r;
          EXPECT_EQ(labels[r], want[r].second) << n << " " << m << " " << r;
        }
        float mn = 0, second = 0;
        const size_t j =
            clustering::ArgMin2Biased(v.data(), bias.data(), n, &mn, &second);
        EXPECT_EQ(j, want[0].second);
        EXPECT_EQ(mn, want[0].first);
        if (n > 1 && m > 1) {
          EXPECT_EQ(second, want[1].first);
        }
        EXPECT_EQ(clustering::ArgMinBiased(v.data(), bias.data(), n, &mn),
                  want[0].second);
      }
    }
  }
}

// Dot / L2Sqr / L2SqrMany are the kernel table's, which follows one
// documented summation order at every SIMD level (index/kernels/kernels.h):
// compare with a scalar model of that order, bit for bit.
float CanonicalSum(const std::vector<float>& terms) {
  float p[16] = {};
  for (size_t i = 0; i < terms.size(); ++i) p[i % 16] += terms[i];
  for (int i = 0; i < 8; ++i) p[i] += p[i + 8];
  for (int i = 0; i < 4; ++i) p[i] += p[i + 4];
  for (int i = 0; i < 2; ++i) p[i] += p[i + 2];
  return p[0] + p[1];
}

TEST(KMeansInternalTest, DistancesFollowCanonicalOrder) {
  std::mt19937 gen(8);
  std::normal_distribution<float> g(0.0f, 10.0f);
  for (size_t d : {1, 3, 15, 16, 17, 100, 128, 1000}) {
    const size_t nq = 7;
    std::vector<float> x(d + 1), q(nq * d + 1);
    for (float& v : x) v = g(gen);
    for (float& v : q) v = g(gen);
    const float* xs = x.data() + 1;  // unaligned starts
    const float* qs = q.data() + 1;
    std::vector<float> many(nq);
    clustering::L2SqrMany(xs, qs, nq, d, many.data());
    for (size_t c = 0; c < nq; ++c) {
      std::vector<float> sq(d), prod(d);
      for (size_t l = 0; l < d; ++l) {
        const float t = xs[l] - qs[c * d + l];
        sq[l] = t * t;
        prod[l] = xs[l] * qs[c * d + l];
      }
      const float want_l2 = CanonicalSum(sq);
      EXPECT_EQ(clustering::L2Sqr(xs, qs + c * d, d), want_l2) << "d " << d;
      EXPECT_EQ(many[c], want_l2) << "d " << d << " c " << c;
      EXPECT_EQ(clustering::Dot(xs, qs + c * d, d), CanonicalSum(prod))
          << "d " << d;
    }
  }
}

// The pruned Lloyd assignment stays exact while centroids drift: after each
// random move it must agree with a brute-force assignment.
TEST(KMeansInternalTest, PrunedAssignmentIsExact) {
  const size_t n = 3000, d = 12, k = 60;
  std::vector<float> x = Uniform(n, d, 41);
  std::vector<float> c = Uniform(k, d, 42);
  std::vector<float> x_norms(n), c_norms(k), shifts(k);
  clustering::SquaredNorms(x.data(), n, d, x_norms.data());
  std::vector<uint32_t> labels(n), want(n);
  clustering::PruneState state;
  std::mt19937 gen(43);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  size_t pruned = 0;
  for (int it = 0; it < 30; ++it) {
    if (it > 0) {
      // Most centroids move a little, a few jump far.
      for (size_t j = 0; j < k; ++j) {
        const float scale = uni(gen) < 0.05f ? 0.3f : 0.01f * (it % 3);
        double s2 = 0;
        for (size_t l = 0; l < d; ++l) {
          const float delta = scale * noise(gen);
          c[j * d + l] += delta;
          s2 += double{delta} * delta;
        }
        shifts[j] = static_cast<float>(std::sqrt(s2)) * (1 + 1e-6f);
      }
    }
    clustering::SquaredNorms(c.data(), k, d, c_norms.data());
    clustering::PruneCounts counts;
    clustering::AssignPruned(
        x.data(), n, d, x_norms.data(), c.data(), c_norms.data(), k,
        it == 0 ? nullptr : shifts.data(), 2, labels.data(), &state, &counts);
    EXPECT_EQ(counts.kept + counts.candidates + counts.full, n);
    pruned += counts.kept + counts.candidates;
    AssignNearest(x.data(), n, c.data(), k, d, want.data(), nullptr, 1);
    for (size_t i = 0; i < n; ++i) {
      if (labels[i] == want[i]) continue;
      const double got = Sq(&x[i * d], &c[labels[i] * d], d);
      const double best = Sq(&x[i * d], &c[want[i] * d], d);
      ASSERT_NEAR(got, best, 1e-5) << "iteration " << it << " point " << i;
    }
  }
  EXPECT_GT(pruned, n * 5u);  // the bounds do prune
}

}  // namespace
}  // namespace quiver::index
