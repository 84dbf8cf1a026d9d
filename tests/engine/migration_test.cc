// A data directory written by the release before the engine library
// (schema format 0, see testdata/format0/README.md) opens with today's
// engine with the same counts, documents and answers, and its schema is
// rewritten in the current format.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "server/engine/collection.h"
#include "server/engine/records.h"
#include "server/engine/registry.h"
#include "storage/store.h"
#include "tests/testing/testing.h"

namespace quiver::engine {
namespace {

const char kFixture[] = QUIVER_SOURCE_DIR "/tests/engine/testdata/format0";

std::string CopyFixture(const testing::TempDir& dir) {
  const std::string to = dir.Sub("store");
  std::filesystem::copy(std::string(kFixture) + "/store", to,
                        std::filesystem::copy_options::recursive);
  return to;
}

struct Expected {
  std::string collection, mode;
  std::vector<float> query;
  std::vector<std::pair<std::string, float>> hits;
};

std::vector<float> Floats(const std::vector<std::string>& parts, size_t from) {
  std::vector<float> out;
  for (size_t i = from; i < parts.size(); ++i) {
    float v = 0;
    EXPECT_TRUE(absl::SimpleAtof(parts[i], &v)) << parts[i];
    out.push_back(v);
  }
  return out;
}

TEST(MigrationTest, FormatZeroStoreOpensWithTheSameAnswers) {
  testing::TempDir dir;
  const std::string path = CopyFixture(dir);
  // The fixture's schemas are format 0 (protobuf bytes, no magic).
  {
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::Store::Open({.path = path});
    QUIVER_ASSERT_OK(store);
    absl::StatusOr<storage::CollectionMeta> meta =
        (*store)->GetCollection("legacy_l2");
    QUIVER_ASSERT_OK(meta);
    ASSERT_NE(meta->schema.substr(0, 4), "QVSC");
  }
  RegistryOptions ro;
  ro.store.path = path;
  absl::StatusOr<std::unique_ptr<CollectionRegistry>> registry =
      CollectionRegistry::Open(ro);
  QUIVER_ASSERT_OK(registry);

  std::ifstream in(std::string(kFixture) + "/expected.txt");
  ASSERT_TRUE(in) << "missing " << kFixture << "/expected.txt";
  std::vector<Expected> queries;
  std::string line;
  size_t docs_checked = 0, counts_checked = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::vector<std::string> parts = absl::StrSplit(line, ' ');
    if (parts[0] == "query") {
      queries.push_back({parts[1], parts[2], Floats(parts, 3), {}});
    } else if (parts[0] == "hit") {
      float d = 0;
      ASSERT_TRUE(absl::SimpleAtof(parts[3], &d));
      queries.back().hits.emplace_back(parts[2], d);
    } else if (parts[0] == "count") {
      auto c = (*registry)->Get(parts[1]);
      QUIVER_ASSERT_OK(c);
      EXPECT_EQ(std::to_string((*c)->count()), parts[2]) << parts[1];
      ++counts_checked;
    } else if (parts[0] == "absent") {
      auto c = (*registry)->Get(parts[1]);
      QUIVER_ASSERT_OK(c);
      auto got = (*c)->Get({parts[2]}, false);
      QUIVER_ASSERT_OK(got);
      EXPECT_TRUE(got->empty()) << parts[2];
    } else if (parts[0] == "doc") {
      auto c = (*registry)->Get(parts[1]);
      QUIVER_ASSERT_OK(c);
      auto got = (*c)->Get({parts[2]}, true);
      QUIVER_ASSERT_OK(got);
      ASSERT_EQ(got->size(), 1u) << parts[2];
      const StoredDocument& doc = (*got)[0];
      Attributes attrs;
      for (absl::string_view kv : absl::StrSplit(parts[3], ',')) {
        std::pair<std::string, std::string> p = absl::StrSplit(kv, '=');
        attrs.push_back(p);
      }
      EXPECT_EQ(doc.attributes, attrs) << parts[2];
      EXPECT_EQ(doc.vector, Floats(parts, 4)) << parts[2];
      ++docs_checked;
    }
  }
  EXPECT_EQ(counts_checked, 2u);
  EXPECT_EQ(docs_checked, 3u);
  ASSERT_EQ(queries.size(), 8u * 3 + 4);

  auto l2 = (*registry)->Get("legacy_l2");
  QUIVER_ASSERT_OK(l2);
  const CollectionStatus st = (*l2)->Status();
  EXPECT_EQ(st.state, TrainState::kReady);
  EXPECT_EQ(st.train_generation, 1u);
  EXPECT_EQ(st.config.index.nlist, 4u);
  EXPECT_EQ(st.config.index.pq_m, 4u);
  EXPECT_EQ(st.config.index.auto_train_threshold, 300u);

