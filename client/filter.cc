#include "client/filter.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status.h"

namespace quiver::client {
namespace {

// Nesting of parentheses and `not`s the parser follows before giving up
// (each level is a stack frame; the filter's own depth is checked apart).
constexpr int kMaxParseNesting = 4 * kMaxFilterDepth;

constexpr absl::string_view kKeywords[] = {
    "and", "or", "not", "in", "exists", "contains", "true", "false"};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentStart(char c) { return absl::ascii_isalpha(c) || c == '_'; }
bool IsIdentChar(char c) {
  return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-';
}

bool IsKeyword(absl::string_view word) {
  for (absl::string_view k : kKeywords) {
    if (absl::EqualsIgnoreCase(word, k)) return true;
  }
  return false;
}

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

struct Token {
  enum class Kind {
    kEnd,
    kWord,    // an identifier or a keyword
    kKey,     // a backquoted key (text decoded)
    kString,  // text decoded
    kNumber,  // value holds int_value or double_value
    kOp,      // = == != < <= > >=
    kLParen,
    kRParen,
    kLBracket,
    kRBracket,
    kComma,
  };
  Kind kind = Kind::kEnd;
  std::string text;  // words, keys and strings decoded; operators; numbers
  size_t column = 1;
  v1::Value value;  // kNumber

  bool Is(absl::string_view keyword) const {
    return kind == Kind::kWord && absl::EqualsIgnoreCase(text, keyword);
  }
  // For messages: "end of input", "'and'", "the string \"x\"", "'>='".
  std::string Describe() const {
    switch (kind) {
      case Kind::kEnd:
        return "end of input";
      case Kind::kString:
        return absl::StrCat("the string ", FilterValueToString(value));
      case Kind::kKey:
        return absl::StrCat("the key ", FilterKeyToString(text));
      default:
        return absl::StrCat("'", text, "'");
    }
  }
};

class Lexer {
 public:
  explicit Lexer(absl::string_view text) : text_(text) {}

  // The next token, read on first use.
  absl::StatusOr<const Token*> Peek() {
    if (!peeked_) {
      QUIVER_RETURN_IF_ERROR(Read(&token_));
      peeked_ = true;
    }
    return &token_;
  }
  absl::StatusOr<Token> Next() {
    QUIVER_RETURN_IF_ERROR(Peek().status());
    peeked_ = false;
    return std::move(token_);
  }

 private:
  absl::Status ErrorAt(size_t pos, absl::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat("at column ", pos + 1, ": ", message));
  }

  absl::Status Read(Token* t) {
    while (pos_ < text_.size() && absl::ascii_isspace(text_[pos_])) ++pos_;
    *t = Token{};
    t->column = pos_ + 1;
    if (pos_ >= text_.size()) return absl::OkStatus();
    const size_t start = pos_;
    const char c = text_[pos_];
    auto single = [&](Token::Kind kind) {
      t->kind = kind;
      t->text = std::string(1, c);
      ++pos_;
      return absl::OkStatus();
    };
    switch (c) {
      case '(':
        return single(Token::Kind::kLParen);
      case ')':
        return single(Token::Kind::kRParen);
      case '[':
        return single(Token::Kind::kLBracket);
      case ']':
        return single(Token::Kind::kRBracket);
      case ',':
        return single(Token::Kind::kComma);
      case '"':
        return ReadString(t);
      case '`':
        return ReadKey(t);
      case '=':
      case '<':
      case '>':
      case '!': {
        t->kind = Token::Kind::kOp;
        ++pos_;
        if (pos_ < text_.size() && text_[pos_] == '=') ++pos_;
        t->text = std::string(text_.substr(start, pos_ - start));
        if (t->text == "!") {
          return ErrorAt(start, "unexpected '!' (write 'not' or '!=')");
        }
        return absl::OkStatus();
      }
      case '&':
      case '|':
        return ErrorAt(
            start, absl::StrCat("unexpected '", std::string(1, c), "' (write '",
                                c == '&' ? "and" : "or", "')"));
      case '\'':
        return ErrorAt(start, "strings take double quotes: \"...\"");
      default:
        break;
    }
    if (c == '-' || IsDigit(c)) return ReadNumber(t);
    if (IsIdentStart(c)) {
      while (pos_ < text_.size() && IsIdentChar(text_[pos_])) ++pos_;
      t->kind = Token::Kind::kWord;
      t->text = std::string(text_.substr(start, pos_ - start));
      return absl::OkStatus();
    }
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7F) {
      return ErrorAt(start, absl::StrFormat("unexpected byte 0x%02x", u));
    }
    return ErrorAt(start, absl::StrCat("unexpected '", std::string(1, c), "'"));
  }

