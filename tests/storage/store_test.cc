// Store round trips, validation, atomicity, reopen, drop isolation,
// checkpoints and corruption, on a real RocksDB in temporary directories.
#include "storage/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "storage/keys.h"
#include "storage/rocksdb_status.h"
#include "tests/testing/testing.h"

namespace quiver::storage {
namespace {

using ::quiver::testing::TempDir;
using ::testing::HasSubstr;

constexpr uint32_t kDim = 8;

std::unique_ptr<Store> MustOpen(const std::string& path, bool sync = false) {
  absl::StatusOr<std::unique_ptr<Store>> store =
      Store::Open({.path = path, .sync = sync, .block_cache_bytes = 4u << 20});
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

// A deterministic vector for (iid, salt).
std::vector<float> VectorFor(uint64_t iid, uint32_t dim = kDim,
                             float salt = 0) {
  std::vector<float> v(dim);
  for (uint32_t j = 0; j < dim; ++j) {
    v[j] = static_cast<float>(iid) * 0.25f + static_cast<float>(j) - salt;
  }
  return v;
}

DocumentRecord Doc(std::string external_id, uint64_t iid,
                   std::string attributes = "",
                   std::optional<uint32_t> list_id = std::nullopt,
                   std::string code = "", uint32_t dim = kDim) {
  DocumentRecord r;
  r.external_id = std::move(external_id);
  r.internal_id = iid;
  r.vector = VectorFor(iid, dim);
  r.attributes = std::move(attributes);
  r.list_id = list_id;
  r.code = std::move(code);
  return r;
}

// Everything the visitors report for a collection.
struct Dump {
  std::map<uint64_t, std::vector<float>> vectors;
  std::map<uint64_t, std::pair<uint32_t, std::string>> codes;
  std::map<uint64_t, std::string> ids;
  std::map<uint64_t, std::string> attributes;
};

Dump DumpCollection(const Store& store, CollectionId cid) {
  Dump d;
  QUIVER_EXPECT_OK(
      store.ForEachVector(cid, [&](uint64_t iid, absl::Span<const float> v) {
        d.vectors[iid].assign(v.begin(), v.end());
        return absl::OkStatus();
      }));
  QUIVER_EXPECT_OK(store.ForEachCode(
      cid, [&](uint64_t iid, uint32_t list_id, std::string_view code) {
        d.codes[iid] = {list_id, std::string(code)};
        return absl::OkStatus();
      }));
  QUIVER_EXPECT_OK(
      store.ForEachId(cid, [&](uint64_t iid, std::string_view external_id) {
        d.ids[iid] = std::string(external_id);
        return absl::OkStatus();
      }));
  QUIVER_EXPECT_OK(store.ForEachAttributes(
      cid, [&](uint64_t iid, std::string_view attributes) {
        d.attributes[iid] = std::string(attributes);
        return absl::OkStatus();
      }));
  return d;
}

TEST(StoreTest, CollectionsRoundTrip) {
  TempDir dir;
  std::unique_ptr<Store> store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  absl::StatusOr<CollectionId> b = store->CreateCollection("b", 16, "schema-b");
  absl::StatusOr<CollectionId> a = store->CreateCollection("a", 4, "");
  QUIVER_ASSERT_OK(b);
  QUIVER_ASSERT_OK(a);
  EXPECT_NE(*a, *b);

  absl::StatusOr<CollectionMeta> meta = store->GetCollection("b");
  QUIVER_ASSERT_OK(meta);
  EXPECT_EQ(meta->name, "b");
  EXPECT_EQ(meta->id, *b);
  EXPECT_EQ(meta->dimension, 16u);
  EXPECT_EQ(meta->schema, "schema-b");

  QUIVER_ASSERT_OK(store->UpdateSchema("b", std::string("new\0schema", 10)));
  meta = store->GetCollection("b");
  QUIVER_ASSERT_OK(meta);
  EXPECT_EQ(meta->schema, std::string("new\0schema", 10));
  EXPECT_EQ(meta->dimension, 16u);

  absl::StatusOr<std::vector<CollectionMeta>> list = store->ListCollections();
  QUIVER_ASSERT_OK(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "a");
  EXPECT_EQ((*list)[0].id, *a);
  EXPECT_EQ((*list)[0].dimension, 4u);
  EXPECT_EQ((*list)[1].name, "b");

  // Errors.
  absl::StatusOr<CollectionId> dup = store->CreateCollection("a", 4, "");
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(dup.status().message()), HasSubstr("'a'"));
  EXPECT_EQ(store->CreateCollection("", 4, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->CreateCollection("z", 0, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->GetCollection("nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->UpdateSchema("nope", "").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->DropCollection("nope").code(), absl::StatusCode::kNotFound);

  // Ids are never reused, also across a reopen.
  QUIVER_ASSERT_OK(store->DropCollection("b"));
  EXPECT_EQ(store->GetCollection("b").status().code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<CollectionId> c = store->CreateCollection("c", 4, "");
  QUIVER_ASSERT_OK(c);
  EXPECT_GT(*c, std::max(*a, *b));
  store.reset();
  store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  QUIVER_ASSERT_OK(store->DropCollection("c"));
  store.reset();
  store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  absl::StatusOr<CollectionId> b2 = store->CreateCollection("b", 16, "");
  QUIVER_ASSERT_OK(b2);
  EXPECT_GT(*b2, *c);
  list = store->ListCollections();
  QUIVER_ASSERT_OK(list);
  ASSERT_EQ(list->size(), 2u);
}

TEST(StoreTest, QuantizerRoundTrip) {
  TempDir dir;
  std::unique_ptr<Store> store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  absl::StatusOr<CollectionId> cid = store->CreateCollection("q", kDim, "");
  QUIVER_ASSERT_OK(cid);
  EXPECT_EQ(store->GetQuantizer(*cid).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->PutQuantizer(*cid + 100, "x").code(),
            absl::StatusCode::kNotFound);

  const std::string blob1(1000, '\x01');
  QUIVER_ASSERT_OK(store->PutQuantizer(*cid, blob1));
  absl::StatusOr<std::string> got = store->GetQuantizer(*cid);
  QUIVER_ASSERT_OK(got);
  EXPECT_EQ(*got, blob1);

  // Documents first (untrained: no codes), then a trained quantizer with
  // their codes in one write.
  DocumentBatch docs(*cid);
  for (uint64_t i = 0; i < 5; ++i) docs.Put(Doc(absl::StrCat("d", i), i));
  QUIVER_ASSERT_OK(store->Write(docs));
  EXPECT_TRUE(DumpCollection(*store, *cid).codes.empty());

  DocumentBatch codes(*cid);
  for (uint64_t i = 0; i < 5; ++i) {
    codes.PutCode(i, static_cast<uint32_t>(i % 2), std::string(4, 'a' + i));
  }
  const std::string blob2 = "trained-v2";
  QUIVER_ASSERT_OK(store->PutQuantizerAndCodes(*cid, blob2, codes));
  got = store->GetQuantizer(*cid);
  QUIVER_ASSERT_OK(got);
  EXPECT_EQ(*got, blob2);
  const Dump d = DumpCollection(*store, *cid);
  ASSERT_EQ(d.codes.size(), 5u);
  for (uint64_t i = 0; i < 5; ++i) {
    EXPECT_EQ(d.codes.at(i).first, i % 2);
    EXPECT_EQ(d.codes.at(i).second, std::string(4, 'a' + i));
  }

  DocumentBatch other(*cid + 1);
  EXPECT_EQ(store->PutQuantizerAndCodes(*cid, "x", other).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(StoreTest, DocumentsRoundTrip) {
  TempDir dir;
  std::unique_ptr<Store> store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  absl::StatusOr<CollectionId> cid = store->CreateCollection("docs", kDim, "");
  QUIVER_ASSERT_OK(cid);
  EXPECT_EQ(*store->NextInternalId(*cid), 0u);
  EXPECT_EQ(*store->CountDocuments(*cid), 0u);

  DocumentBatch batch(*cid);
  batch.Put(Doc("alpha", 0, "attrs-a", 3, "code-a"));
  batch.Put(Doc("beta", 1, "", std::nullopt, ""));
  batch.Put(
      Doc(std::string("g\0mma\xff", 6), 7, std::string("x\0y", 3), 0, ""));
  QUIVER_ASSERT_OK(store->Write(batch));

  absl::StatusOr<DocumentRecord> doc = store->GetDocument(*cid, 0);
  QUIVER_ASSERT_OK(doc);
  EXPECT_EQ(doc->external_id, "alpha");
  EXPECT_EQ(doc->internal_id, 0u);
  EXPECT_EQ(doc->vector, VectorFor(0));
  EXPECT_EQ(doc->attributes, "attrs-a");
  ASSERT_TRUE(doc->list_id.has_value());
  EXPECT_EQ(*doc->list_id, 3u);
  EXPECT_EQ(doc->code, "code-a");

  doc = store->GetDocument(*cid, 1);
  QUIVER_ASSERT_OK(doc);
  EXPECT_EQ(doc->external_id, "beta");
  EXPECT_TRUE(doc->attributes.empty());
  EXPECT_FALSE(doc->list_id.has_value());

  doc = store->GetDocument(*cid, 7);
  QUIVER_ASSERT_OK(doc);
  EXPECT_EQ(doc->external_id, std::string("g\0mma\xff", 6));
  EXPECT_EQ(doc->attributes, std::string("x\0y", 3));
  ASSERT_TRUE(doc->list_id.has_value());
  EXPECT_EQ(*doc->list_id, 0u);
  EXPECT_EQ(doc->code, "");

  EXPECT_EQ(store->GetDocument(*cid, 2).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->GetDocument(*cid + 1, 0).status().code(),
            absl::StatusCode::kNotFound);

  absl::StatusOr<std::optional<uint64_t>> iid =
      store->LookupInternalId(*cid, "beta");
  QUIVER_ASSERT_OK(iid);
  EXPECT_EQ(*iid, std::optional<uint64_t>(1));
  iid = store->LookupInternalId(*cid, "nobody");
  QUIVER_ASSERT_OK(iid);
  EXPECT_FALSE(iid->has_value());
  EXPECT_EQ(store->LookupInternalId(*cid + 1, "beta").status().code(),
            absl::StatusCode::kNotFound);

  std::vector<float> out(kDim);
  QUIVER_ASSERT_OK(store->GetVector(*cid, 7, absl::MakeSpan(out)));
  EXPECT_EQ(out, VectorFor(7));
  EXPECT_EQ(store->GetVector(*cid, 8, absl::MakeSpan(out)).code(),
            absl::StatusCode::kNotFound);
  std::vector<float> small(kDim - 1);
  EXPECT_EQ(store->GetVector(*cid, 7, absl::MakeSpan(small)).code(),
            absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(*store->CountDocuments(*cid), 3u);
  EXPECT_EQ(*store->NextInternalId(*cid), 8u);

  Dump d = DumpCollection(*store, *cid);
  ASSERT_EQ(d.vectors.size(), 3u);
  EXPECT_EQ(d.vectors.at(1), VectorFor(1));
  EXPECT_EQ(d.ids,
            (std::map<uint64_t, std::string>{
                {0, "alpha"}, {1, "beta"}, {7, std::string("g\0mma\xff", 6)}}));
  EXPECT_EQ(d.codes.size(), 2u);
  EXPECT_EQ(d.codes.at(0), std::make_pair(3u, std::string("code-a")));
  // Empty attributes are not stored, hence not visited.
  EXPECT_EQ(d.attributes, (std::map<uint64_t, std::string>{
                              {0, "attrs-a"}, {7, std::string("x\0y", 3)}}));

  // Replace alpha's vector without a code (its old code must go), set beta's
  // code, delete the largest internal id.
  DocumentBatch update(*cid);
  DocumentRecord alpha = Doc("alpha", 0, "attrs-a2");
  alpha.vector = VectorFor(0, kDim, 100);
  update.Put(alpha);
  update.PutCode(1, 9, "code-b");
  update.Delete(7, std::string("g\0mma\xff", 6));
  QUIVER_ASSERT_OK(store->Write(update));
  d = DumpCollection(*store, *cid);
  EXPECT_EQ(d.vectors.size(), 2u);
  EXPECT_EQ(d.vectors.at(0), VectorFor(0, kDim, 100));
  EXPECT_EQ(d.codes.size(), 1u);
  EXPECT_EQ(d.codes.at(1), std::make_pair(9u, std::string("code-b")));
  EXPECT_EQ(d.ids.size(), 2u);
  EXPECT_EQ(d.attributes.size(), 1u);
  EXPECT_EQ(d.attributes.at(0), "attrs-a2");
  EXPECT_EQ(store->GetDocument(*cid, 7).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(
      store->LookupInternalId(*cid, std::string("g\0mma\xff", 6))->has_value());
  EXPECT_EQ(*store->CountDocuments(*cid), 2u);
  // The largest id ever stored, even though it was deleted.
  EXPECT_EQ(*store->NextInternalId(*cid), 8u);

  // A Delete without the external id finds it through the mapping; moving an
  // external id to a new internal id in one batch.
  DocumentBatch move(*cid);
  move.Delete(1, "");
  move.Put(Doc("beta", 20));
  move.Delete(0, "alpha");
  QUIVER_ASSERT_OK(store->Write(move));
  d = DumpCollection(*store, *cid);
  EXPECT_EQ(d.ids, (std::map<uint64_t, std::string>{{20, "beta"}}));
  EXPECT_EQ(d.vectors.size(), 1u);
  EXPECT_TRUE(d.codes.empty());
  EXPECT_TRUE(d.attributes.empty());
  EXPECT_EQ(**store->LookupInternalId(*cid, "beta"), 20u);
  EXPECT_FALSE(store->LookupInternalId(*cid, "alpha")->has_value());
  EXPECT_EQ(*store->NextInternalId(*cid), 21u);

  // An empty batch is fine.
  QUIVER_ASSERT_OK(store->Write(DocumentBatch(*cid)));
}

// Write() sorts a batch's puts by key per column family: a batch given out
// of order, with one document put twice (the last put wins), reads back as
// given. `fresh` skips clearing attributes and codes only: on an id never
// written it changes nothing; on a stored document (a caller's mistake) its
// stale attributes stay, which is what the flag promises not to clear.
TEST(StoreTest, UnorderedBatchesAndFreshPuts) {
  TempDir dir;
  std::unique_ptr<Store> store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  absl::StatusOr<CollectionId> cid = store->CreateCollection("docs", kDim, "");
  QUIVER_ASSERT_OK(cid);
  DocumentBatch batch(*cid);
  const std::vector<std::pair<std::string, uint64_t>> docs = {
      {"m", 5}, {"b", 9}, {"z", 1}, {"a", 7}, {"q", 3}};
  for (const auto& [ext, iid] : docs) {
    DocumentRecord r = Doc(ext, iid, "attrs-" + ext, 2, "c-" + ext);
    r.fresh = true;
    batch.Put(std::move(r));
  }
  DocumentRecord again = Doc("b", 9, "attrs-b2", 4, "c-b2");
  again.vector = VectorFor(9, kDim, 50);
  batch.Put(again);
  QUIVER_ASSERT_OK(store->Write(batch));
  Dump d = DumpCollection(*store, *cid);
  ASSERT_EQ(d.ids.size(), docs.size());
  for (const auto& [ext, iid] : docs) {
    EXPECT_EQ(d.ids.at(iid), ext);
    EXPECT_EQ(**store->LookupInternalId(*cid, ext), iid);
    if (ext == "b") continue;
    EXPECT_EQ(d.attributes.at(iid), "attrs-" + ext);
    EXPECT_EQ(d.codes.at(iid), std::make_pair(2u, "c-" + ext));
    EXPECT_EQ(d.vectors.at(iid), VectorFor(iid));
  }
  EXPECT_EQ(d.attributes.at(9), "attrs-b2");
  EXPECT_EQ(d.codes.at(9), std::make_pair(4u, std::string("c-b2")));
  EXPECT_EQ(d.vectors.at(9), VectorFor(9, kDim, 50));
  EXPECT_EQ(*store->NextInternalId(*cid), 10u);

  // Not fresh: a put without attributes or code clears both.
  DocumentBatch clear(*cid);
  clear.Put(Doc("m", 5));
  DocumentRecord kept = Doc("z", 1);
  kept.fresh = true;  // misused on a stored document: nothing is cleared
  clear.Put(kept);
  QUIVER_ASSERT_OK(store->Write(clear));
  d = DumpCollection(*store, *cid);
  EXPECT_EQ(d.attributes.count(5), 0u);
  EXPECT_EQ(d.codes.count(5), 0u);
  EXPECT_EQ(d.attributes.at(1), "attrs-z");
  EXPECT_EQ(d.codes.at(1), std::make_pair(2u, std::string("c-z")));
}

TEST(StoreTest, VisitorsStopEarlyWithTheirStatus) {
  TempDir dir;
  std::unique_ptr<Store> store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  absl::StatusOr<CollectionId> cid = store->CreateCollection("v", kDim, "");
  QUIVER_ASSERT_OK(cid);
  DocumentBatch batch(*cid);
  for (uint64_t i = 0; i < 10; ++i) {
    batch.Put(Doc(absl::StrCat("d", i), i, "a", 1, "c"));
  }
  QUIVER_ASSERT_OK(store->Write(batch));
  int seen = 0;
  const absl::Status s =
      store->ForEachVector(*cid, [&](uint64_t, absl::Span<const float>) {
        return ++seen == 3 ? absl::CancelledError("enough") : absl::OkStatus();
      });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(seen, 3);
  std::vector<uint64_t> order;
  QUIVER_ASSERT_OK(store->ForEachId(*cid, [&](uint64_t iid, std::string_view) {
    order.push_back(iid);
    return absl::OkStatus();
  }));
  EXPECT_EQ(order.size(), 10u);
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
  EXPECT_EQ(store
                ->ForEachCode(*cid + 5,
                              [](uint64_t, uint32_t, std::string_view) {
                                return absl::OkStatus();
                              })
                .code(),
            absl::StatusCode::kNotFound);
}

struct BadRecordCase {
  const char* name;
  DocumentRecord record;
  const char* expected;  // in the message
};

// A batch with one bad record (at position 2) writes nothing, and the error
// names the record and the problem.
TEST(StoreTest, BatchWithOneBadRecordWritesNothing) {
  TempDir dir;
  std::unique_ptr<Store> store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  absl::StatusOr<CollectionId> cid = store->CreateCollection("docs", kDim, "");
  QUIVER_ASSERT_OK(cid);

  std::vector<BadRecordCase> cases;
  cases.push_back({"empty id", Doc("", 2), "empty external id"});
  cases.push_back({"long id", Doc(std::string(kMaxExternalIdBytes + 1, 'x'), 2),
                   "513 bytes"});
  DocumentRecord short_vector = Doc("bad", 2);
  short_vector.vector.pop_back();
  cases.push_back({"dimension", short_vector, "vector has 7 values"});
  DocumentRecord nan = Doc("bad", 2);
  nan.vector[5] = std::nanf("");
  cases.push_back({"nan", nan, "vector[5] is NaN"});
  DocumentRecord inf = Doc("bad", 2);
  inf.vector[0] = -std::numeric_limits<float>::infinity();
  cases.push_back({"inf", inf, "vector[0] is infinite"});
  cases.push_back({"code without list", Doc("bad", 2, "", std::nullopt, "pq"),
                   "without a list id"});
  cases.push_back({"duplicate external id", Doc("ok0", 5),
                   "documents 0 and 2 both have id \"ok0\""});
  cases.push_back({"duplicate internal id", Doc("other", 1),
                   "documents 1 and 2 both have internal id 1"});

  for (const BadRecordCase& c : cases) {
    SCOPED_TRACE(c.name);
    DocumentBatch batch(*cid);
    batch.Put(Doc("ok0", 0, "a", 1, "c"));
    batch.Put(Doc("ok1", 1));
    batch.Put(c.record);
    batch.Put(Doc("ok3", 3));
    batch.Delete(0, "ok0");
    const absl::Status s = store->Write(batch);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.expected));
    EXPECT_THAT(std::string(s.message()), HasSubstr("'docs'"));
    if (std::string_view(c.name).find("duplicate") == std::string_view::npos) {
      EXPECT_THAT(std::string(s.message()), HasSubstr("document 2 (id \""))
          << s;
    }
    EXPECT_EQ(*store->CountDocuments(*cid), 0u);
    EXPECT_EQ(*store->NextInternalId(*cid), 0u);
    EXPECT_FALSE(store->LookupInternalId(*cid, "ok0")->has_value());
    const Dump d = DumpCollection(*store, *cid);
    EXPECT_TRUE(d.vectors.empty() && d.codes.empty() && d.ids.empty() &&
                d.attributes.empty());
  }

  DocumentBatch unknown(*cid + 1);
  unknown.Put(Doc("x", 0));
  const absl::Status s = store->Write(unknown);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr(absl::StrCat("collection id ", *cid + 1)));

  // The same (external, internal) pair twice is allowed: the last one wins.
  DocumentBatch twice(*cid);
  twice.Put(Doc("same", 4, "first"));
  twice.Put(Doc("same", 4, "second"));
  QUIVER_ASSERT_OK(store->Write(twice));
  EXPECT_EQ(store->GetDocument(*cid, 4)->attributes, "second");
}

TEST(StoreTest, ReopenSeesEverything) {
  TempDir dir;
  CollectionId a = 0, b = 0;
  {
    std::unique_ptr<Store> store = MustOpen(dir.path(), /*sync=*/true);
    ASSERT_NE(store, nullptr);
    QUIVER_ASSERT_OK(store->CreateCollection("a", kDim, "sa"));
    QUIVER_ASSERT_OK(store->CreateCollection("b", 3, "sb"));
    a = store->GetCollection("a")->id;
    b = store->GetCollection("b")->id;
    QUIVER_ASSERT_OK(store->PutQuantizer(a, "qa"));
    for (int round = 0; round < 3; ++round) {
      DocumentBatch batch(a);
      for (uint64_t i = 0; i < 50; ++i) {
        const uint64_t iid = static_cast<uint64_t>(round) * 50 + i;
        batch.Put(Doc(absl::StrCat("a", iid), iid, absl::StrCat("attr", iid),
                      static_cast<uint32_t>(iid % 4), absl::StrCat("c", iid)));
      }
      QUIVER_ASSERT_OK(store->Write(batch));
    }
    DocumentBatch bb(b);
    bb.Put(Doc("b0", 0, "", std::nullopt, "", 3));
    QUIVER_ASSERT_OK(store->Write(bb));
    if (store) QUIVER_ASSERT_OK(store->Flush());
    // More after the flush: recovered from the WAL.
    DocumentBatch tail(a);
    tail.Put(Doc("a-tail", 1000, "t", 1, "ct"));
    QUIVER_ASSERT_OK(store->Write(tail));
    EXPECT_GT(store->ApproximateDiskBytes(), 0u);
  }
  std::unique_ptr<Store> store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::vector<CollectionMeta>> list = store->ListCollections();
  QUIVER_ASSERT_OK(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].schema, "sa");
  EXPECT_EQ((*list)[1].dimension, 3u);
  EXPECT_EQ(*store->GetQuantizer(a), "qa");
  EXPECT_EQ(*store->CountDocuments(a), 151u);
  EXPECT_EQ(*store->NextInternalId(a), 1001u);
  EXPECT_EQ(*store->CountDocuments(b), 1u);
  EXPECT_EQ(*store->NextInternalId(b), 1u);
  const Dump d = DumpCollection(*store, a);
  EXPECT_EQ(d.vectors.size(), 151u);
  EXPECT_EQ(d.codes.size(), 151u);
  EXPECT_EQ(d.attributes.size(), 151u);
  for (uint64_t iid = 0; iid < 150; ++iid) {
    EXPECT_EQ(d.vectors.at(iid), VectorFor(iid));
    EXPECT_EQ(d.ids.at(iid), absl::StrCat("a", iid));
    EXPECT_EQ(d.codes.at(iid), std::make_pair(static_cast<uint32_t>(iid % 4),
                                              absl::StrCat("c", iid)));
  }
  EXPECT_EQ(d.ids.at(1000), "a-tail");
  std::vector<float> v(3);
  QUIVER_ASSERT_OK(store->GetVector(b, 0, absl::MakeSpan(v)));
  EXPECT_EQ(v, VectorFor(0, 3));
}

// Counts the raw keys of collection `cid` in every family, through plain
// RocksDB (range deletions hide what they cover). Also returns whether the
// collection's high-water key exists.
std::map<std::string, size_t> RawKeyCounts(const std::string& path,
                                           uint32_t cid, bool* high_water) {
  std::map<std::string, size_t> counts;
  std::vector<std::string> names;
  rocksdb::Status s =
      rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names);
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.reserve(names.size());
  for (const std::string& n : names) descriptors.push_back({n, {}});
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  s = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), path, descriptors,
                                   &handles, &db);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return counts;
  const std::string lo = keys::CollectionPrefix(cid);
  const std::string hi = keys::CollectionUpperBound(cid);
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == "default") {
      std::string v;
      *high_water = db->Get(rocksdb::ReadOptions(), handles[i],
                            keys::HighWaterKey(cid), &v)
                        .ok();
      continue;
    }
    if (names[i] == keys::kCollectionsCf) continue;
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(rocksdb::ReadOptions(), handles[i]));
    size_t n = 0;
    for (it->Seek(lo); it->Valid() && it->key().compare(hi) < 0; it->Next()) {
      ++n;
    }
    EXPECT_TRUE(it->status().ok());
    counts[names[i]] = n;
  }
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    EXPECT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  }
  delete db;
  return counts;
}