  for (const Expected& e : queries) {
    auto c = (*registry)->Get(e.collection);
    QUIVER_ASSERT_OK(c);
    SearchQuery q;
    q.queries = e.query.data();
    q.nq = 1;
    q.k = 5;
    for (absl::string_view opt : absl::StrSplit(e.mode, ':')) {
      if (opt == "exact") q.exact = true;
      if (absl::StartsWith(opt, "nprobe=")) {
        ASSERT_TRUE(absl::SimpleAtoi(opt.substr(7), &q.nprobe));
      }
      if (absl::StartsWith(opt, "rerank=")) {
        ASSERT_TRUE(absl::SimpleAtoi(opt.substr(7), &q.rerank));
      }
    }
    if (e.mode.find("filter=color=red") != std::string::npos) {
      q.filter = {{"color", "red"}};
    }
    auto result = (*c)->Search(q);
    QUIVER_ASSERT_OK(result);
    const std::vector<SearchHit>& hits = (*result)[0];
    ASSERT_EQ(hits.size(), e.hits.size()) << e.collection << " " << e.mode;
    for (size_t i = 0; i < hits.size(); ++i) {
      EXPECT_EQ(hits[i].id, e.hits[i].first) << e.mode << " rank " << i;
      // The recorded distances are from float vectors; they are now
      // computed on the half-precision copy (a relative error under 1e-3).
      EXPECT_NEAR(hits[i].distance, e.hits[i].second,
                  2e-3 * (1 + std::fabs(e.hits[i].second)))
          << e.mode << " rank " << i;
    }
  }
  // The old string attributes answer filter expressions, and typed
  // attributes can be added to a collection written by an earlier release.
  {
    auto c = (*registry)->Get("legacy_l2");
    QUIVER_ASSERT_OK(c);
    const std::vector<float> q(8, 9.0f);
    SearchQuery query;
    query.queries = q.data();
    query.nq = 1;
    query.k = 3;
    query.where =
        Filter::In("color", {std::string("gold"), std::string("blue")});
    query.include_attributes = true;
    auto hits = (*c)->Search(query);
    QUIVER_ASSERT_OK(hits);
    ASSERT_FALSE((*hits)[0].empty());
    EXPECT_EQ((*hits)[0][0].id, "doc-7");  // gold, the vector of nines
    for (const SearchHit& h : (*hits)[0]) {
      const std::string color =
          std::get<std::string>(*FindAttribute(h.attributes, "color"));
      EXPECT_TRUE(color == "gold" || color == "blue") << color;
    }
    DocumentInput d;
    d.id = "doc-typed";
    d.vector = q;
    d.attributes = {{"color", std::string("gold")}, {"year", int64_t{2026}}};
    std::vector<DocumentInput> docs;
    docs.push_back(std::move(d));
    QUIVER_ASSERT_OK((*c)->Upsert(std::move(docs)));
  }
  registry->reset();
  {
    RegistryOptions again;
    again.store.path = path;
    auto reopened = CollectionRegistry::Open(again);
    QUIVER_ASSERT_OK(reopened);
    auto c = (*reopened)->Get("legacy_l2");
    QUIVER_ASSERT_OK(c);
    auto got = (*c)->Get({"doc-typed", "doc-8"}, false);
    QUIVER_ASSERT_OK(got);
    ASSERT_EQ(got->size(), 2u);
    EXPECT_EQ(std::get<int64_t>(*FindAttribute((*got)[0].attributes, "year")),
              2026);
    EXPECT_EQ(
        std::get<std::string>(*FindAttribute((*got)[1].attributes, "shard")),
        "1");
  }

  // The schemas were rewritten in the current format, with the same
  // configuration.
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::Store::Open({.path = path});
  QUIVER_ASSERT_OK(store);
  for (const char* name : {"legacy_l2", "legacy_cos"}) {
    absl::StatusOr<storage::CollectionMeta> meta =
        (*store)->GetCollection(name);
    QUIVER_ASSERT_OK(meta);
    EXPECT_EQ(meta->schema.substr(0, 4), "QVSC") << name;
    absl::StatusOr<records::SchemaRecord> r =
        records::DecodeSchema(meta->schema);
    QUIVER_ASSERT_OK(r);
    EXPECT_EQ(r->config.name, name);
  }
}

}  // namespace
}  // namespace quiver::engine