  absl::Status ReadNumber(Token* t) {
    const size_t start = pos_;
    bool integral = true;
    auto digits = [&] {
      const size_t from = pos_;
      while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
      return pos_ > from;
    };
    if (text_[pos_] == '-') ++pos_;
    if (!digits()) {
      return ErrorAt(start, "expected a digit after '-'");
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      integral = false;
      ++pos_;
      if (!digits()) return ErrorAt(pos_, "expected a digit after '.'");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) {
        ++pos_;
      }
      if (!digits()) return ErrorAt(pos_, "expected a digit in the exponent");
    }
    const absl::string_view num = text_.substr(start, pos_ - start);
    if (pos_ < text_.size() && IsIdentChar(text_[pos_])) {
      size_t end = pos_;
      while (end < text_.size() && IsIdentChar(text_[end])) ++end;
      return ErrorAt(start, absl::StrCat("'", text_.substr(start, end - start),
                                         "' is not a number (a key starts "
                                         "with a letter or '_')"));
    }
    t->kind = Token::Kind::kNumber;
    t->text = std::string(num);
    if (integral) {
      int64_t v = 0;
      const auto res = std::from_chars(num.data(), num.data() + num.size(), v);
      if (res.ec != std::errc() || res.ptr != num.data() + num.size()) {
        return ErrorAt(start, absl::StrCat("integer ", num,
                                           " does not fit in 64 bits (write "
                                           "it as a double: ",
                                           num, ".0)"));
      }
      t->value.set_int_value(v);
      return absl::OkStatus();
    }
    double v = 0;
    const auto res = std::from_chars(num.data(), num.data() + num.size(), v);
    if (res.ec == std::errc::result_out_of_range) {
      v = std::strtod(std::string(num).c_str(), nullptr);  // underflow: ~0
      if (std::isinf(v)) {
        return ErrorAt(start, absl::StrCat("number ", num, " is out of range"));
      }
    } else if (res.ec != std::errc()) {
      return ErrorAt(start, absl::StrCat("invalid number ", num));
    }
    t->value.set_double_value(v);
    return absl::OkStatus();
  }

  // A double-quoted string with JSON's escapes.
  absl::Status ReadString(Token* t) {
    const size_t start = pos_;
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) {
        return ErrorAt(start, "unterminated string (no closing '\"')");
      }
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        break;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return ErrorAt(pos_,
                       absl::StrFormat("control character 0x%02x in a string "
                                       "(write it as an escape such as \\n)",
                                       static_cast<unsigned char>(c)));
      }
      if (c != '\\') {
        out.push_back(c);
        ++pos_;
        continue;
      }
      if (pos_ + 1 >= text_.size()) {
        return ErrorAt(start, "unterminated string (no closing '\"')");
      }
      const char e = text_[pos_ + 1];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out.push_back(e);
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!Hex4(pos_ + 2, &cp)) {
            return ErrorAt(pos_, "invalid \\u escape (need 4 hex digits)");
          }
          const size_t esc = pos_;
          pos_ += 6;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = 0;
            if (pos_ + 1 < text_.size() && text_[pos_] == '\\' &&
                text_[pos_ + 1] == 'u' && Hex4(pos_ + 2, &lo) && lo >= 0xDC00 &&
                lo <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
              pos_ += 6;
            } else {
              return ErrorAt(esc, "unpaired UTF-16 surrogate in \\u escape");
            }
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return ErrorAt(esc, "unpaired UTF-16 surrogate in \\u escape");
          }
          AppendUtf8(cp, &out);
          continue;
        }
        default:
          return ErrorAt(pos_,
                         absl::StrCat("invalid escape '\\", std::string(1, e),
                                      "' in a string"));
      }
      pos_ += 2;
    }
    t->kind = Token::Kind::kString;
    t->text = out;
    t->value.set_string_value(std::move(out));
    return absl::OkStatus();
  }

  bool Hex4(size_t at, uint32_t* v) const {
    if (at + 4 > text_.size()) return false;
    *v = 0;
    for (size_t i = 0; i < 4; ++i) {
      const int h = HexValue(text_[at + i]);
      if (h < 0) return false;
      *v = *v * 16 + static_cast<uint32_t>(h);
    }
    return true;
  }

  // `key`, with \` and \\ escapes.
  absl::Status ReadKey(Token* t) {
    const size_t start = pos_;
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) {
        return ErrorAt(start, "unterminated key (no closing '`')");
      }
      const char c = text_[pos_];
      if (c == '`') {
        ++pos_;
        break;
      }
      if (c == '\\' && pos_ + 1 < text_.size() &&
          (text_[pos_ + 1] == '`' || text_[pos_ + 1] == '\\')) {
        out.push_back(text_[pos_ + 1]);
        pos_ += 2;
        continue;
      }
      out.push_back(c);
      ++pos_;
    }
    if (out.empty()) return ErrorAt(start, "empty key ``");
    t->kind = Token::Kind::kKey;
    t->text = std::move(out);
    return absl::OkStatus();
  }

  absl::string_view text_;
  size_t pos_ = 0;
  Token token_;
  bool peeked_ = false;
};

