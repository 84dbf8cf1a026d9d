// End-to-end tests: the real quiverd on 127.0.0.1 (a fresh data dir per
// test) driven by the real `quiver` binary and by QuiverClient.
//
// Skips when quiverd has not been built, and the siftsmall tests skip when
// the data set is absent. quiverd is started by tests/testing/quiverd.h;
// every spawned `quiver` is killed when its Process object goes away, and
// gets PR_SET_PDEATHSIG(SIGKILL) so it also dies with the test binary.
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/cli/ingest_state.h"
#include "client/client.h"
#include "client/json.h"
#include "tests/testing/quiverd.h"
#include "tests/testing/testing.h"

namespace quiver::client {
namespace {

using ::quiver::testing::Quiverd;
using ::quiver::testing::TempDir;

const std::string kQuiver = std::string(QUIVER_BINARY_DIR) + "/client/quiver";

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A child process with stdout/stderr in files; killed (SIGKILL) and reaped
// on destruction unless already waited for.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& out_path,
          const std::string& err_path,
          const std::vector<std::string>& env = {}) {
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int out =
          open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err =
          open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(out, 1);
      dup2(err, 2);
      for (const std::string& e : env) putenv(const_cast<char*>(e.c_str()));
      std::vector<char*> args;
      for (const std::string& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Process() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  void Signal(int sig) {
    if (pid_ > 0 && !reaped_) kill(pid_, sig);
  }
  // Exit code, 128 + signal if killed, or -1 on timeout.
  int Wait(std::chrono::seconds timeout = std::chrono::seconds(120)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      int status = 0;
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
        return -1;
      }
      if (std::chrono::steady_clock::now() > deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  bool running() {
    if (reaped_) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      return false;
    }
    return true;
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

struct RunResult {
  int code = -1;
  std::string out;
  std::string err;
};

class ClientE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Quiverd::Built()) {
      GTEST_SKIP() << "quiverd not built at '" << Quiverd::Path()
                   << "' (build the quiverd target)";
    }
    ASSERT_TRUE(std::filesystem::exists(kQuiver)) << kQuiver;
    server_.set_log_file(dir_.Sub("quiverd.log"));
    QUIVER_ASSERT_OK(server_.Start(dir_.Sub("data")));
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "quiverd's log:\n" << server_.log();
  }

  // Runs `quiver --server <addr> ARGS...` to completion, or kills it after
  // `timeout` (code -1).
  RunResult Quiver(std::vector<std::string> args,
                   const std::vector<std::string>& env = {},
                   std::chrono::seconds timeout = std::chrono::seconds(120)) {
    std::vector<std::string> argv = {kQuiver, "--server", server_.address()};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string out = dir_.Sub(absl::StrCat("run", runs_, ".out"));
    const std::string err = dir_.Sub(absl::StrCat("run", runs_, ".err"));
    ++runs_;
    RunResult r;
    {
      Process p(argv, out, err, env);
      r.code = p.Wait(timeout);
    }
    r.out = ReadText(out);
    r.err = ReadText(err);
    return r;
  }

  std::unique_ptr<Process> StartQuiver(std::vector<std::string> args,
                                       const std::string& name) {
    std::vector<std::string> argv = {kQuiver, "--server", server_.address()};
    argv.insert(argv.end(), args.begin(), args.end());
    return std::make_unique<Process>(argv, dir_.Sub(name + ".out"),
                                     dir_.Sub(name + ".err"));
  }

  // The collection as JSON via `quiver collections describe --json`.
  JsonValue Describe(const std::string& name) {
    RunResult r = Quiver({"collections", "describe", name, "--json"});
    EXPECT_EQ(r.code, 0) << r.err;
    absl::StatusOr<JsonValue> v = ParseJson(r.out);
    EXPECT_TRUE(v.ok()) << v.status() << "\n" << r.out;
    return v.ok() ? *v : JsonValue{};
  }
  uint64_t Count(const std::string& name) {
    JsonValue v = Describe(name);
    uint64_t n = 0;
    const JsonValue* c = v.Find("count");
    if (c == nullptr || !absl::SimpleAtoi(c->text, &n)) {
      ADD_FAILURE() << "no count";
    }
    return n;
  }

  absl::StatusOr<std::unique_ptr<QuiverClient>> Client() {
    ClientOptions o;
    o.address = server_.address();
    o.timeout = absl::Seconds(30);
    return QuiverClient::Connect(o);
  }

  TempDir dir_;
  Quiverd server_;
  int runs_ = 0;
};

TEST_F(ClientE2eTest, HealthAndCollectionLifecycle) {
  RunResult h = Quiver({"health"});
  EXPECT_EQ(h.code, 0) << h.err;
  EXPECT_EQ(h.out, "SERVING\n");

  RunResult c =
      Quiver({"collections", "create", "--name", "docs", "--dimension", "8",
              "--metric", "cosine", "--nlist", "4"});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "created collection 'docs' (dimension 8, cosine)\n");
  RunResult again =
      Quiver({"collections", "create", "--name", "docs", "--dimension", "8"});
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("quiver collections create: error:"),
            std::string::npos)
      << again.err;
  EXPECT_EQ(Quiver({"collections", "create", "--name", "docs", "--dimension",
                    "8", "--if_not_exists"})
                .code,
            0);

  RunResult list = Quiver({"collections", "list"});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("docs"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("cosine"), std::string::npos) << list.out;

  JsonValue d = Describe("docs");
  ASSERT_NE(d.Find("dimension"), nullptr);
  EXPECT_EQ(d.Find("dimension")->text, "8");
  EXPECT_EQ(d.Find("metric")->text, "cosine");
  EXPECT_EQ(d.Find("state")->text, "untrained");
  EXPECT_EQ(d.Find("count")->text, "0");

  EXPECT_EQ(Quiver({"collections", "drop", "docs"}).code, 0);
  RunResult gone = Quiver({"collections", "describe", "--name", "docs"});
  EXPECT_EQ(gone.code, 1);
  EXPECT_NE(gone.err.find("docs"), std::string::npos) << gone.err;
  EXPECT_EQ(Quiver({"collections", "drop", "docs", "--if_exists"}).code, 0);

  // Usage errors exit 2 and --help exits 0 for every command.
  EXPECT_EQ(Quiver({"collections", "create", "--name", "x"}).code, 2);
  EXPECT_EQ(Quiver({"search", "--bogus"}).code, 2);
  for (const char* cmd :
       {"ingest", "search", "bench", "health", "get", "delete"}) {
    RunResult help = Quiver({cmd, "--help"});
    EXPECT_EQ(help.code, 0) << cmd;
    EXPECT_NE(help.out.find(absl::StrCat("Usage: quiver ", cmd)),
              std::string::npos)
        << help.out;
  }
}