// Collections 1, 2, 3 and 254, 255, 256 (the last pair crosses a byte
// boundary) hold documents whose internal and external ids touch the ends of
// the key ranges; dropping 2 and 255 removes all of their keys in every
// family and none of their neighbours'.
TEST(StoreTest, DropRemovesAllKeysOfOneCollectionAndNoneOfAnother) {
  TempDir dir;
  std::unique_ptr<Store> store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  const std::vector<uint64_t> iids = {0, 255, 256, 65535,
                                      std::numeric_limits<uint64_t>::max() - 1};
  auto name = [](uint32_t cid) { return absl::StrCat("c", cid); };
  for (uint32_t want = 1; want <= 256; ++want) {
    absl::StatusOr<CollectionId> cid =
        store->CreateCollection(name(want), kDim, "");
    QUIVER_ASSERT_OK(cid);
    ASSERT_EQ(*cid, want) << "ids are assigned from 1 in order";
  }
  const std::vector<uint32_t> filled = {1, 2, 3, 254, 255, 256};
  for (uint32_t cid : filled) {
    DocumentBatch batch(cid);
    for (uint64_t iid : iids) {
      std::string ext = absl::StrCat(std::string(1, '\xff'), iid);
      if (iid == iids.back()) ext = std::string(kMaxExternalIdBytes, '\xff');
      if (iid == 0) ext = std::string(1, '\0');
      batch.Put(Doc(ext, iid, "attr", 2, "code"));
    }
    QUIVER_ASSERT_OK(store->Write(batch));
    QUIVER_ASSERT_OK(store->PutQuantizer(cid, absl::StrCat("q", cid)));
  }
  QUIVER_ASSERT_OK(store->Flush());  // some keys in SSTs, some in memtables
  DocumentBatch more(3);
  more.Put(Doc("late", 5));
  QUIVER_ASSERT_OK(store->Write(more));

  QUIVER_ASSERT_OK(store->DropCollection(name(2)));
  QUIVER_ASSERT_OK(store->DropCollection(name(255)));
  for (uint32_t cid : {2u, 255u}) {
    EXPECT_EQ(store->CountDocuments(cid).status().code(),
              absl::StatusCode::kNotFound);
    DocumentBatch batch(cid);
    batch.Put(Doc("x", 0));
    EXPECT_EQ(store->Write(batch).code(), absl::StatusCode::kNotFound);
  }
  for (uint32_t cid : {1u, 3u, 254u, 256u}) {
    SCOPED_TRACE(cid);
    const uint64_t extra = cid == 3 ? 1 : 0;
    EXPECT_EQ(*store->CountDocuments(cid), iids.size() + extra);
    EXPECT_EQ(*store->NextInternalId(cid), iids.back() + 1);
    EXPECT_EQ(*store->GetQuantizer(cid), absl::StrCat("q", cid));
    const Dump d = DumpCollection(*store, cid);
    EXPECT_EQ(d.vectors.size(), iids.size() + extra);
    EXPECT_EQ(d.codes.size(), iids.size());
    EXPECT_EQ(d.attributes.size(), iids.size());
    EXPECT_EQ(**store->LookupInternalId(
                  cid, std::string(kMaxExternalIdBytes, '\xff')),
              iids.back());
  }
  store.reset();

  for (uint32_t cid : {1u, 2u, 3u, 254u, 255u, 256u}) {
    SCOPED_TRACE(cid);
    const bool dropped = cid == 2 || cid == 255;
    bool high_water = false;
    const std::map<std::string, size_t> counts =
        RawKeyCounts(dir.path(), cid, &high_water);
    const uint64_t extra = cid == 3 ? 1 : 0;
    const size_t n = iids.size();
    EXPECT_EQ(counts.at(keys::kVectorsCf), dropped ? 0 : n + extra);
    EXPECT_EQ(counts.at(keys::kCodesCf), dropped ? 0 : n);
    EXPECT_EQ(counts.at(keys::kAttributesCf), dropped ? 0 : n);
    EXPECT_EQ(counts.at(keys::kIdsCf), dropped ? 0 : 2 * (n + extra));
    EXPECT_EQ(counts.at(keys::kQuantizersCf), dropped ? 0u : 1u);
    EXPECT_EQ(high_water, !dropped);
  }
  // And the drops survive a reopen.
  store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->ListCollections()->size(), 254u);
  EXPECT_EQ(store->GetCollection(name(255)).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(*store->CountDocuments(256), iids.size());
}