// A parsed filter and its depth (a leaf is 1).
struct Node {
  v1::Filter filter;
  int depth = 1;
};

class Parser {
 public:
  explicit Parser(absl::string_view text) : lexer_(text) {}

  absl::StatusOr<v1::Filter> Parse() {
    QUIVER_ASSIGN_OR_RETURN(const Token* first, lexer_.Peek());
    if (first->kind == Token::Kind::kEnd) {
      return Error(*first, "empty filter");
    }
    QUIVER_ASSIGN_OR_RETURN(Node n, ParseOr());
    QUIVER_ASSIGN_OR_RETURN(Token end, lexer_.Next());
    if (end.kind != Token::Kind::kEnd) {
      return Error(end, absl::StrCat("expected 'and', 'or' or the end, found ",
                                     end.Describe()));
    }
    return std::move(n.filter);
  }

 private:
  static absl::Status Error(const Token& at, absl::string_view message) {
    return absl::InvalidArgumentError(
        absl::StrCat("at column ", at.column, ": ", message));
  }

  // Counts one more Filter node made at `at`.
  absl::Status Count(const Token& at) {
    if (++nodes_ > kMaxFilterNodes) {
      return Error(at, absl::StrCat("the filter has more than ",
                                    kMaxFilterNodes, " parts (the limit)"));
    }
    return absl::OkStatus();
  }
  static absl::Status CheckDepth(const Token& at, int depth) {
    if (depth > kMaxFilterDepth) {
      return Error(at, absl::StrCat("the filter nests deeper than ",
                                    kMaxFilterDepth, " levels (the limit)"));
    }
    return absl::OkStatus();
  }

  // `word`-separated chain of `sub`s as one all/any (a single one as is).
  template <typename Sub>
  absl::StatusOr<Node> ParseChain(absl::string_view word, bool is_and,
                                  Sub sub) {
    QUIVER_ASSIGN_OR_RETURN(Node first, sub());
    QUIVER_ASSIGN_OR_RETURN(const Token* t, lexer_.Peek());
    if (!t->Is(word)) return first;
    Token op = *t;
    QUIVER_RETURN_IF_ERROR(Count(op));
    Node out;
    v1::FilterList* list =
        is_and ? out.filter.mutable_all() : out.filter.mutable_any();
    int depth = first.depth;
    *list->add_filters() = std::move(first.filter);
    while (true) {
      QUIVER_ASSIGN_OR_RETURN(const Token* next, lexer_.Peek());
      if (!next->Is(word)) break;
      QUIVER_RETURN_IF_ERROR(lexer_.Next().status());
      QUIVER_ASSIGN_OR_RETURN(const Token* after, lexer_.Peek());
      if (after->kind == Token::Kind::kEnd) {
        return Error(*after, absl::StrCat("expected a condition after '", word,
                                          "', found end of input"));
      }
      QUIVER_ASSIGN_OR_RETURN(Node n, sub());
      depth = std::max(depth, n.depth);
      *list->add_filters() = std::move(n.filter);
    }
    out.depth = depth + 1;
    QUIVER_RETURN_IF_ERROR(CheckDepth(op, out.depth));
    return out;
  }

