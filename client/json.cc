#include "client/json.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"

namespace quiver::client {
namespace {

constexpr int kMaxDepth = 64;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

const JsonValue* JsonValue::Find(absl::string_view key) const {
  for (const Member& m : object) {
    if (m.key == key) return &m.value;
  }
  return nullptr;
}

const char* JsonTypeName(JsonValue::Type type) {
  switch (type) {
    case JsonValue::Type::kNull:
      return "null";
    case JsonValue::Type::kBool:
      return "boolean";
    case JsonValue::Type::kNumber:
      return "number";
    case JsonValue::Type::kString:
      return "string";
    case JsonValue::Type::kArray:
      return "array";
    case JsonValue::Type::kObject:
      return "object";
  }
  return "?";
}

void JsonCursor::SkipWhitespace() {
  while (pos_ < text_.size()) {
    const char c = text_[pos_];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    ++pos_;
  }
}

std::string JsonCursor::Found() const {
  if (pos_ >= text_.size()) return "end of input";
  const unsigned char c = static_cast<unsigned char>(text_[pos_]);
  if (c < 0x20 || c >= 0x7F) return absl::StrFormat("byte 0x%02x", c);
  return absl::StrCat("'", absl::string_view(&text_[pos_], 1), "'");
}

absl::Status JsonCursor::Error(absl::string_view message) const {
  return absl::InvalidArgumentError(
      absl::StrCat("column ", pos_ + 1, ": ", message));
}

bool JsonCursor::AtEnd() {
  SkipWhitespace();
  return pos_ >= text_.size();
}

absl::Status JsonCursor::ExpectEnd() {
  if (AtEnd()) return absl::OkStatus();
  return Error(absl::StrCat("unexpected ", Found(), " after the JSON value"));
}

absl::StatusOr<JsonValue::Type> JsonCursor::PeekType() {
  SkipWhitespace();
  if (pos_ >= text_.size())
    return Error("expected a value, found end of input");
  const char c = text_[pos_];
  switch (c) {
    case '{':
      return JsonValue::Type::kObject;
    case '[':
      return JsonValue::Type::kArray;
    case '"':
      return JsonValue::Type::kString;
    case 't':
    case 'f':
      return JsonValue::Type::kBool;
    case 'n':
      return JsonValue::Type::kNull;
    default:
      if (c == '-' || IsDigit(c)) return JsonValue::Type::kNumber;
      return Error(absl::StrCat("expected a value, found ", Found()));
  }
}

absl::Status JsonCursor::BeginObject() {
  SkipWhitespace();
  if (pos_ >= text_.size() || text_[pos_] != '{') {
    return Error(absl::StrCat("expected '{', found ", Found()));
  }
  if (first_.size() >= kMaxDepth) return Error("nesting deeper than 64");
  ++pos_;
  first_.push_back(true);
  return absl::OkStatus();
}

absl::Status JsonCursor::BeginArray() {
  SkipWhitespace();
  if (pos_ >= text_.size() || text_[pos_] != '[') {
    return Error(absl::StrCat("expected '[', found ", Found()));
  }
  if (first_.size() >= kMaxDepth) return Error("nesting deeper than 64");
  ++pos_;
  first_.push_back(true);
  return absl::OkStatus();
}

// Handles the separator before an element: sets *more=false (and closes the
// container) on `close`, consumes ',' between elements.
absl::Status JsonCursor::AfterElement(char close, const char* what,
                                      bool* more) {
  QUIVER_CHECK(!first_.empty());
  SkipWhitespace();
  if (pos_ < text_.size() && text_[pos_] == close) {
    ++pos_;
    first_.pop_back();
    *more = false;
    return absl::OkStatus();
  }
  if (!first_.back()) {
    if (pos_ >= text_.size() || text_[pos_] != ',') {
      return Error(absl::StrCat("expected ',' or '", std::string(1, close),
                                "' in ", what, ", found ", Found()));
    }
    ++pos_;
    SkipWhitespace();
    if (pos_ < text_.size() && text_[pos_] == close) {
      return Error(absl::StrCat("trailing comma in ", what));
    }
  }
  first_.back() = false;
  *more = true;
  return absl::OkStatus();
}

absl::StatusOr<bool> JsonCursor::NextKey(std::string* key) {
  bool more = false;
  QUIVER_RETURN_IF_ERROR(AfterElement('}', "object", &more));
  if (!more) return false;
  if (pos_ >= text_.size() || text_[pos_] != '"') {
    return Error(absl::StrCat("expected a string key, found ", Found()));
  }
  QUIVER_RETURN_IF_ERROR(ParseString(key));
  SkipWhitespace();
  if (pos_ >= text_.size() || text_[pos_] != ':') {
    return Error(
        absl::StrCat("expected ':' after key \"", *key, "\", found ", Found()));
  }
  ++pos_;
  return true;
}

absl::StatusOr<bool> JsonCursor::NextElement() {
  bool more = false;
  QUIVER_RETURN_IF_ERROR(AfterElement(']', "array", &more));
  return more;
}

absl::Status JsonCursor::ParseString(std::string* out) {
  SkipWhitespace();
  if (pos_ >= text_.size() || text_[pos_] != '"') {
    return Error(absl::StrCat("expected a string, found ", Found()));
  }
  const size_t start = pos_;
  ++pos_;
  out->clear();
  while (true) {
    if (pos_ >= text_.size()) {
      pos_ = start;
      return Error("unterminated string");
    }
    const char c = text_[pos_];
    if (c == '"') {
      ++pos_;
      return absl::OkStatus();
    }
    if (static_cast<unsigned char>(c) < 0x20) {
      return Error(absl::StrFormat(
          "control character 0x%02x in a string must be escaped",
          static_cast<unsigned char>(c)));
    }
    if (c != '\\') {
      out->push_back(c);
      ++pos_;
      continue;
    }
    if (pos_ + 1 >= text_.size()) {
      pos_ = start;
      return Error("unterminated string");
    }
    const char e = text_[pos_ + 1];
    switch (e) {
      case '"':
      case '\\':
      case '/':
        out->push_back(e);
        break;
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'u': {
        auto hex4 = [&](size_t at, uint32_t* v) {
          if (at + 4 > text_.size()) return false;
          *v = 0;
          for (size_t i = 0; i < 4; ++i) {
            const int h = HexValue(text_[at + i]);
            if (h < 0) return false;
            *v = *v * 16 + static_cast<uint32_t>(h);
          }
          return true;
        };
        uint32_t cp = 0;
        if (!hex4(pos_ + 2, &cp)) {
          return Error("invalid \\u escape (need 4 hex digits)");
        }
        pos_ += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t lo = 0;
          if (pos_ + 1 < text_.size() && text_[pos_] == '\\' &&
              text_[pos_ + 1] == 'u' && hex4(pos_ + 2, &lo) && lo >= 0xDC00 &&
              lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            pos_ += 6;
          } else {
            return Error("unpaired UTF-16 surrogate in \\u escape");
          }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return Error("unpaired UTF-16 surrogate in \\u escape");
        }
        AppendUtf8(cp, out);
        continue;
      }
      default:
        return Error(
            absl::StrCat("invalid escape '\\", std::string(1, e), "'"));
    }
    pos_ += 2;
  }
}

absl::StatusOr<absl::string_view> JsonCursor::ParseNumberText() {
  SkipWhitespace();
  const size_t start = pos_;
  auto digits = [&]() {
    const size_t from = pos_;
    while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
    return pos_ > from;
  };
  if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
  if (pos_ >= text_.size() || !IsDigit(text_[pos_])) {
    return Error(absl::StrCat("expected a digit, found ", Found()));
  }
  if (text_[pos_] == '0') {
    ++pos_;
    if (pos_ < text_.size() && IsDigit(text_[pos_])) {
      return Error("leading zeros are not allowed in numbers");
    }
  } else {
    digits();
  }
  if (pos_ < text_.size() && text_[pos_] == '.') {
    ++pos_;
    if (!digits()) {
      return Error(absl::StrCat("expected a digit after '.', found ", Found()));
    }
  }
  if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
    ++pos_;
    if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) {
      ++pos_;
    }
    if (!digits()) {
      return Error(
          absl::StrCat("expected a digit in the exponent, found ", Found()));
    }
  }
  return text_.substr(start, pos_ - start);
}

