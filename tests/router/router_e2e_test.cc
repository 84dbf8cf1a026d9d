// quiver-router end to end, all on loopback: three real quiverd nodes and
// the real quiver-router binary as child processes, spoken to with the
// generated stub. SIFT-small through the router against one node holding
// it all (recall, exact search), a node killed -9 during ingest and search
// (statuses, partial answers, nothing acknowledged lost after it is back),
// the router killed and restarted in the middle of a stream, per-record
// errors, API keys and health through the router.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "quiver/v1/quiver.grpc.pb.h"
#include "server/router/shard_map.h"
#include "tests/router/router_child.h"
#include "tests/server/rpc_helpers.h"
#include "tests/testing/data.h"
#include "tests/testing/quiverd.h"
#include "tests/testing/testing.h"

namespace quiver::testing {
namespace {

using router::ShardOf;

std::string RouterPath() { return QUIVER_ROUTER_PATH; }

class RouterE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Quiverd::Built() || !std::filesystem::exists(RouterPath())) {
      GTEST_SKIP() << "quiverd or quiver-router not built";
    }
  }
  void TearDown() override {
    if (HasFailure()) {
      for (size_t i = 0; i < nodes_.size(); ++i) {
        std::cerr << "---- node " << i << " log:\n" << nodes_[i]->log();
      }
      std::ifstream in(dir_.Sub("router.log"));
      std::cerr << "---- router log:\n" << in.rdbuf();
    }
  }

  // Starts `n` nodes and a router over them (from the main thread: the
  // children die with the thread that forked them).
  void StartCluster(int n, const std::vector<std::string>& node_flags = {},
                    const std::vector<std::string>& router_flags = {}) {
    for (int i = 0; i < n; ++i) {
      nodes_.push_back(std::make_unique<Quiverd>());
      nodes_.back()->set_log_file(dir_.Sub(absl::StrCat("node", i, ".log")));
      QUIVER_ASSERT_OK(
          nodes_.back()->Start(dir_.Sub(absl::StrCat("node", i)), node_flags));
      addresses_.push_back(nodes_.back()->address());
    }
    StartRouter(addresses_, 0, router_flags);
  }
  void StartRouter(const std::vector<std::string>& nodes, int port = 0,
                   const std::vector<std::string>& flags = {}) {
    QUIVER_ASSERT_OK(router_.Start(RouterPath(), nodes, dir_.Sub("router.port"),
                                   port, flags, dir_.Sub("router.log")));
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(256 << 20);
    stub_ = v1::Quiver::NewStub(grpc::CreateCustomChannel(
        router_.address(), grpc::InsecureChannelCredentials(), args));
  }
  // Restarts node i (after a kill) on its port and data.
  void RestartNode(int i) {
    const int port =
        std::stoi(addresses_[i].substr(addresses_[i].rfind(':') + 1));
    QUIVER_ASSERT_OK(
        nodes_[i]->Start(dir_.Sub(absl::StrCat("node", i)), {}, port));
  }

  absl::StatusOr<v1::CollectionInfo> Create(const std::string& name,
                                            uint32_t dim, uint32_t shards,
                                            v1::IndexParams index = {}) {
    grpc::ClientContext ctx;
    v1::CreateCollectionRequest req;
    req.set_name(name);
    req.set_dimension(dim);
    req.set_metric(v1::METRIC_L2);
    req.set_shards(shards);
    *req.mutable_index() = index;
    v1::CollectionInfo info;
    const grpc::Status s = stub_->CreateCollection(&ctx, req, &info);
    if (!s.ok()) return ToAbsl(s);
    return info;
  }

  // The documents of `ids` found through the router.
  std::set<std::string> Found(const std::string& collection,
                              const std::vector<std::string>& ids) {
    std::set<std::string> found;
    for (size_t off = 0; off < ids.size(); off += 5000) {
      grpc::ClientContext ctx;
      v1::GetRequest req;
      req.set_collection(collection);
      for (size_t i = off; i < ids.size() && i < off + 5000; ++i) {
        req.add_ids(ids[i]);
      }
      v1::GetResponse resp;
      const grpc::Status s = stub_->Get(&ctx, req, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
      for (const auto& d : resp.documents()) found.insert(d.id());
    }
    return found;
  }

  TempDir dir_;
  std::vector<std::unique_ptr<Quiverd>> nodes_;
  std::vector<std::string> addresses_;
  RouterChild router_;
  std::unique_ptr<v1::Quiver::Stub> stub_;
};

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