  absl::StatusOr<Node> ParseOr() {
    return ParseChain("or", false, [this] { return ParseAnd(); });
  }
  absl::StatusOr<Node> ParseAnd() {
    return ParseChain("and", true, [this] { return ParseNot(); });
  }

  absl::StatusOr<Node> ParseNot() {
    QUIVER_ASSIGN_OR_RETURN(const Token* t, lexer_.Peek());
    if (!t->Is("not")) return ParsePrimary();
    QUIVER_ASSIGN_OR_RETURN(Token op, lexer_.Next());
    QUIVER_RETURN_IF_ERROR(Count(op));
    if (++nesting_ > kMaxParseNesting) {
      return Error(op, "the filter nests too deeply");
    }
    QUIVER_ASSIGN_OR_RETURN(const Token* after, lexer_.Peek());
    if (after->kind == Token::Kind::kEnd) {
      return Error(*after,
                   "expected a condition after 'not', found end of "
                   "input");
    }
    QUIVER_ASSIGN_OR_RETURN(Node inner, ParseNot());
    --nesting_;
    Node out;
    *out.filter.mutable_negate() = std::move(inner.filter);
    out.depth = inner.depth + 1;
    QUIVER_RETURN_IF_ERROR(CheckDepth(op, out.depth));
    return out;
  }

  // KEY: a word that is not a keyword, or a backquoted key.
  absl::StatusOr<std::string> ParseKey(absl::string_view after) {
    QUIVER_ASSIGN_OR_RETURN(Token t, lexer_.Next());
    if (t.kind == Token::Kind::kKey) return std::move(t.text);
    if (t.kind == Token::Kind::kWord && !IsKeyword(t.text)) {
      return std::move(t.text);
    }
    if (t.kind == Token::Kind::kWord) {
      return Error(t, absl::StrCat("expected a key", after,
                                   ", found the "
                                   "keyword '",
                                   t.text,
                                   "' (a key named so needs "
                                   "backquotes: `",
                                   t.text, "`)"));
    }
    return Error(
        t, absl::StrCat("expected a key", after, ", found ", t.Describe()));
  }

  // VALUE after `op` (for messages).
  absl::StatusOr<Token> ParseValue(absl::string_view op) {
    QUIVER_ASSIGN_OR_RETURN(Token t, lexer_.Next());
    if (t.kind == Token::Kind::kString || t.kind == Token::Kind::kNumber) {
      return t;
    }
    if (t.Is("true") || t.Is("false")) {
      t.value.set_bool_value(t.Is("true"));
      return t;
    }
    std::string hint;
    if (t.kind == Token::Kind::kWord && !IsKeyword(t.text)) {
      hint = absl::StrCat(" (strings take double quotes: \"", t.text, "\")");
    }
    return Error(t, absl::StrCat("expected a value after '", op, "', found ",
                                 t.Describe(), hint));
  }