// Writes still in the memtables, then a drop (a range deletion over the
// collection's keys) and more writes: the memtables' insert hints for
// ascending keys must not mix the point and range-deletion tables
// (RocksDB asserts, or corrupts the skip list, when they do).
TEST(StoreTest, DropRightAfterWritesStillInTheMemtables) {
  TempDir dir;
  std::unique_ptr<Store> store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    const std::string name = absl::StrCat("c", round);
    absl::StatusOr<CollectionId> cid = store->CreateCollection(name, kDim, "");
    QUIVER_ASSERT_OK(cid);
    absl::StatusOr<CollectionId> keep =
        store->CreateCollection(absl::StrCat("keep", round), kDim, "");
    QUIVER_ASSERT_OK(keep);
    for (uint64_t first = 0; first < 300; first += 100) {
      for (CollectionId c : {*cid, *keep}) {
        DocumentBatch batch(c);
        for (uint64_t iid = first; iid < first + 100; ++iid) {
          batch.Put(Doc(absl::StrCat("d", iid), iid, "attr", 2, "code"));
        }
        QUIVER_ASSERT_OK(store->Write(batch));
      }
    }
    QUIVER_ASSERT_OK(store->DropCollection(name));
    DocumentBatch more(*keep);
    for (uint64_t iid = 300; iid < 310; ++iid) {
      more.Put(Doc(absl::StrCat("d", iid), iid, "attr", 2, "code"));
    }
    QUIVER_ASSERT_OK(store->Write(more));
    EXPECT_EQ(*store->CountDocuments(*keep), 310u);
    EXPECT_EQ(DumpCollection(*store, *keep).vectors.size(), 310u);
  }
  store.reset();
  store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->ListCollections()->size(), 3u);
  for (int round = 0; round < 3; ++round) {
    absl::StatusOr<CollectionMeta> meta =
        store->GetCollection(absl::StrCat("keep", round));
    QUIVER_ASSERT_OK(meta);
    EXPECT_EQ(DumpCollection(*store, meta->id).codes.size(), 310u);
  }
}