TEST_F(ClientE2eTest, IngestTextFormatsAttributesAndErrors) {
  ASSERT_EQ(
      Quiver({"collections", "create", "--name", "t", "--dimension", "3"}).code,
      0);
  const std::string csv = dir_.Sub("bad.csv");
  std::ofstream(csv) << "id,x,y,z\na,1,0,0\nb,0,oops,0\nc,0,0,1\nd,1,1,1\n";
  const std::string state = dir_.Sub("t.state");
  RunResult stop = Quiver({"ingest", "--collection", "t", "--state", state,
                           "--progress", "none", csv});
  EXPECT_EQ(stop.code, 1);
  EXPECT_NE(stop.err.find(csv + ":3 (row 1): field 3 (\"y\"): 'oops' is not "
                                "a number"),
            std::string::npos)
      << stop.err;
  EXPECT_EQ(Count("t"), 1u);  // the row before the bad one
  absl::StatusOr<cli::IngestState> st = cli::LoadIngestState(state);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->files[0].done_rows, 1u);

  RunResult skip =
      Quiver({"ingest", "--collection", "t", "--state", state, "--progress",
              "none", "--on_error", "skip", "--resume", csv});
  EXPECT_EQ(skip.code, 0) << skip.err;
  EXPECT_NE(skip.out.find("1 malformed"), std::string::npos) << skip.out;
  EXPECT_EQ(Count("t"), 3u);

  // JSON Lines with attributes, then a filtered search.
  const std::string jsonl = dir_.Sub("docs.jsonl");
  std::ofstream(jsonl)
      << "{\"id\": \"r1\", \"vector\": [1, 0.1, 0], \"attributes\": "
         "{\"color\": \"red\"}}\n"
      << "{\"id\": \"b1\", \"vector\": [1, 0, 0.1], \"attributes\": "
         "{\"color\": \"blue\"}}\n"
      << "{\"id\": \"r2\", \"vector\": [0, 1, 0], \"attributes\": "
         "{\"color\": \"red\", \"n\": 2}}\n";
  RunResult j = Quiver({"ingest", "--collection", "t", "--state",
                        dir_.Sub("j.state"), "--progress", "none", jsonl});
  ASSERT_EQ(j.code, 0) << j.err;
  EXPECT_EQ(Count("t"), 6u);
  RunResult s =
      Quiver({"search", "--collection", "t", "--vector", "1,0,0", "-k", "5",
              "--filter", "color=red", "--exact", "--json"});
  ASSERT_EQ(s.code, 0) << s.err;
  absl::StatusOr<JsonValue> v = ParseJson(s.out);
  ASSERT_TRUE(v.ok()) << v.status() << s.out;
  const JsonValue* hits = v->Find("hits");
  ASSERT_NE(hits, nullptr);
  ASSERT_EQ(hits->array.size(), 2u) << s.out;
  EXPECT_EQ(hits->array[0].Find("id")->text, "r1");
  EXPECT_EQ(hits->array[1].Find("id")->text, "r2");
  EXPECT_EQ(hits->array[1].Find("attributes")->Find("n")->text, "2");

  RunResult get = Quiver({"get", "--collection", "t", "--vectors", "b1", "zz"});
  EXPECT_EQ(get.code, 1);  // zz is missing
  EXPECT_NE(get.out.find("{\"id\":\"b1\",\"attributes\":{\"color\":\"blue\"},"
                         "\"vector\":[1,0,0.1]}"),
            std::string::npos)
      << get.out;
  // Several files: generated ids are <prefix><file>:<row>.
  const std::string f0 = dir_.Sub("p0.csv"), f1 = dir_.Sub("p1.tsv");
  std::ofstream(f0) << "1,2,3\n4,5,6\n";
  std::ofstream(f1) << "7\t8\t9\n";
  RunResult multi = Quiver({"ingest", "--collection", "t", "--state",
                            dir_.Sub("m.state"), "--id_prefix", "p", f0, f1});
  ASSERT_EQ(multi.code, 0) << multi.err;
  RunResult ids = Quiver({"get", "--collection", "t", "p0:0", "p0:1", "p1:0"});
  EXPECT_EQ(ids.code, 0) << ids.err;
  EXPECT_EQ(Count("t"), 9u);

  RunResult del = Quiver({"delete", "--collection", "t", "b1", "zz"});
  EXPECT_EQ(del.code, 0) << del.err;
  EXPECT_EQ(del.out, "deleted 1 of 2 documents\n");
  EXPECT_EQ(Count("t"), 8u);
}