  absl::StatusOr<Node> ParsePrimary() {
    QUIVER_ASSIGN_OR_RETURN(const Token* peek, lexer_.Peek());
    const Token t = *peek;
    if (t.kind == Token::Kind::kLParen) {
      QUIVER_RETURN_IF_ERROR(lexer_.Next().status());
      if (++nesting_ > kMaxParseNesting) {
        return Error(t, "the filter nests too deeply");
      }
      QUIVER_ASSIGN_OR_RETURN(Node inner, ParseOr());
      --nesting_;
      QUIVER_ASSIGN_OR_RETURN(Token close, lexer_.Next());
      if (close.kind != Token::Kind::kRParen) {
        return Error(close,
                     absl::StrCat("expected ')' to close the '(' at column ",
                                  t.column, ", found ", close.Describe()));
      }
      return inner;
    }
    if (t.Is("true") || t.Is("false")) {
      QUIVER_RETURN_IF_ERROR(lexer_.Next().status());
      QUIVER_RETURN_IF_ERROR(Count(t));
      Node out;
      if (t.Is("true")) {
        out.filter.mutable_all();
      } else {
        out.filter.mutable_any();
      }
      return out;
    }
    if (t.Is("exists")) {
      QUIVER_RETURN_IF_ERROR(lexer_.Next().status());
      QUIVER_ASSIGN_OR_RETURN(std::string key, ParseKey(" after 'exists'"));
      QUIVER_RETURN_IF_ERROR(Count(t));
      Node out;
      out.filter.set_exists(std::move(key));
      return out;
    }
    if (t.kind == Token::Kind::kEnd) {
      return Error(t, "expected a condition, found end of input");
    }
    if (t.kind != Token::Kind::kKey &&
        (t.kind != Token::Kind::kWord || IsKeyword(t.text))) {
      return Error(t, absl::StrCat("expected a condition (such as key = "
                                   "\"value\"), found ",
                                   t.Describe()));
    }
    QUIVER_ASSIGN_OR_RETURN(std::string key, ParseKey(""));
    QUIVER_ASSIGN_OR_RETURN(Token op, lexer_.Next());
    QUIVER_RETURN_IF_ERROR(Count(op));
    Node out;
    v1::Filter& f = out.filter;
    if (op.Is("exists")) {
      f.set_exists(std::move(key));
      return out;
    }
    if (op.Is("contains")) {
      QUIVER_ASSIGN_OR_RETURN(Token v, ParseValue("contains"));
      if (v.kind != Token::Kind::kString) {
        return Error(
            v, absl::StrCat("'contains' takes a string, found ", v.Describe()));
      }
      v1::Comparison* c = f.mutable_contains();
      c->set_key(std::move(key));
      *c->mutable_value() = std::move(v.value);
      return out;
    }
    bool negated = false;
    Token in = op;
    if (op.Is("not")) {
      QUIVER_ASSIGN_OR_RETURN(in, lexer_.Next());
      if (!in.Is("in")) {
        return Error(in, absl::StrCat("expected 'in' after '", key,
                                      " not', found ", in.Describe()));
      }
      negated = true;
    }
    if (in.Is("in")) {
      QUIVER_ASSIGN_OR_RETURN(Token open, lexer_.Next());
      if (open.kind != Token::Kind::kLBracket) {
        return Error(open, absl::StrCat("expected '[' after 'in', found ",
                                        open.Describe()));
      }
      v1::InSet set;
      set.set_key(std::move(key));
      QUIVER_ASSIGN_OR_RETURN(const Token* first, lexer_.Peek());
      if (first->kind == Token::Kind::kRBracket) {
        QUIVER_RETURN_IF_ERROR(lexer_.Next().status());
      } else {
        while (true) {
          QUIVER_ASSIGN_OR_RETURN(
              Token v, ParseValue(set.values_size() == 0 ? "[" : ","));
          if (set.values_size() >= kMaxFilterInSet) {
            return Error(v, absl::StrCat("more than ", kMaxFilterInSet,
                                         " values in a list (the limit)"));
          }
          *set.add_values() = std::move(v.value);
          QUIVER_ASSIGN_OR_RETURN(Token sep, lexer_.Next());
          if (sep.kind == Token::Kind::kRBracket) break;
          if (sep.kind != Token::Kind::kComma) {
            return Error(sep,
                         absl::StrCat("expected ',' or ']' in the list "
                                      "opened at column ",
                                      open.column, ", found ", sep.Describe()));
          }
        }
      }
      if (negated) {
        QUIVER_RETURN_IF_ERROR(Count(op));
        *f.mutable_negate()->mutable_in_set() = std::move(set);
        out.depth = 2;
        QUIVER_RETURN_IF_ERROR(CheckDepth(op, out.depth));
      } else {
        *f.mutable_in_set() = std::move(set);
      }
      return out;
    }
    if (op.kind != Token::Kind::kOp) {
      return Error(op, absl::StrCat("expected an operator after the key ",
                                    FilterKeyToString(key),
                                    " (= != < <= > >= in contains exists), "
                                    "found ",
                                    op.Describe()));
    }
    QUIVER_ASSIGN_OR_RETURN(Token v, ParseValue(op.text));
    if (op.text == "=" || op.text == "==" || op.text == "!=") {
      v1::Comparison* c = op.text == "!=" ? f.mutable_ne() : f.mutable_eq();
      c->set_key(std::move(key));
      *c->mutable_value() = std::move(v.value);
      return out;
    }
    if (v.kind != Token::Kind::kNumber) {
      return Error(v, absl::StrCat("'", op.text, "' compares numbers, found ",
                                   v.Describe()));
    }
    v1::Range* r = f.mutable_range();
    r->set_key(std::move(key));
    if (op.text == "<") {
      *r->mutable_lt() = std::move(v.value);
    } else if (op.text == "<=") {
      *r->mutable_lte() = std::move(v.value);
    } else if (op.text == ">") {
      *r->mutable_gt() = std::move(v.value);
    } else {
      *r->mutable_gte() = std::move(v.value);
    }
    return out;
  }

