// IvfPqIndex::Serialize()/Load(): a round trip gives identical search
// results; truncated, corrupted or unknown-version blobs give DATA_LOSS.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "index/ivf_pq_index.h"
#include "index/serialize.h"
#include "tests/testing/data.h"
#include "tests/testing/testing.h"

namespace quiver::index {
namespace {

using ::quiver::testing::Gaussian;

struct Case {
  Metric metric;
  uint32_t nbits;
};

class SerializeTest : public ::testing::TestWithParam<Case> {};

TEST_P(SerializeTest, RoundTripGivesIdenticalResults) {
  const size_t dim = 24, n = 1500;
  const std::vector<float> x = Gaussian(n, dim, 11);
  IvfPqParams p;
  p.metric = GetParam().metric;
  p.dim = dim;
  p.nlist = 12;
  p.m = 6;
  p.nbits = GetParam().nbits;
  p.niter = 6;
  p.balanced = true;
  p.seed = 99;
  auto trained = IvfPqIndex::Train(p, x.data(), n);
  QUIVER_ASSERT_OK(trained);
  IvfPqIndex& a = **trained;
  std::vector<uint64_t> ids(n);
  std::iota(ids.begin(), ids.end(), 1000);
  a.Add(ids.data(), x.data(), n);

  const std::string blob = a.Serialize();
  auto loaded = IvfPqIndex::Load(blob);
  QUIVER_ASSERT_OK(loaded);
  IvfPqIndex& b = **loaded;
  EXPECT_EQ(b.size(), 0u);  // the lists are not part of the blob
  EXPECT_EQ(b.Serialize(), blob);
  EXPECT_EQ(b.coarse_centroids(), a.coarse_centroids());
  EXPECT_EQ(b.pq_codebooks(), a.pq_codebooks());
  EXPECT_EQ(b.params().balanced, true);
  EXPECT_EQ(b.params().seed, 99u);
  EXPECT_EQ(b.params().metric, p.metric);

  // Restore the lists as the server does: codes read back, AddEncoded.
  for (uint32_t l = 0; l < p.nlist; ++l) {
    std::vector<uint64_t> lids;
    std::vector<uint8_t> codes;
    a.GetList(l, &lids, &codes);
    for (size_t i = 0; i < lids.size(); ++i) {
      b.AddEncoded(lids[i], l, codes.data() + i * a.code_size());
    }
  }
  ASSERT_EQ(b.size(), n);
  // Encoding is deterministic across the round trip.
  std::vector<uint32_t> la(50), lb(50);
  std::vector<uint8_t> ca(50 * a.code_size()), cb(50 * a.code_size());
  a.Encode(x.data(), 50, la.data(), ca.data());
  b.Encode(x.data(), 50, lb.data(), cb.data());
  EXPECT_EQ(la, lb);
  EXPECT_EQ(ca, cb);

  const std::vector<float> q = Gaussian(20, dim, 12);
  SearchParams sp;
  sp.k = 7;
  sp.nprobe = 5;
  for (size_t i = 0; i < 20; ++i) {
    const auto ra = a.Search(q.data() + i * dim, sp);
    const auto rb = b.Search(q.data() + i * dim, sp);
    ASSERT_EQ(ra.size(), rb.size());
    for (size_t j = 0; j < ra.size(); ++j) {
      EXPECT_EQ(ra[j].id, rb[j].id);
      EXPECT_EQ(ra[j].distance, rb[j].distance);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, SerializeTest,
                         ::testing::Values(Case{Metric::kL2, 8},
                                           Case{Metric::kL2, 4},
                                           Case{Metric::kInnerProduct, 8},
                                           Case{Metric::kCosine, 4}));

class CorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::vector<float> x = Gaussian(400, 8, 3);
    IvfPqParams p;
    p.dim = 8;
    p.nlist = 4;
    p.m = 4;
    p.nbits = 4;
    p.niter = 4;
    auto index = IvfPqIndex::Train(p, x.data(), 400);
    QUIVER_ASSERT_OK(index);
    blob_ = (*index)->Serialize();
  }
  std::string blob_;
};

TEST_F(CorruptionTest, TruncatedBlobsAreDataLoss) {
  for (size_t len : {size_t{0}, size_t{5}, size_t{8}, size_t{20}, size_t{27},
                     blob_.size() / 2, blob_.size() - 1}) {
    const auto st =
        IvfPqIndex::Load(std::string_view(blob_).substr(0, len)).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss)
        << "length " << len << ": " << st;
  }
  const auto st = IvfPqIndex::Load(blob_ + "x").status();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
}

TEST_F(CorruptionTest, FlippedBytesAreDataLoss) {
  std::mt19937 rng(17);
  // Every byte of the header, then random bytes elsewhere.
  std::vector<size_t> positions;
  for (size_t i = 0; i < 28; ++i) positions.push_back(i);
  for (int i = 0; i < 200; ++i) positions.push_back(rng() % blob_.size());
  for (size_t pos : positions) {
    std::string bad = blob_;
    bad[pos] = static_cast<char>(bad[pos] ^ (1 + rng() % 255));
    const auto st = IvfPqIndex::Load(bad).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss)
        << "byte " << pos << ": " << st;
  }
}

TEST_F(CorruptionTest, UnknownVersionIsDataLoss) {
  std::string bad = blob_;
  const uint32_t version = 7;
  std::memcpy(bad.data() + 8, &version, 4);
  // Re-seal so that only the version is wrong.
  const uint64_t sum = Fnv1a64(std::string_view(bad).substr(0, bad.size() - 8));
  std::memcpy(bad.data() + bad.size() - 8, &sum, 8);
  const auto st = IvfPqIndex::Load(bad).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("version 7"), std::string::npos) << st;
}

TEST_F(CorruptionTest, BadParametersInsideAValidFrameAreDataLoss) {
  // A well-framed payload whose nbits is 5.
  BlobWriter w;
  for (uint32_t v : {0u, 8u, 4u, 4u, 5u, 0u}) w.U32(v);
  w.I32(4);
  w.U64(1);
  w.I32(0);
  const std::string bad =
      FrameBlob(std::string_view("QVIVFPQ\0", 8), 1, w.data());
  const auto st = IvfPqIndex::Load(bad).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("nbits"), std::string::npos) << st;
}

TEST(Fnv1aTest, KnownValues) {
  // Published FNV-1a 64 test vectors.
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ull);
}

}  // namespace
}  // namespace quiver::index
