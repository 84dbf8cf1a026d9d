// NameTable: names by internal id and ids by name, inline (<= 15 bytes) and
// on the heap, checked against a plain map through random inserts and
// erases.
#include "server/engine/name_table.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"

namespace quiver::engine {
namespace {

TEST(NameTableTest, InlineAndLongNames) {
  NameTable t;
  const std::string n15(15, 'a'), n16(16, 'b'), n1000(1000, 'c');
  EXPECT_TRUE(t.Insert(0, "x"));
  EXPECT_TRUE(t.Insert(3, n15));
  EXPECT_TRUE(t.Insert(4, n16));
  EXPECT_TRUE(t.Insert(9, n1000));
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.slots(), 10u);
  EXPECT_EQ(t.Name(0), "x");
  EXPECT_EQ(t.Name(3), n15);
  EXPECT_EQ(t.Name(4), n16);
  EXPECT_EQ(t.Name(9), n1000);
  EXPECT_EQ(t.Name(1), "");
  EXPECT_EQ(t.Name(100), "");
  EXPECT_EQ(t.Find(n16), 4u);
  EXPECT_EQ(t.Find(n1000), 9u);
  EXPECT_EQ(t.Find(std::string(1000, 'c') + "d"), std::nullopt);
  EXPECT_EQ(t.Find(std::string(14, 'a')), std::nullopt);  // prefix
  EXPECT_TRUE(t.Contains(9));
  EXPECT_FALSE(t.Contains(8));
  EXPECT_FALSE(t.Contains(10));

  // A taken id, a name in use and an empty name are refused unchanged.
  EXPECT_FALSE(t.Insert(3, "other"));
  EXPECT_FALSE(t.Insert(5, n16));
  EXPECT_FALSE(t.Insert(5, ""));
  EXPECT_EQ(t.Name(3), n15);
  EXPECT_EQ(t.Find("other"), std::nullopt);
  EXPECT_FALSE(t.Contains(5));
  EXPECT_EQ(t.size(), 4u);

  // Erase frees both directions; the name can then name another id.
  t.Erase(9);
  t.Erase(9);  // no-op
  t.Erase(7);  // never named
  EXPECT_FALSE(t.Contains(9));
  EXPECT_EQ(t.Find(n1000), std::nullopt);
  EXPECT_TRUE(t.Insert(2, n1000));
  EXPECT_EQ(t.Find(n1000), 2u);
  EXPECT_EQ(t.size(), 4u);

  // Names survive growth (the slots move).
  t.Grow(100000);
  EXPECT_EQ(t.slots(), 100000u);
  EXPECT_EQ(t.Name(3), n15);
  EXPECT_EQ(t.Find(n16), 4u);
  t.Clear();
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.slots(), 0u);
  EXPECT_EQ(t.Find("x"), std::nullopt);
}

TEST(NameTableTest, MatchesAMapThroughRandomChanges) {
  std::mt19937_64 rng(17);
  NameTable t;
  std::map<uint64_t, std::string> by_id;
  std::map<std::string, uint64_t> by_name;
  constexpr uint64_t kIds = 3000;
  for (int step = 0; step < 60000; ++step) {
    const uint64_t iid = rng() % kIds;
    if (rng() % 3 == 0) {
      t.Erase(iid);
      if (auto it = by_id.find(iid); it != by_id.end()) {
        by_name.erase(it->second);
        by_id.erase(it);
      }
      continue;
    }
    // Short and long names, some of them already in use.
    const uint64_t k = rng() % (2 * kIds);
    const std::string name = rng() % 4 == 0
                                 ? absl::StrCat("a-long-document-name/", k)
                                 : absl::StrCat("d", k);
    const bool expect = !by_id.count(iid) && !by_name.count(name);
    ASSERT_EQ(t.Insert(iid, name), expect) << step;
    if (expect) {
      by_id[iid] = name;
      by_name[name] = iid;
    }
    if (step % 20000 == 19999) t.Shrink();
  }
  ASSERT_EQ(t.size(), by_id.size());
  for (uint64_t iid = 0; iid < kIds; ++iid) {
    auto it = by_id.find(iid);
    ASSERT_EQ(t.Contains(iid), it != by_id.end()) << iid;
    ASSERT_EQ(t.Name(iid), it == by_id.end() ? "" : it->second) << iid;
  }
  for (const auto& [name, iid] : by_name) ASSERT_EQ(t.Find(name), iid) << name;
  for (uint64_t k = 0; k < 2 * kIds; ++k) {
    const std::string name = absl::StrCat("d", k);
    ASSERT_EQ(t.Find(name).has_value(), by_name.count(name) == 1) << name;
  }
}

TEST(NameTableTest, ShortNamesCostAboutThirtyBytes) {
  NameTable t;
  constexpr uint64_t kN = 100000;
  t.Grow(kN);
  for (uint64_t i = 0; i < kN; ++i) {
    ASSERT_TRUE(t.Insert(i, absl::StrCat("doc-", i)));
  }
  const double per_name = static_cast<double>(t.memory_bytes()) / kN;
  // 16-byte slots plus a hash set of 8-byte ids at 7/8 load or less.
  EXPECT_GE(per_name, 16 + 9);
  EXPECT_LE(per_name, 16 + 9 * 2.3);
  // Long names add their bytes.
  const size_t before = t.memory_bytes();
  ASSERT_TRUE(t.Insert(kN, std::string(100, 'z')));
  EXPECT_GE(t.memory_bytes(), before + 100);
}

}  // namespace
}  // namespace quiver::engine