TEST_F(ClientE2eTest, ClientLibraryUpsertStreamSearchGetDelete) {
  auto client = Client();
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<HealthStatus> h = (*client)->Health();
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(*h, HealthStatus::kServing);

  v1::CreateCollectionRequest create;
  create.set_name("lib");
  create.set_dimension(4);
  create.set_metric(v1::METRIC_L2);
  QUIVER_ASSERT_OK((*client)->CreateCollection(create));
  EXPECT_EQ((*client)->GetCollection("nope").status().code(),
            absl::StatusCode::kNotFound);

  // 50 batches of 20 documents, 8 in flight: acks come back in order.
  std::vector<uint64_t> acked;
  absl::Mutex mu;
  auto stream =
      (*client)->OpenUpsertStream("lib", 8, [&](const v1::UpsertResponse& r) {
        absl::MutexLock lock(&mu);
        acked.push_back(r.batch_id());
        EXPECT_EQ(r.upserted(), 20u);
      });
  ASSERT_TRUE(stream.ok()) << stream.status();
  for (uint64_t b = 0; b < 50; ++b) {
    v1::UpsertRequest req;
    req.set_batch_id(1000 + b);
    for (int i = 0; i < 20; ++i) {
      v1::Document* d = req.add_documents();
      const int id = static_cast<int>(b) * 20 + i;
      d->set_id(absl::StrCat(id));
      for (int j = 0; j < 4; ++j) d->add_vector(static_cast<float>(id + j));
    }
    QUIVER_ASSERT_OK((*stream)->Send(req));
    EXPECT_LE((*stream)->in_flight(), 8u);
  }
  QUIVER_ASSERT_OK((*stream)->Finish());
  ASSERT_EQ(acked.size(), 50u);
  for (uint64_t b = 0; b < 50; ++b) EXPECT_EQ(acked[b], 1000 + b);

  // A bad record is reported by position and the others are stored.
  std::vector<v1::Document> docs(3);
  docs[0].set_id("x0");
  docs[0].add_vector(1);  // wrong dimension
  for (int i = 1; i < 3; ++i) {
    docs[i].set_id(absl::StrCat("x", i));
    for (int j = 0; j < 4; ++j) docs[i].add_vector(-1);
  }
  absl::StatusOr<UpsertResult> up = (*client)->Upsert("lib", docs, 2);
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(up->upserted, 2u);
  ASSERT_EQ(up->errors.size(), 1u);
  EXPECT_EQ(up->errors[0].position(), 0u);

  absl::StatusOr<v1::CollectionInfo> info = (*client)->GetCollection("lib");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->count(), 1002u);

  v1::SearchRequest search;
  search.set_collection("lib");
  search.set_k(3);
  search.set_exact(true);
  v1::Vector* q = search.add_queries();
  for (int j = 0; j < 4; ++j) q->add_values(static_cast<float>(500 + j));
  absl::StatusOr<v1::SearchResponse> res = (*client)->Search(search);
  ASSERT_TRUE(res.ok()) << res.status();
  ASSERT_EQ(res->results_size(), 1);
  ASSERT_EQ(res->results(0).hits_size(), 3);
  EXPECT_EQ(res->results(0).hits(0).id(), "500");
  EXPECT_FLOAT_EQ(res->results(0).hits(0).distance(), 0);

  absl::StatusOr<std::vector<v1::Document>> got =
      (*client)->Get("lib", {"7", "missing"}, true);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].vector(3), 10);
  absl::StatusOr<uint64_t> deleted = (*client)->Delete("lib", {"7", "missing"});
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 1u);
  QUIVER_EXPECT_OK((*client)->DropCollection("lib"));
  EXPECT_EQ((*client)->DropCollection("lib").code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ClientE2eTest, SiftsmallIngestTrainBench) {
  QUIVER_SKIP_IF_NO_DATA(data, "siftsmall");
  const std::string base = data + "/siftsmall_base.fvecs";
  RunResult c =
      Quiver({"collections", "create", "--name", "sift", "--dimension", "128",
              "--metric", "l2", "--nlist", "64", "--rerank", "4"});
  ASSERT_EQ(c.code, 0) << c.err;
  RunResult ing = Quiver({"ingest", "--collection", "sift", "--state",
                          dir_.Sub("sift.state"), "--parallel", "2", base});
  ASSERT_EQ(ing.code, 0) << ing.err << server_.log();
  EXPECT_NE(ing.out.find("ingested 10,000 rows into 'sift'"), std::string::npos)
      << ing.out;
  std::cerr << "ingest: " << ing.out;
  EXPECT_EQ(Count("sift"), 10000u);

  // The automatic trainings (at 3,000 and 10,000 documents) may still be
  // running, and under the sanitizers on a slow machine each takes minutes.
  RunResult train = Quiver(
      {"collections", "train", "sift", "--wait", "--wait_timeout", "600s"}, {},
      std::chrono::seconds(660));
  ASSERT_EQ(train.code, 0) << train.err << server_.log();
  EXPECT_EQ(Describe("sift").Find("state")->text, "ready");

  // The first base vector's nearest neighbour is itself (id "0").
  RunResult s = Quiver({"search", "--collection", "sift", "--queries", base,
                        "--limit", "2", "-k", "3", "--nprobe", "8", "--json"});
  ASSERT_EQ(s.code, 0) << s.err;
  std::vector<std::string> lines =
      absl::StrSplit(s.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << s.out;
  absl::StatusOr<JsonValue> first = ParseJson(lines[0]);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->Find("hits")->array[0].Find("id")->text, "0");

  const std::string csv = dir_.Sub("bench.csv");
  const std::string svg = dir_.Sub("bench.svg");
  RunResult b = Quiver({"bench", "--collection", "sift", "--queries",
                        data + "/siftsmall_query.fvecs", "--groundtruth",
                        data + "/siftsmall_groundtruth.ivecs", "-k", "10",
                        "--nprobe", "1,4,16,64", "--concurrency", "1,2",
                        "--csv", csv, "--plot", svg});
  ASSERT_EQ(b.code, 0) << b.err << server_.log();
  std::cerr << b.out;
  const std::string text = ReadText(csv);
  std::vector<std::string> rows = absl::StrSplit(text, '\n', absl::SkipEmpty());
  ASSERT_EQ(rows.size(), 1u + 8u) << text;
  EXPECT_EQ(rows[0],
            "nprobe,rerank,concurrency,recall_at_1,recall_at_10,qps,p50_ms,"
            "p95_ms,p99_ms");
  double best = 0, worst = 1;
  for (size_t i = 1; i < rows.size(); ++i) {
    std::vector<std::string> f = absl::StrSplit(rows[i], ',');
    ASSERT_EQ(f.size(), 9u) << rows[i];
    double r10 = 0, qps = 0, p50 = 0, p99 = 0;
    ASSERT_TRUE(absl::SimpleAtod(f[4], &r10));
    ASSERT_TRUE(absl::SimpleAtod(f[5], &qps));
    ASSERT_TRUE(absl::SimpleAtod(f[6], &p50));
    ASSERT_TRUE(absl::SimpleAtod(f[8], &p99));
    EXPECT_GT(qps, 0);
    EXPECT_LE(p50, p99);
    best = std::max(best, r10);
    worst = std::min(worst, r10);
  }
  EXPECT_GE(best, 0.9) << text;
  EXPECT_LT(worst, best) << "nprobe should matter: " << text;
  const std::string plot = ReadText(svg);
  EXPECT_NE(plot.find("<svg"), std::string::npos);
  EXPECT_NE(plot.find(">64</text>"), std::string::npos);
  EXPECT_NE(plot.find(">rerank 0, 2 clients</text>"), std::string::npos);
}

