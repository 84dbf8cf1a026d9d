// Tests of the filter expression parser and printer (client/filter.h).
#include "client/filter.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"

namespace quiver::client {
namespace {

v1::Filter Parsed(const std::string& text) {
  absl::StatusOr<v1::Filter> f = ParseFilter(text);
  EXPECT_TRUE(f.ok()) << text << ": " << f.status();
  return f.ok() ? *f : v1::Filter();
}

v1::Filter FromProtoText(const std::string& text) {
  v1::Filter f;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &f)) << text;
  return f;
}

std::string ErrorOf(const std::string& text) {
  absl::StatusOr<v1::Filter> f = ParseFilter(text);
  EXPECT_FALSE(f.ok()) << text << " parsed as " << f->ShortDebugString();
  if (f.ok()) return "";
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(f.status().message());
}

#define EXPECT_FILTER(text, proto)                                       \
  do {                                                                   \
    v1::Filter _got = Parsed(text);                                      \
    v1::Filter _want = FromProtoText(proto);                             \
    EXPECT_TRUE(                                                         \
        google::protobuf::util::MessageDifferencer::Equals(_got, _want)) \
        << (text) << "\n got: " << _got.ShortDebugString()               \
        << "\nwant: " << _want.ShortDebugString();                       \
  } while (0)

TEST(FilterParserTest, Comparisons) {
  EXPECT_FILTER(R"(lang = "en")",
                R"(eq { key: "lang" value { string_value: "en" } })");
  EXPECT_FILTER(R"(lang == "en")",
                R"(eq { key: "lang" value { string_value: "en" } })");
  EXPECT_FILTER("year != 2020",
                R"(ne { key: "year" value { int_value: 2020 } })");
  EXPECT_FILTER("active = true",
                R"(eq { key: "active" value { bool_value: true } })");
  EXPECT_FILTER("active=FALSE",
                R"(eq { key: "active" value { bool_value: false } })");
  EXPECT_FILTER("price < 9.5",
                R"(range { key: "price" lt { double_value: 9.5 } })");
  EXPECT_FILTER("price <= -1e3",
                R"(range { key: "price" lte { double_value: -1000 } })");
  EXPECT_FILTER("year > -7", R"(range { key: "year" gt { int_value: -7 } })");
  EXPECT_FILTER("year>=2020",
                R"(range { key: "year" gte { int_value: 2020 } })");
  EXPECT_FILTER("x = 2.0", R"(eq { key: "x" value { double_value: 2 } })");
  EXPECT_FILTER("x = 1E+2", R"(eq { key: "x" value { double_value: 100 } })");
  EXPECT_FILTER("x = -9223372036854775808",
                R"(eq { key: "x" value { int_value: -9223372036854775808 } })");
}

TEST(FilterParserTest, InExistsContains) {
  EXPECT_FILTER(R"(lang in ["en", "fr", 3, 2.5, true])",
                R"(in_set { key: "lang" values { string_value: "en" }
                   values { string_value: "fr" } values { int_value: 3 }
                   values { double_value: 2.5 } values { bool_value: true } })");
  EXPECT_FILTER("lang in []", R"(in_set { key: "lang" })");
  EXPECT_FILTER(R"(lang not in ["en"])",
                R"(negate { in_set { key: "lang"
                                     values { string_value: "en" } } })");
  EXPECT_FILTER("exists year", R"(exists: "year")");
  EXPECT_FILTER("year exists", R"(exists: "year")");
  EXPECT_FILTER(R"(tags contains "news")",
                R"(contains { key: "tags" value { string_value: "news" } })");
  EXPECT_FILTER("true", "all {}");
  EXPECT_FILTER("false", "any {}");
}

