// End-to-end tests of quiverd: a real server process on 127.0.0.1:0 with a
// temporary data directory, driven through the generated gRPC stub.
// Collections, upsert/get/delete semantics, exact search, filters, every
// bad-input status, restart persistence, auth, TLS, backup, health, metrics.
#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/server/rpc_helpers.h"
#include "tests/testing/testing.h"

namespace quiver::testing {
namespace {

std::vector<Doc> RandomDocs(size_t n, size_t dim, uint32_t seed,
                            const std::string& prefix = "doc") {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<Doc> docs(n);
  for (size_t i = 0; i < n; ++i) {
    docs[i].id = absl::StrCat(prefix, i);
    docs[i].vector.resize(dim);
    for (float& x : docs[i].vector) x = g(rng);
    docs[i].attributes["parity"] = i % 2 ? "odd" : "even";
    docs[i].attributes["color"] = i % 10 == 0 ? "red" : "blue";
  }
  return docs;
}

uint64_t TotalUpserted(const std::vector<v1::UpsertResponse>& rs) {
  uint64_t n = 0;
  for (const auto& r : rs) n += r.upserted();
  return n;
}

template <typename T>
absl::StatusCode Code(const absl::StatusOr<T>& s) {
  return s.status().code();
}

// Smaller is better, as the server reports it.
float Distance(v1::Metric metric, const std::vector<float>& q,
               const std::vector<float>& x) {
  double l2 = 0, ip = 0, nq = 0, nx = 0;
  for (size_t i = 0; i < q.size(); ++i) {
    l2 += (q[i] - x[i]) * (q[i] - x[i]);
    ip += q[i] * x[i];
    nq += q[i] * q[i];
    nx += x[i] * x[i];
  }
  if (metric == v1::METRIC_L2) return static_cast<float>(l2);
  if (metric == v1::METRIC_INNER_PRODUCT) return static_cast<float>(-ip);
  return static_cast<float>(-ip / std::sqrt(nq * nx));
}

// grpc.health.v1.Health/Check for `service`, by hand (no generated health
// stub): the serialized response, or "" after a failure.
std::string HealthCheck(Quiverd& server, const std::string& service) {
  grpc::GenericStub generic(server.NewChannel());
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  std::string request;
  if (!service.empty()) {
    request.push_back('\x0a');  // field 1 (service), length-delimited
    request.push_back(static_cast<char>(service.size()));
    request += service;
  }
  grpc::Slice slice(request);
  grpc::ByteBuffer req(&slice, 1), resp;
  auto rpc =
      generic.PrepareUnaryCall(&ctx, "/grpc.health.v1.Health/Check", req, &cq);
  rpc->StartCall();
  grpc::Status status;
  rpc->Finish(&resp, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  if (!cq.Next(&tag, &ok) || !status.ok()) {
    ADD_FAILURE() << "health check of '" << service
                  << "': " << status.error_message();
    return "";
  }
  std::vector<grpc::Slice> slices;
  if (!resp.Dump(&slices).ok()) return "";
  std::string bytes;
  for (const auto& sl : slices) {
    bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  }
  return bytes;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(); }
  void StartServer(const std::vector<std::string>& extra = {}) {
    QUIVER_ASSERT_OK(server_.Start(dir_.Sub("data"), extra));
    stub_ = server_.NewStub();
  }
  void Restart(int sig = SIGTERM, const std::vector<std::string>& extra = {}) {
    const int status = server_.Stop(sig);
    if (sig == SIGTERM) {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "quiverd status " << status;
    }
    StartServer(extra);
  }

  TempDir dir_;
  Quiverd server_;
  std::unique_ptr<v1::Quiver::Stub> stub_;
};

TEST_F(ServerTest, CollectionLifecycle) {
  v1::IndexParams p;
  p.set_nlist(16);
  auto info = CreateCollection(stub_.get(), "b-coll", 16, v1::METRIC_L2, p);
  QUIVER_ASSERT_OK(info);
  EXPECT_EQ(info->name(), "b-coll");
  EXPECT_EQ(info->dimension(), 16u);
  EXPECT_EQ(info->metric(), v1::METRIC_L2);
  EXPECT_EQ(info->index().nlist(), 16u);
  EXPECT_EQ(info->count(), 0u);
  EXPECT_EQ(info->state(), v1::COLLECTION_STATE_UNTRAINED);
  EXPECT_FALSE(info->kernel().empty());
  QUIVER_ASSERT_OK(
      CreateCollection(stub_.get(), "a.coll", 4, v1::METRIC_COSINE));
  QUIVER_ASSERT_OK(
      CreateCollection(stub_.get(), "c_coll", 8, v1::METRIC_INNER_PRODUCT));
  EXPECT_EQ(Code(CreateCollection(stub_.get(), "a.coll", 4, v1::METRIC_L2)),
            absl::StatusCode::kAlreadyExists);

  grpc::ClientContext ctx;
  v1::ListCollectionsResponse list;
  ASSERT_TRUE(stub_->ListCollections(&ctx, {}, &list).ok());
  ASSERT_EQ(list.collections_size(), 3);
  EXPECT_EQ(list.collections(0).name(), "a.coll");
  EXPECT_EQ(list.collections(1).name(), "b-coll");
  EXPECT_EQ(list.collections(2).name(), "c_coll");
  EXPECT_GT(list.collections(0).disk_bytes(), 0u);

  {
    grpc::ClientContext c2;
    v1::DropCollectionRequest req;
    req.set_name("b-coll");
    v1::DropCollectionResponse resp;
    ASSERT_TRUE(stub_->DropCollection(&c2, req, &resp).ok());
    EXPECT_TRUE(resp.dropped());
    grpc::ClientContext c3;
    EXPECT_EQ(stub_->DropCollection(&c3, req, &resp).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  EXPECT_EQ(Code(GetCollection(stub_.get(), "b-coll")),
            absl::StatusCode::kNotFound);

  // Everything but the dropped collection survives a restart.
  Restart();
  grpc::ClientContext c4;
  list.Clear();
  ASSERT_TRUE(stub_->ListCollections(&c4, {}, &list).ok());
  ASSERT_EQ(list.collections_size(), 2);
  EXPECT_EQ(list.collections(0).name(), "a.coll");
  EXPECT_EQ(list.collections(0).metric(), v1::METRIC_COSINE);
  EXPECT_EQ(list.collections(1).name(), "c_coll");
  EXPECT_EQ(list.collections(1).dimension(), 8u);
  // A dropped name can be created again, empty.
  auto again = CreateCollection(stub_.get(), "b-coll", 16, v1::METRIC_L2);
  QUIVER_ASSERT_OK(again);
  EXPECT_EQ(again->count(), 0u);
}

TEST_F(ServerTest, CreateRejectsBadInput) {
  auto expect_invalid = [&](const std::string& name, uint32_t dim,
                            v1::Metric metric, const v1::IndexParams& p,
                            const std::string& needle) {
    auto r = CreateCollection(stub_.get(), name, dim, metric, p);
    EXPECT_EQ(Code(r), absl::StatusCode::kInvalidArgument) << needle;
    EXPECT_NE(r.status().message().find(needle), std::string::npos)
        << r.status();
  };
  v1::IndexParams none;
  expect_invalid("", 8, v1::METRIC_L2, none, "name");
  expect_invalid("bad name!", 8, v1::METRIC_L2, none, "name");
  expect_invalid(std::string(129, 'n'), 8, v1::METRIC_L2, none, "128");
  expect_invalid("c", 0, v1::METRIC_L2, none, "dimension");
  expect_invalid("c", 4097, v1::METRIC_L2, none, "dimension");
  expect_invalid("c", 8, v1::METRIC_UNSPECIFIED, none, "METRIC_UNSPECIFIED");
  v1::IndexParams p;
  p.set_pq_m(3);
  expect_invalid("c", 8, v1::METRIC_L2, p, "pq_m");
  p.Clear();
  p.set_pq_bits(6);
  expect_invalid("c", 8, v1::METRIC_L2, p, "pq_bits");
  // Nothing was created.
  grpc::ClientContext ctx;
  v1::ListCollectionsResponse list;
  ASSERT_TRUE(stub_->ListCollections(&ctx, {}, &list).ok());
  EXPECT_EQ(list.collections_size(), 0);
}

TEST_F(ServerTest, UpsertReportsBadRecordsAndStoresGoodOnes) {
  const size_t dim = 4;
  QUIVER_ASSERT_OK(CreateCollection(stub_.get(), "c", dim, v1::METRIC_L2));
  std::vector<Doc> docs = RandomDocs(10, dim, 1);
  docs[1].vector.push_back(1);                                  // dim
  docs[3].vector[2] = std::numeric_limits<float>::quiet_NaN();  // NaN
  docs[4].vector[0] = -std::numeric_limits<float>::infinity();  // Inf
  docs[5].id = "";                                              // empty
  docs[6].id = std::string(513, 'x');                           // long
  for (int i = 0; i < 65; ++i) {
    const std::string key = absl::StrCat("k", i);
    docs[8].attributes.emplace(key, "v");
  }
  auto rs = UpsertDocs(stub_.get(), "c", docs, 10);
  QUIVER_ASSERT_OK(rs);
  ASSERT_EQ(rs->size(), 1u);
  const v1::UpsertResponse& r = (*rs)[0];
  EXPECT_EQ(r.upserted(), 4u);
  ASSERT_EQ(r.errors_size(), 6);
  const std::vector<uint32_t> want_pos = {1, 3, 4, 5, 6, 8};
  const std::vector<std::string> want_reason = {
      "dimension", "non-finite", "non-finite", "empty", "513", "attributes"};
  for (int i = 0; i < r.errors_size(); ++i) {
    EXPECT_EQ(r.errors(i).position(), want_pos[i]);
    EXPECT_NE(r.errors(i).reason().find(want_reason[i]), std::string::npos)
        << r.errors(i).reason();
  }
  EXPECT_EQ(r.errors(0).id(), "doc1");
  EXPECT_EQ(r.errors(3).id(), "");
  auto info = GetCollection(stub_.get(), "c");
  QUIVER_ASSERT_OK(info);
  EXPECT_EQ(info->count(), 4u);

  // A batch over the per-request limit fails the stream.
  std::vector<Doc> big = RandomDocs(10001, dim, 2);
  auto too_big = UpsertDocs(stub_.get(), "c", big, 10001);
  EXPECT_EQ(Code(too_big), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(too_big.status().message().find("10000"), std::string::npos);
  // Unknown collection.
  EXPECT_EQ(Code(UpsertDocs(stub_.get(), "nope", RandomDocs(1, dim, 3))),
            absl::StatusCode::kNotFound);
  info = GetCollection(stub_.get(), "c");
  QUIVER_ASSERT_OK(info);
  EXPECT_EQ(info->count(), 4u);
}

TEST_F(ServerTest, SearchAndTrainRejectBadInput) {
  const size_t dim = 4;
  QUIVER_ASSERT_OK(CreateCollection(stub_.get(), "c", dim, v1::METRIC_L2));
  QUIVER_ASSERT_OK(UpsertDocs(stub_.get(), "c", RandomDocs(12, dim, 1)));
  const std::vector<float> q(dim, 0.5f);
  EXPECT_EQ(Code(Search(stub_.get(), "c", q, dim, 0)),
            absl::StatusCode::kInvalidArgument);
  auto r = Search(stub_.get(), "c", q, dim, 1025);
  EXPECT_EQ(Code(r), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("1024"), std::string::npos);
  r = Search(stub_.get(), "c", std::vector<float>(dim + 1, 1.f), dim + 1, 5);
  EXPECT_EQ(Code(r), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("dimension"), std::string::npos);
  std::vector<float> nan_q = q;
  nan_q[1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(Code(Search(stub_.get(), "c", nan_q, dim, 5)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code(Search(stub_.get(), "missing", q, dim, 5)),
            absl::StatusCode::kNotFound);
  // Too many queries in one request.
  EXPECT_EQ(Code(Search(stub_.get(), "c", std::vector<float>(1025 * dim, 1.f),
                        dim, 5)),
            absl::StatusCode::kResourceExhausted);
  // Train with too few vectors (12 < 16 for the default 4-bit codes).
  grpc::ClientContext ctx;
  v1::TrainRequest treq;
  treq.set_collection("c");
  v1::CollectionInfo info;
  grpc::Status s = stub_->Train(&ctx, treq, &info);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("12"), std::string::npos)
      << s.error_message();
  // Get/Delete: bad ids, unknown collection.
  grpc::ClientContext c2;
  v1::GetRequest greq;
  greq.set_collection("c");
  greq.add_ids("");
  v1::GetResponse gresp;
  EXPECT_EQ(stub_->Get(&c2, greq, &gresp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext c3;
  v1::DeleteRequest dreq;
  dreq.set_collection("zzz");
  dreq.add_ids("a");
  v1::DeleteResponse dresp;
  EXPECT_EQ(stub_->Delete(&c3, dreq, &dresp).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerTest, MessageOverTheLimitIsResourceExhausted) {
  Restart(SIGTERM, {"--max_message_mb=1"});
  const size_t dim = 1024;
  QUIVER_ASSERT_OK(CreateCollection(stub_.get(), "c", dim, v1::METRIC_L2));
  // 400 queries x 1024 floats = 1.6 MB > 1 MiB.
  auto r = Search(stub_.get(), "c", std::vector<float>(400 * dim, 1.f), dim, 5);
  EXPECT_EQ(Code(r), absl::StatusCode::kResourceExhausted) << r.status();
  // Under the limit works.
  QUIVER_EXPECT_OK(
      Search(stub_.get(), "c", std::vector<float>(100 * dim, 1.f), dim, 5));
}

TEST_F(ServerTest, GetDeleteAndReplaceSemantics) {
  const size_t dim = 8;
  QUIVER_ASSERT_OK(CreateCollection(stub_.get(), "c", dim, v1::METRIC_L2));
  std::vector<Doc> docs = RandomDocs(50, dim, 7);
  QUIVER_ASSERT_OK(UpsertDocs(stub_.get(), "c", docs, 16));

  auto get = [&](const std::vector<std::string>& ids, bool vectors) {
    grpc::ClientContext ctx;
    v1::GetRequest req;
    req.set_collection("c");
    for (const auto& id : ids) req.add_ids(id);
    req.set_include_vectors(vectors);
    v1::GetResponse resp;
    EXPECT_TRUE(stub_->Get(&ctx, req, &resp).ok());
    return resp;
  };
  v1::GetResponse g = get({"doc3", "unknown", "doc10"}, true);
  ASSERT_EQ(g.documents_size(), 2);
  EXPECT_EQ(g.documents(0).id(), "doc3");
  EXPECT_EQ(std::vector<float>(g.documents(0).vector().begin(),
                               g.documents(0).vector().end()),
            docs[3].vector);
  EXPECT_EQ(g.documents(0).attributes().at("parity"), "odd");
  EXPECT_EQ(g.documents(1).attributes().at("color"), "red");
  EXPECT_EQ(get({"doc3"}, false).documents(0).vector_size(), 0);

  // Replace doc3: new vector, new attributes; count unchanged.
  Doc repl{"doc3", std::vector<float>(dim, 100.f), {{"fresh", "yes"}}};
  auto rs = UpsertDocs(stub_.get(), "c", {repl});
  QUIVER_ASSERT_OK(rs);
  EXPECT_EQ(TotalUpserted(*rs), 1u);
  g = get({"doc3"}, true);
  ASSERT_EQ(g.documents_size(), 1);
  EXPECT_EQ(g.documents(0).vector(0), 100.f);
  EXPECT_EQ(g.documents(0).attributes().size(), 1u);
  EXPECT_EQ(g.documents(0).attributes().at("fresh"), "yes");
  auto info = GetCollection(stub_.get(), "c");
  QUIVER_ASSERT_OK(info);
  EXPECT_EQ(info->count(), 50u);
  // The search sees the new vector, and the old one is gone.
  auto sr = Search(stub_.get(), "c", repl.vector, dim, 1);
  QUIVER_ASSERT_OK(sr);
  EXPECT_EQ(sr->results(0).hits(0).id(), "doc3");
  EXPECT_FLOAT_EQ(sr->results(0).hits(0).distance(), 0.f);
  sr = Search(stub_.get(), "c", docs[3].vector, dim, 1);
  QUIVER_ASSERT_OK(sr);
  EXPECT_NE(sr->results(0).hits(0).id(), "doc3");
  // The old attribute no longer matches a filter.
  sr = Search(
      stub_.get(), "c", docs[3].vector, dim, 50,
      [](v1::SearchRequest* r) { (*r->mutable_filter())["parity"] = "odd"; });
  QUIVER_ASSERT_OK(sr);
  EXPECT_EQ(sr->results(0).hits_size(), 24);
  for (const auto& h : sr->results(0).hits()) EXPECT_NE(h.id(), "doc3");

  // Delete: unknown ids are ignored; deleted ids disappear everywhere.
  grpc::ClientContext ctx;
  v1::DeleteRequest dreq;
  dreq.set_collection("c");
  for (const char* id : {"doc1", "doc2", "nope", "doc1"}) dreq.add_ids(id);
  v1::DeleteResponse dresp;
  ASSERT_TRUE(stub_->Delete(&ctx, dreq, &dresp).ok());
  EXPECT_EQ(dresp.deleted(), 2u);
  EXPECT_EQ(get({"doc1", "doc2"}, true).documents_size(), 0);
  sr = Search(stub_.get(), "c", docs[1].vector, dim, 50);
  QUIVER_ASSERT_OK(sr);
  EXPECT_EQ(sr->results(0).hits_size(), 48);
  for (const auto& h : sr->results(0).hits()) {
    EXPECT_NE(h.id(), "doc1");
    EXPECT_NE(h.id(), "doc2");
  }
  // All of it persists.
  Restart();
  EXPECT_EQ(get({"doc1", "doc2"}, true).documents_size(), 0);
  g = get({"doc3", "doc4"}, true);
  ASSERT_EQ(g.documents_size(), 2);
  EXPECT_EQ(g.documents(0).vector(0), 100.f);
  EXPECT_EQ(g.documents(0).attributes().at("fresh"), "yes");
  EXPECT_EQ(std::vector<float>(g.documents(1).vector().begin(),
                               g.documents(1).vector().end()),
            docs[4].vector);
  info = GetCollection(stub_.get(), "c");
  QUIVER_ASSERT_OK(info);
  EXPECT_EQ(info->count(), 48u);
  // A deleted id can come back.
  QUIVER_ASSERT_OK(UpsertDocs(stub_.get(), "c", {docs[1]}));
  EXPECT_EQ(get({"doc1"}, false).documents_size(), 1);
}

// Untrained collections answer exactly: compare with brute force here.
TEST_F(ServerTest, UntrainedSearchIsExact) {
  const size_t dim = 12;
  const std::vector<Doc> docs = RandomDocs(100, dim, 11);
  for (v1::Metric metric :
       {v1::METRIC_L2, v1::METRIC_INNER_PRODUCT, v1::METRIC_COSINE}) {
    const std::string name = absl::StrCat("m", static_cast<int>(metric));
    QUIVER_ASSERT_OK(CreateCollection(stub_.get(), name, dim, metric));
    QUIVER_ASSERT_OK(UpsertDocs(stub_.get(), name, docs, 30));
    const std::vector<Doc> queries = RandomDocs(5, dim, 99, "q");
    std::vector<float> flat;
    for (const Doc& q : queries)
      flat.insert(flat.end(), q.vector.begin(), q.vector.end());
    auto sr = Search(stub_.get(), name, flat, dim, 10);
    QUIVER_ASSERT_OK(sr);
    ASSERT_EQ(sr->results_size(), 5);
    for (size_t qi = 0; qi < queries.size(); ++qi) {
      std::vector<std::pair<float, size_t>> truth;
      for (size_t i = 0; i < docs.size(); ++i) {
        truth.emplace_back(Distance(metric, queries[qi].vector, docs[i].vector),
                           i);
      }
      std::sort(truth.begin(), truth.end());
      const auto& hits = sr->results(qi).hits();
      ASSERT_EQ(hits.size(), 10);
      for (int j = 0; j < 10; ++j) {
        // Exact over the stored half-precision vectors: a relative error
        // under 1e-3 against the float vectors.
        EXPECT_NEAR(hits[j].distance(), truth[j].first,
                    2e-3f * (1 + std::abs(truth[j].first)))
            << "metric " << metric << " query " << qi << " rank " << j;
        // Ids agree unless two distances tie within rounding.
        const float tol = 4e-3f * (1 + std::abs(truth[j].first));
        if (j + 1 < 10 && truth[j + 1].first - truth[j].first > tol &&
            (j == 0 || truth[j].first - truth[j - 1].first > tol)) {
          EXPECT_EQ(hits[j].id(), docs[truth[j].second].id);
        }
      }
    }
  }
}

TEST_F(ServerTest, FilterReturnsKWhenKMatchesExist) {
  const size_t dim = 16;
  v1::IndexParams p;
  p.set_auto_train_threshold(1000000);  // stays untrained until Train below
  QUIVER_ASSERT_OK(CreateCollection(stub_.get(), "c", dim, v1::METRIC_L2, p));
  const std::vector<Doc> docs = RandomDocs(2000, dim, 5);  // 200 red
  QUIVER_ASSERT_OK(UpsertDocs(stub_.get(), "c", docs, 500));
  auto check = [&](const char* when) {
    for (int qi = 0; qi < 5; ++qi) {
      auto sr = Search(stub_.get(), "c", docs[qi * 7 + 1].vector, dim, 10,
                       [](v1::SearchRequest* r) {
                         (*r->mutable_filter())["color"] = "red";
                         r->set_include_attributes(true);
                       });
      QUIVER_ASSERT_OK(sr);
      ASSERT_EQ(sr->results(0).hits_size(), 10) << when;
      for (const auto& h : sr->results(0).hits()) {
        EXPECT_EQ(h.attributes().at("color"), "red") << when;
        EXPECT_EQ(h.attributes().size(), 2u);
      }
      // Two entries: red AND even (ids 0, 10, 20, ... are all even).
      sr = Search(stub_.get(), "c", docs[qi].vector, dim, 10,
                  [](v1::SearchRequest* r) {
                    (*r->mutable_filter())["color"] = "red";
                    (*r->mutable_filter())["parity"] = "odd";
                  });
      QUIVER_ASSERT_OK(sr);
      EXPECT_EQ(sr->results(0).hits_size(), 0) << when;
      // Unknown value: nothing matches.
      sr = Search(stub_.get(), "c", docs[qi].vector, dim, 10,
                  [](v1::SearchRequest* r) {
                    (*r->mutable_filter())["color"] = "green";
                  });
      QUIVER_ASSERT_OK(sr);
      EXPECT_EQ(sr->results(0).hits_size(), 0) << when;
    }
  };
  check("untrained");
  grpc::ClientContext ctx;
  v1::TrainRequest treq;
  treq.set_collection("c");
  treq.mutable_overrides()->set_nlist(32);
  v1::CollectionInfo info;
  ASSERT_TRUE(stub_->Train(&ctx, treq, &info).ok());
  // Train returns at once; a tiny training may already be over.
  EXPECT_TRUE(info.state() == v1::COLLECTION_STATE_TRAINING ||
              info.state() == v1::COLLECTION_STATE_READY)
      << info.state();
  auto ready = WaitReady(stub_.get(), "c");
  QUIVER_ASSERT_OK(ready);
  EXPECT_EQ(ready->index().nlist(), 32u);
  // The filter runs inside the IVF scan: the probed lists (8 of 32, ~50 red
  // documents) still yield 10 red hits, not 10% of 10.
  check("trained");
}

TEST_F(ServerTest, AuthRequiresTheBearerKey) {
  Restart(SIGTERM, {"--api_key=s3cret"});
  auto call = [&](const char* auth) {
    grpc::ClientContext ctx;
    if (auth != nullptr) ctx.AddMetadata("authorization", auth);
    v1::ListCollectionsResponse resp;
    return stub_->ListCollections(&ctx, {}, &resp).error_code();
  };
  EXPECT_EQ(call(nullptr), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call("Bearer wrong"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call("s3cret"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call("Bearer s3cret"), grpc::StatusCode::OK);
  // Every RPC is covered, including the stream.
  EXPECT_EQ(Code(CreateCollection(stub_.get(), "c", 4, v1::METRIC_L2)),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Code(UpsertDocs(stub_.get(), "c", RandomDocs(1, 4, 1))),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Code(Search(stub_.get(), "c", std::vector<float>(4), 4, 1)),
            absl::StatusCode::kUnauthenticated);
  // Health is exempt, for the server ("") and for the Quiver service by
  // name.
  EXPECT_EQ(HealthCheck(server_, ""), std::string("\x08\x01", 2));
  EXPECT_EQ(HealthCheck(server_, "quiver.v1.Quiver"),
            std::string("\x08\x01", 2));  // status: SERVING
}

TEST_F(ServerTest, AuthOffAcceptsCallsWithOrWithoutMetadata) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer anything");
  v1::ListCollectionsResponse resp;
  EXPECT_TRUE(stub_->ListCollections(&ctx, {}, &resp).ok());
  QUIVER_EXPECT_OK(CreateCollection(stub_.get(), "c", 4, v1::METRIC_L2));
}

TEST_F(ServerTest, TlsServesOnlyTlsClients) {
  const std::string cert = dir_.Sub("cert.pem"), key = dir_.Sub("key.pem");
  const std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "openssl not available";
  Restart(SIGTERM, {"--tls_cert=" + cert, "--tls_key=" + key});
  std::ifstream in(cert);
  std::stringstream pem;
  pem << in.rdbuf();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pem.str();
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto tls_stub = v1::Quiver::NewStub(grpc::CreateCustomChannel(
      server_.address(), grpc::SslCredentials(ssl), args));
  QUIVER_EXPECT_OK(CreateCollection(tls_stub.get(), "c", 4, v1::METRIC_L2));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::ListCollectionsResponse resp;
  EXPECT_FALSE(stub_->ListCollections(&ctx, {}, &resp).ok());  // plaintext
}

TEST_F(ServerTest, BackupCheckpointRestoresOnASecondServer) {
  const size_t dim = 8;
  auto backup_call = [&](const std::string& name) {
    grpc::ClientContext ctx;
    v1::BackupRequest req;
    req.set_directory(name);
    v1::BackupResponse resp;
    return stub_->Backup(&ctx, req, &resp);
  };
  // Off unless the server has a --backup_dir.
  EXPECT_EQ(backup_call("b1").error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  Restart(SIGTERM, {"--backup_dir=" + dir_.Sub("backups")});
  QUIVER_ASSERT_OK(CreateCollection(stub_.get(), "c", dim, v1::METRIC_L2));
  const std::vector<Doc> docs = RandomDocs(300, dim, 21);
  QUIVER_ASSERT_OK(UpsertDocs(stub_.get(), "c", docs, 100));
  // A name, never a path: nothing can be written outside --backup_dir, and
  // no message names a server path.
  for (const std::string& bad :
       std::vector<std::string>{"", "../x", "/tmp/x", "a/b", ".hidden", "..",
                                std::string(129, 'a')}) {
    const grpc::Status s = backup_call(bad);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_EQ(s.error_message().find(dir_.path()), std::string::npos)
        << s.error_message();
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("x")));
  const std::string backup = dir_.Sub("backups") + "/b1";
  {
    v1::BackupRequest req;
    req.set_directory("b1");
    v1::BackupResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->Backup(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.directory(), "b1");
    const grpc::Status again = backup_call("b1");
    EXPECT_EQ(again.error_code(), grpc::StatusCode::ALREADY_EXISTS);
    EXPECT_EQ(again.error_message().find(dir_.path()), std::string::npos)
        << again.error_message();
  }
  // Writes after the backup are not in it.
  QUIVER_ASSERT_OK(UpsertDocs(stub_.get(), "c", RandomDocs(5, dim, 3, "late")));
  Quiverd second;
  QUIVER_ASSERT_OK(second.Start(backup));
  auto stub2 = second.NewStub();
  auto info = GetCollection(stub2.get(), "c");
  QUIVER_ASSERT_OK(info);
  EXPECT_EQ(info->count(), 300u);
  auto sr = Search(stub2.get(), "c", docs[42].vector, dim, 1);
  QUIVER_ASSERT_OK(sr);
  EXPECT_EQ(sr->results(0).hits(0).id(), "doc42");
  info = GetCollection(stub_.get(), "c");
  QUIVER_ASSERT_OK(info);
  EXPECT_EQ(info->count(), 305u);
}

TEST_F(ServerTest, OfflineBackupFlagWritesARestorableCheckpoint) {
  const size_t dim = 8;
  QUIVER_ASSERT_OK(CreateCollection(stub_.get(), "c", dim, v1::METRIC_L2));
  const std::vector<Doc> docs = RandomDocs(120, dim, 8);
  QUIVER_ASSERT_OK(UpsertDocs(stub_.get(), "c", docs, 50));
  ASSERT_EQ(server_.Stop(SIGTERM), 0);  // the store is locked while serving
  const std::string backup = dir_.Sub("offline-backup");
  const std::string cmd = absl::StrCat(
      QUIVERD_PATH, " --data_dir=", dir_.Sub("data"), " --backup_to=", backup);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  // An existing directory is refused.
  EXPECT_NE(std::system(cmd.c_str()), 0);
  QUIVER_ASSERT_OK(server_.Start(backup));
  stub_ = server_.NewStub();
  auto info = GetCollection(stub_.get(), "c");
  QUIVER_ASSERT_OK(info);
  EXPECT_EQ(info->count(), 120u);
  auto sr = Search(stub_.get(), "c", docs[7].vector, dim, 1);
  QUIVER_ASSERT_OK(sr);
  EXPECT_EQ(sr->results(0).hits(0).id(), "doc7");
}

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string HttpGet(int port, const std::string& path,
                    const std::string& headers = "") {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  const std::string req =
      "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n" + headers + "\r\n";
  if (::write(fd, req.data(), req.size()) < 0) return "";
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  ::close(fd);
  return out;
}

TEST_F(ServerTest, PrometheusMetrics) {
  const int port = FreePort();
  Restart(SIGTERM, {absl::StrCat("--metrics_listen=127.0.0.1:", port)});
  QUIVER_ASSERT_OK(CreateCollection(stub_.get(), "m", 4, v1::METRIC_L2));
  QUIVER_ASSERT_OK(UpsertDocs(stub_.get(), "m", RandomDocs(7, 4, 1)));
  EXPECT_EQ(Code(GetCollection(stub_.get(), "nope")),
            absl::StatusCode::kNotFound);
  const std::string page = HttpGet(port, "/metrics");
  for (const char* needle :
       {"quiver_requests_total{code=\"OK\",method=\"CreateCollection\"} 1",
        "quiver_requests_total{code=\"NOT_FOUND\",method=\"GetCollection\"} 1",
        "quiver_request_duration_seconds_bucket",
        "quiver_collection_documents{collection=\"m\"} 7",
        "quiver_collection_training_state{collection=\"m\"} 0",
        "quiver_store_disk_bytes", "quiver_simd_kernel_info{kernel="}) {
    EXPECT_NE(page.find(needle), std::string::npos) << needle << "\n" << page;
  }
}

TEST_F(ServerTest, MetricsCanRequireTheApiKey) {
  const int port = FreePort();
  Restart(SIGTERM, {absl::StrCat("--metrics_listen=127.0.0.1:", port),
                    "--api_key=s3cret", "--metrics_require_key"});
  EXPECT_NE(HttpGet(port, "/metrics").find(" 401 "), std::string::npos);
  // Basic auth, password = the key: base64("x:wrong"), base64(":s3cret").
  EXPECT_NE(HttpGet(port, "/metrics", "Authorization: Basic eDp3cm9uZw==\r\n")
                .find(" 401 "),
            std::string::npos);
  const std::string page =
      HttpGet(port, "/metrics", "Authorization: Basic OnMzY3JldA==\r\n");
  EXPECT_NE(page.find("quiver_simd_kernel_info"), std::string::npos) << page;
}

// Typed attributes through the API: stored and returned with their types,
// filtered by expressions (`where`), the plan visible with explain and in
// the metrics; bad filters and conflicting attributes named in the error.
TEST_F(ServerTest, TypedAttributesAndFilterExpressions) {
  const int port = FreePort();
  Restart(SIGTERM, {absl::StrCat("--metrics_listen=127.0.0.1:", port)});
  const size_t dim = 8;
  QUIVER_ASSERT_OK(CreateCollection(stub_.get(), "t", dim, v1::METRIC_L2));
  const std::vector<Doc> docs = RandomDocs(300, dim, 9);
  grpc::ClientContext uctx;
  auto stream = stub_->Upsert(&uctx);
  v1::UpsertRequest req;
  req.set_collection("t");
  req.set_batch_id(1);
  for (size_t i = 0; i < docs.size(); ++i) {
    v1::Document* d = req.add_documents();
    d->set_id(docs[i].id);
    d->mutable_vector()->Add(docs[i].vector.begin(), docs[i].vector.end());
    (*d->mutable_attributes())["lang"] = i % 2 ? "en" : "de";
    auto& typed = *d->mutable_typed_attributes();
    typed["year"].set_int_value(2000 + static_cast<int64_t>(i % 30));
    typed["score"].set_double_value(static_cast<double>(i) / 10);
    typed["new"].set_bool_value(i % 7 == 0);
    typed["tags"].mutable_tags()->add_values(i % 3 ? "x" : "news");
  }
  // Position 300: a key in both maps is a record error of its own.
  v1::Document* bad = req.add_documents();
  bad->set_id("bad");
  bad->mutable_vector()->Add(docs[0].vector.begin(), docs[0].vector.end());
  (*bad->mutable_attributes())["k"] = "a";
  (*bad->mutable_typed_attributes())["k"].set_int_value(1);
  ASSERT_TRUE(stream->Write(req));
  v1::UpsertResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_EQ(resp.upserted(), 300u);
  ASSERT_EQ(resp.errors_size(), 1);
  EXPECT_EQ(resp.errors(0).position(), 300u);
  EXPECT_NE(resp.errors(0).reason().find("'k' is in both"), std::string::npos)
      << resp.errors(0).reason();
  stream->WritesDone();
  ASSERT_TRUE(stream->Finish().ok());

  // Get returns the types as written.
  {
    grpc::ClientContext ctx;
    v1::GetRequest g;
    g.set_collection("t");
    g.add_ids(docs[21].id);
    v1::GetResponse got;
    ASSERT_TRUE(stub_->Get(&ctx, g, &got).ok());
    ASSERT_EQ(got.documents_size(), 1);
    const v1::Document& d = got.documents(0);
    EXPECT_EQ(d.attributes().at("lang"), "en");
    EXPECT_EQ(d.typed_attributes().at("year").int_value(), 2021);
    EXPECT_DOUBLE_EQ(d.typed_attributes().at("score").double_value(), 2.1);
    EXPECT_TRUE(d.typed_attributes().at("new").bool_value());
    EXPECT_EQ(d.typed_attributes().at("tags").tags().values(0), "news");
  }
  // lang = "en" and year >= 2025 and tags contains "news" (exact truth
  // from the documents themselves).
  std::set<std::string> expected;
  for (size_t i = 0; i < docs.size(); ++i) {
    if (i % 2 == 1 && 2000 + i % 30 >= 2025 && i % 3 == 0) {
      expected.insert(docs[i].id);
    }
  }
  ASSERT_GT(expected.size(), 3u);
  auto where = [](v1::SearchRequest* r) {
    auto* all = r->mutable_where()->mutable_all();
    auto* eq = all->add_filters()->mutable_eq();
    eq->set_key("lang");
    eq->mutable_value()->set_string_value("en");
    auto* range = all->add_filters()->mutable_range();
    range->set_key("year");
    range->mutable_gte()->set_int_value(2025);
    auto* c = all->add_filters()->mutable_contains();
    c->set_key("tags");
    c->mutable_value()->set_string_value("news");
    r->set_explain(true);
    r->set_include_attributes(true);
  };
  auto sr = Search(stub_.get(), "t", docs[0].vector, dim, 100, where);
  QUIVER_ASSERT_OK(sr);
  std::set<std::string> got;
  for (const auto& h : sr->results(0).hits()) {
    got.insert(h.id());
    EXPECT_EQ(h.attributes().at("lang"), "en");
    EXPECT_GE(h.typed_attributes().at("year").int_value(), 2025);
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(sr->plan().strategy(), "exact-filtered");
  EXPECT_EQ(sr->plan().matching(), expected.size());
  EXPECT_EQ(sr->plan().count(), 300u);
  EXPECT_FALSE(sr->plan().detail().empty());
  // The `filter` map and `where` together: ANDed.
  sr = Search(stub_.get(), "t", docs[0].vector, dim, 100,
              [&](v1::SearchRequest* r) {
                where(r);
                (*r->mutable_filter())["lang"] = "de";
              });
  QUIVER_ASSERT_OK(sr);
  EXPECT_EQ(sr->results(0).hits_size(), 0);
  // Bad filters: a type that never matches, no operator.
  sr = Search(stub_.get(), "t", docs[0].vector, dim, 10,
              [](v1::SearchRequest* r) {
                auto* eq = r->mutable_where()->mutable_eq();
                eq->set_key("year");
                eq->mutable_value()->set_string_value("2020");
              });
  EXPECT_EQ(Code(sr), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(sr.status().message().find("'year' holds int"), std::string::npos)
      << sr.status();
  sr = Search(stub_.get(), "t", docs[0].vector, dim, 10,
              [](v1::SearchRequest* r) { r->mutable_where(); });
  EXPECT_EQ(Code(sr), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(sr.status().message().find("no operator"), std::string::npos)
      << sr.status();
  const std::string page = HttpGet(port, "/metrics");
  EXPECT_NE(
      page.find("quiver_search_plans_total{strategy=\"exact-filtered\"} 2"),
      std::string::npos)
      << page;
}

}  // namespace
}  // namespace quiver::testing