// Waits until the ingest state file reports at least `rows` rows done.
bool WaitForProgress(const std::string& state, uint64_t rows) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    absl::StatusOr<cli::IngestState> s = cli::LoadIngestState(state);
    if (s.ok() && !s->files.empty() && s->files[0].done_rows >= rows) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST_F(ClientE2eTest, InterruptedIngestResumesToTheSameCount) {
  QUIVER_SKIP_IF_NO_DATA(data, "siftsmall");
  const std::string base = data + "/siftsmall_base.fvecs";
  const std::string state = dir_.Sub("resume.state");
  ASSERT_EQ(
      Quiver({"collections", "create", "--name", "r", "--dimension", "128"})
          .code,
      0);
  const std::vector<std::string> ingest = {"ingest", "--collection",
                                           "r",      "--state",
                                           state,    "--batch_size",
                                           "250",    "--max_rate",
                                           "4000",   "--progress",
                                           "lines",  "--progress_interval",
                                           "0.5s",   base};

  // 1: Ctrl-C: stops gracefully, saves the state, exits 130.
  {
    auto p = StartQuiver(ingest, "first");
    ASSERT_TRUE(WaitForProgress(state, 1500));
    p->Signal(SIGINT);
    EXPECT_EQ(p->Wait(), 130) << ReadText(dir_.Sub("first.err"));
  }
  absl::StatusOr<cli::IngestState> s1 = cli::LoadIngestState(state);
  ASSERT_TRUE(s1.ok()) << s1.status();
  EXPECT_GE(s1->files[0].done_rows, 1500u);
  EXPECT_LT(s1->files[0].done_rows, 10000u);
  EXPECT_FALSE(s1->files[0].complete);
  const uint64_t count1 = Count("r");
  EXPECT_GE(count1, s1->files[0].done_rows);  // nothing acknowledged lost

  // 2: resumed, then SIGKILLed (no chance to save at exit).
  std::vector<std::string> resume = ingest;
  resume.insert(resume.end() - 1, "--resume");
  {
    auto p = StartQuiver(resume, "second");
    ASSERT_TRUE(WaitForProgress(state, s1->files[0].done_rows + 2000));
    p->Signal(SIGKILL);
    EXPECT_EQ(p->Wait(), 128 + SIGKILL);
  }
  absl::StatusOr<cli::IngestState> s2 = cli::LoadIngestState(state);
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_LT(s2->files[0].done_rows, 10000u);
  EXPECT_GE(Count("r"), s2->files[0].done_rows);

  // 3: resumed to the end: every row exactly once.
  std::vector<std::string> fast = {"ingest", "--collection", "r", "--state",
                                   state,    "--resume",     base};
  RunResult done = Quiver(fast);
  ASSERT_EQ(done.code, 0) << done.err;
  EXPECT_NE(done.out.find("resumed after"), std::string::npos) << done.out;
  EXPECT_EQ(Count("r"), 10000u);
  absl::StatusOr<cli::IngestState> s3 = cli::LoadIngestState(state);
  ASSERT_TRUE(s3.ok());
  EXPECT_TRUE(s3->files[0].complete);
  EXPECT_EQ(s3->files[0].done_rows, 10000u);

  // Re-running converges: same ids, same count.
  RunResult again = Quiver({"ingest", "--collection", "r", "--state", state,
                            "--parallel", "3", base});
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(Count("r"), 10000u);
  // A state file for another collection is refused.
  RunResult wrong = Quiver({"ingest", "--collection", "other", "--create",
                            "--state", state, "--resume", base});
  EXPECT_EQ(wrong.code, 1);
  EXPECT_NE(wrong.err.find("it is for collection 'r'"), std::string::npos)
      << wrong.err;
}