// GET http://127.0.0.1:port/path; the whole reply ("" if unreachable).
std::string HttpGet(int port, const std::string& path) {
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
      "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  std::string out;
  if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  }
  ::close(fd);
  return out;
}

std::vector<Doc> SiftDocs(const SiftSmall& d) {
  std::vector<Doc> docs(d.nb);
  for (size_t i = 0; i < d.nb; ++i) {
    docs[i].id = absl::StrCat(i);
    docs[i].attributes["mod3"] = absl::StrCat(i % 3);
    docs[i].vector.assign(d.base.begin() + i * d.dim,
                          d.base.begin() + (i + 1) * d.dim);
  }
  return docs;
}

std::vector<Doc> SyntheticDocs(size_t n, size_t dim, const std::string& prefix,
                               uint64_t seed) {
  const std::vector<float> x = Clustered(n, dim, 16, seed);
  std::vector<Doc> docs(n);
  for (size_t i = 0; i < n; ++i) {
    docs[i].id = absl::StrCat(prefix, i);
    docs[i].vector.assign(x.begin() + i * dim, x.begin() + (i + 1) * dim);
  }
  return docs;
}

std::vector<std::string> Ids(const std::vector<Doc>& docs) {
  std::vector<std::string> ids;
  for (const Doc& d : docs) ids.push_back(d.id);
  return ids;
}

// Recall@10 of `resp` against SIFT-small's ground truth (ids are row
// numbers).
double Recall10(const v1::SearchResponse& resp, const SiftSmall& d) {
  std::vector<std::vector<int64_t>> found;
  for (const auto& r : resp.results()) {
    found.emplace_back();
    for (const auto& h : r.hits()) found.back().push_back(std::stoll(h.id()));
  }
  return RecallAtK(found, d.gt, d.gt_dim, 10);
}