  Lexer lexer_;
  int nodes_ = 0;
  int nesting_ = 0;
};

// Printer precedence levels: a part printed at a lower level than its
// context needs parentheses.
enum Level { kOr = 1, kAnd = 2, kNot = 3, kPrimary = 4 };

struct Printed {
  std::string text;
  Level level;
};

Printed Print(const v1::Filter& f);

std::string Wrap(const Printed& p, Level need) {
  if (p.level >= need) return p.text;
  return absl::StrCat("(", p.text, ")");
}

// A list's member: parenthesized below `need`, and when it is itself a
// list of the same kind (so the grouping survives a round trip).
std::string Member(const v1::Filter& child, Level need, v1::Filter::OpCase op) {
  Printed p = Print(child);
  const bool same_list =
      child.op_case() == op &&
      (op == v1::Filter::kAll ? child.all().filters_size()
                              : child.any().filters_size()) > 1;
  if (same_list) return absl::StrCat("(", p.text, ")");
  return Wrap(p, need);
}

Printed Print(const v1::Filter& f) {
  switch (f.op_case()) {
    case v1::Filter::kEq:
      return {absl::StrCat(FilterKeyToString(f.eq().key()), " = ",
                           FilterValueToString(f.eq().value())),
              kPrimary};
    case v1::Filter::kNe:
      return {absl::StrCat(FilterKeyToString(f.ne().key()),
                           " != ", FilterValueToString(f.ne().value())),
              kPrimary};
    case v1::Filter::kInSet: {
      std::vector<std::string> values;
      for (const v1::Value& v : f.in_set().values()) {
        values.push_back(FilterValueToString(v));
      }
      return {absl::StrCat(FilterKeyToString(f.in_set().key()), " in [",
                           absl::StrJoin(values, ", "), "]"),
              kPrimary};
    }
    case v1::Filter::kRange: {
      const v1::Range& r = f.range();
      const std::string key = FilterKeyToString(r.key());
      std::vector<std::string> parts;
      if (r.has_gt()) {
        parts.push_back(absl::StrCat(key, " > ", FilterValueToString(r.gt())));
      }
      if (r.has_gte()) {
        parts.push_back(
            absl::StrCat(key, " >= ", FilterValueToString(r.gte())));
      }
      if (r.has_lt()) {
        parts.push_back(absl::StrCat(key, " < ", FilterValueToString(r.lt())));
      }
      if (r.has_lte()) {
        parts.push_back(
            absl::StrCat(key, " <= ", FilterValueToString(r.lte())));
      }
      if (parts.empty()) {
        return {absl::StrCat("<range on ", key, " without bounds>"), kPrimary};
      }
      return {absl::StrJoin(parts, " and "),
              parts.size() > 1 ? kAnd : kPrimary};
    }
    case v1::Filter::kExists:
      return {absl::StrCat("exists ", FilterKeyToString(f.exists())), kPrimary};
    case v1::Filter::kContains:
      return {absl::StrCat(FilterKeyToString(f.contains().key()), " contains ",
                           FilterValueToString(f.contains().value())),
              kPrimary};
    case v1::Filter::kAll:
    case v1::Filter::kAny: {
      const bool is_all = f.op_case() == v1::Filter::kAll;
      const auto& filters = is_all ? f.all().filters() : f.any().filters();
      if (filters.empty()) return {is_all ? "true" : "false", kPrimary};
      if (filters.size() == 1) return Print(filters[0]);
      std::vector<std::string> parts;
      for (const v1::Filter& child : filters) {
        parts.push_back(Member(child, is_all ? kNot : kAnd, f.op_case()));
      }
      return {absl::StrJoin(parts, is_all ? " and " : " or "),
              is_all ? kAnd : kOr};
    }
    case v1::Filter::kNegate:
      return {absl::StrCat("not ", Wrap(Print(f.negate()), kNot)), kNot};
    case v1::Filter::OP_NOT_SET:
      break;
  }
  return {"<empty filter>", kPrimary};
}

