// Concurrency end to end: writers (upsert, replace, delete) and searchers hit
// one collection at once for a bounded time while it trains itself. No call
// may fail, every acknowledged write must be visible to a search started
// after the acknowledgement, and the final counts must add up.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/server/rpc_helpers.h"
#include "tests/testing/testing.h"

namespace quiver::testing {
namespace {

constexpr size_t kDim = 32;

std::vector<float> RandomVector(std::mt19937* rng) {
  std::normal_distribution<float> g;
  std::vector<float> v(kDim);
  for (float& x : v) x = g(*rng);
  return v;
}

TEST(ConcurrencyTest, WritersAndSearchersWhileTraining) {
  TempDir dir;
  Quiverd server;
  QUIVER_ASSERT_OK(server.Start(dir.Sub("data")));
  auto stub = server.NewStub();
  v1::IndexParams p;
  p.set_auto_train_threshold(1500);  // trains during the concurrent phase
  QUIVER_ASSERT_OK(CreateCollection(stub.get(), "c", kDim, v1::METRIC_L2, p));
  {
    std::mt19937 rng(1);
    std::vector<Doc> pre(1000);
    for (size_t i = 0; i < pre.size(); ++i) {
      pre[i] = {absl::StrCat("pre", i),
                RandomVector(&rng),
                {{"tag", i % 4 == 0 ? "a" : "b"}}};
    }
    QUIVER_ASSERT_OK(UpsertDocs(stub.get(), "c", pre, 250));
  }

  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  std::atomic<uint64_t> errors{0}, searches{0};
  constexpr int kWriters = 2, kSearchers = 3;
  std::vector<int64_t> net(kWriters, 0);  // documents added by each writer
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      auto s = server.NewStub();
      std::mt19937 rng(100 + w);
      size_t next = 0;
      std::vector<std::string> live;
      while (std::chrono::steady_clock::now() < end) {
        std::vector<Doc> batch;
        for (int i = 0; i < 50; ++i) {
          batch.push_back({absl::StrCat("w", w, "-", next++),
                           RandomVector(&rng),
                           {{"tag", next % 4 == 0 ? "a" : "b"}}});
        }
        // Replace a few existing documents of this writer.
        for (int i = 0; i < 5 && !live.empty(); ++i) {
          batch.push_back({live[rng() % live.size()], RandomVector(&rng), {}});
        }
        auto rs = UpsertDocs(s.get(), "c", batch, batch.size());
        if (!rs.ok() || rs->size() != 1 || (*rs)[0].errors_size() != 0) {
          ADD_FAILURE() << "upsert: " << rs.status();
          errors.fetch_add(1);
          continue;
        }
        for (int i = 0; i < 50; ++i) live.push_back(batch[i].id);
        net[w] += 50;
        // Read-your-writes: the last acknowledged vector is found exactly.
        const Doc& last = batch.back();
        auto r = Search(s.get(), "c", last.vector, kDim, 1,
                        [](v1::SearchRequest* q) { q->set_exact(true); });
        if (!r.ok() || r->results(0).hits_size() != 1 ||
            r->results(0).hits(0).id() != last.id) {
          ADD_FAILURE() << "acknowledged write not visible: " << r.status();
          errors.fetch_add(1);
        }
        // Delete a few.
        if (live.size() > 100) {
          grpc::ClientContext ctx;
          v1::DeleteRequest d;
          d.set_collection("c");
          for (int i = 0; i < 10; ++i) {
            d.add_ids(live.back());
            live.pop_back();
          }
          v1::DeleteResponse dr;
          grpc::Status st = s->Delete(&ctx, d, &dr);
          if (!st.ok() || dr.deleted() != 10) {
            ADD_FAILURE() << "delete: " << st.error_message() << " "
                          << dr.deleted();
            errors.fetch_add(1);
          } else {
            net[w] -= 10;
          }
        }
      }
    });
  }
  for (int t = 0; t < kSearchers; ++t) {
    threads.emplace_back([&, t] {
      auto s = server.NewStub();
      std::mt19937 rng(200 + t);
      while (std::chrono::steady_clock::now() < end) {
        std::vector<float> q;
        const int nq = 1 + rng() % 4;
        for (int i = 0; i < nq; ++i) {
          auto v = RandomVector(&rng);
          q.insert(q.end(), v.begin(), v.end());
        }
        const int mode = rng() % 3;
        auto r = Search(s.get(), "c", q, kDim, 10, [&](v1::SearchRequest* req) {
          if (mode == 1) (*req->mutable_filter())["tag"] = "a";
          if (mode == 2) req->set_exact(true);
          req->set_include_attributes(mode == 1);
        });
        if (!r.ok() || r->results_size() != nq) {
          ADD_FAILURE() << "search: " << r.status();
          errors.fetch_add(1);
          continue;
        }
        for (const auto& res : r->results()) {
          if (res.hits_size() != 10) {
            ADD_FAILURE() << "search returned " << res.hits_size() << " hits";
            errors.fetch_add(1);
          }
          for (int i = 1; i < res.hits_size(); ++i) {
            if (res.hits(i).distance() < res.hits(i - 1).distance()) {
              ADD_FAILURE() << "hits not sorted";
              errors.fetch_add(1);
            }
          }
          if (mode == 1) {
            for (const auto& h : res.hits()) {
              auto tag = h.attributes().find("tag");
              if (tag == h.attributes().end() || tag->second != "a") {
                ADD_FAILURE() << "filter violated by " << h.id();
                errors.fetch_add(1);
              }
            }
          }
        }
        searches.fetch_add(1);
        // Describe calls run alongside too.
        if (!GetCollection(s.get(), "c").ok()) errors.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0u);
  EXPECT_GT(searches.load(), 0u);
  std::printf("%lu searches, %ld + %ld documents written in 3 s\n",
              static_cast<unsigned long>(searches.load()),
              static_cast<long>(net[0]), static_cast<long>(net[1]));

  const uint64_t want = 1000 + net[0] + net[1];
  auto info = WaitReady(stub.get(), "c");
  QUIVER_ASSERT_OK(info);
  EXPECT_EQ(info->count(), want);
  EXPECT_NEAR(info->list_mean() * info->index().nlist(), want, 0.5)
      << "the trained index lost or duplicated writes made while training";
  // Same after a restart.
  ASSERT_EQ(server.Stop(SIGTERM), 0);
  QUIVER_ASSERT_OK(server.Start(dir.Sub("data")));
  stub = server.NewStub();
  info = GetCollection(stub.get(), "c");
  QUIVER_ASSERT_OK(info);
  EXPECT_EQ(info->count(), want);
  EXPECT_NEAR(info->list_mean() * info->index().nlist(), want, 0.5);
}

}  // namespace
}  // namespace quiver::testing
