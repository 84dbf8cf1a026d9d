// SIGKILL in the middle of a training (sampling, encoding and persisting
// codes, swapping): the collection opens again with every acknowledged
// document, searchable. The writer runs in a forked child; the parent kills
// it at a different point each round.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/engine/collection.h"
#include "server/engine/registry.h"
#include "tests/testing/data.h"
#include "tests/testing/testing.h"

namespace quiver::engine {
namespace {

constexpr uint32_t kDim = 16;
constexpr size_t kBatch = 1000;

// Child: writes batches, reporting each acknowledged count on `fd`, starts
// a training (reported as 0) and keeps writing until killed.
[[noreturn]] void Child(const std::string& path, int fd, size_t n) {
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

TEST(CrashTest, SigkillDuringTrainingKeepsEveryAcknowledgedDocument) {
  testing::TempDir dir;
  const std::string path = dir.Sub("db");
  const size_t n = 30000;
  // Kill 0, 1, 2... batches after the training started.
  for (int round = 0; round < 4; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      Child(path, fds[1], n);
    }
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
