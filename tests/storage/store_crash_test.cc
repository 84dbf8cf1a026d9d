// Crash test: a child process writes a stream of batches and reports each
// acknowledged batch number on a pipe after Write() returns; the parent
// SIGKILLs it mid-stream, reopens the store and checks that every
// acknowledged batch is fully readable, and that every batch, acknowledged or
// not, is all-or-nothing. Run with sync = false (survives a process crash)
// and sync = true.
//
// The child is this test binary itself (fork + exec of /proc/self/exe with a
// gtest filter selecting the DISABLED_ child test and an environment variable
// naming the store, the sync mode and the pipe), so that it starts from a
// clean single-threaded process (RocksDB's thread pools do not survive a bare
// fork) and runs under the same sanitizers.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "storage/store.h"
#include "tests/testing/testing.h"

extern char** environ;

namespace quiver::storage {
namespace {

using ::quiver::testing::TempDir;

constexpr char kChildEnv[] = "QUIVER_STORE_CRASH_CHILD";
constexpr char kChildTest[] =
    "StoreCrashChild.DISABLED_WriteBatchesUntilKilled";
constexpr char kCollection[] = "crash";
constexpr uint32_t kDim = 16;
constexpr uint64_t kDocsPerBatch = 20;
constexpr uint64_t kMaxBatches = 100000;

uint64_t Iid(uint64_t batch, uint64_t j) { return batch * kDocsPerBatch + j; }
std::string ExternalId(uint64_t batch, uint64_t j) {
  return absl::StrCat("b", batch, "-", j);
}
std::vector<float> VectorOf(uint64_t iid) {
  std::vector<float> v(kDim);
  for (uint32_t k = 0; k < kDim; ++k) v[k] = static_cast<float>(iid * 31 + k);
  return v;
}

// Batch b puts kDocsPerBatch documents and deletes the first document of
// batch b - 1, so that deletions are part of what must be atomic.
DocumentBatch MakeBatch(CollectionId cid, uint64_t b) {
  DocumentBatch batch(cid);
  for (uint64_t j = 0; j < kDocsPerBatch; ++j) {
    DocumentRecord r;
    r.external_id = ExternalId(b, j);
    r.internal_id = Iid(b, j);
    r.vector = VectorOf(r.internal_id);
    r.attributes = absl::StrCat("attr-", r.internal_id);
    r.list_id = static_cast<uint32_t>(j % 7);
    r.code = absl::StrCat("code-", r.internal_id);
    batch.Put(std::move(r));
  }
  if (b > 0) batch.Delete(Iid(b - 1, 0), ExternalId(b - 1, 0));
  return batch;
}

// The child: only runs when started by RunCrashTest().
TEST(StoreCrashChild, DISABLED_WriteBatchesUntilKilled) {
  const char* env = std::getenv(kChildEnv);
  if (env == nullptr) GTEST_SKIP() << "started by StoreCrashTest only";
  const std::vector<std::string> parts = absl::StrSplit(env, '|');
  ASSERT_EQ(parts.size(), 3u) << env;
  const bool sync = parts[1] == "1";
  const int fd = std::atoi(parts[2].c_str());
  absl::StatusOr<std::unique_ptr<Store>> store =
      Store::Open({.path = parts[0], .sync = sync});
  QUIVER_ASSERT_OK(store);
  absl::StatusOr<CollectionMeta> meta = (*store)->GetCollection(kCollection);
  QUIVER_ASSERT_OK(meta);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (uint64_t b = 0; b < kMaxBatches; ++b) {
    QUIVER_ASSERT_OK((*store)->Write(MakeBatch(meta->id, b)));
    ASSERT_EQ(write(fd, &b, sizeof(b)), static_cast<ssize_t>(sizeof(b)));
    // The parent is gone (or stuck): stop.
    if (std::chrono::steady_clock::now() > deadline) break;
  }
}

// Reads acknowledged batch numbers; returns the largest one seen, or -1.
// Stops at EOF, after `until` acks (if > 0), or after a 30 s silence.
int64_t ReadAcks(int fd, int64_t until, int64_t last) {
  int64_t count = 0;
  while (until <= 0 || count < until) {
    pollfd p = {fd, POLLIN, 0};
    const int ready = poll(&p, 1, 30000);
    if (ready <= 0) {
      ADD_FAILURE() << "no acknowledgement from the child for 30 s";
      break;
    }
    uint64_t b = 0;
    const ssize_t n = read(fd, &b, sizeof(b));
    if (n == 0) break;  // EOF
    if (n != static_cast<ssize_t>(sizeof(b))) {
      ADD_FAILURE() << "short read from the pipe: " << n;
      break;
    }
    if (static_cast<int64_t>(b) != last + 1) {
      ADD_FAILURE() << "ack " << b << " after " << last;
    }
    last = static_cast<int64_t>(b);
    ++count;
  }
  return last;
}

void RunCrashTest(bool sync, int64_t acks_before_kill) {
  TempDir dir;
  const std::string path = dir.Sub("db");
  {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open({.path = path});
    QUIVER_ASSERT_OK(store);
    QUIVER_ASSERT_OK((*store)->CreateCollection(kCollection, kDim, ""));
  }

  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(fcntl(fds[0], F_SETFD, FD_CLOEXEC), 0);
  // Everything the child needs is prepared before fork(): after it, the
  // child only calls async-signal-safe functions.
  const std::string filter = absl::StrCat("--gtest_filter=", kChildTest);
  std::vector<std::string> args = {"/proc/self/exe", filter,
                                   "--gtest_also_run_disabled_tests"};
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string_view(*e).starts_with("GTEST_")) continue;  // no sharding
    env_strings.emplace_back(*e);
  }
  env_strings.push_back(
      absl::StrCat(kChildEnv, "=", path, "|", sync ? 1 : 0, "|", fds[1]));
  std::vector<char*> argv, envp;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const int dev_null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(dev_null, 0);

  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(dev_null, STDOUT_FILENO);  // gtest's chatter; stderr stays
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(fds[1]);
  close(dev_null);
  const int64_t acked_before_kill = ReadAcks(fds[0], acks_before_kill, -1);
  kill(pid, SIGKILL);
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  const int64_t last_acked = ReadAcks(fds[0], 0, acked_before_kill);  // drain
  close(fds[0]);
  ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
      << "the child ended on its own (status " << wstatus
      << "): it failed before it was killed";
  ASSERT_GE(last_acked, acks_before_kill - 1);