// Deleted documents' space comes back once the collection is compacted;
// other collections and the survivors are untouched.
TEST(StoreTest, CompactCollectionReturnsTheSpaceOfDeletes) {
  TempDir dir;
  std::unique_ptr<Store> store = MustOpen(dir.Sub("db"));
  ASSERT_NE(store, nullptr);
  absl::StatusOr<CollectionId> cid = store->CreateCollection("docs", kDim, "s");
  QUIVER_ASSERT_OK(cid);
  constexpr uint64_t kN = 20000;
  for (uint64_t b = 0; b < kN; b += 1000) {
    DocumentBatch batch(*cid);
    for (uint64_t i = b; i < b + 1000; ++i) {
      batch.Put(Doc(absl::StrCat("d", i), i, std::string(200, 'a'), 1,
                    std::string(64, 'c')));
    }
    QUIVER_ASSERT_OK(store->Write(batch));
  }
  QUIVER_ASSERT_OK(store->Flush());
  const auto sst_bytes = [&] {
    uint64_t total = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.Sub("db"))) {
      if (e.path().extension() == ".sst") total += e.file_size();
    }
    return total;
  };
  const uint64_t full = sst_bytes();
  for (uint64_t b = 0; b < kN; b += 1000) {
    DocumentBatch batch(*cid);
    for (uint64_t i = b; i < b + 1000; ++i) {
      if (i % 10 != 0) batch.Delete(i, absl::StrCat("d", i));
    }
    QUIVER_ASSERT_OK(store->Write(batch));
  }
  QUIVER_ASSERT_OK(store->Flush());
  const uint64_t with_tombstones = sst_bytes();
  QUIVER_ASSERT_OK(store->CompactCollection(*cid));
  const uint64_t compacted = sst_bytes();
  EXPECT_LT(compacted, full / 4)
      << "full " << full << ", with tombstones " << with_tombstones;
  EXPECT_EQ(*store->CountDocuments(*cid), kN / 10);
  const Dump d = DumpCollection(*store, *cid);
  EXPECT_EQ(d.vectors.size(), kN / 10);
  EXPECT_EQ(d.vectors.at(420), VectorFor(420));
  EXPECT_EQ(store->CompactCollection(*cid + 1).code(),
            absl::StatusCode::kNotFound);
}