TEST_F(RouterE2eTest, SiftSmallThroughTheRouterMatchesOneNode) {
  QUIVER_LOAD_SIFTSMALL_OR_SKIP(d);
  StartCluster(3);
  Quiverd single;
  single.set_log_file(dir_.Sub("single.log"));
  QUIVER_ASSERT_OK(single.Start(dir_.Sub("single")));
  auto single_stub = single.NewStub();

  // Trained on request only, so both train on all their data.
  v1::IndexParams index;
  index.set_auto_train_threshold(1000000);
  auto info = Create("sift", d.dim, 0, index);
  QUIVER_ASSERT_OK(info);
  EXPECT_EQ(info->shards(), 3u);
  QUIVER_ASSERT_OK(
      CreateCollection(single_stub.get(), "sift", d.dim, v1::METRIC_L2, index));

  const std::vector<Doc> docs = SiftDocs(d);
  auto acks = UpsertDocs(stub_.get(), "sift", docs, 500);
  QUIVER_ASSERT_OK(acks);
  ASSERT_EQ(acks->size(), 20u);
  for (size_t b = 0; b < acks->size(); ++b) {
    EXPECT_EQ((*acks)[b].batch_id(), b);
    EXPECT_EQ((*acks)[b].upserted(), 500u);
    EXPECT_EQ((*acks)[b].errors_size(), 0);
  }
  QUIVER_ASSERT_OK(UpsertDocs(single_stub.get(), "sift", docs, 500));

  // Each id is on the node of shard XXH64(id) % 3 (one shard per node, in
  // --shards order), and only there.
  for (const std::string id : {"0", "1", "2", "77", "9999"}) {
    for (uint32_t n = 0; n < 3; ++n) {
      auto node = nodes_[n]->NewStub();
      grpc::ClientContext ctx;
      v1::GetRequest req;
      req.set_collection("sift");
      req.add_ids(id);
      v1::GetResponse resp;
      ASSERT_TRUE(node->Get(&ctx, req, &resp).ok());
      EXPECT_EQ(resp.documents_size(), ShardOf(id, 3) == n ? 1 : 0)
          << "id " << id << " node " << n;
    }
  }

  // Exact search: what one node holding everything answers.
  auto exact_r = Search(stub_.get(), "sift", d.queries, d.dim, 10,
                        [](v1::SearchRequest* r) { r->set_exact(true); });
  auto exact_s = Search(single_stub.get(), "sift", d.queries, d.dim, 10,
                        [](v1::SearchRequest* r) { r->set_exact(true); });
  QUIVER_ASSERT_OK(exact_r);
  QUIVER_ASSERT_OK(exact_s);
  ASSERT_EQ(exact_r->results_size(), static_cast<int>(d.nq));
  for (size_t q = 0; q < d.nq; ++q) {
    const auto& a = exact_r->results(q);
    const auto& b = exact_s->results(q);
    ASSERT_EQ(a.hits_size(), b.hits_size());
    const float last = a.hits(a.hits_size() - 1).distance();
    std::set<std::string> ia, ib;
    for (int j = 0; j < a.hits_size(); ++j) {
      EXPECT_EQ(a.hits(j).distance(), b.hits(j).distance()) << q << " " << j;
      // Ids tied at the k-th distance may differ; all others must not.
      if (a.hits(j).distance() < last) ia.insert(a.hits(j).id());
      if (b.hits(j).distance() < last) ib.insert(b.hits(j).id());
    }
    EXPECT_EQ(ia, ib) << "query " << q;
  }
  EXPECT_GT(Recall10(*exact_r, d), 0.99);

  // Filters mean what they mean on one node: the exact filtered answers
  // match, and the plan counts every shard's documents.
  auto filtered = [](v1::SearchRequest* r) {
    r->set_exact(true);
    r->set_explain(true);
    r->set_include_attributes(true);
    v1::Comparison* eq = r->mutable_where()->mutable_eq();
    eq->set_key("mod3");
    eq->mutable_value()->set_string_value("1");
  };
  auto filtered_r = Search(stub_.get(), "sift", d.queries, d.dim, 10, filtered);
  auto filtered_s =
      Search(single_stub.get(), "sift", d.queries, d.dim, 10, filtered);
  QUIVER_ASSERT_OK(filtered_r);
  QUIVER_ASSERT_OK(filtered_s);
  for (size_t q = 0; q < d.nq; ++q) {
    const auto& a = filtered_r->results(q);
    const auto& b = filtered_s->results(q);
    ASSERT_EQ(a.hits_size(), 10);
    ASSERT_EQ(b.hits_size(), 10);
    for (int j = 0; j < 10; ++j) {
      EXPECT_EQ(a.hits(j).distance(), b.hits(j).distance()) << q << " " << j;
      EXPECT_EQ(a.hits(j).attributes().at("mod3"), "1");
    }
  }
  EXPECT_EQ(filtered_r->plan().count(), d.nb);
  EXPECT_EQ(filtered_r->plan().matching(), filtered_s->plan().matching());

  // The index: each shard trains its own.
  for (v1::Quiver::Stub* stub : {stub_.get(), single_stub.get()}) {
    grpc::ClientContext ctx;
    v1::TrainRequest req;
    req.set_collection("sift");
    v1::CollectionInfo out;
    ASSERT_TRUE(stub->Train(&ctx, req, &out).ok());
    QUIVER_ASSERT_OK(WaitReady(stub, "sift"));
  }
  auto agg = GetCollection(stub_.get(), "sift");
  QUIVER_ASSERT_OK(agg);
  EXPECT_EQ(agg->count(), d.nb);
  EXPECT_EQ(agg->shards(), 3u);
  EXPECT_EQ(agg->state(), v1::COLLECTION_STATE_READY);

  for (uint32_t nprobe : {4u, 16u}) {
    auto tweak = [nprobe](v1::SearchRequest* r) { r->set_nprobe(nprobe); };
    auto r = Search(stub_.get(), "sift", d.queries, d.dim, 10, tweak);
    auto s = Search(single_stub.get(), "sift", d.queries, d.dim, 10, tweak);
    QUIVER_ASSERT_OK(r);
    QUIVER_ASSERT_OK(s);
    const double rr = Recall10(*r, d), rs = Recall10(*s, d);
    std::cout << "recall@10 nprobe " << nprobe << ": router (3 shards) " << rr
              << ", one node " << rs << "\n";
    EXPECT_GE(rr, rs - 0.01);
  }

  // Dropped through the router: gone from every node.
  {
    grpc::ClientContext ctx;
    v1::DropCollectionRequest req;
    req.set_name("sift");
    v1::DropCollectionResponse resp;
    ASSERT_TRUE(stub_->DropCollection(&ctx, req, &resp).ok());
    EXPECT_TRUE(resp.dropped());
  }
  for (auto& node : nodes_) {
    auto s = node->NewStub();
    EXPECT_EQ(GetCollection(s.get(), "sift").status().code(),
              absl::StatusCode::kNotFound);
  }
  EXPECT_EQ(GetCollection(stub_.get(), "sift").status().code(),
            absl::StatusCode::kNotFound);
}

