// End-to-end: stream a real data set into quiverd, let it train itself,
// measure recall@10 against the shipped ground truth, restart (clean and
// SIGKILL) and check the answers are identical; kill the server in the middle
// of a bulk stream and check every acknowledged batch survived.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/server/rpc_helpers.h"
#include "tests/testing/data.h"
#include "tests/testing/testing.h"

namespace quiver::testing {
namespace {

std::vector<Doc> ToDocs(const std::vector<float>& x, size_t dim) {
  std::vector<Doc> docs(x.size() / dim);
  for (size_t i = 0; i < docs.size(); ++i) {
    docs[i].id = std::to_string(i);
    docs[i].vector.assign(x.begin() + i * dim, x.begin() + (i + 1) * dim);
  }
  return docs;
}

// Ids (as row numbers) of every query's hits.
std::vector<std::vector<int64_t>> HitIds(const v1::SearchResponse& r) {
  std::vector<std::vector<int64_t>> out;
  for (const auto& res : r.results()) {
    out.emplace_back();
    for (const auto& h : res.hits()) out.back().push_back(std::stoll(h.id()));
  }
  return out;
}

class RecallTest : public ::testing::Test {
 protected:
  TempDir dir_;
  Quiverd server_;
};

TEST_F(RecallTest, SiftSmallAutoTrainRecallAndRestart) {
  QUIVER_LOAD_SIFTSMALL_OR_SKIP(d);
  ASSERT_EQ(d.nb, 10000u);
  QUIVER_ASSERT_OK(server_.Start(dir_.Sub("data")));
  auto stub = server_.NewStub();
  v1::IndexParams p;
  p.set_auto_train_threshold(d.nb);  // train once everything is in
  QUIVER_ASSERT_OK(
      CreateCollection(stub.get(), "sift", d.dim, v1::METRIC_L2, p));
  const auto t0 = std::chrono::steady_clock::now();
  auto rs = UpsertDocs(stub.get(), "sift", ToDocs(d.base, d.dim), 1000);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  QUIVER_ASSERT_OK(rs);
  ASSERT_EQ(rs->size(), 10u);
  std::printf("ingest: %zu vectors in %.3f s = %.0f vectors/s\n", d.nb, secs,
              d.nb / secs);
  auto info = WaitReady(stub.get(), "sift");
  QUIVER_ASSERT_OK(info);
  EXPECT_EQ(info->count(), d.nb);
  EXPECT_EQ(info->index().nlist(), 256u);
  // Automatic codes: 4-bit fast-scan, dim / 2 sub-quantizers.
  EXPECT_EQ(info->index().pq_m(), 64u);
  EXPECT_EQ(info->index().pq_bits(), 4u);
  EXPECT_EQ(info->train_generation(), 1u);
  EXPECT_NEAR(info->list_mean() * info->index().nlist(), d.nb, 0.5);
  EXPECT_GT(info->list_max(), 0u);

  auto search = [&](v1::Quiver::Stub* s, bool exact) {
    auto r = Search(s, "sift", d.queries, d.dim, 10,
                    [&](v1::SearchRequest* req) { req->set_exact(exact); });
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? HitIds(*r) : std::vector<std::vector<int64_t>>();
  };
  const auto t1 = std::chrono::steady_clock::now();
  const auto approx = search(stub.get(), false);
  const double search_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t1)
          .count();
  const double recall = RecallAtK(approx, d.gt, d.gt_dim, 10);
  const double exact_recall =
      RecallAtK(search(stub.get(), true), d.gt, d.gt_dim, 10);
  std::printf(
      "recall@10 default settings: %.4f (exact: %.4f); %zu queries "
      "in %.3f s\n",
      recall, exact_recall, d.nq, search_s);
  EXPECT_GE(recall, 0.90);
  EXPECT_GE(exact_recall, 0.99);