absl::StatusOr<double> JsonCursor::ParseDouble() {
  const size_t start = pos_;
  QUIVER_ASSIGN_OR_RETURN(absl::string_view num, ParseNumberText());
  double v = 0;
  const auto res = std::from_chars(num.data(), num.data() + num.size(), v);
  if (res.ec == std::errc::result_out_of_range) {
    // Underflow rounds towards zero; overflow is an error.
    v = std::strtod(std::string(num).c_str(), nullptr);
    if (std::isinf(v)) {
      pos_ = start;
      SkipWhitespace();
      return Error(absl::StrCat("number ", num, " is out of range"));
    }
  } else if (res.ec != std::errc()) {
    pos_ = start;
    SkipWhitespace();
    return Error(absl::StrCat("invalid number ", num));
  }
  return v;
}

absl::StatusOr<float> JsonCursor::ParseFloat() {
  const size_t start = pos_;
  QUIVER_ASSIGN_OR_RETURN(double v, ParseDouble());
  if (std::fabs(v) > std::numeric_limits<float>::max()) {
    const size_t end = pos_;
    pos_ = start;
    SkipWhitespace();
    return Error(absl::StrCat("number ", text_.substr(pos_, end - pos_),
                              " is out of range for float32"));
  }
  return static_cast<float>(v);
}