TEST_F(ClientE2eTest, IngestRetriesThroughAServerRestart) {
  QUIVER_SKIP_IF_NO_DATA(data, "siftsmall");
  const std::string base = data + "/siftsmall_base.fvecs";
  const std::string state = dir_.Sub("restart.state");
  ASSERT_EQ(
      Quiver({"collections", "create", "--name", "k", "--dimension", "128"})
          .code,
      0);
  auto p = StartQuiver(
      {"ingest", "--collection", "k", "--state", state, "--batch_size", "250",
       "--max_rate", "5000", "--progress", "none", base},
      "restart");
  ASSERT_TRUE(WaitForProgress(state, 2000));
  // SIGKILL the server mid-ingest, then restart it on the same port and
  // data: the client reopens its stream and re-sends what was not
  // acknowledged.
  QUIVER_ASSERT_OK(server_.Restart(SIGKILL));
  EXPECT_EQ(p->Wait(), 0) << ReadText(dir_.Sub("restart.err"));
  EXPECT_NE(ReadText(dir_.Sub("restart.err")).find("retrying"),
            std::string::npos);
  EXPECT_EQ(Count("k"), 10000u);
}

TEST_F(ClientE2eTest, IdempotentCallsRetryThroughAServerRestart) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "timing-bound (quiverd starts slowly under TSan)";
#endif
  ASSERT_EQ(
      Quiver({"collections", "create", "--name", "r", "--dimension", "4"}).code,
      0);
  auto client = Client();
  QUIVER_ASSERT_OK(client.status());
  QUIVER_ASSERT_OK((*client)->GetCollection("r").status());
  QUIVER_ASSERT_OK((*client)->Health().status());
  // The server dies and comes back on the same port: calls made meanwhile
  // fail with UNAVAILABLE and are retried by gRPC (the client's service
  // config) until it serves again.
  const int port = server_.port();
  server_.Stop(SIGKILL);
  absl::StatusOr<v1::CollectionInfo> info;
  std::thread caller([&] { info = (*client)->GetCollection("r"); });
  // Its first attempt fails (connection refused) before the server is back.
  // (quiverd is started from this thread: it dies with the thread that
  // forked it.)
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  QUIVER_EXPECT_OK(server_.Start(dir_.Sub("data"), {}, port));
  caller.join();
  QUIVER_ASSERT_OK(info.status());
  EXPECT_EQ(info->name(), "r");
  absl::StatusOr<HealthStatus> health = (*client)->Health();
  QUIVER_ASSERT_OK(health.status());
  EXPECT_EQ(*health, HealthStatus::kServing);
}

TEST(ClientAuthE2eTest, ApiKeyIsSentAndRequired) {
  if (!Quiverd::Built()) GTEST_SKIP() << "quiverd not built";
  TempDir dir;
  Quiverd server;
  server.set_log_file(dir.Sub("quiverd.log"));
  QUIVER_ASSERT_OK(server.Start(dir.Sub("data"), {"--api_key", "s3cret"}));
  auto run = [&](std::vector<std::string> args,
                 const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv = {kQuiver, "--server", server.address()};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult r;
    {
      Process p(argv, dir.Sub("a.out"), dir.Sub("a.err"), env);
      r.code = p.Wait();
    }
    r.out = ReadText(dir.Sub("a.out"));
    r.err = ReadText(dir.Sub("a.err"));
    return r;
  };
  RunResult no_key = run({"collections", "list"});
  EXPECT_EQ(no_key.code, 1);
  EXPECT_NE(no_key.err.find("(check --api_key or QUIVER_API_KEY)"),
            std::string::npos)
      << no_key.err;
  EXPECT_EQ(run({"collections", "list", "--api_key", "wrong"}).code, 1);
  EXPECT_EQ(run({"collections", "list", "--api_key", "s3cret"}).code, 0);
  EXPECT_EQ(run({"collections", "list"}, {"QUIVER_API_KEY=s3cret"}).code, 0);
  EXPECT_EQ(run({"health"}).code, 0);  // health is exempt
}

