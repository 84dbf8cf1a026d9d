// quiverd against careless and hostile clients: bytes that are not valid
// UTF-8 where proto3 wants a string, idle streams, too many streams, slow
// readers, replies over the message limit. Every case gets an error that
// names the problem, and other clients keep being served.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/server/rpc_helpers.h"
#include "tests/testing/data.h"
#include "tests/testing/testing.h"

namespace quiver::testing {
namespace {

constexpr uint32_t kDim = 8;

using Stream = grpc::ClientReaderWriter<v1::UpsertRequest, v1::UpsertResponse>;

v1::UpsertRequest Batch(const std::string& collection, uint64_t batch_id,
                        const std::vector<std::string>& ids) {
  v1::UpsertRequest req;
  req.set_collection(collection);
  req.set_batch_id(batch_id);
  const std::vector<float> x = Gaussian(ids.size(), kDim, batch_id + 1);
  for (size_t i = 0; i < ids.size(); ++i) {
    v1::Document* d = req.add_documents();
    d->set_id(ids[i]);
    d->mutable_vector()->Add(x.begin() + i * kDim, x.begin() + (i + 1) * kDim);
  }
  return req;
}

std::vector<std::string> Ids(const std::string& prefix, size_t n) {
  std::vector<std::string> ids;
  for (size_t i = 0; i < n; ++i) ids.push_back(absl::StrCat(prefix, i));
  return ids;
}

// Resident memory of a process, bytes.
uint64_t RssBytes(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      uint64_t kb = 0;
      fields >> kb;
      return kb << 10;
    }
  }
  return 0;
}

// A completion queue polled by its own thread (which drives the I/O of the
// calls on it) until destroyed; `on_tag` sees every completed tag.
class PolledQueue {
 public:
  explicit PolledQueue(std::function<void(void*)> on_tag)
      : thread_([this, on_tag = std::move(on_tag)] {
          void* tag;
          bool ok;
          while (cq.Next(&tag, &ok)) on_tag(tag);
        }) {}
  ~PolledQueue() {
    cq.Shutdown();
    thread_.join();
  }
  grpc::CompletionQueue cq;

 private:
  std::thread thread_;
};

class LimitsTest : public ::testing::Test {
 protected:
  void Start(const std::vector<std::string>& flags = {}) {
    if (!Quiverd::Built()) GTEST_SKIP() << "quiverd not built";
    server_.set_log_file(dir_.Sub("quiverd.log"));
    QUIVER_ASSERT_OK(server_.Start(dir_.Sub("data"), flags));
    stub_ = server_.NewStub();
    QUIVER_ASSERT_OK(CreateCollection(stub_.get(), "c", kDim, v1::METRIC_L2));
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "quiverd's log:\n" << server_.log();
  }
  uint64_t Count() {
    absl::StatusOr<v1::CollectionInfo> info = GetCollection(stub_.get(), "c");
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? info->count() : 0;
  }

  TempDir dir_;
  Quiverd server_;
  std::unique_ptr<v1::Quiver::Stub> stub_;
};

TEST_F(LimitsTest, InvalidUtf8DocumentIsARecordErrorAndTheStreamGoesOn) {
  Start();
  grpc::ClientContext ctx;
  std::unique_ptr<Stream> stream = stub_->Upsert(&ctx);
  std::vector<std::string> bad = Ids("b", 5);
  bad[2] = "b\xff";
  ASSERT_TRUE(stream->Write(Batch("c", 0, Ids("a", 5))));
  ASSERT_TRUE(stream->Write(Batch("c", 1, bad)));
  ASSERT_TRUE(stream->Write(Batch("c", 2, Ids("d", 5))));
  ASSERT_TRUE(stream->WritesDone());
  std::vector<v1::UpsertResponse> acks;
  v1::UpsertResponse r;
  while (stream->Read(&r)) acks.push_back(r);
  const grpc::Status s = stream->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(acks.size(), 3u);
  EXPECT_EQ(acks[1].batch_id(), 1u);
  EXPECT_EQ(acks[1].upserted(), 4u);
  ASSERT_EQ(acks[1].errors_size(), 1);
  EXPECT_EQ(acks[1].errors(0).position(), 2u);
  EXPECT_TRUE(acks[1].errors(0).id().empty());
  EXPECT_NE(acks[1].errors(0).reason().find("UTF-8"), std::string::npos);
  EXPECT_EQ(acks[2].upserted(), 5u);
  EXPECT_EQ(Count(), 14u);
}

