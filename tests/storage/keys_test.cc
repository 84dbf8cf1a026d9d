// The key layout: big-endian order, and collection ranges that neither
// overlap nor leave gaps at byte boundaries.
#include "storage/keys.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "storage/records.h"

namespace quiver::storage {
namespace {

constexpr uint64_t kMaxIid = std::numeric_limits<uint64_t>::max();

TEST(KeysTest, BigEndianRoundTrip) {
  for (uint64_t v : std::vector<uint64_t>{0, 1, 255, 256, 65535, 65536,
                                          0x0102030405060708ull, kMaxIid}) {
    std::string s;
    keys::AppendBigEndian64(&s, v);
    ASSERT_EQ(s.size(), 8u);
    EXPECT_EQ(keys::ReadBigEndian64(s.data()), v);
  }
  std::string s;
  keys::AppendBigEndian32(&s, 0x01020304u);
  EXPECT_EQ(s, std::string("\x01\x02\x03\x04", 4));
}

TEST(KeysTest, DocKeysSortByCollectionThenInternalId) {
  const std::vector<std::pair<uint32_t, uint64_t>> ordered = {
      {1, 0},          {1, 1},          {1, 255},
      {1, 256},        {1, 65535},      {1, 65536},
      {1, kMaxIid},    {2, 0},          {255, kMaxIid},
      {256, 0},        {65535, 7},      {65536, 0},
      {0x00ffffff, 9}, {0x01000000, 0}, {keys::kMaxCollectionId, kMaxIid}};
  for (size_t i = 1; i < ordered.size(); ++i) {
    EXPECT_LT(keys::DocKey(ordered[i - 1].first, ordered[i - 1].second),
              keys::DocKey(ordered[i].first, ordered[i].second))
        << "entry " << i;
  }
}

// Every key of a collection lies in [prefix, upper bound), and the bound is
// the next collection's prefix, at every byte boundary.
TEST(KeysTest, CollectionRangesAreContiguousAndDisjoint) {
  for (uint32_t cid : std::vector<uint32_t>{
           1, 2, 254, 255, 256, 65535, 65536, 0xffffff, 0x1000000,
           keys::kMaxCollectionId - 1, keys::kMaxCollectionId}) {
    const std::string lo = keys::CollectionPrefix(cid);
    const std::string hi = keys::CollectionUpperBound(cid);
    ASSERT_LT(lo, hi) << cid;
    if (cid < keys::kMaxCollectionId) {
      EXPECT_EQ(hi, keys::CollectionPrefix(cid + 1)) << cid;
    }
    const std::vector<std::string> inside = {
        keys::DocKey(cid, 0),
        keys::DocKey(cid, kMaxIid),
        keys::ExternalIdKey(cid, ""),
        keys::ExternalIdKey(cid, std::string(512, '\xff')),
        keys::InternalIdKey(cid, kMaxIid),
        keys::QuantizerKey(cid)};
    for (const std::string& k : inside) {
      EXPECT_LE(lo, k) << cid;
      EXPECT_LT(k, hi) << cid;
    }
    // The previous collection's largest keys stay below this one's range.
    EXPECT_LT(keys::DocKey(cid - 1, kMaxIid), lo) << cid;
    EXPECT_LT(keys::ExternalIdKey(cid - 1, std::string(512, '\xff')), lo)
        << cid;
  }
}

TEST(KeysTest, IdTagRangesSeparateTheTwoMappings) {
  const uint32_t cid = 7;
  const std::string e_lo = keys::IdsTagPrefix(cid, keys::kExternalTag);
  const std::string e_hi = keys::IdsTagUpperBound(cid, keys::kExternalTag);
  const std::string i_lo = keys::IdsTagPrefix(cid, keys::kInternalTag);
  const std::string i_hi = keys::IdsTagUpperBound(cid, keys::kInternalTag);
  const std::string ext = keys::ExternalIdKey(cid, std::string(40, '\xff'));
  EXPECT_LE(e_lo, ext);
  EXPECT_LT(ext, e_hi);
  const std::string iid = keys::InternalIdKey(cid, kMaxIid);
  EXPECT_LE(i_lo, iid);
  EXPECT_LT(iid, i_hi);
  EXPECT_TRUE(iid < e_lo || iid >= e_hi);
  EXPECT_EQ(keys::InternalIdKey(cid, 3).size(), keys::kInternalIdKeyBytes);
  EXPECT_EQ(keys::DocKey(cid, 3).size(), keys::kDocKeyBytes);
}

TEST(RecordsTest, CollectionMetaRoundTripAndCorruption) {
  CollectionMeta meta;
  meta.name = "docs";
  meta.id = 300;
  meta.dimension = 96;
  meta.schema = std::string("\x00schema\xff", 8);
  const std::string encoded = records::EncodeCollectionMeta(meta);
  absl::StatusOr<CollectionMeta> back =
      records::DecodeCollectionMeta("docs", encoded);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->name, "docs");
  EXPECT_EQ(back->id, 300u);
  EXPECT_EQ(back->dimension, 96u);
  EXPECT_EQ(back->schema, meta.schema);

  for (size_t n = 0; n < 9; ++n) {
    EXPECT_EQ(records::DecodeCollectionMeta("docs", encoded.substr(0, n))
                  .status()
                  .code(),
              absl::StatusCode::kDataLoss)
        << n;
  }
  std::string bad_version = encoded;
  bad_version[0] = 9;
  EXPECT_EQ(records::DecodeCollectionMeta("docs", bad_version).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(RecordsTest, ValuesOfTheWrongSizeAreDataLoss) {
  float v[3];
  EXPECT_EQ(records::DecodeVector(std::string(11, 'x'), v, "vector").code(),
            absl::StatusCode::kDataLoss);
  EXPECT_TRUE(records::DecodeVector(std::string(12, '\0'), v, "vector").ok());
  uint32_t list_id = 0;
  std::string_view code;
  EXPECT_EQ(records::DecodeCodeValue("abc", &list_id, &code, "code").code(),
            absl::StatusCode::kDataLoss);
  std::string value;
  records::AppendCodeValue(&value, 70000, "pq");
  ASSERT_TRUE(records::DecodeCodeValue(value, &list_id, &code, "code").ok());
  EXPECT_EQ(list_id, 70000u);
  EXPECT_EQ(code, "pq");
  EXPECT_EQ(records::DecodeU64("1234567", "u64").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(*records::DecodeU64(records::EncodeU64(kMaxIid), "u64"), kMaxIid);
}

}  // namespace
}  // namespace quiver::storage