TEST(StoreTest, CheckpointOpensAsAFullCopy) {
  TempDir dir;
  std::unique_ptr<Store> store = MustOpen(dir.Sub("db"));
  ASSERT_NE(store, nullptr);
  absl::StatusOr<CollectionId> cid = store->CreateCollection("docs", kDim, "s");
  QUIVER_ASSERT_OK(cid);
  QUIVER_ASSERT_OK(store->PutQuantizer(*cid, "q"));
  DocumentBatch batch(*cid);
  for (uint64_t i = 0; i < 100; ++i) {
    batch.Put(Doc(absl::StrCat("d", i), i, "a", 1, "c"));
  }
  QUIVER_ASSERT_OK(store->Write(batch));
  QUIVER_ASSERT_OK(store->Checkpoint(dir.Sub("cp")));
  // Writes after the checkpoint are not in it.
  DocumentBatch after(*cid);
  after.Put(Doc("late", 100));
  QUIVER_ASSERT_OK(store->Write(after));
  QUIVER_ASSERT_OK(store->CreateCollection("late", 2, ""));

  const absl::Status exists = store->Checkpoint(dir.Sub("cp"));
  EXPECT_EQ(exists.code(), absl::StatusCode::kAlreadyExists) << exists;

  std::unique_ptr<Store> copy = MustOpen(dir.Sub("cp"));
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->ListCollections()->size(), 1u);
  EXPECT_EQ(copy->GetCollection("docs")->schema, "s");
  EXPECT_EQ(*copy->GetQuantizer(*cid), "q");
  EXPECT_EQ(*copy->CountDocuments(*cid), 100u);
  EXPECT_EQ(*copy->NextInternalId(*cid), 100u);
  const Dump d = DumpCollection(*copy, *cid);
  EXPECT_EQ(d.vectors.size(), 100u);
  EXPECT_EQ(d.vectors.at(42), VectorFor(42));
  EXPECT_EQ(d.codes.size(), 100u);
  // The copy is independent of the original.
  DocumentBatch more(*cid);
  more.Delete(0, "d0");
  QUIVER_ASSERT_OK(copy->Write(more));
  EXPECT_EQ(*copy->CountDocuments(*cid), 99u);
  EXPECT_EQ(*store->CountDocuments(*cid), 101u);
}