TEST_F(LimitsTest, InvalidUtf8CollectionNameEndsTheStreamNamingTheBatch) {
  Start();
  grpc::ClientContext ctx;
  std::unique_ptr<Stream> stream = stub_->Upsert(&ctx);
  ASSERT_TRUE(stream->Write(Batch("c", 6, Ids("a", 3))));
  stream->Write(Batch("c\xff", 7, Ids("b", 3)));
  stream->WritesDone();
  v1::UpsertResponse r;
  int acks = 0;
  while (stream->Read(&r)) ++acks;
  const grpc::Status s = stream->Finish();
  EXPECT_EQ(acks, 1);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("batch 7"), std::string::npos)
      << s.error_message();
  EXPECT_NE(s.error_message().find("UTF-8"), std::string::npos);
  EXPECT_EQ(Count(), 3u);
}

// The server reads, parses and encodes a stream's next batch while the one
// before it is written. Sent all at once, 30 batches that each rewrite the
// same ids are written and acknowledged in the stream's order: the ids
// hold the last batch's vectors. A batch that fails (a collection that does
// not exist) ends the stream after the batches before it are acknowledged,
// and no batch after it is written, though the server may have read them.
std::vector<float> StoredVector(v1::Quiver::Stub* stub, const std::string& id) {
  grpc::ClientContext ctx;
  v1::GetRequest req;
  req.set_collection("c");
  req.add_ids(id);
  req.set_include_vectors(true);
  v1::GetResponse resp;
  const grpc::Status s = stub->Get(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  if (resp.documents_size() != 1) return {};
  return {resp.documents(0).vector().begin(), resp.documents(0).vector().end()};
}

TEST_F(LimitsTest, PipelinedBatchesAreWrittenInOrder) {
  Start();
  const std::vector<std::string> same = Ids("same", 40);
  for (const int fail_at : {-1, 17}) {
    SCOPED_TRACE(fail_at);
    const int n = 30;
    grpc::ClientContext ctx;
    std::unique_ptr<Stream> stream = stub_->Upsert(&ctx);
    for (int b = 0; b < n; ++b) {
      v1::UpsertRequest req =
          Batch(b == fail_at ? "missing" : "c", b + 100 * (fail_at + 1), same);
      // And ids of its own, to see which batches were written.
      for (const std::string& id :
           Ids(absl::StrCat("own", fail_at, "-", b, "-"), 3)) {
        v1::Document* d = req.add_documents();
        d->set_id(id);
        for (uint32_t l = 0; l < kDim; ++l) d->add_vector(0.5f);
      }
      stream->Write(req);
    }
    stream->WritesDone();
    std::vector<uint64_t> acked;
    v1::UpsertResponse r;
    while (stream->Read(&r)) acked.push_back(r.batch_id());
    const grpc::Status s = stream->Finish();
    const int written = fail_at < 0 ? n : fail_at;
    ASSERT_EQ(acked.size(), static_cast<size_t>(written)) << s.error_message();
    for (int b = 0; b < written; ++b) {
      EXPECT_EQ(acked[b], static_cast<uint64_t>(b + 100 * (fail_at + 1)));
    }
    if (fail_at < 0) {
      EXPECT_TRUE(s.ok()) << s.error_message();
    } else {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND)
          << s.error_message();
    }
    // The last batch written holds the shared ids.
    const std::vector<float> want =
        Gaussian(same.size(), kDim, written - 1 + 100 * (fail_at + 1) + 1);
    for (size_t i = 0; i < same.size(); ++i) {
      const std::vector<float> got = StoredVector(stub_.get(), same[i]);
      ASSERT_EQ(got.size(), kDim) << same[i];
      for (uint32_t l = 0; l < kDim; ++l) {
        ASSERT_EQ(got[l], want[i * kDim + l]) << same[i] << " dim " << l;
      }
    }
    for (int b = 0; b < n; ++b) {
      const std::string id = absl::StrCat("own", fail_at, "-", b, "-0");
      EXPECT_EQ(StoredVector(stub_.get(), id).empty(), b >= written) << id;
    }
  }
}