// Streams batches of 100 documents of `docs` from `first` on until the
// stream fails or all are sent; records the acknowledged batch numbers.
struct Ingest {
  std::vector<bool> acked;
  grpc::Status status;
  std::atomic<int> acks{0};
  std::atomic<bool> finished{false};
};

void StreamBatches(v1::Quiver::Stub* stub, const std::string& collection,
                   const std::vector<Doc>& docs,
                   const std::vector<int>& batches, Ingest* out,
                   absl::Duration pause = absl::ZeroDuration()) {
  grpc::ClientContext ctx;
  auto stream = stub->Upsert(&ctx);
  for (int b : batches) {
    v1::UpsertRequest req;
    req.set_collection(collection);
    req.set_batch_id(b);
    for (size_t i = b * 100; i < docs.size() && i < (b + 1) * 100u; ++i) {
      ToProto(docs[i], req.add_documents());
    }
    if (!stream->Write(req)) break;
    v1::UpsertResponse ack;
    if (!stream->Read(&ack)) break;
    EXPECT_EQ(ack.batch_id(), static_cast<uint64_t>(b));
    EXPECT_EQ(ack.errors_size(), 0);
    out->acked[b] = true;
    out->acks.fetch_add(1);
    absl::SleepFor(pause);
  }
  stream->WritesDone();
  out->status = stream->Finish();
  out->finished.store(true);
}

