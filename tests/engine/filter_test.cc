// Filter expressions and the attribute indexes: every operator and random
// combinations against the reference semantics (Matches over each
// document), type errors, and filtered search in a real collection (RocksDB
// in a temp dir) at every selectivity, through upserts, deletes, retraining
// and a restart.
#include "server/engine/filter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "index/flat_index.h"
#include "server/engine/attribute_index.h"
#include "server/engine/collection.h"
#include "server/engine/records.h"
#include "server/engine/registry.h"
#include "tests/engine/engine_testing.h"
#include "tests/testing/data.h"
#include "tests/testing/testing.h"

namespace quiver::engine {
namespace {

const std::vector<std::string> kCategories = {"news", "sport", "tech",
                                              "art",  "food",  "travel"};
const std::vector<std::string> kTags = {"a", "b", "c", "d", "e", "f", "g"};

// Random typed attributes: a skewed category, an int year (sometimes a
// double), a price, a flag and a tag list; each key absent now and then.
Attributes RandomAttributes(std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  Attributes a;
  if (u(rng) < 0.95) {
    // Skewed: "news" about half the time, "travel" rarely.
    const double r = u(rng);
    const size_t c = r < 0.5     ? 0
                     : r < 0.75  ? 1
                     : r < 0.9   ? 2
                     : r < 0.97  ? 3
                     : r < 0.995 ? 4
                                 : 5;
    a.emplace_back("cat", kCategories[c]);
  }
  if (u(rng) < 0.9) {
    const int64_t year = 1990 + static_cast<int64_t>(u(rng) * 36);
    if (u(rng) < 0.1) {
      a.emplace_back("year", static_cast<double>(year) + 0.5);
    } else {
      a.emplace_back("year", year);
    }
  }
  if (u(rng) < 0.9) a.emplace_back("price", std::round(u(rng) * 1000) / 10);
  if (u(rng) < 0.8) a.emplace_back("active", u(rng) < 0.3);
  if (u(rng) < 0.85) {
    Tags t;
    for (const std::string& tag : kTags) {
      if (u(rng) < 0.25) t.push_back(tag);
    }
    if (!t.empty() && u(rng) < 0.1) t.push_back(t[0]);  // a repeated tag
    a.emplace_back("tags", std::move(t));
  }
  return SortedAttributes(std::move(a));
}

AttributeValue RandomValue(std::mt19937_64& rng, const std::string& key) {
  std::uniform_int_distribution<int> pick(0, 99);
  if (key == "cat") return kCategories[pick(rng) % kCategories.size()];
  if (key == "year") {
    const int64_t y = 1988 + pick(rng) % 40;
    return pick(rng) < 20 ? AttributeValue(static_cast<double>(y) + 0.5)
                          : AttributeValue(y);
  }
  if (key == "price") return static_cast<double>(pick(rng));
  if (key == "active") return pick(rng) < 50;
  return kTags[pick(rng) % kTags.size()];  // tags
}

Filter RandomFilter(std::mt19937_64& rng, int depth) {
  std::uniform_int_distribution<int> pick(0, 99);
  static const std::vector<std::string> keys = {"cat",    "year", "price",
                                                "active", "tags", "missing"};
  if (depth > 0 && pick(rng) < 40) {
    const int kind = pick(rng) % 3;
    if (kind == 2) return Filter::Not(RandomFilter(rng, depth - 1));
    std::vector<Filter> children;
    const int n = pick(rng) % 4;  // 0..3 children: empty and / or too
    for (int i = 0; i < n; ++i)
      children.push_back(RandomFilter(rng, depth - 1));
    return kind == 0 ? Filter::And(std::move(children))
                     : Filter::Or(std::move(children));
  }
  const std::string key = keys[pick(rng) % keys.size()];
  switch (pick(rng) % 6) {
    case 0:
      return Filter::Eq(key, RandomValue(rng, key));
    case 1:
      return Filter::Ne(key, RandomValue(rng, key));
    case 2: {
      std::vector<AttributeValue> values;
      for (int i = pick(rng) % 4; i >= 0; --i)
        values.push_back(RandomValue(rng, key));
      return Filter::In(key, std::move(values));
    }
    case 3: {
      // Bounds around the data: year 1990..2025, price 0..100.
      const double lo =
          key == "year" ? 1985 + pick(rng) % 45 : pick(rng) * 1.1 - 5;
      const double width = pick(rng) * (key == "year" ? 0.2 : 0.6);
      std::optional<AttributeValue> lower, upper;
      if (pick(rng) < 80) {
        lower = pick(rng) < 50 ? AttributeValue(static_cast<int64_t>(lo))
                               : AttributeValue(lo + 0.5);
      }
      if (!lower || pick(rng) < 70) {
        upper = AttributeValue(static_cast<int64_t>(lo + width));
      }
      return Filter::Range(key, lower, pick(rng) < 50, upper, pick(rng) < 50);
    }
    case 4:
      return Filter::Exists(key);
    default:
      return Filter::Contains(key, kTags[pick(rng) % kTags.size()]);
  }
}

TEST(FilterTest, ValidateRejectsBadExpressions) {
  QUIVER_EXPECT_OK(ValidateFilter(Filter::Eq("lang", std::string("en"))));
  QUIVER_EXPECT_OK(ValidateFilter(Filter::And({})));
  auto code = [](const Filter& f) { return ValidateFilter(f).code(); };
  constexpr auto kBad = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(code(Filter::Eq("", int64_t{1})), kBad);
  EXPECT_EQ(code(Filter::Eq("x", Tags{"a"})), kBad);
  EXPECT_EQ(code(Filter::Eq("x", std::nan(""))), kBad);
  EXPECT_EQ(code(Filter::Range("x", std::string("a"), true, {}, false)), kBad);
  EXPECT_EQ(code(Filter::Range("x", {}, true, {}, false)), kBad);
  Filter contains = Filter::Contains("x", "a");
  contains.values[0] = int64_t{3};
  EXPECT_EQ(code(contains), kBad);
  Filter deep = Filter::Exists("x");
  for (size_t i = 0; i < kMaxFilterDepth; ++i) deep = Filter::Not(deep);
  absl::Status s = ValidateFilter(deep);
  EXPECT_EQ(s.code(), kBad);
  EXPECT_NE(s.message().find("deeper than 16"), std::string::npos) << s;
  std::vector<Filter> many(kMaxFilterNodes, Filter::Exists("x"));
  EXPECT_EQ(code(Filter::Or(many)), kBad);
  std::vector<AttributeValue> values(kMaxFilterInValues + 1, int64_t{1});
  EXPECT_EQ(code(Filter::In("x", values)), kBad);
}

TEST(FilterTest, NumbersCompareExactlyAcrossIntAndDouble) {
  const Attributes big = {{"n", int64_t{9007199254740993}}};  // 2^53 + 1
  // As doubles both sides would be 2^53: exact comparison tells them apart.
  EXPECT_FALSE(Matches(Filter::Eq("n", 9007199254740992.0), big));
  EXPECT_TRUE(
      Matches(Filter::Range("n", 9007199254740992.0, false, {}, false), big));
  EXPECT_TRUE(Matches(Filter::Eq("n", int64_t{9007199254740993}), big));
  const Attributes two = {{"n", 2.0}};
  EXPECT_TRUE(Matches(Filter::Eq("n", int64_t{2}), two));
  EXPECT_TRUE(Matches(Filter::In("n", {int64_t{7}, int64_t{2}}), two));
  EXPECT_FALSE(Matches(Filter::Eq("n", std::string("2")), two));
  EXPECT_TRUE(Matches(Filter::Ne("n", int64_t{3}), two));
  EXPECT_FALSE(
      Matches(Filter::Ne("n", std::string("3")), two));  // not comparable
  EXPECT_FALSE(Matches(Filter::Ne("other", int64_t{3}), two));  // absent key
  EXPECT_TRUE(Matches(Filter::Not(Filter::Ne("other", int64_t{3})), two));
}

TEST(FilterTest, TagListsMatchTheStringsTheyHold) {
  const Attributes a = {{"tags", Tags{"news", "tech"}}};
  EXPECT_TRUE(Matches(Filter::Contains("tags", "tech"), a));
  EXPECT_TRUE(Matches(Filter::Eq("tags", std::string("news")), a));
  EXPECT_TRUE(
      Matches(Filter::In("tags", {std::string("x"), std::string("tech")}), a));
  EXPECT_FALSE(Matches(Filter::Ne("tags", std::string("tech")), a));
  EXPECT_TRUE(Matches(Filter::Ne("tags", std::string("art")), a));
  EXPECT_FALSE(Matches(Filter::Contains("tags", "art"), a));
  EXPECT_TRUE(
      Matches(Filter::Contains("lang", "en"), {{"lang", std::string("en")}}));
}

// Random documents and random expressions: the bitmap algebra of the
// attribute index gives exactly the documents the reference matches, also
// after documents are removed and updated. 6,000 documents: `year` and
// `price` (90% of them) start above AttributeIndex's 4,096 numbers, where
// ranges use the sorted blocks; after a third is removed they are below it
// and walk the btree.
TEST(AttributeIndexTest, EvaluateAgreesWithTheReferenceOnRandomFilters) {
  std::mt19937_64 rng(42);
  const uint32_t n = 6000;
  std::vector<Attributes> docs(n);
  AttributeIndex index;
  Roaring live;
  for (uint32_t i = 0; i < n; ++i) {
    docs[i] = RandomAttributes(rng);
    index.Add(i, docs[i]);
    live.add(i);
  }
  auto check = [&](int rounds) {
    size_t nonempty = 0, partial = 0;
    for (int r = 0; r < rounds; ++r) {
      const Filter f = RandomFilter(rng, 3);
      ASSERT_TRUE(ValidateFilter(f).ok()) << f.ToString();
      const Roaring got = index.Evaluate(f, live);
      Roaring expected;
      for (uint32_t i = 0; i < n; ++i) {
        if (live.contains(i) && Matches(f, docs[i])) expected.add(i);
      }
      ASSERT_EQ(got.cardinality(), expected.cardinality()) << f.ToString();
      ASSERT_TRUE(got == expected) << f.ToString();
      nonempty += expected.cardinality() > 0;
      partial += expected.cardinality() > 0 &&
                 expected.cardinality() < live.cardinality();
    }
    // The generator exercises real selections, not only all or nothing.
    EXPECT_GT(partial, static_cast<size_t>(rounds) / 3);
    EXPECT_GT(nonempty, partial);
  };
  check(400);
  // Ranges on one key ANDed (the index intersects them into one range):
  // two or three random bounds each, against the reference.
  for (int r = 0; r < 300; ++r) {
    const std::string key = r % 2 ? "price" : "year";
    std::vector<Filter> ranges;
    for (int i = 0; i < 2 + r % 2; ++i) {
      Filter f = RandomFilter(rng, 0);
      while (f.op != Filter::Op::kRange) f = RandomFilter(rng, 0);
      f.key = key;
      ranges.push_back(std::move(f));
    }
    const Filter f = Filter::And(std::move(ranges));
    const Roaring got = index.Evaluate(f, live);
    for (uint32_t i = 0; i < n; ++i) {
      ASSERT_EQ(got.contains(i), Matches(f, docs[i])) << f.ToString();
    }
  }
  // Remove a third, change another third.
  for (uint32_t i = 0; i < n; i += 3) {
    index.Remove(i, docs[i]);
    live.remove(i);
  }
  for (uint32_t i = 1; i < n; i += 3) {
    index.Remove(i, docs[i]);
    docs[i] = RandomAttributes(rng);
    index.Add(i, docs[i]);
  }
  check(400);
}

TEST(AttributeIndexTest, TypeErrorsNameTheAttribute) {
  AttributeIndex index;
  index.Add(0, {{"lang", std::string("en")}, {"year", int64_t{2020}}});
  index.Add(1, {{"tags", Tags{"x"}}, {"year", 2021.5}});
  auto check = [&](const Filter& f) { return index.CheckTypes(f); };
  QUIVER_EXPECT_OK(check(Filter::Eq("lang", std::string("de"))));
  QUIVER_EXPECT_OK(check(Filter::Eq("year", int64_t{1})));
  QUIVER_EXPECT_OK(
      check(Filter::Eq("unknown", int64_t{1})));  // no such key yet
  QUIVER_EXPECT_OK(check(Filter::Eq("tags", std::string("x"))));
  absl::Status s = check(Filter::Eq("year", std::string("2020")));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'year' holds int and double"), std::string::npos)
      << s;
  s = check(Filter::And({Filter::Exists("x"),
                         Filter::Range("lang", int64_t{1}, true, {}, false)}));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'lang'"), std::string::npos) << s;
  EXPECT_EQ(check(Filter::Contains("year", "x")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(check(Filter::Eq("lang", true)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RecordsTest, TypedAttributesRoundTripAndStringOnesKeepFormatZero) {
  const Attributes strings = {{"a", std::string("x")}, {"b", std::string("")}};
  const std::string v0 = records::EncodeAttributes(strings);
  ASSERT_FALSE(v0.empty());
  EXPECT_NE(v0[0], '\0');  // format 0, readable by earlier releases
  auto back0 = records::DecodeAttributes(v0);
  QUIVER_ASSERT_OK(back0);
  EXPECT_EQ(*back0, strings);

  const Attributes typed = {{"d", -1.25},
                            {"f", false},
                            {"i", int64_t{-7}},
                            {"s", std::string("str")},
                            {"t", Tags{"x", "", "y"}}};
  const std::string v1 = records::EncodeAttributes(typed);
  ASSERT_EQ(v1[0], '\0');
  auto back1 = records::DecodeAttributes(v1);
  QUIVER_ASSERT_OK(back1);
  EXPECT_EQ(*back1, typed);
  // Every truncation and every flipped byte: DATA_LOSS or another valid
  // record, never a crash.
  for (size_t cut = 0; cut < v1.size(); ++cut) {
    EXPECT_FALSE(records::DecodeAttributes(v1.substr(0, cut)).ok() && cut > 0)
        << cut;
  }
  for (size_t i = 0; i < v1.size(); ++i) {
    std::string bad = v1;
    bad[i] ^= 0x5a;
    (void)records::DecodeAttributes(bad);
  }
  std::string unknown_version = v1;
  unknown_version[1] = 9;
  EXPECT_EQ(records::DecodeAttributes(unknown_version).status().code(),
            absl::StatusCode::kDataLoss);
}

// ---- Filtered search in a collection ----------------------------------

// Documents "d<i>" with a category of selectivity 1/2^(j+1) for j < 12 (so
// 50%, 25%, ... 0.02%), the rest "rest"; an int `rank` = i; tags.
std::vector<DocumentInput> FilterDocs(const std::vector<float>& x, size_t dim,
                                      size_t begin, size_t end) {
  std::vector<DocumentInput> docs;
  for (size_t i = begin; i < end; ++i) {
    DocumentInput d;
    d.id = absl::StrCat("d", i);
    d.vector.assign(x.begin() + i * dim, x.begin() + (i + 1) * dim);
    // Category j for the documents whose index has j trailing one bits.
    size_t j = 0;
    while (j < 12 && ((i >> j) & 1)) ++j;
    d.attributes =
        SortedAttributes({{"cat", absl::StrCat("c", j)},
                          {"rank", static_cast<int64_t>(i)},
                          {"tags", Tags{i % 3 == 0 ? "three" : "other",
                                        i % 5 == 0 ? "five" : "x"}}});
    docs.push_back(std::move(d));
  }
  return docs;
}

struct FilteredResult {
  double recall = 0;
  size_t short_answers = 0;  // queries with fewer than min(k, matches) hits
  std::string strategy;
};

FilteredResult RunFiltered(const Collection& c, const std::vector<float>& x,
                           const std::vector<Attributes>& attrs, size_t dim,
                           const std::vector<float>& queries, size_t nq,
                           const Filter& f, size_t k) {
  std::vector<uint64_t> matching;
  for (size_t i = 0; i < attrs.size(); ++i) {
    if (Matches(f, attrs[i])) matching.push_back(i);
  }
  FilteredResult out;
  size_t found = 0, total = 0;
  for (size_t qi = 0; qi < nq; ++qi) {
    std::vector<std::pair<float, size_t>> truth;
    for (uint64_t i : matching) {
      float d = 0;
      for (size_t t = 0; t < dim; ++t) {
        const float diff = queries[qi * dim + t] - x[i * dim + t];
        d += diff * diff;
      }
      truth.emplace_back(d, i);
    }
    std::sort(truth.begin(), truth.end());
    truth.resize(std::min(truth.size(), k));
    SearchQuery q;
    q.queries = &queries[qi * dim];
    q.nq = 1;
    q.k = k;
    q.where = f;
    SearchPlan plan;
    auto r = c.Search(q, &plan);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) continue;
    out.strategy = plan.strategy;
    EXPECT_EQ(plan.matching, matching.size()) << f.ToString();
    const std::vector<SearchHit>& hits = (*r)[0];
    if (hits.size() < truth.size()) ++out.short_answers;
    std::set<std::string> got;
    for (const SearchHit& h : hits) {
      got.insert(h.id);
      // Every hit matches.
      const size_t i = std::stoul(h.id.substr(1));
      EXPECT_TRUE(Matches(f, attrs[i])) << h.id << " " << f.ToString();
    }
    for (const auto& [d, i] : truth) found += got.count(absl::StrCat("d", i));
    total += truth.size();
  }
  out.recall = total == 0 ? 1.0 : static_cast<double>(found) / total;
  return out;
}

// Every selectivity from 50% to a handful of documents: k hits whenever k
// match, recall@10 >= 0.95, and the planner goes exact for the rare ones.
TEST(FilteredSearchTest, FullRecallAtEverySelectivity) {
  testing::TempDir dir;
  const size_t dim = 16, n = 16384, nq = 40;
  const std::vector<float> x = testing::Gaussian(n, dim, 11);
  const std::vector<float> queries = testing::Gaussian(nq, dim, 12);
  auto registry = OpenRegistry(dir.Sub("db"));
  ASSERT_NE(registry, nullptr);
  auto c = registry->Create(Config("f", dim));
  QUIVER_ASSERT_OK(c);
  std::vector<Attributes> attrs;
  for (size_t b = 0; b < n; b += 4096) {
    std::vector<DocumentInput> docs = FilterDocs(x, dim, b, b + 4096);
    for (const DocumentInput& d : docs) attrs.push_back(d.attributes);
    QUIVER_ASSERT_OK((*c)->Upsert(std::move(docs)));
  }
  for (int i = 0; i < 3; ++i) (*c)->WaitForTraining();
  ASSERT_EQ((*c)->Status().state, TrainState::kReady);

  std::set<std::string> strategies;
  for (size_t j = 0; j <= 12; ++j) {
    const Filter f = Filter::Eq("cat", absl::StrCat("c", j));
    const FilteredResult r =
        RunFiltered(**c, x, attrs, dim, queries, nq, f, 10);
    EXPECT_EQ(r.short_answers, 0u) << f.ToString();
    EXPECT_GE(r.recall, 0.95) << f.ToString() << " plan " << r.strategy;
    strategies.insert(r.strategy);
  }
  // Both plans are used across the range.
  EXPECT_TRUE(strategies.count("exact-filtered")) << strategies.size();
  EXPECT_TRUE(strategies.count("ivf-filtered")) << strategies.size();
  // Mixed expressions.
  const std::vector<Filter> mixed = {
      Filter::And(
          {Filter::Contains("tags", "three"),
           Filter::Range("rank", int64_t{1000}, true, int64_t{9000}, false)}),
      Filter::Or({Filter::Eq("cat", std::string("c5")),
                  Filter::Contains("tags", "five")}),
      Filter::And(
          {Filter::Not(Filter::Eq("cat", std::string("c0"))),
           Filter::In("rank", {int64_t{3}, int64_t{77}, int64_t{15000}})}),
      Filter::Range("rank", int64_t{16000}, false, {}, false),
  };
  for (const Filter& f : mixed) {
    const FilteredResult r =
        RunFiltered(**c, x, attrs, dim, queries, nq, f, 10);
    EXPECT_EQ(r.short_answers, 0u) << f.ToString();
    EXPECT_GE(r.recall, 0.95) << f.ToString() << " plan " << r.strategy;
  }
}

// Untrained, right after an upsert, after deletes and attribute changes,
// during a retraining and after a restart: filtered answers stay exact.
TEST(FilteredSearchTest, CorrectThroughWritesRetrainingAndRestart) {
  testing::TempDir dir;
  const size_t dim = 8, n = 3000;
  const std::vector<float> x = testing::Gaussian(n, dim, 5);
  std::vector<Attributes> attrs;
  auto search = [&](const Collection& c, const Filter& f, size_t k) {
    SearchQuery q;
    q.queries = x.data();
    q.nq = 1;
    q.k = k;
    q.where = f;
    q.include_attributes = true;
    auto r = c.Search(q);
    EXPECT_TRUE(r.ok()) << r.status();
    std::set<std::string> ids;
    if (r.ok()) {
      for (const SearchHit& h : (*r)[0]) ids.insert(h.id);
    }
    return ids;
  };
  const Filter rare = Filter::Eq("cat", std::string("c9"));  // 1 in 1024
  {
    auto registry = OpenRegistry(dir.Sub("db"));
    ASSERT_NE(registry, nullptr);
    auto c = registry->Create(Config("w", dim));
    QUIVER_ASSERT_OK(c);
    std::vector<DocumentInput> docs = FilterDocs(x, dim, 0, 999);
    QUIVER_ASSERT_OK((*c)->Upsert(std::move(docs)));
    // Untrained: exact over the matches ("d511" is the only c9 below 1000).
    EXPECT_EQ(search(**c, rare, 10), (std::set<std::string>{"d511"}));
    // Right after an upsert that moves a document into the category.
    DocumentInput moved;
    moved.id = "d0";
    moved.vector.assign(x.begin(), x.begin() + dim);
    moved.attributes = {{"cat", std::string("c9")}, {"rank", int64_t{-1}}};
    std::vector<DocumentInput> one;
    one.push_back(std::move(moved));
    QUIVER_ASSERT_OK((*c)->Upsert(std::move(one)));
    EXPECT_EQ(search(**c, rare, 10), (std::set<std::string>{"d0", "d511"}));
    EXPECT_EQ(
        search(**c, Filter::Range("rank", {}, false, int64_t{0}, false), 5),
        (std::set<std::string>{"d0"}));
    // Grow past the training threshold; search while it trains.
    std::vector<DocumentInput> more = FilterDocs(x, dim, 999, n);
    QUIVER_ASSERT_OK((*c)->Upsert(std::move(more)));
    const std::set<std::string> during = search(**c, rare, 10);
    EXPECT_TRUE(during.count("d0") && during.count("d511") &&
                during.count("d1535") && during.count("d2559"))
        << during.size();
    for (int i = 0; i < 3; ++i) (*c)->WaitForTraining();
    EXPECT_EQ((*c)->Status().state, TrainState::kReady);
    EXPECT_EQ(search(**c, rare, 10),
              (std::set<std::string>{"d0", "d511", "d1535", "d2559"}));
    // A delete leaves the answer at once.
    const std::vector<std::string> gone = {"d1535"};
    QUIVER_ASSERT_OK((*c)->Delete(gone));
    EXPECT_EQ(search(**c, rare, 10),
              (std::set<std::string>{"d0", "d511", "d2559"}));
    // A restrictive filter on a trained collection still returns k.
    EXPECT_EQ(search(**c, Filter::Contains("tags", "five"), 50).size(), 50u);
  }
  auto registry = OpenRegistry(dir.Sub("db"));
  ASSERT_NE(registry, nullptr);
  auto c = registry->Get("w");
  QUIVER_ASSERT_OK(c);
  EXPECT_EQ(search(**c, rare, 10),
            (std::set<std::string>{"d0", "d511", "d2559"}));
  auto got = (*c)->Get({"d0"}, false);
  QUIVER_ASSERT_OK(got);
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(std::get<int64_t>(*FindAttribute((*got)[0].attributes, "rank")),
            -1);
  // A filter comparing an int attribute with a string is an error.
  SearchQuery q;
  q.queries = x.data();
  q.nq = 1;
  q.k = 3;
  q.where = Filter::Eq("rank", std::string("5"));
  absl::Status s = (*c)->Search(q).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'rank' holds int"), std::string::npos) << s;
}

}  // namespace
}  // namespace quiver::engine