TEST_F(LimitsTest, UnaryRequestsWithInvalidUtf8AreInvalidArgument) {
  Start();
  {
    grpc::ClientContext ctx;
    v1::GetRequest req;
    req.set_collection("c");
    req.add_ids("x\xff");
    v1::GetResponse resp;
    const grpc::Status s = stub_->Get(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("quiver.v1.GetRequest"), std::string::npos)
        << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    v1::SearchRequest req;
    req.set_collection("c");
    req.set_k(1);
    req.add_queries()->mutable_values()->Resize(kDim, 0.5f);
    (*req.mutable_filter())["k"] = "v\xfe";
    v1::SearchResponse resp;
    const grpc::Status s = stub_->Search(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("UTF-8"), std::string::npos);
  }
}

TEST_F(LimitsTest, IdleStreamIsClosedWithAReason) {
  Start({"--stream_idle_s=1"});
  grpc::ClientContext ctx;
  std::unique_ptr<Stream> stream = stub_->Upsert(&ctx);
  ASSERT_TRUE(stream->Write(Batch("c", 0, Ids("a", 2))));
  v1::UpsertResponse r;
  ASSERT_TRUE(stream->Read(&r));
  // Nothing more is sent: the server ends the stream after about 1-2 s.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(stream->Read(&r));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  const grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_NE(s.error_message().find("no batch"), std::string::npos)
      << s.error_message();
  EXPECT_EQ(Count(), 2u);
}