// Writes raw values with plain RocksDB into the closed store's families.
void PutRaw(
    const std::string& path,
    const std::vector<std::tuple<std::string, std::string, std::string>>&
        cf_key_values) {
  std::vector<std::string> names;
  ASSERT_TRUE(
      rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.reserve(names.size());
  for (const std::string& n : names) descriptors.push_back({n, {}});
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s =
      rocksdb::DB::Open(rocksdb::DBOptions(), path, descriptors, &handles, &db);
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (const auto& [cf, key, value] : cf_key_values) {
    size_t i = 0;
    while (i < names.size() && names[i] != cf) ++i;
    ASSERT_LT(i, names.size()) << cf;
    s = db->Put(rocksdb::WriteOptions(), handles[i], key, value);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    EXPECT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  }
  delete db;
}

TEST(StoreTest, CorruptValuesAreDataLossNotCrashes) {
  TempDir dir;
  CollectionId cid = 0;
  {
    std::unique_ptr<Store> store = MustOpen(dir.path());
    ASSERT_NE(store, nullptr);
    QUIVER_ASSERT_OK(store->CreateCollection("docs", kDim, ""));
    QUIVER_ASSERT_OK(store->CreateCollection("broken", kDim, ""));
    cid = store->GetCollection("docs")->id;
    DocumentBatch batch(cid);
    for (uint64_t i = 0; i < 4; ++i) {
      batch.Put(Doc(absl::StrCat("d", i), i, "a", 1, "c"));
    }
    QUIVER_ASSERT_OK(store->Write(batch));
  }
  PutRaw(dir.path(), {{keys::kVectorsCf, keys::DocKey(cid, 1), "short"},
                      {keys::kCodesCf, keys::DocKey(cid, 2), "xy"},
                      {keys::kIdsCf, keys::ExternalIdKey(cid, "d3"), "123"},
                      {keys::kCollectionsCf, "broken", "\x01\x02"},
                      {"default", keys::HighWaterKey(cid), "bad"}});

  std::unique_ptr<Store> store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  std::vector<float> out(kDim);
  auto expect_data_loss = [](const absl::Status& s, std::string_view what) {
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(std::string(what))) << s;
  };
  expect_data_loss(store->GetVector(cid, 1, absl::MakeSpan(out)),
                   "vector of document 1");
  expect_data_loss(store->GetDocument(cid, 1).status(), "5 bytes, expected 32");
  expect_data_loss(store->GetDocument(cid, 2).status(), "code of document 2");
  expect_data_loss(store->ForEachVector(cid,
                                        [](uint64_t, absl::Span<const float>) {
                                          return absl::OkStatus();
                                        }),
                   "vector of document 1");
  expect_data_loss(store->ForEachCode(cid,
                                      [](uint64_t, uint32_t, std::string_view) {
                                        return absl::OkStatus();
                                      }),
                   "code of document 2");
  expect_data_loss(store->LookupInternalId(cid, "d3").status(), "\"d3\"");
  expect_data_loss(store->GetCollection("broken").status(), "'broken'");
  expect_data_loss(store->ListCollections().status(), "'broken'");
  expect_data_loss(store->NextInternalId(cid).status(), "next internal id");
  // The rest still works.
  QUIVER_EXPECT_OK(store->GetVector(cid, 0, absl::MakeSpan(out)));
  EXPECT_EQ(out, VectorFor(0));
  EXPECT_EQ(*store->CountDocuments(cid), 4u);
  EXPECT_EQ(store->GetCollection("docs")->id, cid);
}