void Walk(const v1::Filter& f, int depth, int* max_depth, int* nodes,
          int* max_in_set) {
  ++*nodes;
  *max_depth = std::max(*max_depth, depth);
  if (*nodes > kMaxFilterNodes || *max_depth > kMaxFilterDepth) return;
  switch (f.op_case()) {
    case v1::Filter::kInSet:
      *max_in_set = std::max(*max_in_set, f.in_set().values_size());
      break;
    case v1::Filter::kAll:
      for (const v1::Filter& c : f.all().filters()) {
        Walk(c, depth + 1, max_depth, nodes, max_in_set);
      }
      break;
    case v1::Filter::kAny:
      for (const v1::Filter& c : f.any().filters()) {
        Walk(c, depth + 1, max_depth, nodes, max_in_set);
      }
      break;
    case v1::Filter::kNegate:
      Walk(f.negate(), depth + 1, max_depth, nodes, max_in_set);
      break;
    default:
      break;
  }
}

}  // namespace

absl::StatusOr<v1::Filter> ParseFilter(absl::string_view text) {
  return Parser(text).Parse();
}

std::string FilterToString(const v1::Filter& filter) {
  return Print(filter).text;
}

std::string FilterKeyToString(absl::string_view key) {
  bool plain = !key.empty() && IsIdentStart(key[0]) && !IsKeyword(key);
  for (size_t i = 1; plain && i < key.size(); ++i) {
    plain = IsIdentChar(key[i]);
  }
  if (plain) return std::string(key);
  std::string out = "`";
  for (const char c : key) {
    if (c == '`' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('`');
  return out;
}

std::string FilterValueToString(const v1::Value& value) {
  switch (value.kind_case()) {
    case v1::Value::kStringValue: {
      std::string out = "\"";
      for (const char c : value.string_value()) {
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
    case v1::Value::kIntValue:
      return absl::StrCat(value.int_value());
    case v1::Value::kDoubleValue: {
      const double v = value.double_value();
      if (std::isnan(v)) return "nan";
      if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
      char buf[64];
      const auto res = std::to_chars(buf, buf + sizeof(buf), v);
      std::string out(buf, res.ptr);
      if (out.find_first_of(".e") == std::string::npos) out += ".0";
      return out;
    }
    case v1::Value::kBoolValue:
      return value.bool_value() ? "true" : "false";
    case v1::Value::kTags: {
      std::vector<std::string> tags;
      for (const std::string& t : value.tags().values()) {
        v1::Value s;
        s.set_string_value(t);
        tags.push_back(FilterValueToString(s));
      }
      return absl::StrCat("[", absl::StrJoin(tags, ", "), "]");
    }
    case v1::Value::KIND_NOT_SET:
      break;
  }
  return "<unset>";
}

absl::Status CheckFilterLimits(const v1::Filter& filter) {
  int depth = 0, nodes = 0, in_set = 0;
  Walk(filter, 1, &depth, &nodes, &in_set);
  if (depth > kMaxFilterDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat("the filter nests deeper than ", kMaxFilterDepth,
                     " levels (the limit)"));
  }
  if (nodes > kMaxFilterNodes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the filter has more than ", kMaxFilterNodes, " parts (the limit)"));
  }
  if (in_set > kMaxFilterInSet) {
    return absl::InvalidArgumentError(absl::StrCat("an 'in' list of ", in_set,
                                                   " values (the limit is ",
                                                   kMaxFilterInSet, ")"));
  }
  return absl::OkStatus();
}

}  // namespace quiver::client