TEST_F(LimitsTest, StreamsBeyondTheLimitAreRefusedAndOthersServed) {
  Start({"--max_streams=3"});
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<Stream>> open;
  for (int i = 0; i < 3; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    open.push_back(stub_->Upsert(contexts.back().get()));
    ASSERT_TRUE(
        open.back()->Write(Batch("c", i, Ids(absl::StrCat(i, "-"), 1))));
    v1::UpsertResponse r;
    ASSERT_TRUE(open.back()->Read(&r));  // it is open on the server
  }
  {
    grpc::ClientContext ctx;
    std::unique_ptr<Stream> extra = stub_->Upsert(&ctx);
    extra->Write(Batch("c", 9, Ids("x", 1)));
    v1::UpsertResponse r;
    EXPECT_FALSE(extra->Read(&r));
    const grpc::Status s = extra->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_NE(s.error_message().find("3 Upsert streams"), std::string::npos)
        << s.error_message();
  }
  EXPECT_EQ(Count(), 3u);  // unary calls are served meanwhile
  // One closes; a new one is accepted.
  open[0]->WritesDone();
  ASSERT_TRUE(open[0]->Finish().ok());
  grpc::Status last;
  for (int attempt = 0; attempt < 50; ++attempt) {
    grpc::ClientContext ctx;
    std::unique_ptr<Stream> again = stub_->Upsert(&ctx);
    again->Write(Batch("c", 10, Ids("y", 1)));
    again->WritesDone();
    v1::UpsertResponse r;
    while (again->Read(&r)) {
    }
    last = again->Finish();
    if (last.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(last.ok()) << last.error_message();
  for (size_t i = 1; i < open.size(); ++i) {
    open[i]->WritesDone();
    EXPECT_TRUE(open[i]->Finish().ok());
  }
}

TEST_F(LimitsTest, OversizedReplyIsRefusedUpFrontNamingTheLimit) {
  Start({"--max_message_mb=1"});
  grpc::ClientContext ctx;
  v1::GetRequest req;
  req.set_collection("c");
  req.set_include_vectors(true);
  // 200 ids of 2048 floats: 1.6 MB, over a 1 MiB limit.
  for (int i = 0; i < 200; ++i) req.add_ids(absl::StrCat(i));
  QUIVER_ASSERT_OK(CreateCollection(stub_.get(), "wide", 2048, v1::METRIC_L2));
  req.set_collection("wide");
  v1::GetResponse resp;
  const grpc::Status s = stub_->Get(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("message limit of 1.0 MiB"),
            std::string::npos)
      << s.error_message();
}

// 1,000 idle Upsert streams and 40 clients that never read their 17 MB
// Search replies: other clients are still served, and the server's memory
// stays bounded (the reply budget refuses large replies past its limit).
TEST_F(LimitsTest, IdleStreamsAndSlowReadersDoNotStarveOthers) {
  Start({"--max_reply_mb_in_flight=512"});
  std::vector<std::string> ids = Ids("d", 2000);
  for (size_t off = 0; off < ids.size(); off += 500) {
    grpc::ClientContext ctx;
    std::unique_ptr<Stream> stream = stub_->Upsert(&ctx);
    ASSERT_TRUE(stream->Write(Batch(
        "c", off,
        std::vector<std::string>(ids.begin() + off, ids.begin() + off + 500))));
    stream->WritesDone();
    v1::UpsertResponse r;
    while (stream->Read(&r)) {
    }
    ASSERT_TRUE(stream->Finish().ok());
  }
  const uint64_t rss_before = RssBytes(server_.pid());

  // Idle streams, spread over a few connections.
  std::vector<std::unique_ptr<v1::Quiver::Stub>> stubs;
  for (int i = 0; i < 8; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("quiver.test.connection", i);  // one connection each
    stubs.push_back(v1::Quiver::NewStub(grpc::CreateCustomChannel(
        server_.address(), grpc::InsecureChannelCredentials(), args)));
  }
  std::vector<std::unique_ptr<grpc::ClientContext>> idle_ctx;
  std::vector<std::unique_ptr<Stream>> idle;
  for (int i = 0; i < 1000; ++i) {
    idle_ctx.push_back(std::make_unique<grpc::ClientContext>());
    idle.push_back(stubs[i % stubs.size()]->Upsert(idle_ctx.back().get()));
  }

  // Slow readers: the call starts, its reply is never asked for.
  v1::SearchRequest big;
  big.set_collection("c");
  big.set_k(1024);
  const std::vector<float> q = Gaussian(1024, kDim, 5);
  for (int i = 0; i < 1024; ++i) {
    big.add_queries()->mutable_values()->Add(q.begin() + i * kDim,
                                             q.begin() + (i + 1) * kDim);
  }
  // The queue is polled (which drives the calls' I/O), but no reply
  // message is ever asked for (no Finish): the client reads no more than
  // its flow-control window.
  constexpr int kSlow = 40;
  std::vector<grpc::Status> slow_status(kSlow);
  std::vector<v1::SearchResponse> slow_reply(kSlow);
  absl::Mutex finished_mu;
  int finished = 0;
  // Declared before the calls, so destroyed after them (even when an
  // assertion returns early): shut down, drained, its thread joined.
  PolledQueue polled([&](void* tag) {
    if (tag == &slow_status) {
      absl::MutexLock lock(&finished_mu);
      ++finished;
    }
  });
  grpc::CompletionQueue& cq = polled.cq;
  std::vector<std::unique_ptr<grpc::ClientContext>> slow_ctx;
  std::vector<
      std::unique_ptr<grpc::ClientAsyncResponseReader<v1::SearchResponse>>>
      slow;
  for (int i = 0; i < kSlow; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("quiver.test.slow", i);
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetMaxReceiveMessageSize(64 << 20);
    auto stub = v1::Quiver::NewStub(grpc::CreateCustomChannel(
        server_.address(), grpc::InsecureChannelCredentials(), args));
    slow_ctx.push_back(std::make_unique<grpc::ClientContext>());
    slow.push_back(stub->PrepareAsyncSearch(slow_ctx.back().get(), big, &cq));
    slow.back()->StartCall();
    // Sends the request (the reply's metadata comes with the reply).
    slow.back()->ReadInitialMetadata(slow.back().get());
    stubs.push_back(std::move(stub));
  }
  uint64_t rss_peak = 0;
  for (int i = 0; i < 60; ++i) {
    rss_peak = std::max(rss_peak, RssBytes(server_.pid()));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  // Everyone else is served.
  for (int round = 0; round < 20; ++round) {
    absl::StatusOr<v1::SearchResponse> r =
        Search(stub_.get(), "c", Gaussian(1, kDim, round), kDim, 10);
    QUIVER_ASSERT_OK(r.status());
    EXPECT_EQ(r->results(0).hits_size(), 10);
  }
  grpc::ClientContext ctx;
  std::unique_ptr<Stream> stream = stub_->Upsert(&ctx);
  ASSERT_TRUE(stream->Write(Batch("c", 99, Ids("late", 10))));
  stream->WritesDone();
  v1::UpsertResponse ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.upserted(), 10u);
  while (stream->Read(&ack)) {
  }
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(Count(), 2010u);

  for (int i = 0; i < 20; ++i) {
    rss_peak = std::max(rss_peak, RssBytes(server_.pid()));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const uint64_t rss_after = RssBytes(server_.pid());
  std::cout << "server RSS: " << (rss_before >> 20) << " MiB before; with "
            << "1,000 idle streams and 40 slow readers " << (rss_peak >> 20)
            << " MiB at most, " << (rss_after >> 20) << " MiB at the end\n";
  // Unbounded, 40 such replies held about 5.4 GiB until the clients went
  // away; the budget (512 MiB, ~300 MB a reply) admits one. (Not checked
  // under TSan, whose shadow memory multiplies every allocation, nor under
  // ASan, whose redzones and 256 MiB quarantine of freed memory add to the
  // reply's ~300 MB.)
#if !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(rss_after, rss_before + (600u << 20));
#endif

  // The slow clients read at last: one was served, the others were
  // refused up front, naming the limit.
  for (int i = 0; i < kSlow; ++i) {
    slow[i]->Finish(&slow_reply[i], &slow_status[i], &slow_status);
  }
  {
    absl::MutexLock lock(&finished_mu);
    finished_mu.AwaitWithTimeout(
        absl::Condition(
            +[](int* n) { return *n == kSlow; }, &finished),
        absl::Seconds(120));
    ASSERT_EQ(finished, kSlow);
  }
  int served = 0, refused = 0;
  for (int i = 0; i < kSlow; ++i) {
    if (slow_status[i].ok()) {
      ++served;
      EXPECT_EQ(slow_reply[i].results_size(), 1024);
    } else if (slow_status[i].error_code() ==
               grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++refused;
      EXPECT_NE(slow_status[i].error_message().find("not yet read"),
                std::string::npos)
          << slow_status[i].error_message();
    }
  }
  std::cout << served << " large replies served, " << refused << " refused\n";
  EXPECT_GE(served, 1);
  EXPECT_EQ(served + refused, kSlow);
  for (auto& c : idle_ctx) c->TryCancel();
  for (auto& s : idle) s->Finish().IgnoreError();
}

}  // namespace
}  // namespace quiver::testing
