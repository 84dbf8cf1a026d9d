// Tests of the client's small JSON reader/writer.
#include "client/json.h"

#include <gtest/gtest.h>

#include <string>

namespace quiver::client {
namespace {

std::string ErrorOf(const std::string& text) {
  absl::StatusOr<JsonValue> v = ParseJson(text);
  EXPECT_FALSE(v.ok()) << text;
  if (v.ok()) return "";
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(v.status().message());
}

TEST(ClientJsonTest, ParsesEveryType) {
  absl::StatusOr<JsonValue> v = ParseJson(
      R"( {"a": [1, -2.5e3, true, false, null], "b": {"c": "d"}, "a": 0} )");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->type, JsonValue::Type::kObject);
  ASSERT_EQ(v->object.size(), 3u);
  const JsonValue* a = v->Find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->array.size(), 5u);
  EXPECT_EQ(a->array[1].type, JsonValue::Type::kNumber);
  EXPECT_EQ(a->array[1].text, "-2.5e3");
  EXPECT_TRUE(a->array[2].boolean);
  EXPECT_EQ(a->array[3].type, JsonValue::Type::kBool);
  EXPECT_FALSE(a->array[3].boolean);
  EXPECT_EQ(a->array[4].type, JsonValue::Type::kNull);
  EXPECT_EQ(v->Find("b")->Find("c")->text, "d");
  EXPECT_EQ(v->Find("zz"), nullptr);
  EXPECT_TRUE(ParseJson("[]")->array.empty());
  EXPECT_TRUE(ParseJson("{}")->object.empty());
}

TEST(ClientJsonTest, StringEscapesAndUnicode) {
  absl::StatusOr<JsonValue> v =
      ParseJson(R"("q\"b\\s\/n\nt\tu\u00e9\ud83d\ude00")");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->text, "q\"b\\s/n\nt\tu\xC3\xA9\xF0\x9F\x98\x80");
}

TEST(ClientJsonTest, ErrorsNameTheColumn) {
  EXPECT_EQ(ErrorOf("[1, 2"),
            "column 6: expected ',' or ']' in array, found end of input");
  EXPECT_EQ(ErrorOf("{\"a\" 1}"),
            "column 6: expected ':' after key \"a\", found '1'");
  EXPECT_EQ(ErrorOf("{1: 2}"), "column 2: expected a string key, found '1'");
  EXPECT_EQ(ErrorOf("[01]"),
            "column 3: leading zeros are not allowed in numbers");
  EXPECT_EQ(ErrorOf("[1.]"), "column 4: expected a digit after '.', found ']'");
  EXPECT_EQ(ErrorOf("[1e]"),
            "column 4: expected a digit in the exponent, found ']'");
  EXPECT_EQ(ErrorOf("\"abc"), "column 1: unterminated string");
  EXPECT_EQ(ErrorOf("\"a\\x\""), "column 3: invalid escape '\\x'");
  EXPECT_EQ(ErrorOf("\"\\u12\""),
            "column 2: invalid \\u escape (need 4 hex digits)");
  EXPECT_EQ(ErrorOf("\"\\ud800x\""),
            "column 8: unpaired UTF-16 surrogate in \\u escape");
  EXPECT_EQ(ErrorOf("\"a\tb\""),
            "column 3: control character 0x09 in a string must be escaped");
  EXPECT_EQ(ErrorOf("[1,]"), "column 4: trailing comma in array");
  EXPECT_EQ(ErrorOf("tru"), "column 1: expected a value, found 't'");
  EXPECT_EQ(ErrorOf(""), "column 1: expected a value, found end of input");
  EXPECT_EQ(ErrorOf("1 2"), "column 3: unexpected '2' after the JSON value");
  EXPECT_EQ(ErrorOf(std::string(70, '[') + std::string(70, ']')),
            "column 65: nesting deeper than 64");
}

TEST(ClientJsonTest, FloatConversion) {
  JsonCursor c("[1e39, 1e-50, 3.5, 1e400]");
  ASSERT_TRUE(c.BeginArray().ok());
  ASSERT_TRUE(*c.NextElement());
  absl::StatusOr<float> big = c.ParseFloat();
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().message(),
            "column 2: number 1e39 is out of range for float32");
  JsonCursor d("[1e-50, 3.5, 1e400]");
  ASSERT_TRUE(d.BeginArray().ok());
  ASSERT_TRUE(*d.NextElement());
  EXPECT_EQ(*d.ParseFloat(), 0.0f);  // underflow rounds to zero
  ASSERT_TRUE(*d.NextElement());
  EXPECT_EQ(*d.ParseFloat(), 3.5f);
  ASSERT_TRUE(*d.NextElement());
  absl::StatusOr<double> huge = d.ParseDouble();
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().message(), "column 14: number 1e400 is out of range");
}

TEST(ClientJsonTest, QuoteAndNumber) {
  EXPECT_EQ(JsonQuote("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
  EXPECT_EQ(JsonNumber(0.5), "0.5");
  EXPECT_EQ(JsonNumber(3), "3");
  EXPECT_EQ(JsonNumber(std::nan("")), "null");
  EXPECT_EQ(JsonFloat(0.1f), "0.1");
  EXPECT_EQ(JsonFloat(-2.5e-7f), "-2.5e-07");
  // Round trip through the parser.
  const std::string s = "x\"y\\z\t\x02";
  EXPECT_EQ(ParseJson(JsonQuote(s))->text, s);
}

}  // namespace
}  // namespace quiver::client