  // Clean restart: identical answers.
  ASSERT_EQ(server_.Stop(SIGTERM), 0);
  QUIVER_ASSERT_OK(server_.Start(dir_.Sub("data")));
  stub = server_.NewStub();
  info = GetCollection(stub.get(), "sift");
  QUIVER_ASSERT_OK(info);
  EXPECT_EQ(info->state(), v1::COLLECTION_STATE_READY);
  EXPECT_EQ(info->count(), d.nb);
  EXPECT_EQ(search(stub.get(), false), approx);
  // Crash restart: identical answers too.
  server_.Stop(SIGKILL);
  QUIVER_ASSERT_OK(server_.Start(dir_.Sub("data")));
  stub = server_.NewStub();
  EXPECT_EQ(search(stub.get(), false), approx);
}

// Auto-training starts after 2000 documents while the stream goes on; every
// document written during the training must end up in the new index.
TEST_F(RecallTest, TrainingWhileIngestingIndexesEverything) {
  QUIVER_LOAD_SIFTSMALL_OR_SKIP(d);
  QUIVER_ASSERT_OK(server_.Start(dir_.Sub("data")));
  auto stub = server_.NewStub();
  v1::IndexParams p;
  p.set_auto_train_threshold(2000);
  QUIVER_ASSERT_OK(
      CreateCollection(stub.get(), "sift", d.dim, v1::METRIC_L2, p));
  QUIVER_ASSERT_OK(UpsertDocs(stub.get(), "sift", ToDocs(d.base, d.dim), 250));
  auto info = WaitReady(stub.get(), "sift");
  QUIVER_ASSERT_OK(info);
  EXPECT_EQ(info->count(), d.nb);
  EXPECT_NEAR(info->list_mean() * info->index().nlist(), d.nb, 0.5)
      << "documents missing from (or duplicated in) the trained index";
  auto r = Search(stub.get(), "sift", d.queries, d.dim, 10);
  QUIVER_ASSERT_OK(r);
  const double recall = RecallAtK(HitIds(*r), d.gt, d.gt_dim, 10);
  std::printf("recall@10 after training at 2000 docs (nlist %u): %.4f\n",
              info->index().nlist(), recall);
  EXPECT_GE(recall, 0.90);

  // Retrain with other parameters; the index is swapped, answers stay good.
  grpc::ClientContext ctx;
  v1::TrainRequest treq;
  treq.set_collection("sift");
  treq.mutable_overrides()->set_nlist(128);
  v1::CollectionInfo tinfo;
  ASSERT_TRUE(stub->Train(&ctx, treq, &tinfo).ok());
  info = WaitReady(stub.get(), "sift", 2);
  QUIVER_ASSERT_OK(info);
  EXPECT_EQ(info->index().nlist(), 128u);
  EXPECT_NEAR(info->list_mean() * 128, d.nb, 0.5);
  r = Search(stub.get(), "sift", d.queries, d.dim, 10);
  QUIVER_ASSERT_OK(r);
  EXPECT_GE(RecallAtK(HitIds(*r), d.gt, d.gt_dim, 10), 0.90);
}

// SIGKILL in the middle of a bulk stream (with an automatic training
// running): after a restart every acknowledged batch is stored and
// searchable.
TEST_F(RecallTest, KillDuringBulkStreamKeepsAcknowledgedBatches) {
  const size_t dim = 32, batch = 200, nbatches = 60;
  std::mt19937 rng(17);
  std::normal_distribution<float> g;
  std::vector<Doc> docs(batch * nbatches);
  for (size_t i = 0; i < docs.size(); ++i) {
    docs[i].id = absl::StrCat("k", i);
    docs[i].vector.resize(dim);
    for (float& x : docs[i].vector) x = g(rng);
    docs[i].attributes["batch"] = std::to_string(i / batch);
  }
  QUIVER_ASSERT_OK(server_.Start(dir_.Sub("data")));
  auto stub = server_.NewStub();
  v1::IndexParams p;
  p.set_auto_train_threshold(2000);
  QUIVER_ASSERT_OK(CreateCollection(stub.get(), "c", dim, v1::METRIC_L2, p));

  grpc::ClientContext ctx;
  auto stream = stub->Upsert(&ctx);
  std::atomic<size_t> acked{0};
  std::vector<uint64_t> acked_ids;
  std::thread reader([&] {
    v1::UpsertResponse resp;
    while (stream->Read(&resp)) {
      EXPECT_EQ(resp.upserted(), batch);
      acked_ids.push_back(resp.batch_id());
      acked.fetch_add(1);
    }
  });
  std::thread killer([&] {
    while (acked.load() < 25)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    server_.Stop(SIGKILL);
  });
  for (size_t b = 0; b < nbatches; ++b) {
    v1::UpsertRequest req;
    req.set_collection("c");
    req.set_batch_id(b);
    for (size_t i = b * batch; i < (b + 1) * batch; ++i) {
      ToProto(docs[i], req.add_documents());
    }
    if (!stream->Write(req)) break;
    if (b == 30) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stream->WritesDone();
  killer.join();
  reader.join();
  EXPECT_FALSE(stream->Finish().ok());
  ASSERT_GE(acked_ids.size(), 25u);
  std::printf("acknowledged %zu of %zu batches before SIGKILL\n",
              acked_ids.size(), nbatches);

  QUIVER_ASSERT_OK(server_.Start(dir_.Sub("data")));
  stub = server_.NewStub();
  auto info = GetCollection(stub.get(), "c");
  QUIVER_ASSERT_OK(info);
  EXPECT_GE(info->count(), acked_ids.size() * batch);
  std::mt19937 pick(5);
  for (uint64_t b : acked_ids) {
    grpc::ClientContext gctx;
    v1::GetRequest req;
    req.set_collection("c");
    req.set_include_vectors(true);
    for (size_t i = b * batch; i < (b + 1) * batch; ++i)
      req.add_ids(docs[i].id);
    v1::GetResponse resp;
    ASSERT_TRUE(stub->Get(&gctx, req, &resp).ok());
    ASSERT_EQ(resp.documents_size(), static_cast<int>(batch)) << "batch " << b;
    for (int j = 0; j < resp.documents_size(); ++j) {
      const Doc& want = docs[b * batch + j];
      ASSERT_EQ(resp.documents(j).id(), want.id);
      ASSERT_EQ(std::vector<float>(resp.documents(j).vector().begin(),
                                   resp.documents(j).vector().end()),
                want.vector);
    }
    // Searchable: a document's own vector finds it first (index or exact).
    const Doc& probe = docs[b * batch + pick() % batch];
    auto r = Search(stub.get(), "c", probe.vector, dim, 3);
    QUIVER_ASSERT_OK(r);
    ASSERT_GE(r->results(0).hits_size(), 1);
    EXPECT_EQ(r->results(0).hits(0).id(), probe.id);
  }
  // Whatever state the training was in, the collection ends consistent.
  if (info->state() != v1::COLLECTION_STATE_UNTRAINED) {
    info = WaitReady(stub.get(), "c");
    QUIVER_ASSERT_OK(info);
    EXPECT_NEAR(info->list_mean() * info->index().nlist(), info->count(), 0.5);
  }
}

}  // namespace
}  // namespace quiver::testing
