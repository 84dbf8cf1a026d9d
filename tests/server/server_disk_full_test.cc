// quiverd on a small tmpfs that fills up: writes are refused with
// RESOURCE_EXHAUSTED naming the free space before the disk is full,
// searches, gets and deletes go on, the server never aborts (not at
// shutdown either), it starts again on a completely full disk read-only
// with every acknowledged document, and takes writes once space is back.
//
// Mounting a tmpfs needs root (CI runs as root); elsewhere the test skips.
#include <errno.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/server/rpc_helpers.h"
#include "tests/testing/data.h"
#include "tests/testing/testing.h"

namespace quiver::testing {
namespace {

constexpr uint32_t kDim = 64;
constexpr size_t kBatch = 1000;

class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Quiverd::Built()) GTEST_SKIP() << "quiverd not built";
    if (geteuid() != 0) GTEST_SKIP() << "needs root to mount a tmpfs";
    mount_point_ = dir_.Sub("small");
    std::filesystem::create_directories(mount_point_);
    if (mount("tmpfs", mount_point_.c_str(), "tmpfs", 0, "size=48m") != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
    }
    mounted_ = true;
  }
  void TearDown() override {
    server_.Stop(SIGKILL);
    if (mounted_) umount2(mount_point_.c_str(), MNT_DETACH);
  }

  // Streams batches of fresh documents until one is refused; returns the
  // refusal and appends the acknowledged ids to *acked.
  absl::Status FillUntilRefused(v1::Quiver::Stub* stub,
                                std::vector<std::string>* acked) {
    for (int round = 0; round < 400; ++round) {
      const std::vector<float> x =
          Gaussian(kBatch, kDim, static_cast<uint64_t>(round) + 1);
      std::vector<Doc> docs(kBatch);
      for (size_t i = 0; i < kBatch; ++i) {
        docs[i].id = absl::StrCat("r", round, "-", i);
        docs[i].vector.assign(x.begin() + i * kDim, x.begin() + (i + 1) * kDim);
      }
      absl::StatusOr<std::vector<v1::UpsertResponse>> r =
          UpsertDocs(stub, "c", docs, kBatch);
      if (!r.ok()) return r.status();
      for (const Doc& d : docs) acked->push_back(d.id);
    }
    return absl::InternalError("400 batches went in; the disk never filled");
  }

  uint64_t Count(v1::Quiver::Stub* stub) {
    absl::StatusOr<v1::CollectionInfo> info = GetCollection(stub, "c");
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? info->count() : 0;
  }

  TempDir dir_;
  std::string mount_point_;
  bool mounted_ = false;
  Quiverd server_;
};

TEST_F(DiskFullTest, RefusesWritesKeepsServingAndRestartsReadOnly) {
  server_.set_log_file(dir_.Sub("quiverd.log"));
  const std::string data = mount_point_ + "/data";
  QUIVER_ASSERT_OK(server_.Start(data, {"--disk_reserve_mb=4"}));
  auto stub = server_.NewStub();
  QUIVER_ASSERT_OK(CreateCollection(stub.get(), "c", kDim, v1::METRIC_L2));

  // 1. Writes stop at the watermark, with a message that says why.
  std::vector<std::string> acked;
  const absl::Status refused = FillUntilRefused(stub.get(), &acked);
  ASSERT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_NE(refused.message().find("MiB free"), std::string::npos) << refused;
  ASSERT_GT(acked.size(), 10 * kBatch);
  EXPECT_EQ(Count(stub.get()), acked.size());

  // 2. Reads and deletes go on.
  const std::vector<float> q = Gaussian(1, kDim, 99);
  absl::StatusOr<v1::SearchResponse> hits = Search(stub.get(), "c", q, kDim, 5);
  QUIVER_ASSERT_OK(hits.status());
  EXPECT_EQ(hits->results(0).hits_size(), 5);
  {
    grpc::ClientContext ctx;
    v1::DeleteRequest req;
    req.set_collection("c");
    req.add_ids(acked.front());
    v1::DeleteResponse resp;
    ASSERT_TRUE(stub->Delete(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.deleted(), 1u);
  }

  // 3. The disk fills up completely (someone else's file): still no crash.
  {
    std::ofstream junk(mount_point_ + "/junk", std::ios::binary);
    const std::string block(1 << 16, 'x');
    while (junk.write(block.data(), block.size())) {
    }
  }
  std::vector<std::string> more;
  EXPECT_EQ(FillUntilRefused(stub.get(), &more).code(),
            absl::StatusCode::kResourceExhausted);
  QUIVER_EXPECT_OK(Search(stub.get(), "c", q, kDim, 5).status());

  // 4. A clean shutdown on a full disk exits 0 (RocksDB's flush fails).
  const int wstatus = server_.Stop(SIGTERM);
  ASSERT_TRUE(WIFEXITED(wstatus)) << "quiverd died: " << wstatus << "\n"
                                  << server_.log();
  EXPECT_EQ(WEXITSTATUS(wstatus), 0) << server_.log();

  // 5. It starts on the full disk, read-only, with every acknowledged
  // document but the deleted one.
  QUIVER_ASSERT_OK(server_.Start(data, {"--disk_reserve_mb=4"}));
  stub = server_.NewStub();
  EXPECT_NE(server_.log().find("READ-ONLY"), std::string::npos)
      << server_.log();
  const uint64_t expected = acked.size() + more.size() - 1;
  EXPECT_EQ(Count(stub.get()), expected);
  QUIVER_EXPECT_OK(Search(stub.get(), "c", q, kDim, 5).status());
  std::vector<std::string> none;
  const absl::Status read_only = FillUntilRefused(stub.get(), &none);
  EXPECT_EQ(read_only.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(read_only.message().find("read-only"), std::string::npos)
      << read_only;
  EXPECT_TRUE(none.empty());

  // 6. Space back + restart: writable again, nothing lost.
  std::filesystem::remove(mount_point_ + "/junk");
  ASSERT_EQ(server_.Stop(SIGTERM), 0);
  QUIVER_ASSERT_OK(server_.Start(data, {"--disk_reserve_mb=4"}));
  stub = server_.NewStub();
  EXPECT_EQ(Count(stub.get()), expected);
  std::vector<Doc> one(1);
  one[0].id = "after";
  one[0].vector = Gaussian(1, kDim, 7);
  QUIVER_EXPECT_OK(UpsertDocs(stub.get(), "c", one).status());
  EXPECT_EQ(Count(stub.get()), expected + 1);
}

}  // namespace
}  // namespace quiver::testing
