// SIGKILL in the middle of a training (sampling, encoding and persisting
// codes, swapping): the collection opens again with every acknowledged
// document, searchable. The writer is this test binary itself, started
// (fork + exec of /proc/self/exe, a gtest filter selecting the DISABLED_
// child test, an environment variable naming the store and the pipe) so
// that it is a fresh process: the parent has RocksDB's threads after the
// first round, and a forked copy of a multi-threaded process may not start
// threads (TSan refuses it). The parent kills it at a different point each
// round.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/engine/collection.h"
#include "server/engine/registry.h"
#include "tests/testing/data.h"
#include "tests/testing/testing.h"

extern char** environ;

namespace quiver::engine {
namespace {

constexpr char kChildEnv[] = "QUIVER_ENGINE_CRASH_CHILD";
constexpr char kChildTest[] = "CrashChild.DISABLED_WriteAndTrainUntilKilled";

constexpr uint32_t kDim = 16;
constexpr size_t kBatch = 1000;

// Child: writes batches, reporting each acknowledged count on `fd`, starts
// a training (reported as 0) and keeps writing until killed.
void Child(const std::string& path, int fd, size_t n) {
  RegistryOptions ro;
  ro.store.path = path;
  ro.collection.train_threads = 1;
  auto registry = CollectionRegistry::Open(ro);
  if (!registry.ok()) _exit(2);
  auto c = (*registry)->Get("c");
  if (!c.ok()) {
    CollectionConfig cfg;
    cfg.name = "c";
    cfg.dimension = kDim;
    cfg.index.auto_train_threshold = 1u << 30;  // trained on request only
    c = (*registry)->Create(cfg);
    if (!c.ok()) _exit(3);
  }
  const std::vector<float> x = testing::Clustered(n, kDim, 30, 11);
  bool started = false;
  for (size_t b = 0; b * kBatch < n; ++b) {
    std::vector<DocumentInput> docs;
    for (size_t i = b * kBatch; i < (b + 1) * kBatch && i < n; ++i) {
      DocumentInput d;
      d.id = absl::StrCat("d", i);
      d.vector.assign(x.begin() + i * kDim, x.begin() + (i + 1) * kDim);
      docs.push_back(std::move(d));
    }
    if (!(*c)->Upsert(std::move(docs)).ok()) _exit(4);
    const uint64_t acked = std::min(n, (b + 1) * kBatch);
    if (write(fd, &acked, sizeof(acked)) != sizeof(acked)) _exit(5);
    if (!started && acked >= n / 2) {
      IndexConfig o;
      o.nlist = 128;
      if (!(*c)->StartTraining(o).ok()) _exit(6);
      const uint64_t zero = 0;
      if (write(fd, &zero, sizeof(zero)) != sizeof(zero)) _exit(5);
      started = true;
    }
  }
  (*c)->WaitForTraining();
  const uint64_t done = UINT64_MAX;
  if (write(fd, &done, sizeof(done)) != sizeof(done)) _exit(5);
  pause();
  _exit(0);
}

// Runs only when started by the crash test below.
TEST(CrashChild, DISABLED_WriteAndTrainUntilKilled) {
  const char* env = std::getenv(kChildEnv);
  if (env == nullptr) GTEST_SKIP() << "started by CrashTest only";
  const std::vector<std::string> parts = absl::StrSplit(env, '|');
  ASSERT_EQ(parts.size(), 3u) << env;
  Child(parts[0], std::atoi(parts[1].c_str()),
        static_cast<size_t>(std::atoll(parts[2].c_str())));
}

// Starts the child on `path`, writing acknowledgements to `fd`.
pid_t StartChild(const std::string& path, int fd, size_t n) {
  const std::string filter = absl::StrCat("--gtest_filter=", kChildTest);
  std::vector<std::string> args = {"/proc/self/exe", filter,
                                   "--gtest_also_run_disabled_tests"};
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string_view(*e).starts_with("GTEST_")) continue;  // no sharding
    env_strings.emplace_back(*e);
  }
  env_strings.push_back(absl::StrCat(kChildEnv, "=", path, "|", fd, "|", n));
  std::vector<char*> argv, envp;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const int dev_null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  const pid_t pid = fork();
  if (pid == 0) {
    if (dev_null >= 0) dup2(dev_null, STDOUT_FILENO);  // gtest's chatter
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  if (dev_null >= 0) close(dev_null);
  return pid;
}

TEST(CrashTest, SigkillDuringTrainingKeepsEveryAcknowledgedDocument) {
  testing::TempDir dir;
  const std::string path = dir.Sub("db");
  const size_t n = 30000;
  // Kill 0, 1, 2... batches after the training started.
  for (int round = 0; round < 4; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    ASSERT_EQ(fcntl(fds[0], F_SETFD, FD_CLOEXEC), 0);
    const pid_t pid = StartChild(path, fds[1], n);
    ASSERT_GE(pid, 0);
    close(fds[1]);
    uint64_t acked = 0, v = 0;
    int after_start = -1;
    while (read(fds[0], &v, sizeof(v)) == sizeof(v)) {
      if (v == UINT64_MAX) break;
      if (v == 0) {
        after_start = 0;
      } else {
        acked = std::max(acked, v);
        if (after_start >= 0 && ++after_start > round * 3) break;
      }
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << status;

    RegistryOptions ro;
    ro.store.path = path;
    auto registry = CollectionRegistry::Open(ro);
    QUIVER_ASSERT_OK(registry);
    auto c = (*registry)->Get("c");
    QUIVER_ASSERT_OK(c);
    EXPECT_GE((*c)->count(), acked) << "round " << round;
    // Every acknowledged document is there and finds itself.
    const std::vector<float> x = testing::Clustered(n, kDim, 30, 11);
    for (size_t i = 0; i < acked; i += 997) {
      auto got = (*c)->Get({absl::StrCat("d", i)}, false);
      QUIVER_ASSERT_OK(got);
      EXPECT_EQ(got->size(), 1u) << "d" << i;
      SearchQuery q;
      q.queries = &x[i * kDim];
      q.nq = 1;
      q.k = 1;
      q.nprobe = 128;
      auto hits = (*c)->Search(q);
      QUIVER_ASSERT_OK(hits);
      ASSERT_EQ((*hits)[0].size(), 1u);
      EXPECT_FLOAT_EQ((*hits)[0][0].distance, 0.f) << "d" << i;
    }
  }
}

}  // namespace
}  // namespace quiver::engine