absl::Status JsonCursor::ParseLiteral(JsonValue* out) {
  SkipWhitespace();
  const absl::string_view rest = text_.substr(pos_);
  auto is = [&](absl::string_view word) {
    return rest.substr(0, word.size()) == word &&
           (rest.size() == word.size() ||
            !(std::isalnum(static_cast<unsigned char>(rest[word.size()]))));
  };
  if (is("true")) {
    *out = JsonValue{};
    out->type = JsonValue::Type::kBool;
    out->boolean = true;
    pos_ += 4;
  } else if (is("false")) {
    *out = JsonValue{};
    out->type = JsonValue::Type::kBool;
    pos_ += 5;
  } else if (is("null")) {
    *out = JsonValue{};
    pos_ += 4;
  } else {
    return Error(absl::StrCat("expected a value, found ", Found()));
  }
  return absl::OkStatus();
}

absl::StatusOr<JsonValue> JsonCursor::ParseValueAt(int depth) {
  if (depth > kMaxDepth) return Error("nesting deeper than 64");
  QUIVER_ASSIGN_OR_RETURN(JsonValue::Type type, PeekType());
  JsonValue v;
  v.type = type;
  switch (type) {
    case JsonValue::Type::kNull:
    case JsonValue::Type::kBool:
      QUIVER_RETURN_IF_ERROR(ParseLiteral(&v));
      break;
    case JsonValue::Type::kNumber: {
      QUIVER_ASSIGN_OR_RETURN(absl::string_view num, ParseNumberText());
      v.text = std::string(num);
      break;
    }
    case JsonValue::Type::kString:
      QUIVER_RETURN_IF_ERROR(ParseString(&v.text));
      break;
    case JsonValue::Type::kArray: {
      QUIVER_RETURN_IF_ERROR(BeginArray());
      while (true) {
        QUIVER_ASSIGN_OR_RETURN(bool more, NextElement());
        if (!more) break;
        QUIVER_ASSIGN_OR_RETURN(JsonValue e, ParseValueAt(depth + 1));
        v.array.push_back(std::move(e));
      }
      break;
    }
    case JsonValue::Type::kObject: {
      QUIVER_RETURN_IF_ERROR(BeginObject());
      std::string key;
      while (true) {
        QUIVER_ASSIGN_OR_RETURN(bool more, NextKey(&key));
        if (!more) break;
        QUIVER_ASSIGN_OR_RETURN(JsonValue e, ParseValueAt(depth + 1));
        v.object.push_back(JsonValue::Member{std::move(key), std::move(e)});
      }
      break;
    }
  }
  return v;
}

absl::StatusOr<JsonValue> JsonCursor::ParseValue() {
  return ParseValueAt(static_cast<int>(first_.size()));
}

absl::Status JsonCursor::SkipValue() { return ParseValue().status(); }

absl::StatusOr<JsonValue> ParseJson(absl::string_view text) {
  JsonCursor c(text);
  QUIVER_ASSIGN_OR_RETURN(JsonValue v, c.ParseValue());
  QUIVER_RETURN_IF_ERROR(c.ExpectEnd());
  return v;
}

std::string JsonQuote(absl::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", static_cast<unsigned char>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

std::string JsonFloat(float v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

}  // namespace quiver::client