bool HaveOpenssl() {
  return std::system("command -v openssl > /dev/null 2>&1") == 0;
}

// Starts `server` with TLS on a fresh self-signed certificate for `cn`
// naming `san` (openssl's subjectAltName, e.g. "IP:127.0.0.1"), written to
// dir/cert.pem (the client's root) and dir/key.pem.
absl::Status StartTlsServer(const TempDir& dir, const std::string& cn,
                            const std::string& san, Quiverd* server) {
  const std::string cert = dir.Sub("cert.pem"), key = dir.Sub("key.pem");
  const std::string cmd = absl::StrCat(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=", cn,
      " -addext subjectAltName=", san, " -keyout ", key, " -out ", cert, " > ",
      dir.Sub("openssl.log"), " 2>&1");
  if (std::system(cmd.c_str()) != 0) {
    return absl::InternalError("openssl: " + ReadText(dir.Sub("openssl.log")));
  }
  server->set_log_file(dir.Sub("quiverd.log"));
  return server->Start(dir.Sub("data"), {"--tls_cert", cert, "--tls_key", key});
}

TEST(ClientTlsE2eTest, TlsWithRootCertificate) {
  if (!Quiverd::Built()) GTEST_SKIP() << "quiverd not built";
  if (!HaveOpenssl())
    GTEST_SKIP() << "openssl not installed (test certificate)";
  TempDir dir;
  Quiverd server;
  QUIVER_ASSERT_OK(
      StartTlsServer(dir, "localhost", "IP:127.0.0.1,DNS:localhost", &server));
  const std::string cert = dir.Sub("cert.pem");
  auto run = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {kQuiver, "--server", server.address(),
                                     "--timeout", "5s"};
    argv.insert(argv.end(), args.begin(), args.end());
    Process p(argv, dir.Sub("t.out"), dir.Sub("t.err"));
    return p.Wait();
  };
  EXPECT_EQ(run({"--tls_ca", cert, "health"}), 0) << ReadText(dir.Sub("t.err"));
  EXPECT_EQ(run({"collections", "list", "--tls_ca", cert}), 0)
      << ReadText(dir.Sub("t.err"));
  EXPECT_EQ(run({"collections", "list"}), 1);  // plaintext to a TLS port
  EXPECT_EQ(run({"health", "--tls_ca", dir.Sub("missing.pem")}), 1);
  EXPECT_NE(ReadText(dir.Sub("t.err")).find("cannot read the TLS root"),
            std::string::npos);
}

// Writes one 2-D dataset of an HDF5 file (C API).
void WriteH5(hid_t file, const char* name, hid_t file_type, hid_t mem_type,
             hsize_t rows, hsize_t cols, const void* data) {
  const hsize_t dims[2] = {rows, cols};
  const hid_t space = H5Screate_simple(2, dims, nullptr);
  const hid_t ds = H5Dcreate2(file, name, file_type, space, H5P_DEFAULT,
                              H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(ds, 0) << name;
  ASSERT_GE(H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0);
  H5Dclose(ds);
  H5Sclose(space);
}

// The ann-benchmarks workflow on a generated file: `quiver ingest` loads
// 'train' with row numbers as ids, `quiver bench` takes 'test' as queries
// and 'neighbors' as ground truth.
TEST_F(ClientE2eTest, IngestAndBenchAnAnnBenchmarksHdf5File) {
  constexpr size_t kN = 300, kNq = 20, kDim = 8, kK = 10;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0, 1);
  std::vector<float> train(kN * kDim), test(kNq * kDim);
  for (float& x : train) x = u(rng);
  for (float& x : test) x = u(rng);
  std::vector<int32_t> neighbors;  // exact L2 neighbours, nearest first
  for (size_t q = 0; q < kNq; ++q) {
    std::vector<float> dist(kN, 0);
    for (size_t i = 0; i < kN; ++i) {
      for (size_t j = 0; j < kDim; ++j) {
        const float diff = train[i * kDim + j] - test[q * kDim + j];
        dist[i] += diff * diff;
      }
    }
    std::vector<int32_t> order(kN);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + kK, order.end(),
                      [&](int32_t a, int32_t b) { return dist[a] < dist[b]; });
    neighbors.insert(neighbors.end(), order.begin(), order.begin() + kK);
  }
  const std::string path = dir_.Sub("random-8-euclidean.hdf5");
  const hid_t f =
      H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  WriteH5(f, "train", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, kN, kDim, train.data());
  WriteH5(f, "test", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, kNq, kDim, test.data());
  WriteH5(f, "neighbors", H5T_STD_I32LE, H5T_NATIVE_INT32, kNq, kK,
          neighbors.data());
  H5Fclose(f);

  RunResult ing = Quiver({"ingest", "--collection", "ann", "--create",
                          "--state", dir_.Sub("ann.state"), path});
  ASSERT_EQ(ing.code, 0) << ing.err;
  EXPECT_NE(ing.out.find("ingested 300 rows into 'ann'"), std::string::npos)
      << ing.out;
  EXPECT_EQ(Count("ann"), kN);
  RunResult get = Quiver({"get", "--collection", "ann", "--vectors", "299"});
  ASSERT_EQ(get.code, 0) << get.err;
  EXPECT_NE(get.out.find("299"), std::string::npos) << get.out;

  // --dataset picks another dataset.
  RunResult q =
      Quiver({"ingest", "--collection", "queries", "--create", "--state",
              dir_.Sub("q.state"), "--dataset", "test", path});
  ASSERT_EQ(q.code, 0) << q.err;
  EXPECT_EQ(Count("queries"), kNq);

  const std::string csv = dir_.Sub("ann.csv");
  RunResult b = Quiver({"bench", "--collection", "ann", "--queries", path,
                        "--groundtruth", path, "-k", "10", "--nprobe", "1",
                        "--warmup", "0", "--csv", csv});
  ASSERT_EQ(b.code, 0) << b.err;
  std::vector<std::string> rows =
      absl::StrSplit(ReadText(csv), '\n', absl::SkipEmpty());
  ASSERT_EQ(rows.size(), 2u);
  std::vector<std::string> fields = absl::StrSplit(rows[1], ',');
  ASSERT_EQ(fields.size(), 9u) << rows[1];
  double recall10 = 0;
  ASSERT_TRUE(absl::SimpleAtod(fields[4], &recall10));
  // Untrained: the server searches exactly, so every neighbour is found.
  EXPECT_GE(recall10, 0.99) << b.out << b.err;

  // `quiver search --queries F.hdf5` takes its queries from 'test' too.
  RunResult s = Quiver({"search", "--collection", "ann", "--queries", path,
                        "-k", "1", "--json"});
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_EQ(std::count(s.out.begin(), s.out.end(), '\n'),
            static_cast<long>(kNq))
      << s.out;
}