TEST_F(RouterE2eTest, NodeKilledDuringIngestAndSearch) {
  const int metrics_port = FreePort();
  StartCluster(3, {},
               {absl::StrCat("--metrics_listen=127.0.0.1:", metrics_port)});
  constexpr size_t kDim = 16;
  const std::vector<Doc> docs = SyntheticDocs(20000, kDim, "d", 7);
  const int batches = 200;
  QUIVER_ASSERT_OK(Create("c", kDim, 0));

  Ingest ingest;
  ingest.acked.assign(batches, false);
  std::vector<int> all(batches);
  for (int b = 0; b < batches; ++b) all[b] = b;
  std::thread writer([&] {
    StreamBatches(stub_.get(), "c", docs, all, &ingest, absl::Milliseconds(5));
  });
  // Searches running while the node dies: OK or UNAVAILABLE, nothing else.
  std::atomic<bool> stop{false};
  std::vector<grpc::StatusCode> codes;
  std::thread searcher([&] {
    while (!stop.load()) {
      auto r = Search(stub_.get(), "c", docs[0].vector, kDim, 5);
      codes.push_back(static_cast<grpc::StatusCode>(r.status().code()));
    }
  });
  while (ingest.acks.load() < 20 && !ingest.finished.load()) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  nodes_[1]->Stop(SIGKILL);
  writer.join();
  stop.store(true);
  searcher.join();

  // The stream ended with UNAVAILABLE naming the shard.
  EXPECT_EQ(ingest.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << ingest.status.error_message();
  EXPECT_TRUE(absl::StrContains(ingest.status.error_message(), "shard 1"))
      << ingest.status.error_message();
  EXPECT_LT(ingest.acks.load(), batches);
  for (grpc::StatusCode c : codes) {
    EXPECT_TRUE(c == grpc::StatusCode::OK || c == grpc::StatusCode::UNAVAILABLE)
        << c;
  }

  // Search: UNAVAILABLE naming the shard, or partial when allowed.
  auto full = Search(stub_.get(), "c", docs[0].vector, kDim, 5);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(full.status().message(), addresses_[1]))
      << full.status();
  auto partial =
      Search(stub_.get(), "c", docs[0].vector, kDim, 5,
             [](v1::SearchRequest* r) { r->set_allow_partial_results(true); });
  QUIVER_ASSERT_OK(partial);
  EXPECT_TRUE(partial->partial());
  ASSERT_EQ(partial->missing_shards_size(), 1);
  EXPECT_TRUE(absl::StrContains(partial->missing_shards(0), "shard 1"));
  EXPECT_EQ(partial->results(0).hits_size(), 5);
  // The router's metrics count the failures per node, and the partial
  // answer.
  const std::string page = HttpGet(metrics_port, "/metrics");
  EXPECT_TRUE(absl::StrContains(
      page, absl::StrCat("quiver_router_node_errors_total{code=\"UNAVAILABLE\","
                         "node=\"",
                         addresses_[1], "\"}")))
      << page;
  EXPECT_TRUE(absl::StrContains(page, "quiver_router_partial_searches_total 1"))
      << page;
  EXPECT_TRUE(absl::StrContains(
      page, "quiver_requests_total{code=\"UNAVAILABLE\",method=\"Search\"}"))
      << page;

  // A batch touching the missing shard fails and none of it is applied; a
  // batch for the other shards goes through.
  std::vector<Doc> live, mixed;
  for (int i = 0; live.size() < 20 || mixed.size() < 20; ++i) {
    Doc doc{absl::StrCat("x", i), docs[i].vector, {}};
    if (ShardOf(doc.id, 3) != 1 && live.size() < 20) {
      live.push_back(doc);
    } else if (mixed.size() < 20) {
      mixed.push_back(doc);
    }
  }
  EXPECT_EQ(UpsertDocs(stub_.get(), "c", mixed, 100).status().code(),
            absl::StatusCode::kUnavailable);
  for (uint32_t n : {0u, 2u}) {
    auto node = nodes_[n]->NewStub();
    grpc::ClientContext ctx;
    v1::GetRequest req;
    req.set_collection("c");
    for (const Doc& doc : mixed) req.add_ids(doc.id);
    v1::GetResponse resp;
    ASSERT_TRUE(node->Get(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.documents_size(), 0) << "node " << n;
  }
  auto live_ack = UpsertDocs(stub_.get(), "c", live, 100);
  QUIVER_ASSERT_OK(live_ack);
  EXPECT_EQ((*live_ack)[0].upserted(), 20u);

  // Back: whole again without anything done to the router.
  RestartNode(1);
  absl::StatusOr<v1::SearchResponse> back;
  for (int i = 0; i < 100; ++i) {
    back = Search(stub_.get(), "c", docs[0].vector, kDim, 5);
    if (back.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  QUIVER_ASSERT_OK(back);
  EXPECT_FALSE(back->partial());

  // Nothing acknowledged was lost.
  std::vector<std::string> acked_ids;
  std::vector<int> unacked;
  for (int b = 0; b < batches; ++b) {
    if (!ingest.acked[b]) {
      unacked.push_back(b);
      continue;
    }
    for (int i = b * 100; i < (b + 1) * 100; ++i)
      acked_ids.push_back(docs[i].id);
  }
  EXPECT_EQ(Found("c", acked_ids).size(), acked_ids.size());
  // The client resends what was not acknowledged: then everything is there.
  Ingest resend;
  resend.acked.assign(batches, false);
  StreamBatches(stub_.get(), "c", docs, unacked, &resend);
  EXPECT_TRUE(resend.status.ok()) << resend.status.error_message();
  EXPECT_EQ(Found("c", Ids(docs)).size(), docs.size());
  auto info = GetCollection(stub_.get(), "c");
  QUIVER_ASSERT_OK(info);
  EXPECT_EQ(info->count(), docs.size() + live.size());
}

TEST_F(RouterE2eTest, RouterRestartedInTheMiddleOfAStream) {
  StartCluster(3);
  constexpr size_t kDim = 8;
  const std::vector<Doc> docs = SyntheticDocs(10000, kDim, "r", 3);
  const int batches = 100;
  QUIVER_ASSERT_OK(Create("s", kDim, 0));
  Ingest ingest;
  ingest.acked.assign(batches, false);
  std::vector<int> all(batches);
  for (int b = 0; b < batches; ++b) all[b] = b;
  auto stub = std::move(stub_);  // the stream outlives this router
  std::thread writer([&] {
    StreamBatches(stub.get(), "s", docs, all, &ingest, absl::Milliseconds(5));
  });
  while (ingest.acks.load() < 10 && !ingest.finished.load()) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  router_.Stop(SIGKILL);
  writer.join();
  EXPECT_EQ(ingest.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << ingest.status.error_message();
  EXPECT_LT(ingest.acks.load(), batches);

  // A new router, the nodes listed in another order: it finds the layout
  // on the nodes.
  std::vector<std::string> reversed(addresses_.rbegin(), addresses_.rend());
  StartRouter(reversed);
  auto info = GetCollection(stub_.get(), "s");
  QUIVER_ASSERT_OK(info);
  EXPECT_EQ(info->shards(), 3u);
  std::vector<std::string> acked_ids;
  std::vector<int> unacked;
  for (int b = 0; b < batches; ++b) {
    if (!ingest.acked[b]) {
      unacked.push_back(b);
      continue;
    }
    for (int i = b * 100; i < (b + 1) * 100; ++i)
      acked_ids.push_back(docs[i].id);
  }
  EXPECT_EQ(Found("s", acked_ids).size(), acked_ids.size());
  Ingest resend;
  resend.acked.assign(batches, false);
  StreamBatches(stub_.get(), "s", docs, unacked, &resend);
  EXPECT_TRUE(resend.status.ok()) << resend.status.error_message();
  info = GetCollection(stub_.get(), "s");
  QUIVER_ASSERT_OK(info);
  EXPECT_EQ(info->count(), docs.size());
  // Ids still go to their shard's node: shard 0 is on the first node
  // of the original order, whatever this router's order.
  auto node0 = nodes_[0]->NewStub();
  grpc::ClientContext ctx;
  v1::GetRequest req;
  req.set_collection("s");
  for (const Doc& doc : docs) {
    if (ShardOf(doc.id, 3) == 0) req.add_ids(doc.id);
  }
  const int expect = req.ids_size();
  v1::GetResponse resp;
  ASSERT_TRUE(node0->Get(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.documents_size(), expect);
}

TEST_F(RouterE2eTest, ErrorsKeysAndHealthThroughTheRouter) {
  StartCluster(2, {"--api_key=sesame"}, {"--api_key=sesame"});
  auto with_key = [](grpc::ClientContext* ctx) {
    ctx->AddMetadata("authorization", "Bearer sesame");
  };
  {
    grpc::ClientContext ctx;
    v1::ListCollectionsRequest req;
    v1::ListCollectionsResponse resp;
    EXPECT_EQ(stub_->ListCollections(&ctx, req, &resp).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    with_key(&ctx);
    v1::CreateCollectionRequest req;
    req.set_name("k");
    req.set_dimension(4);
    req.set_metric(v1::METRIC_L2);
    req.set_shards(3);
    v1::CollectionInfo info;
    EXPECT_EQ(stub_->CreateCollection(&ctx, req, &info).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    with_key(&ctx);
    v1::CreateCollectionRequest req;
    req.set_name("k");
    req.set_dimension(4);
    req.set_metric(v1::METRIC_L2);
    v1::CollectionInfo info;
    ASSERT_TRUE(stub_->CreateCollection(&ctx, req, &info).ok());
    EXPECT_EQ(info.shards(), 2u);
    grpc::ClientContext again;
    with_key(&again);
    EXPECT_EQ(stub_->CreateCollection(&again, req, &info).error_code(),
              grpc::StatusCode::ALREADY_EXISTS);
  }
  // One shard: on one node only, found there by the router.
  {
    grpc::ClientContext ctx;
    with_key(&ctx);
    v1::CreateCollectionRequest req;
    req.set_name("single");
    req.set_dimension(4);
    req.set_metric(v1::METRIC_L2);
    req.set_shards(1);
    v1::CollectionInfo info;
    ASSERT_TRUE(stub_->CreateCollection(&ctx, req, &info).ok());
    EXPECT_EQ(info.shards(), 1u);
    int holders = 0;
    for (auto& node : nodes_) {
      auto s = node->NewStub();
      grpc::ClientContext nctx;
      with_key(&nctx);
      v1::GetCollectionRequest get;
      get.set_name("single");
      v1::CollectionInfo got;
      if (s->GetCollection(&nctx, get, &got).ok()) {
        ++holders;
        EXPECT_EQ(got.placement().shard_count(), 1u);
      }
    }
    EXPECT_EQ(holders, 1);
    grpc::ClientContext dctx;
    with_key(&dctx);
    v1::DropCollectionRequest drop;
    drop.set_name("single");
    v1::DropCollectionResponse dropped;
    ASSERT_TRUE(stub_->DropCollection(&dctx, drop, &dropped).ok());
    EXPECT_TRUE(dropped.dropped());
  }
  // Per-record errors come back at their positions in the original batch.
  {
    grpc::ClientContext ctx;
    with_key(&ctx);
    auto stream = stub_->Upsert(&ctx);
    v1::UpsertRequest req;
    req.set_collection("k");
    req.set_batch_id(42);
    for (int i = 0; i < 10; ++i) {
      v1::Document* d = req.add_documents();
      d->set_id(absl::StrCat("p", i));
      const int dim = (i == 3 || i == 7) ? 3 : 4;
      for (int j = 0; j < dim; ++j) d->add_vector(static_cast<float>(i + j));
    }
    ASSERT_TRUE(stream->Write(req));
    v1::UpsertResponse ack;
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.batch_id(), 42u);
    EXPECT_EQ(ack.upserted(), 8u);
    ASSERT_EQ(ack.errors_size(), 2);
    EXPECT_EQ(ack.errors(0).position(), 3u);
    EXPECT_EQ(ack.errors(0).id(), "p3");
    EXPECT_EQ(ack.errors(1).position(), 7u);
    EXPECT_EQ(ack.errors(1).id(), "p7");
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
  }
  // Get in the order asked, unknown ids absent; Delete counts.
  {
    grpc::ClientContext ctx;
    with_key(&ctx);
    v1::GetRequest req;
    req.set_collection("k");
    for (const char* id : {"p9", "nope", "p0", "p5", "p3"}) req.add_ids(id);
    v1::GetResponse resp;
    ASSERT_TRUE(stub_->Get(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.documents_size(), 3);
    EXPECT_EQ(resp.documents(0).id(), "p9");
    EXPECT_EQ(resp.documents(1).id(), "p0");
    EXPECT_EQ(resp.documents(2).id(), "p5");
    grpc::ClientContext dctx;
    with_key(&dctx);
    v1::DeleteRequest del;
    del.set_collection("k");
    for (const char* id : {"p1", "p2", "nope"}) del.add_ids(id);
    v1::DeleteResponse deleted;
    ASSERT_TRUE(stub_->Delete(&dctx, del, &deleted).ok());
    EXPECT_EQ(deleted.deleted(), 2u);
  }
  {
    grpc::ClientContext ctx;
    with_key(&ctx);
    v1::ListCollectionsRequest req;
    v1::ListCollectionsResponse resp;
    ASSERT_TRUE(stub_->ListCollections(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.collections_size(), 1);
    EXPECT_EQ(resp.collections(0).count(), 6u);
    EXPECT_EQ(resp.collections(0).shards(), 2u);
  }
  {
    grpc::ClientContext ctx;
    with_key(&ctx);
    v1::SearchRequest req;
    req.set_collection("missing");
    req.set_k(1);
    req.add_queries()->add_values(1);
    v1::SearchResponse resp;
    EXPECT_EQ(stub_->Search(&ctx, req, &resp).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  // Health needs no key.
  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      router_.address(), grpc::InsecureChannelCredentials()));
  for (const char* service : {"", "quiver.v1.Quiver"}) {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(&ctx, req, &resp).ok()) << service;
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
}

TEST_F(RouterE2eTest, TlsToTheRouterAndFromItToTheNodes) {
  if (std::system("command -v openssl > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "openssl not installed (test certificate)";
  }
  const std::string cert = dir_.Sub("cert.pem"), key = dir_.Sub("key.pem");
  const std::string cmd = absl::StrCat(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost"
      " -addext subjectAltName=IP:127.0.0.1 -keyout ",
      key, " -out ", cert, " > ", dir_.Sub("openssl.log"), " 2>&1");
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  StartCluster(
      2, {"--tls_cert", cert, "--tls_key", key},
      {"--tls_cert=" + cert, "--tls_key=" + key, "--node_tls_ca=" + cert});
  std::ifstream in(cert);
  std::stringstream pem;
  pem << in.rdbuf();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pem.str();
  auto tls = v1::Quiver::NewStub(
      grpc::CreateChannel(router_.address(), grpc::SslCredentials(ssl)));
  {
    grpc::ClientContext ctx;
    v1::CreateCollectionRequest req;
    req.set_name("t");
    req.set_dimension(4);
    req.set_metric(v1::METRIC_L2);
    v1::CollectionInfo info;
    const grpc::Status s = tls->CreateCollection(&ctx, req, &info);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(info.shards(), 2u);
  }
  std::vector<Doc> docs;
  for (int i = 0; i < 50; ++i) {
    docs.push_back({absl::StrCat("t", i), {1.0f * i, 0, 0, 1}, {}});
  }
  QUIVER_ASSERT_OK(UpsertDocs(tls.get(), "t", docs, 25));
  auto r = Search(tls.get(), "t", {7, 0, 0, 1}, 4, 3);
  QUIVER_ASSERT_OK(r);
  ASSERT_EQ(r->results(0).hits_size(), 3);
  EXPECT_EQ(r->results(0).hits(0).id(), "t7");
  // Plaintext to the router's TLS port fails.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::ListCollectionsRequest req;
  v1::ListCollectionsResponse resp;
  EXPECT_FALSE(stub_->ListCollections(&ctx, req, &resp).ok());
}

}  // namespace
}  // namespace quiver::testing