TEST(FilterParserTest, KeysPlainAndBackquoted) {
  EXPECT_FILTER("a.b-c_9 = 1",
                R"(eq { key: "a.b-c_9" value { int_value: 1 } })");
  EXPECT_FILTER("_x = 1", R"(eq { key: "_x" value { int_value: 1 } })");
  EXPECT_FILTER("`my key` = 1",
                R"(eq { key: "my key" value { int_value: 1 } })");
  EXPECT_FILTER(R"(`a\`b\\c` = 1)",
                R"(eq { key: "a`b\\c" value { int_value: 1 } })");
  EXPECT_FILTER("`in` = 1", R"(eq { key: "in" value { int_value: 1 } })");
  EXPECT_FILTER("exists `and`", R"(exists: "and")");
}

TEST(FilterParserTest, StringEscapes) {
  EXPECT_FILTER(
      R"(k = "q\"b\\s\/n\nt\tr\ru\u00e9\ud83d\ude00")",
      "eq { key: \"k\" value { string_value: "
      "\"q\\\"b\\\\s/n\\nt\\tr\\ru\\303\\251\\360\\237\\230\\200\" } }");
  // Raw UTF-8 passes through.
  EXPECT_FILTER("k = \"caf\xC3\xA9\"",
                "eq { key: \"k\" value { string_value: \"caf\\303\\251\" } }");
}

TEST(FilterParserTest, PrecedenceNotAndOr) {
  // not > and > or.
  EXPECT_FILTER("a = 1 or b = 2 and c = 3",
                R"(any { filters { eq { key: "a" value { int_value: 1 } } }
                         filters { all {
                           filters { eq { key: "b" value { int_value: 2 } } }
                           filters { eq { key: "c" value { int_value: 3 } } }
                         } } })");
  EXPECT_FILTER("not a = 1 and b = 2",
                R"(all { filters { negate { eq { key: "a"
                                                 value { int_value: 1 } } } }
                         filters { eq { key: "b" value { int_value: 2 } } } })");
  EXPECT_FILTER("not not exists a", R"(negate { negate { exists: "a" } })");
  // A chain is one list; parentheses keep their own group.
  EXPECT_FILTER("exists a and exists b AND exists c",
                R"(all { filters { exists: "a" } filters { exists: "b" }
                         filters { exists: "c" } })");
  EXPECT_FILTER("exists a and (exists b and exists c)",
                R"(all { filters { exists: "a" }
                         filters { all { filters { exists: "b" }
                                         filters { exists: "c" } } } })");
  EXPECT_FILTER("(exists a or exists b) and exists c",
                R"(all { filters { any { filters { exists: "a" }
                                         filters { exists: "b" } } }
                         filters { exists: "c" } })");
  EXPECT_FILTER("not (exists a or exists b)",
                R"(negate { any { filters { exists: "a" }
                                  filters { exists: "b" } } })");
  EXPECT_FILTER("((exists a))", R"(exists: "a")");
}

TEST(FilterParserTest, TheIssueExample) {
  EXPECT_FILTER(R"(lang = "en" and year >= 2020 and tags contains "news")",
                R"(all { filters { eq { key: "lang"
                                        value { string_value: "en" } } }
                         filters { range { key: "year"
                                           gte { int_value: 2020 } } }
                         filters { contains { key: "tags"
                                   value { string_value: "news" } } } })");
  EXPECT_FILTER("x > 1 and x <= 5",
                R"(all { filters { range { key: "x" gt { int_value: 1 } } }
                         filters { range { key: "x" lte { int_value: 5 } } } })");
}

TEST(FilterParserTest, ErrorsNameTheColumn) {
  EXPECT_EQ(ErrorOf("year >= "),
            "at column 9: expected a value after '>=', found end of input");
  EXPECT_EQ(ErrorOf(R"(lang = "en" and year >=)"),
            "at column 24: expected a value after '>=', found end of input");
  EXPECT_EQ(ErrorOf("lang = en"),
            "at column 8: expected a value after '=', found 'en' (strings "
            "take double quotes: \"en\")");
  EXPECT_EQ(ErrorOf(""), "at column 1: empty filter");
  EXPECT_EQ(ErrorOf("   "), "at column 4: empty filter");
  EXPECT_EQ(ErrorOf("a = 1 b = 2"),
            "at column 7: expected 'and', 'or' or the end, found 'b'");
  EXPECT_EQ(ErrorOf("a = 1 and"),
            "at column 10: expected a condition after 'and', found end of "
            "input");
  EXPECT_EQ(ErrorOf("(a = 1"),
            "at column 7: expected ')' to close the '(' at column 1, found "
            "end of input");
  EXPECT_EQ(ErrorOf("a = 1)"),
            "at column 6: expected 'and', 'or' or the end, found ')'");
  EXPECT_EQ(ErrorOf("a"),
            "at column 2: expected an operator after the key a (= != < <= > "
            ">= in contains exists), found end of input");
  EXPECT_EQ(ErrorOf(R"(a < "x")"),
            "at column 5: '<' compares numbers, found the string \"x\"");
  EXPECT_EQ(ErrorOf("a >= true"),
            "at column 6: '>=' compares numbers, found 'true'");
  EXPECT_EQ(ErrorOf("tags contains 3"),
            "at column 15: 'contains' takes a string, found '3'");
  EXPECT_EQ(ErrorOf("a = 99999999999999999999"),
            "at column 5: integer 99999999999999999999 does not fit in 64 "
            "bits (write it as a double: 99999999999999999999.0)");
  EXPECT_EQ(ErrorOf("a = 1e999"), "at column 5: number 1e999 is out of range");
  EXPECT_EQ(ErrorOf("a = 1."), "at column 7: expected a digit after '.'");
  EXPECT_EQ(ErrorOf("a = 12abc"),
            "at column 5: '12abc' is not a number (a key starts with a letter "
            "or '_')");
  EXPECT_EQ(ErrorOf(R"(a = "abc)"),
            "at column 5: unterminated string (no closing '\"')");
  EXPECT_EQ(ErrorOf(R"(a = "\x")"),
            "at column 6: invalid escape '\\x' in a string");
  EXPECT_EQ(ErrorOf(R"(a = "\u12")"),
            "at column 6: invalid \\u escape (need 4 hex digits)");
  EXPECT_EQ(ErrorOf(R"(a = "\ud800")"),
            "at column 6: unpaired UTF-16 surrogate in \\u escape");
  EXPECT_EQ(ErrorOf("a = 'x'"),
            "at column 5: strings take double quotes: \"...\"");
  EXPECT_EQ(ErrorOf("a = 1 && b = 2"),
            "at column 7: unexpected '&' (write 'and')");
  EXPECT_EQ(ErrorOf("!a"), "at column 1: unexpected '!' (write 'not' or '!=')");
  EXPECT_EQ(ErrorOf("a in [1, 2"),
            "at column 11: expected ',' or ']' in the list opened at column "
            "6, found end of input");
  EXPECT_EQ(ErrorOf("a in 1"),
            "at column 6: expected '[' after 'in', found '1'");
  EXPECT_EQ(ErrorOf("a not = 1"),
            "at column 7: expected 'in' after 'a not', found '='");
  EXPECT_EQ(ErrorOf("in = 1"),
            "at column 1: expected a condition (such as key = \"value\"), "
            "found 'in'");
  EXPECT_EQ(ErrorOf("exists and"),
            "at column 8: expected a key after 'exists', found the keyword "
            "'and' (a key named so needs backquotes: `and`)");
  EXPECT_EQ(ErrorOf("`` = 1"), "at column 1: empty key ``");
  EXPECT_EQ(ErrorOf("a = 1 or"),
            "at column 9: expected a condition after 'or', found end of input");
  EXPECT_EQ(ErrorOf("not"),
            "at column 4: expected a condition after 'not', found end of "
            "input");
  EXPECT_EQ(ErrorOf("a = \"x\ty\""),
            "at column 7: control character 0x09 in a string (write it as an "
            "escape such as \\n)");
  EXPECT_EQ(ErrorOf("a = \x01"), "at column 5: unexpected byte 0x01");
}

TEST(FilterParserTest, Limits) {
  // Depth: a leaf is 1, each not adds 1: 15 nots + 1 leaf = 16 is fine.
  std::string ok = "exists a";
  for (int i = 0; i < 15; ++i) ok = absl::StrCat("not ", ok);
  EXPECT_TRUE(ParseFilter(ok).ok());
  EXPECT_EQ(ErrorOf(absl::StrCat("not ", ok)),
            "at column 1: the filter nests deeper than 16 levels (the limit)");
  // Alternating and/or groups: depth grows by one per group.
  std::string nested = "exists a";
  for (int i = 0; i < 15; ++i) {
    nested =
        absl::StrCat("exists b", i, i % 2 ? " and (" : " or (", nested, ")");
  }
  EXPECT_TRUE(ParseFilter(nested).ok());
  EXPECT_NE(ErrorOf(absl::StrCat("exists z and (", nested, ")"))
                .find("deeper than 16"),
            std::string::npos);
  // Parentheses alone add no depth, but not without end.
  EXPECT_TRUE(
      ParseFilter("((((((((((((((((((((exists a))))))))))))))))))))").ok());
  EXPECT_EQ(ErrorOf(std::string(100000, '(')),
            "at column 65: the filter nests too deeply");
  // Nodes: an `and` of 255 leaves is 256 nodes.
  std::string wide = "exists k0";
  for (int i = 1; i < 255; ++i) absl::StrAppend(&wide, " and exists k", i);
  EXPECT_TRUE(ParseFilter(wide).ok());
  EXPECT_NE(ErrorOf(absl::StrCat(wide, " and exists more"))
                .find("more than 256 parts"),
            std::string::npos);
  // In-lists: 1024 values.
  std::string list = "k in [0";
  for (int i = 1; i < 1024; ++i) absl::StrAppend(&list, ", ", i);
  EXPECT_TRUE(ParseFilter(absl::StrCat(list, "]")).ok());
  EXPECT_NE(
      ErrorOf(absl::StrCat(list, ", 1024]")).find("more than 1024 values"),
      std::string::npos);

  // CheckFilterLimits on built messages.
  v1::Filter deep;
  v1::Filter* at = &deep;
  for (int i = 0; i < 16; ++i) at = at->mutable_negate();
  at->set_exists("a");  // 17 levels
  EXPECT_EQ(CheckFilterLimits(deep).message(),
            "the filter nests deeper than 16 levels (the limit)");
  EXPECT_TRUE(CheckFilterLimits(deep.negate()).ok());
  v1::Filter many;
  for (int i = 0; i < 256; ++i)
    many.mutable_all()->add_filters()->set_exists("a");
  EXPECT_EQ(CheckFilterLimits(many).message(),
            "the filter has more than 256 parts (the limit)");
  v1::Filter big_set;
  for (int i = 0; i < 1025; ++i) {
    big_set.mutable_in_set()->add_values()->set_int_value(i);
  }
  EXPECT_EQ(CheckFilterLimits(big_set).message(),
            "an 'in' list of 1025 values (the limit is 1024)");
}

TEST(FilterPrinterTest, PrintsReadableText) {
  EXPECT_EQ(FilterToString(
                Parsed(R"(lang="en" AND year>=2020 and tags contains "news")")),
            R"(lang = "en" and year >= 2020 and tags contains "news")");
  EXPECT_EQ(FilterToString(Parsed("a = 1 or b = 2 and c = 3")),
            "a = 1 or b = 2 and c = 3");
  EXPECT_EQ(FilterToString(Parsed("(a = 1 or b = 2) and c = 3")),
            "(a = 1 or b = 2) and c = 3");
  EXPECT_EQ(FilterToString(Parsed("not (a = 1 or b = 2)")),
            "not (a = 1 or b = 2)");
  EXPECT_EQ(FilterToString(Parsed("a = 1 and (b = 2 and c = 3)")),
            "a = 1 and (b = 2 and c = 3)");
  EXPECT_EQ(FilterToString(Parsed("x == 2.0 or y != 1e21 or z = -0.5")),
            "x = 2.0 or y != 1e+21 or z = -0.5");
  EXPECT_EQ(FilterToString(Parsed("`a b` in [\"x\\n\", false] or `or` exists")),
            "`a b` in [\"x\\n\", false] or exists `or`");
  EXPECT_EQ(FilterToString(Parsed("k not in []")), "not k in []");
  EXPECT_EQ(FilterToString(v1::Filter()), "<empty filter>");
  v1::Filter r = FromProtoText(
      R"(negate { range { key: "p" gte { int_value: 1 } lt { double_value: 5 } } })");
  EXPECT_EQ(FilterToString(r), "not (p >= 1 and p < 5.0)");
  v1::Value tags;
  *tags.mutable_tags()->add_values() = std::string("a");
  *tags.mutable_tags()->add_values() = std::string("b\"c");
  EXPECT_EQ(FilterValueToString(tags), R"(["a", "b\"c"])");
  EXPECT_EQ(FilterValueToString(v1::Value()), "<unset>");
  EXPECT_EQ(FilterKeyToString("a`b"), "`a\\`b`");
  EXPECT_EQ(FilterKeyToString("9a"), "`9a`");
  EXPECT_EQ(FilterKeyToString("TRUE"), "`TRUE`");
}

TEST(FilterPrinterTest, RoundTrips) {
  const char* texts[] = {
      R"(lang = "en" and year >= 2020 and tags contains "news")",
      "a = 1 or b = 2 and c = 3",
      "(a = 1 or b = 2) and (c = 3 or not d = 4)",
      "not not (exists a and b exists) or false or true",
      R"(k in ["a\"b", "\\", "\u00e9\ud83d\ude00", "\t\n\r\b\f\/"])",
      "x > 1 and x <= 5 or x < -2.5e-7",
      "`weird key` != 0.1 and `and` = -9223372036854775808",
      "a = 1 and (b = 2 and (c = 3 and d = 4))",
      "(a = 1 or b = 2) or c = 3",
      "not k not in [1, 2.5, true, \"s\"]",
      "x = 123456789.125 or y = 1e-300 or z = 5e-324",
  };
  for (const char* text : texts) {
    const v1::Filter first = Parsed(text);
    const std::string printed = FilterToString(first);
    const v1::Filter second = Parsed(printed);
    EXPECT_TRUE(
        google::protobuf::util::MessageDifferencer::Equals(first, second))
        << text << "\nprinted: " << printed
        << "\nfirst:  " << first.ShortDebugString()
        << "\nsecond: " << second.ShortDebugString();
    EXPECT_EQ(FilterToString(second), printed) << text;
  }
}

// The cases shared with the Python client's parser.
TEST(FilterParserTest, SharedCases) {
  const std::string path =
      std::string(QUIVER_SOURCE_DIR) + "/tests/client/filter_cases.txt";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::string line;
  int cases = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t ok = line.find(" ==> ");
    const size_t bad = line.find(" !!! ");
    ASSERT_TRUE(ok != std::string::npos || bad != std::string::npos) << line;
    ++cases;
    if (ok != std::string::npos) {
      EXPECT_FILTER(line.substr(0, ok), line.substr(ok + 5));
    } else {
      EXPECT_EQ(ErrorOf(line.substr(0, bad)), line.substr(bad + 5)) << line;
    }
  }
  EXPECT_GT(cases, 60);
}

}  // namespace
}  // namespace quiver::client