  absl::StatusOr<std::unique_ptr<Store>> reopened = Store::Open({.path = path});
  QUIVER_ASSERT_OK(reopened);
  Store& store = **reopened;
  absl::StatusOr<CollectionMeta> meta = store.GetCollection(kCollection);
  QUIVER_ASSERT_OK(meta);
  const CollectionId cid = meta->id;

  // applied[b]: batch b is in the store, judged by its last document.
  std::vector<bool> applied;
  for (uint64_t b = 0;; ++b) {
    absl::StatusOr<std::optional<uint64_t>> iid =
        store.LookupInternalId(cid, ExternalId(b, kDocsPerBatch - 1));
    QUIVER_ASSERT_OK(iid);
    if (!iid->has_value()) break;
    applied.push_back(true);
  }
  const int64_t applied_batches = static_cast<int64_t>(applied.size());
  // Every acknowledged batch is there; at most one more (written, killed
  // before its ack).
  ASSERT_GE(applied_batches, last_acked + 1)
      << "acknowledged batches were lost";
  ASSERT_LE(applied_batches, last_acked + 2);

  uint64_t expected_count = 0;
  for (int64_t b = 0; b <= applied_batches; ++b) {  // one past: must be empty
    const bool is_applied = b < applied_batches;
    const bool next_applied = b + 1 < applied_batches;
    for (uint64_t j = 0; j < kDocsPerBatch; ++j) {
      const uint64_t iid = Iid(b, j);
      const bool present = is_applied && (j != 0 || !next_applied);
      absl::StatusOr<DocumentRecord> doc = store.GetDocument(cid, iid);
      if (!present) {
        ASSERT_EQ(doc.status().code(), absl::StatusCode::kNotFound)
            << "batch " << b << " document " << j << ": " << doc.status();
        ASSERT_FALSE(
            store.LookupInternalId(cid, ExternalId(b, j))->has_value());
        continue;
      }
      ++expected_count;
      QUIVER_ASSERT_OK(doc);
      ASSERT_EQ(doc->external_id, ExternalId(b, j));
      ASSERT_EQ(doc->vector, VectorOf(iid));
      ASSERT_EQ(doc->attributes, absl::StrCat("attr-", iid));
      ASSERT_EQ(doc->list_id, std::optional<uint32_t>(j % 7));
      ASSERT_EQ(doc->code, absl::StrCat("code-", iid));
      ASSERT_EQ(**store.LookupInternalId(cid, ExternalId(b, j)), iid);
    }
  }
  EXPECT_EQ(*store.CountDocuments(cid), expected_count);
  EXPECT_EQ(*store.NextInternalId(cid), Iid(applied_batches, 0));
  std::cout << "sync=" << sync << ": " << last_acked + 1
            << " batches acknowledged, " << applied_batches
            << " in the store\n";
}

TEST(StoreCrashTest, AcknowledgedBatchesSurviveSigkillWithoutSync) {
  RunCrashTest(/*sync=*/false, /*acks_before_kill=*/300);
}

TEST(StoreCrashTest, AcknowledgedBatchesSurviveSigkillWithSync) {
  RunCrashTest(/*sync=*/true, /*acks_before_kill=*/40);
}

}  // namespace
}  // namespace quiver::storage
