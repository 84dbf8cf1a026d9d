// A small JSON reader and writer for the client tool (JSON Lines input and
// --json output). It covers RFC 8259 JSON fully (nesting is limited to 64
// levels); numbers keep their source text so integer ids are not rounded.
//
//   JsonCursor c(R"({"id": 7, "vector": [0.5, 1]})");
//   QUIVER_RETURN_IF_ERROR(c.BeginObject());
//   std::string key;
//   while (true) {
//     QUIVER_ASSIGN_OR_RETURN(bool more, c.NextKey(&key));
//     if (!more) break;
//     ...  // c.ParseString / c.ParseNumberText / c.BeginArray / c.SkipValue
//   }
//
// Errors are InvalidArgument with the 1-based column of the offending byte:
// "column 17: expected ',' or ']' in array, found 'x'".
//
// Thread safety: a JsonCursor is used by one thread at a time; the free
// functions are thread-safe.
#ifndef QUIVER_CLIENT_JSON_H_
#define QUIVER_CLIENT_JSON_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace quiver::client {

// A parsed JSON value (DOM). Object members keep their source order;
// duplicate keys are kept (Find returns the first).
struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  // kNumber: the number's source text (valid JSON number syntax).
  // kString: the decoded UTF-8 string.
  std::string text;
  std::vector<JsonValue> array;
  struct Member;
  std::vector<Member> object;

  // Member `key` of an object, or nullptr (also for non-objects).
  const JsonValue* Find(absl::string_view key) const;
};

// One key/value pair of an object.
struct JsonValue::Member {
  std::string key;
  JsonValue value;
};

// Name of a type for error messages: "null", "boolean", "number", ...
const char* JsonTypeName(JsonValue::Type type);

// Pull parser over one JSON text held in memory (not owned; must outlive
// the cursor).
class JsonCursor {
 public:
  explicit JsonCursor(absl::string_view text) : text_(text) {}

  // 1-based column of the next unread byte (for messages).
  size_t column() const { return pos_ + 1; }
  // True when only whitespace remains.
  bool AtEnd();
  // InvalidArgument unless only whitespace remains.
  absl::Status ExpectEnd();
  // The type of the next value (whitespace skipped); InvalidArgument at the
  // end of input or on a byte that cannot start a value.
  absl::StatusOr<JsonValue::Type> PeekType();

  // Objects: BeginObject consumes '{'; NextKey returns false after the
  // closing '}' was consumed, else stores the key and consumes the ':'.
  absl::Status BeginObject();
  absl::StatusOr<bool> NextKey(std::string* key);
  // Arrays: BeginArray consumes '['; NextElement returns false after the
  // closing ']' was consumed, else true with the cursor on the element.
  absl::Status BeginArray();
  absl::StatusOr<bool> NextElement();

  absl::Status ParseString(std::string* out);
  // The number's source text, validated against JSON's grammar.
  absl::StatusOr<absl::string_view> ParseNumberText();
  // A number converted to float/double; InvalidArgument if out of range.
  absl::StatusOr<float> ParseFloat();
  absl::StatusOr<double> ParseDouble();
  absl::Status ParseLiteral(JsonValue* out);  // true, false or null
  absl::Status SkipValue();
  absl::StatusOr<JsonValue> ParseValue();

  // InvalidArgument "column N: <message>" at the current position.
  absl::Status Error(absl::string_view message) const;

 private:
  absl::StatusOr<JsonValue> ParseValueAt(int depth);
  void SkipWhitespace();
  // Describes the next byte for messages: "'x'", "end of input".
  std::string Found() const;
  absl::Status AfterElement(char close, const char* what, bool* more);

  absl::string_view text_;
  size_t pos_ = 0;
  // Per open array/object: whether an element was already read.
  std::vector<bool> first_;
};

// Parses exactly one JSON value (surrounding whitespace allowed).
absl::StatusOr<JsonValue> ParseJson(absl::string_view text);

// `s` as a quoted JSON string literal with the required escapes.
std::string JsonQuote(absl::string_view s);

// A finite double as a JSON number (shortest round-trip form); NaN and
// infinities become null (JSON has no literal for them).
std::string JsonNumber(double v);
// The same for a float32, in its own shortest form (0.1f prints as 0.1, not
// 0.10000000149011612).
std::string JsonFloat(float v);

}  // namespace quiver::client

#endif  // QUIVER_CLIENT_JSON_H_