// The image's health check script over TLS, with a certificate that names
// neither 127.0.0.1 nor localhost: --tls_server_name (QUIVER_TLS_SERVER_NAME)
// makes it pass.
TEST(ClientTlsE2eTest, HealthcheckScriptWithTlsServerName) {
  if (!Quiverd::Built()) GTEST_SKIP() << "quiverd not built";
  if (!HaveOpenssl())
    GTEST_SKIP() << "openssl not installed (test certificate)";
  TempDir dir;
  Quiverd server;
  QUIVER_ASSERT_OK(
      StartTlsServer(dir, "quiver.internal", "DNS:quiver.internal", &server));
  const std::string cert = dir.Sub("cert.pem");
  const std::string script =
      std::string(QUIVER_SOURCE_DIR) + "/docker/healthcheck.sh";
  const std::string path = absl::StrCat(
      "PATH=", std::filesystem::path(kQuiver).parent_path().string(), ":",
      std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin");
  auto check = [&](std::vector<std::string> env) {
    env.push_back(path);
    env.push_back("QUIVER_HEALTH_ADDRESS=" + server.address());
    Process p({"/bin/sh", script}, dir.Sub("h.out"), dir.Sub("h.err"), env);
    return p.Wait();
  };
  EXPECT_EQ(check({}), 1);                         // plaintext to a TLS port
  EXPECT_EQ(check({"QUIVER_TLS_CA=" + cert}), 1);  // 127.0.0.1 not named
  EXPECT_EQ(check({"QUIVER_TLS_CA=" + cert,
                   "QUIVER_TLS_SERVER_NAME=quiver.internal"}),
            0)
      << ReadText(dir.Sub("h.err"));
  EXPECT_EQ(ReadText(dir.Sub("h.out")), "SERVING\n");
}

// The hits' ids of `quiver search --json` output (one query).
std::vector<std::string> HitIds(const std::string& out) {
  std::vector<std::string> ids;
  absl::StatusOr<JsonValue> v = ParseJson(out);
  EXPECT_TRUE(v.ok()) << v.status() << "\n" << out;
  if (!v.ok() || v->Find("hits") == nullptr) return ids;
  for (const JsonValue& h : v->Find("hits")->array) {
    ids.push_back(h.Find("id")->text);
  }
  return ids;
}

TEST_F(ClientE2eTest, TypedAttributesAndFilterExpressions) {
  ASSERT_EQ(Quiver({"collections", "create", "--name", "typed", "--dimension",
                    "2", "--metric", "l2"})
                .code,
            0);
  const std::string jsonl = dir_.Sub("typed.jsonl");
  std::ofstream(jsonl)
      << R"({"id": "a", "vector": [0, 0], "attributes": {"lang": "en", )"
         R"("year": 2021, "price": 9.5, "hot": true, "tags": ["news", "sport"]}})"
         "\n"
      << R"({"id": "b", "vector": [1, 0], "attributes": {"lang": "en", )"
         R"("year": 2019, "tags": ["news"], "gone": null}})"
         "\n"
      << R"({"id": "c", "vector": [2, 0], "attributes": {"lang": "fr", )"
         R"("year": 2022, "tags": ["news"]}})"
         "\n"
      << R"({"id": "d", "vector": [3, 0], "attributes": {"lang": "en", )"
         R"("year": 2023}})"
         "\n";
  const std::string csv = dir_.Sub("typed.csv");
  std::ofstream(csv) << "id,vector,lang,year:int,price:double,hot:bool,"
                        "tags:tags\n"
                        "e,\"[4,0]\",en,2020,1.25,false,news|tech\n"
                        "f,\"[5,0]\",de,,,,\n";
  for (const std::string& file : {jsonl, csv}) {
    RunResult r = Quiver({"ingest", "--collection", "typed", "--state",
                          file + ".state", "--progress", "none", file});
    ASSERT_EQ(r.code, 0) << r.err;
  }
  EXPECT_EQ(Count("typed"), 6u);

  auto search = [&](std::vector<std::string> filters) {
    std::vector<std::string> args = {"search",   "--collection", "typed",
                                     "--vector", "0,0",          "-k",
                                     "10",       "--exact",      "--json"};
    for (std::string& f : filters) {
      args.push_back("--filter");
      args.push_back(std::move(f));
    }
    RunResult r = Quiver(args);
    EXPECT_EQ(r.code, 0) << r.err;
    return HitIds(r.out);
  };
  using Ids = std::vector<std::string>;
  EXPECT_EQ(
      search({R"(lang = "en" and year >= 2020 and tags contains "news")"}),
      (Ids{"a", "e"}));
  EXPECT_EQ(search({"lang=en"}), (Ids{"a", "b", "d", "e"}));  // legacy
  EXPECT_EQ(search({"lang=en", "year < 2021"}), (Ids{"b", "e"}));
  EXPECT_EQ(search({"not exists year"}), (Ids{"f"}));
  EXPECT_EQ(search({"hot = true or price > 5"}), (Ids{"a"}));
  EXPECT_EQ(search({R"(lang in ["fr", "de"])"}), (Ids{"c", "f"}));
  EXPECT_EQ(search({"year = 2021.0"}), (Ids{"a"}));  // numbers as numbers
  EXPECT_EQ(search({"year != 2021"}), (Ids{"b", "c", "d", "e"}));
  EXPECT_EQ(search({R"(tags not in ["x"] and tags contains "tech")"}),
            (Ids{"e"}));
  EXPECT_EQ(search({"exists gone"}), Ids{});  // JSON null: left out

  // --explain: the filter and the plan on stderr.
  RunResult ex = Quiver({"search", "--collection", "typed", "--vector", "0,0",
                         "-k", "3", "--exact", "--explain", "--filter",
                         "lang=en", "--filter", "year >= 2020"});
  ASSERT_EQ(ex.code, 0) << ex.err;
  EXPECT_NE(ex.err.find("filter: lang = \"en\" and year >= 2020\n"),
            std::string::npos)
      << ex.err;
  EXPECT_NE(ex.err.find("plan: "), std::string::npos) << ex.err;
  EXPECT_NE(ex.err.find(", 3 of 6 documents match"), std::string::npos)
      << ex.err;
  RunResult exj =
      Quiver({"search", "--collection", "typed", "--vector", "0,0", "-k", "3",
              "--explain", "--json", "--filter", "tags contains \"news\""});
  ASSERT_EQ(exj.code, 0) << exj.err;
  const size_t at = exj.err.find("{\"plan\":");
  ASSERT_NE(at, std::string::npos) << exj.err;
  absl::StatusOr<JsonValue> plan =
      ParseJson(exj.err.substr(at, exj.err.find('\n', at) - at));
  ASSERT_TRUE(plan.ok()) << plan.status() << exj.err;
  const JsonValue* p = plan->Find("plan");
  EXPECT_FALSE(p->Find("strategy")->text.empty()) << exj.err;
  EXPECT_EQ(p->Find("matching")->text, "4") << exj.err;
  EXPECT_EQ(p->Find("count")->text, "6") << exj.err;

  // A bad expression is a usage error naming the column.
  RunResult bad = Quiver({"search", "--collection", "typed", "--vector", "0,0",
                          "--filter", "year >= "});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--filter 'year >= ': at column 9: expected a value "
                         "after '>=', found end of input"),
            std::string::npos)
      << bad.err;

  // get and search print the types.
  RunResult get = Quiver({"get", "--collection", "typed", "a", "e", "f"});
  ASSERT_EQ(get.code, 0) << get.err;
  EXPECT_EQ(get.out,
            "{\"id\":\"a\",\"attributes\":{\"hot\":true,\"lang\":\"en\","
            "\"price\":9.5,\"tags\":[\"news\",\"sport\"],\"year\":2021}}\n"
            "{\"id\":\"e\",\"attributes\":{\"hot\":false,\"lang\":\"en\","
            "\"price\":1.25,\"tags\":[\"news\",\"tech\"],\"year\":2020}}\n"
            "{\"id\":\"f\",\"attributes\":{\"lang\":\"de\"}}\n");
  RunResult table =
      Quiver({"search", "--collection", "typed", "--vector", "0,0", "-k", "1",
              "--attributes", "--filter", "exists hot"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("hot=true lang=en price=9.5 tags=[\"news\", "
                           "\"sport\"] year=2021"),
            std::string::npos)
      << table.out;
}

}  // namespace
}  // namespace quiver::client
