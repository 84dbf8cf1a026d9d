// The engine in-process, against a real RocksDB in a temp dir: writes,
// searches, automatic training and retraining, tuned defaults, deletes and
// restarts. Links quiver_engine only (no gRPC, no proto).
#include "server/engine/collection.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "index/flat_index.h"
#include "server/engine/registry.h"
#include "tests/engine/engine_testing.h"
#include "tests/testing/data.h"
#include "tests/testing/testing.h"

namespace quiver::engine {
namespace {

std::vector<DocumentInput> Docs(const std::vector<float>& x, size_t dim,
                                size_t begin, size_t end,
                                const std::string& prefix = "d") {
  std::vector<DocumentInput> docs;
  for (size_t i = begin; i < end; ++i) {
    DocumentInput d;
    d.id = absl::StrCat(prefix, i);
    d.vector.assign(x.begin() + i * dim, x.begin() + (i + 1) * dim);
    d.attributes = {{"parity", i % 2 ? "odd" : "even"}};
    docs.push_back(std::move(d));
  }
  return docs;
}

std::vector<std::string> Ids(const Collection& c, const float* q, size_t k,
                             uint32_t nprobe = 0, bool exact = false) {
  SearchQuery query;
  query.queries = q;
  query.nq = 1;
  query.k = k;
  query.nprobe = nprobe;
  query.exact = exact;
  absl::StatusOr<std::vector<std::vector<SearchHit>>> r = c.Search(query);
  EXPECT_TRUE(r.ok()) << r.status();
  std::vector<std::string> ids;
  if (!r.ok()) return ids;
  for (const SearchHit& h : (*r)[0]) ids.push_back(h.id);
  return ids;
}

// Waits until no training runs and none is about to start.
void Settle(Collection& c) {
  for (int i = 0; i < 3; ++i) c.WaitForTraining();
}

// Closes `*c` and `*registry`, opens the store at `path` again into
// `*registry` and returns its collection "c" (null, with a test failure,
// if it does not open).
std::shared_ptr<Collection> Reopen(
    const std::string& path, std::unique_ptr<CollectionRegistry>* registry,
    std::shared_ptr<Collection>* c) {
  c->reset();
  registry->reset();
  *registry = OpenRegistry(path);
  if (*registry == nullptr) return nullptr;
  absl::StatusOr<std::shared_ptr<Collection>> again = (*registry)->Get("c");
  EXPECT_TRUE(again.ok()) << again.status();
  return again.ok() ? *again : nullptr;
}

TEST(CollectionTest, PersistsAndRecoversWithFilters) {
  testing::TempDir dir;
  const uint32_t dim = 8;
  const std::vector<float> x = testing::Gaussian(200, dim, 3);
  {
    auto registry = OpenRegistry(dir.Sub("db"));
    ASSERT_NE(registry, nullptr);
    auto c = registry->Create(Config("c", dim));
    QUIVER_ASSERT_OK(c);
    absl::StatusOr<uint64_t> n = (*c)->Upsert(Docs(x, dim, 0, 200));
    QUIVER_ASSERT_OK(n);
    EXPECT_EQ(*n, 200u);
    EXPECT_EQ(registry->Create(Config("c", dim)).status().code(),
              absl::StatusCode::kAlreadyExists);
  }
  auto registry = OpenRegistry(dir.Sub("db"));
  ASSERT_NE(registry, nullptr);
  auto c = registry->Get("c");
  QUIVER_ASSERT_OK(c);
  EXPECT_EQ((*c)->count(), 200u);
  SearchQuery q;
  q.queries = &x[17 * dim];
  q.nq = 1;
  q.k = 3;
  q.filter = {{"parity", "odd"}};
  q.include_attributes = true;
  auto hits = (*c)->Search(q);
  QUIVER_ASSERT_OK(hits);
  ASSERT_EQ((*hits)[0].size(), 3u);
  EXPECT_EQ((*hits)[0][0].id, "d17");
  // Its own vector, as stored in half precision.
  EXPECT_NEAR((*hits)[0][0].distance, 0.f, 1e-5f);
  for (const SearchHit& h : (*hits)[0]) {
    ASSERT_EQ(h.attributes.size(), 1u);
    EXPECT_EQ(std::get<std::string>(h.attributes[0].second), "odd");
  }
  EXPECT_EQ(registry->Get("nope").status().code(), absl::StatusCode::kNotFound);
}

// The engine checks its own inputs: a caller that skips the RPC layer
// cannot store a bad vector or search with a bad query.
TEST(CollectionTest, RejectsInvalidInputItself) {
  testing::TempDir dir;
  auto registry = OpenRegistry(dir.Sub("db"));
  ASSERT_NE(registry, nullptr);
  auto c = registry->Create(Config("c", 4, index::Metric::kCosine));
  QUIVER_ASSERT_OK(c);
  auto upsert = [&](std::vector<float> v, std::string id = "a",
                    Attributes attrs = {}) {
    DocumentInput d;
    d.id = std::move(id);
    d.vector = std::move(v);
    d.attributes = std::move(attrs);
    std::vector<DocumentInput> docs;
    docs.push_back(std::move(d));
    return (*c)->Upsert(std::move(docs)).status();
  };
  QUIVER_EXPECT_OK(upsert({1, 0, 0, 0}));
  EXPECT_EQ(upsert({1, 0, 0}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(upsert({1, 0, 0, std::nanf("")}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(upsert({0, 0, 0, 0}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(upsert({3e38f, 3e38f, 0, 0}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(upsert({1, 0, 0, 0}, "").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(upsert({1, 0, 0, 0}, "b", {{"z", "1"}, {"a", "2"}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*c)->count(), 1u);
  // Tiny but non-zero cosine vectors are normalised exactly.
  QUIVER_EXPECT_OK(upsert({0, 1e-30f, 0, 0}, "tiny"));
  const std::vector<float> up = {0, 1, 0, 0};
  SearchQuery near;
  near.queries = up.data();
  near.nq = 1;
  near.k = 2;
  auto hits = (*c)->Search(near);
  QUIVER_ASSERT_OK(hits);
  ASSERT_EQ((*hits)[0].size(), 2u);
  EXPECT_EQ((*hits)[0][0].id, "tiny");
  EXPECT_NEAR((*hits)[0][0].distance, -1.0f, 1e-6);
  EXPECT_NEAR((*hits)[0][1].distance, 0.0f, 1e-6);

  const std::vector<float> q = {1, 0, 0, 0};
  SearchQuery query;
  query.queries = q.data();
  query.nq = 1;
  query.k = 0;
  EXPECT_EQ((*c)->Search(query).status().code(),
            absl::StatusCode::kInvalidArgument);
  query.k = 1025;
  EXPECT_EQ((*c)->Search(query).status().code(),
            absl::StatusCode::kInvalidArgument);
  query.k = 1;
  query.nq = 0;
  EXPECT_EQ((*c)->Search(query).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::vector<float> zero(4, 0.f);
  query.queries = zero.data();
  query.nq = 1;
  EXPECT_EQ((*c)->Search(query).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A collection created with defaults trains itself at 1,000 vectors with
// 4-bit codes, keeps them as it grows, retrains when it doubles, measures its
// own recall and picks defaults that reach the target.
TEST(CollectionTest, TrainsItselfRetrainsOnGrowthAndTunesDefaults) {
  testing::TempDir dir;
  const uint32_t dim = 16;
  const size_t n = 24000;
  const std::vector<float> x = testing::Clustered(n, dim, 40, 7);
  auto registry = OpenRegistry(dir.Sub("db"));
  ASSERT_NE(registry, nullptr);
  auto created = registry->Create(Config("c", dim));
  QUIVER_ASSERT_OK(created);
  Collection& c = **created;
  ASSERT_EQ(AutoTrainThreshold(c.config().index), 1000u);
  // Below the threshold: no training, searches are exact.
  QUIVER_ASSERT_OK(c.Upsert(Docs(x, dim, 0, 999)));
  Settle(c);
  EXPECT_EQ(c.Status().state, TrainState::kUntrained);
  EXPECT_EQ(Ids(c, &x[5 * dim], 1)[0], "d5");
  // At the threshold: 4-bit fast-scan codes.
  QUIVER_ASSERT_OK(c.Upsert(Docs(x, dim, 999, 1500)));
  Settle(c);
  CollectionStatus st = c.Status();
  ASSERT_EQ(st.state, TrainState::kReady) << st.last_error;
  EXPECT_EQ(st.train_generation, 1u);
  EXPECT_EQ(st.config.index.pq_bits, 4u);
  EXPECT_GE(st.maintenance.measured_recall, 0.95);
  // Grown 8x: retrained, still with 4-bit codes (automatic pq_bits).
  QUIVER_ASSERT_OK(c.Upsert(Docs(x, dim, 1500, 12000)));
  Settle(c);
  st = c.Status();
  ASSERT_EQ(st.state, TrainState::kReady) << st.last_error;
  EXPECT_GE(st.train_generation, 2u);
  EXPECT_NE(st.last_training_reason.find("grew"), std::string::npos)
      << st.last_training_reason;
  EXPECT_EQ(st.config.index.pq_bits, 4u) << st.last_training_reason;
  EXPECT_GE(st.maintenance.trained_count, 3000u);
  EXPECT_GT(st.maintenance.tuned_nprobe, 0u);
  EXPECT_GE(st.maintenance.measured_recall, 0.95);
  EXPECT_EQ(st.config.index.nprobe, st.maintenance.tuned_nprobe);
  const uint32_t generation = st.train_generation;
  const uint64_t first_trained = st.maintenance.trained_count;
  const uint32_t first_nlist = st.config.index.nlist;
  // Doubling retrains, with more lists.
  QUIVER_ASSERT_OK(c.Upsert(Docs(x, dim, 12000, n)));
  Settle(c);
  st = c.Status();
  ASSERT_EQ(st.state, TrainState::kReady) << st.last_error;
  EXPECT_EQ(st.train_generation, generation + 1);
  EXPECT_NE(st.last_training_reason.find("grew"), std::string::npos)
      << st.last_training_reason;
  EXPECT_GE(st.maintenance.trained_count, 2 * first_trained);
  EXPECT_GT(st.config.index.nlist, first_nlist);
  EXPECT_GE(st.maintenance.measured_recall, 0.95);

  // Independent check of the defaults on held-out queries: recall@10 near
  // the target (the tuning measured it on stored vectors).
  // Queries: stored points moved by small noise (new points, same data).
  const std::vector<float> noise = testing::Gaussian(200, dim, 8);
  std::vector<float> queries(200 * dim);
  for (size_t i = 0; i < 200; ++i) {
    for (size_t j = 0; j < dim; ++j) {
      queries[i * dim + j] = x[(i * 97) * dim + j] + 0.3f * noise[i * dim + j];
    }
  }
  const auto exact = index::FlatIndex::BruteForce(
      index::Metric::kL2, x.data(), n, queries.data(), 200, dim, 10);
  double hits = 0;
  for (size_t i = 0; i < 200; ++i) {
    std::set<std::string> want;
    for (const index::Neighbor& nb : exact[i]) {
      want.insert(absl::StrCat("d", nb.id));
    }
    for (const std::string& id : Ids(c, &queries[i * dim], 10)) {
      hits += want.count(id);
    }
  }
  EXPECT_GE(hits / 2000, 0.93);

  // The tuned defaults survive a restart.
  const MaintenanceState before = c.Status().maintenance;
  std::shared_ptr<Collection> again =
      Reopen(dir.Sub("db"), &registry, &*created);
  ASSERT_NE(again, nullptr);
  const CollectionStatus after = again->Status();
  EXPECT_EQ(after.maintenance.tuned_nprobe, before.tuned_nprobe);
  EXPECT_EQ(after.maintenance.tuned_rerank, before.tuned_rerank);
  EXPECT_EQ(after.maintenance.trained_count, before.trained_count);
  EXPECT_EQ(after.config.index.nprobe, before.tuned_nprobe);
  EXPECT_EQ(after.train_generation, generation + 1);
  EXPECT_NE(after.last_training_reason.find("grew"), std::string::npos)
      << after.last_training_reason;
}

// Vectors from a new region after training: the drift trigger retrains.
TEST(CollectionTest, DriftTriggersRetraining) {
  testing::TempDir dir;
  const uint32_t dim = 8;
  auto registry = OpenRegistry(dir.Sub("db"));
  ASSERT_NE(registry, nullptr);
  CollectionConfig cfg = Config("c", dim);
  cfg.index.nlist = 16;  // fixed: growth alone never retrains
  cfg.index.pq_bits = 4;
  cfg.index.auto_train_threshold = 2000;
  auto created = registry->Create(cfg);
  QUIVER_ASSERT_OK(created);
  Collection& c = **created;
  const std::vector<float> a = testing::Gaussian(2000, dim, 1);
  QUIVER_ASSERT_OK(c.Upsert(Docs(a, dim, 0, 2000, "a")));
  Settle(c);
  ASSERT_EQ(c.Status().train_generation, 1u);
  // The same distribution again: no retraining.
  const std::vector<float> more = testing::Gaussian(1500, dim, 2);
  QUIVER_ASSERT_OK(c.Upsert(Docs(more, dim, 0, 1500, "m")));
  Settle(c);
  EXPECT_EQ(c.Status().train_generation, 1u);
  // Far away and spread out: quantized much worse, so it retrains.
  std::vector<float> b = testing::Gaussian(1500, dim, 3);
  for (float& v : b) v = 5 * v + 40;
  QUIVER_ASSERT_OK(c.Upsert(Docs(b, dim, 0, 1500, "b")));
  Settle(c);
  const CollectionStatus st = c.Status();
  EXPECT_EQ(st.train_generation, 2u);
  EXPECT_NE(st.last_training_reason.find("worse"), std::string::npos)
      << st.last_training_reason;
}

// Deleted and replaced vectors never come back: not after a retraining and
// not after a restart.
TEST(CollectionTest, DeletedIdsNeverResurface) {
  testing::TempDir dir;
  const uint32_t dim = 8;
  const size_t n = 3000;
  const std::vector<float> x = testing::Clustered(n, dim, 10, 5);
  auto registry = OpenRegistry(dir.Sub("db"));
  ASSERT_NE(registry, nullptr);
  CollectionConfig cfg = Config("c", dim);
  cfg.index.pq_bits = 4;
  cfg.index.auto_train_threshold = 1000;
  auto created = registry->Create(cfg);
  QUIVER_ASSERT_OK(created);
  Collection& c = **created;
  QUIVER_ASSERT_OK(c.Upsert(Docs(x, dim, 0, 1000)));
  Settle(c);
  ASSERT_EQ(c.Status().train_generation, 1u);
  // Delete every third document, replace d1's vector.
  std::vector<std::string> gone;
  for (size_t i = 0; i < 1000; i += 3) gone.push_back(absl::StrCat("d", i));
  absl::StatusOr<uint64_t> deleted = c.Delete(gone);
  QUIVER_ASSERT_OK(deleted);
  EXPECT_EQ(*deleted, gone.size());
  std::vector<DocumentInput> replaced = Docs(x, dim, 1, 2);
  replaced[0].vector.assign(dim, 100.f);
  QUIVER_ASSERT_OK(c.Upsert(std::move(replaced)));
  // Growth to > 2x retrains.
  QUIVER_ASSERT_OK(c.Upsert(Docs(x, dim, 1000, n)));
  Settle(c);
  ASSERT_GE(c.Status().train_generation, 2u);
  auto check = [&](const Collection& col) {
    for (size_t i = 0; i < 1000; i += 3) {
      const std::vector<std::string> exact =
          Ids(col, &x[i * dim], 5, 0, /*exact=*/true);
      const std::vector<std::string> ivf = Ids(col, &x[i * dim], 5, 64);
      const std::string id = absl::StrCat("d", i);
      EXPECT_EQ(std::count(exact.begin(), exact.end(), id), 0) << id;
      EXPECT_EQ(std::count(ivf.begin(), ivf.end(), id), 0) << id;
    }
    // d1 is found at its new place only.
    const std::vector<float> far(dim, 100.f);
    EXPECT_EQ(Ids(col, far.data(), 1, 64)[0], "d1");
    const std::vector<std::string> old = Ids(col, &x[1 * dim], 3, 64);
    EXPECT_EQ(std::count(old.begin(), old.end(), "d1"), 0);
    absl::StatusOr<std::vector<StoredDocument>> got =
        col.Get({"d0", "d1", "d2"}, true);
    EXPECT_TRUE(got.ok());
    if (got.ok()) {
      ASSERT_EQ(got->size(), 2u);
      EXPECT_EQ((*got)[0].id, "d1");
      EXPECT_EQ((*got)[0].vector[0], 100.f);
    }
  };
  check(c);
  EXPECT_EQ(c.count(), n - gone.size());
  std::shared_ptr<Collection> again =
      Reopen(dir.Sub("db"), &registry, &*created);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->count(), n - gone.size());
  check(*again);
}

// Writes crowding into one region overfill its list: the collection splits
// it (and its neighbours' vectors are reassigned) instead of retraining;
// the split survives a restart with the same answers, and deleted documents
// stay deleted.
TEST(CollectionTest, OverfullListsAreSplitAndSurviveRestarts) {
  testing::TempDir dir;
  const uint32_t dim = 8;
  // 5,000 documents: 128 lists, and still 128 at 7,000 (AutoNlist), so that
  // growing alone does not call for a retraining.
  const size_t n = 5000, hot = 2000;
  const std::vector<float> x = testing::Clustered(n, dim, 10, 7);
  // The hot region: around x[0].
  std::vector<float> h = testing::Gaussian(hot, dim, 8);
  for (size_t i = 0; i < hot; ++i) {
    for (size_t t = 0; t < dim; ++t) {
      h[i * dim + t] = x[t] + 0.3f * h[i * dim + t];
    }
  }
  auto registry = OpenRegistry(dir.Sub("db"));
  ASSERT_NE(registry, nullptr);
  CollectionConfig cfg = Config("c", dim);
  cfg.index.pq_bits = 4;
  cfg.index.auto_train_threshold = n;
  auto created = registry->Create(cfg);
  QUIVER_ASSERT_OK(created);
  Collection& c = **created;
  QUIVER_ASSERT_OK(c.Upsert(Docs(x, dim, 0, n)));
  Settle(c);
  const CollectionStatus trained = c.Status();
  ASSERT_EQ(trained.train_generation, 1u);
  const uint32_t nlist0 = c.nlist();
  for (size_t off = 0; off < hot; off += 200) {
    QUIVER_ASSERT_OK(c.Upsert(Docs(h, dim, off, off + 200, "h")));
    Settle(c);
  }
  const CollectionStatus st = c.Status();
  EXPECT_GT(c.nlist(), nlist0);
  EXPECT_GE(st.train_generation, 2u);
  EXPECT_NE(st.last_training_reason.find("grew past"), std::string::npos)
      << st.last_training_reason;
  // Split, not retrained: the last full training is still the first.
  EXPECT_EQ(st.maintenance.trained_count, n);
  // Unsplit, one list would hold every hot document.
  EXPECT_LT(st.lists.max, hot);
  // Delete a quarter of the hot documents.
  std::vector<std::string> gone;
  for (size_t i = 0; i < hot; i += 4) gone.push_back(absl::StrCat("h", i));
  QUIVER_ASSERT_OK(c.Delete(gone));
  // Queries in the hot region: the index finds what brute force finds.
  std::vector<std::vector<std::string>> answers;
  size_t hits = 0, total = 0;
  for (size_t i = 1; i < hot; i += 40) {
    const std::vector<std::string> exact = Ids(c, &h[i * dim], 10, 0, true);
    answers.push_back(Ids(c, &h[i * dim], 10, 4));
    const std::vector<std::string> found = Ids(c, &h[i * dim], 10);
    for (const std::string& id : found) {
      hits += std::count(exact.begin(), exact.end(), id);
    }
    total += exact.size();
  }
  // (A dense region: a little below the collection's target.)
  EXPECT_GE(static_cast<double>(hits) / total, 0.85);
  const uint32_t nlist1 = c.nlist();
  const uint64_t count1 = c.count();
  EXPECT_EQ(count1, n + hot - gone.size());
  std::shared_ptr<Collection> again =
      Reopen(dir.Sub("db"), &registry, &*created);
  ASSERT_NE(again, nullptr);
  Collection& r = *again;
  EXPECT_EQ(r.nlist(), nlist1);
  EXPECT_EQ(r.count(), count1);
  EXPECT_EQ(r.Status().train_generation, st.train_generation);
  // The same codes: the same answers at the same nprobe.
  size_t a = 0;
  for (size_t i = 1; i < hot; i += 40, ++a) {
    EXPECT_EQ(Ids(r, &h[i * dim], 10, 4), answers[a]) << i;
  }
  for (const std::string& id : gone) {
    const size_t i = std::stoul(id.substr(1));
    const std::vector<std::string> found = Ids(r, &h[i * dim], 5, 64);
    EXPECT_EQ(std::count(found.begin(), found.end(), id), 0) << id;
  }
}

// Deleting half of a collection retrains it (re-tuned defaults), compacts
// its keys, and memory follows the live count.
TEST(CollectionTest, DeletingHalfRetrainsAndGivesMemoryBack) {
  testing::TempDir dir;
  const uint32_t dim = 64;
  const size_t n = 8000;
  const std::vector<float> x = testing::Clustered(n, dim, 20, 13);
  auto registry = OpenRegistry(dir.Sub("db"));
  ASSERT_NE(registry, nullptr);
  CollectionConfig cfg = Config("c", dim);
  cfg.index.pq_bits = 4;
  cfg.index.auto_train_threshold = 2000;
  auto created = registry->Create(cfg);
  QUIVER_ASSERT_OK(created);
  Collection& c = **created;
  QUIVER_ASSERT_OK(c.Upsert(Docs(x, dim, 0, n)));
  Settle(c);
  const CollectionStatus full = c.Status();
  ASSERT_EQ(full.train_generation, 1u);
  std::vector<std::string> gone;
  for (size_t i = 0; i < n; i += 2) gone.push_back(absl::StrCat("d", i));
  QUIVER_ASSERT_OK(c.Delete(gone));
  Settle(c);
  const CollectionStatus half = c.Status();
  EXPECT_EQ(half.count, n / 2);
  EXPECT_EQ(half.train_generation, 2u);
  EXPECT_NE(half.last_training_reason.find("deleted"), std::string::npos)
      << half.last_training_reason;
  EXPECT_EQ(half.lists.total, n / 2);
  // A deleted document keeps an empty name slot (32 bytes) until a new
  // document takes its internal id; everything else follows the live count.
  EXPECT_LT(half.memory_bytes, full.memory_bytes * 0.65)
      << full.memory_bytes << " -> " << half.memory_bytes;
  EXPECT_GE(half.maintenance.measured_recall, 0.95);
  for (size_t i = 1; i < n; i += 498) {  // odd: kept
    EXPECT_EQ(Ids(c, &x[i * dim], 1)[0], absl::StrCat("d", i));
  }
}

// New documents take the internal ids of deleted ones (a collection with
// churn keeps as many id slots as documents): nothing of a deleted document
// (vector, attributes, index entry) shows through the new one in its slot,
// before and after a restart, and the store's id high-water mark does not
// move.
TEST(CollectionTest, DeletedDocumentsIdsAreReused) {
  testing::TempDir dir;
  const uint32_t dim = 8;
  const size_t n = 2000;
  const std::vector<float> x = testing::Clustered(2 * n, dim, 10, 21);
  auto registry = OpenRegistry(dir.Sub("db"));
  ASSERT_NE(registry, nullptr);
  auto created = registry->Create(Config("c", dim));
  QUIVER_ASSERT_OK(created);
  const storage::CollectionId cid = (*created)->id();
  QUIVER_ASSERT_OK((*created)->Upsert(Docs(x, dim, 0, n)));  // "parity"
  Settle(**created);
  ASSERT_GE((*created)->Status().train_generation, 1u);
  std::vector<std::string> even;
  for (size_t i = 0; i < n; i += 2) even.push_back(absl::StrCat("d", i));
  QUIVER_ASSERT_OK((*created)->Delete(even));
  // As many new documents, half of them with an attribute of their own.
  std::vector<DocumentInput> fresh = Docs(x, dim, n, n + even.size(), "e");
  for (size_t j = 0; j < fresh.size(); ++j) {
    fresh[j].attributes.clear();
    if (j % 2 == 1) fresh[j].attributes = {{"kind", "new"}};
  }
  QUIVER_ASSERT_OK((*created)->Upsert(std::move(fresh)));
  Settle(**created);

  auto check = [&](const Collection& c) {
    EXPECT_EQ(c.count(), n);
    // No document has parity "even" any more.
    SearchQuery q;
    q.queries = &x[0];
    q.nq = 1;
    q.k = 10;
    q.filter = {{"parity", "even"}};
    auto hits = c.Search(q);
    QUIVER_ASSERT_OK(hits);
    EXPECT_TRUE((*hits)[0].empty()) << (*hits)[0][0].id;
    for (size_t j = 0; j < even.size(); j += 7) {
      const float* v = &x[(n + j) * dim];
      const std::string id = absl::StrCat("e", n + j);
      // Found by its own vector, exactly and through the index, and
      // holding its own attributes only.
      EXPECT_EQ(Ids(c, v, 1, 0, /*exact=*/true)[0], id);
      EXPECT_EQ(Ids(c, v, 1, kMaxNlist)[0], id);
      absl::StatusOr<std::vector<StoredDocument>> got = c.Get({id}, true);
      QUIVER_ASSERT_OK(got);
      ASSERT_EQ(got->size(), 1u);
      EXPECT_EQ((*got)[0].vector, std::vector<float>(v, v + dim));
      EXPECT_EQ((*got)[0].attributes.size(), j % 2) << id;
      // The deleted document's vector finds something else.
      const std::vector<std::string> old =
          Ids(c, &x[2 * j * dim], 3, 0, /*exact=*/true);
      EXPECT_EQ(std::count(old.begin(), old.end(), absl::StrCat("d", 2 * j)),
                0);
    }
  };
  check(**created);
  // Ids freed before a restart are reused after it.
  QUIVER_ASSERT_OK((*created)->Delete({"e2000", "e2001", "d1"}));
  std::shared_ptr<Collection> again =
      Reopen(dir.Sub("db"), &registry, &*created);
  ASSERT_NE(again, nullptr);
  std::vector<DocumentInput> back = Docs(x, dim, n, n + 2, "e");
  back[0].attributes.clear();
  back[1].attributes = {{"kind", "new"}};
  QUIVER_ASSERT_OK(again->Upsert(std::move(back)));
  QUIVER_ASSERT_OK(again->Upsert(Docs(x, dim, 1, 2)));
  check(*again);
  again.reset();
  registry.reset();
  storage::StoreOptions so;
  so.path = dir.Sub("db");
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::Store::Open(so);
  QUIVER_ASSERT_OK(store);
  absl::StatusOr<uint64_t> next = (*store)->NextInternalId(cid);
  QUIVER_ASSERT_OK(next);
  EXPECT_EQ(*next, n);
}

// The defaults are measured again while writes go on: documents deleted
// between the measurement's exact answers and its approximate ones (and new
// documents in their internal ids) count neither as expected nor as found.
// Counted as misses, the 40% deleted here read as a recall far below the
// target, and the collection fell back to a full training.
TEST(CollectionTest, MeasuringTheDefaultsIgnoresWritesMeanwhile) {
  testing::TempDir dir;
  const uint32_t dim = 16;
  const size_t n = 6000;
  const std::vector<float> x = testing::Clustered(2 * n, dim, 20, 31);
  std::atomic<Collection*> armed{nullptr};
  std::atomic<int> fired{0};
  std::vector<std::string> gone;
  for (size_t i = 0; i < n; i += 5) {
    gone.push_back(absl::StrCat("d", i));
    gone.push_back(absl::StrCat("d", i + 1));
  }
  RegistryOptions ro;
  ro.store.path = dir.Sub("db");
  ro.collection.train_threads = 2;
  ro.collection.training_step_hook = [&](const char* step) {
    Collection* c = armed.load();
    if (c == nullptr ||
        std::string_view(step) != "defaults: exact answers computed" ||
        fired++ > 0) {
      return;
    }
    EXPECT_TRUE(c->Delete(gone).ok());
    EXPECT_TRUE(c->Upsert(Docs(x, dim, 0, gone.size(), "new")).ok());
  };
  absl::StatusOr<std::unique_ptr<CollectionRegistry>> registry =
      CollectionRegistry::Open(ro);
  QUIVER_ASSERT_OK(registry);
  auto created = (*registry)->Create(Config("c", dim));
  QUIVER_ASSERT_OK(created);
  Collection& c = **created;
  for (size_t b = 0; b < n; b += 1000) {
    QUIVER_ASSERT_OK(c.Upsert(Docs(x, dim, b, b + 1000)));
  }
  Settle(c);
  QUIVER_ASSERT_OK(c.StartTraining(std::nullopt));
  Settle(c);
  const CollectionStatus trained = c.Status();
  ASSERT_EQ(trained.maintenance.trained_count, n);
  ASSERT_GE(trained.maintenance.measured_recall, 0.95);
  // 1.3x growth (past the engine's 1.15x): the defaults are measured again
  // (no training), and the hook deletes 40% of the collection in the middle
  // of it.
  armed.store(&c);
  QUIVER_ASSERT_OK(c.Upsert(Docs(x, dim, n, n + 3 * n / 10)));
  Settle(c);
  ASSERT_EQ(fired.load(), 1);
  const CollectionStatus st = c.Status();
  EXPECT_EQ(st.count, n + 3 * n / 10);
  EXPECT_EQ(st.train_generation, trained.train_generation)
      << st.last_training_reason;
  EXPECT_NE(st.last_training_reason.find("since the defaults were measured"),
            std::string::npos)
      << st.last_training_reason;
  EXPECT_GE(st.maintenance.measured_recall, 0.95);
}

// Train while a training runs: the overrides are queued, not dropped.
TEST(CollectionTest, TrainDuringTrainingIsQueuedWithItsOverrides) {
  testing::TempDir dir;
  const uint32_t dim = 16;
  const std::vector<float> x = testing::Clustered(6000, dim, 20, 21);
  auto registry = OpenRegistry(dir.Sub("db"));
  ASSERT_NE(registry, nullptr);
  CollectionConfig cfg = Config("c", dim);
  cfg.index.auto_train_threshold = 1u << 30;
  auto created = registry->Create(cfg);
  QUIVER_ASSERT_OK(created);
  Collection& c = **created;
  QUIVER_ASSERT_OK(c.Upsert(Docs(x, dim, 0, 6000)));
  IndexConfig first, second;
  first.nlist = 16;
  second.nlist = 32;
  QUIVER_ASSERT_OK(c.StartTraining(first));
  QUIVER_ASSERT_OK(c.StartTraining(second));
  Settle(c);
  const CollectionStatus st = c.Status();
  EXPECT_EQ(st.train_generation, 2u);
  EXPECT_EQ(c.nlist(), 32u);
  EXPECT_EQ(st.config.index.nlist, 32u);
}

// Wide vectors (768-d, like text embeddings) start with 4-bit codes too:
// at most 256 sub-quantizers (384 failed to train before).
TEST(CollectionTest, WideVectorsTrainThemselvesWithDefaults) {
  testing::TempDir dir;
  const uint32_t dim = 768;
  const std::vector<float> x = testing::Clustered(1200, dim, 10, 31);
  auto registry = OpenRegistry(dir.Sub("db"));
  ASSERT_NE(registry, nullptr);
  auto created = registry->Create(Config("c", dim));
  QUIVER_ASSERT_OK(created);
  QUIVER_ASSERT_OK((*created)->Upsert(Docs(x, dim, 0, 1200)));
  Settle(**created);
  const CollectionStatus st = (*created)->Status();
  EXPECT_EQ(st.state, TrainState::kReady) << st.last_error;
  EXPECT_EQ(st.last_error, "");
  EXPECT_EQ(st.config.index.pq_bits, 4u);
  EXPECT_EQ(st.config.index.pq_m, 256u);
  EXPECT_EQ(Ids(**created, &x[7 * dim], 1)[0], "d7");
}

// nprobe above nlist is clamped, not an error; the answer equals probing
// every list.
TEST(CollectionTest, NprobeAboveNlistIsClamped) {
  testing::TempDir dir;
  const uint32_t dim = 8;
  const std::vector<float> x = testing::Gaussian(1200, dim, 9);
  auto registry = OpenRegistry(dir.Sub("db"));
  ASSERT_NE(registry, nullptr);
  CollectionConfig cfg = Config("c", dim);
  cfg.index.nlist = 8;
  cfg.index.pq_bits = 4;
  cfg.index.auto_train_threshold = 1000;
  auto created = registry->Create(cfg);
  QUIVER_ASSERT_OK(created);
  QUIVER_ASSERT_OK((*created)->Upsert(Docs(x, dim, 0, 1200)));
  Settle(**created);
  ASSERT_EQ((*created)->nlist(), 8u);
  EXPECT_EQ(Ids(**created, &x[0], 10, 65536), Ids(**created, &x[0], 10, 8));
}

}  // namespace
}  // namespace quiver::engine