TEST(StoreTest, OpenErrors) {
  TempDir dir;
  std::unique_ptr<Store> store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  // The RocksDB lock is held.
  absl::StatusOr<std::unique_ptr<Store>> second =
      Store::Open({.path = dir.path()});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable)
      << second.status();
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(dir.path()));
  EXPECT_EQ(Store::Open({.path = ""}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A path below a regular file cannot be created.
  EXPECT_EQ(Store::Open({.path = dir.path() + "/CURRENT/sub"}).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(StoreTest, RocksDbStatusMapping) {
  struct Case {
    rocksdb::Status status;
    absl::StatusCode code;
  };
  const std::vector<Case> cases = {
      {rocksdb::Status::OK(), absl::StatusCode::kOk},
      {rocksdb::Status::NotFound("k"), absl::StatusCode::kNotFound},
      {rocksdb::Status::Corruption("bad block"), absl::StatusCode::kDataLoss},
      {rocksdb::Status::IOError("disk"), absl::StatusCode::kUnavailable},
      {rocksdb::Status::NoSpace("full"), absl::StatusCode::kResourceExhausted},
      {rocksdb::Status::InvalidArgument("x"), absl::StatusCode::kInternal},
      {rocksdb::Status::Busy("x"), absl::StatusCode::kInternal},
      {rocksdb::Status::NotSupported("x"), absl::StatusCode::kInternal},
  };
  for (const Case& c : cases) {
    const absl::Status s = FromRocksDb(c.status, "ctx");
    EXPECT_EQ(s.code(), c.code) << c.status.ToString();
    if (!s.ok()) {
      EXPECT_THAT(std::string(s.message()), HasSubstr("ctx: "));
      EXPECT_THAT(std::string(s.message()), HasSubstr(c.status.ToString()));
    }
  }
}

// Concurrent writers to two collections and a reader; the high-water mark
// never moves backwards and every batch lands.
TEST(StoreTest, ConcurrentWritersAndReaders) {
  TempDir dir;
  std::unique_ptr<Store> store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  absl::StatusOr<CollectionId> a = store->CreateCollection("a", kDim, "");
  absl::StatusOr<CollectionId> b = store->CreateCollection("b", kDim, "");
  QUIVER_ASSERT_OK(a);
  QUIVER_ASSERT_OK(b);
  constexpr int kThreads = 4;
  constexpr int kBatches = 40;
  constexpr int kPerBatch = 10;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  writers.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      const CollectionId cid = t % 2 == 0 ? *a : *b;
      for (int i = 0; i < kBatches; ++i) {
        DocumentBatch batch(cid);
        for (int j = 0; j < kPerBatch; ++j) {
          // Interleaved ids: thread t/2 of each collection.
          const uint64_t iid =
              (static_cast<uint64_t>(i) * kPerBatch + j) * 2 + t / 2;
          batch.Put(Doc(absl::StrCat(iid), iid, "", 1, "c"));
        }
        if (!store->Write(batch).ok()) failures++;
      }
    });
  }
  std::thread reader([&] {
    uint64_t last = 0;
    while (!done.load()) {
      absl::StatusOr<uint64_t> next = store->NextInternalId(*a);
      if (!next.ok() || *next < last) failures++;
      if (next.ok()) last = *next;
      if (!store->ListCollections().ok()) failures++;
    }
  });
  for (std::thread& w : writers) w.join();
  done = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  const uint64_t per_collection = 2ull * kBatches * kPerBatch;
  EXPECT_EQ(*store->CountDocuments(*a), per_collection);
  EXPECT_EQ(*store->CountDocuments(*b), per_collection);
  EXPECT_EQ(*store->NextInternalId(*a), per_collection);
}

}  // namespace
}  // namespace quiver::storage
