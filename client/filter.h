// Filter expressions: a readable syntax for quiver.v1.Filter (the `where`
// of a SearchRequest), its parser and its printer.
//
//   absl::StatusOr<v1::Filter> f = ParseFilter(
//       R"(lang = "en" and year >= 2020 and tags contains "news")");
//   if (!f.ok()) ...;  // "at column 12: expected a value after '>=', ..."
//   request.mutable_where()->Swap(&*f);
//   std::cout << FilterToString(request.where());
//
// Grammar (keywords are case-insensitive; whitespace is free):
//   expr       := and_expr ("or" and_expr)*
//   and_expr   := not_expr ("and" not_expr)*
//   not_expr   := "not" not_expr | primary
//   primary    := "(" expr ")" | "true" | "false"
//               | "exists" KEY | KEY "exists"
//               | KEY ("=" | "==" | "!=") VALUE
//               | KEY ("<" | "<=" | ">" | ">=") NUMBER
//               | KEY ["not"] "in" "[" [VALUE ("," VALUE)*] "]"
//               | KEY "contains" STRING
//   KEY        := [A-Za-z_][A-Za-z0-9_.-]*   (not a keyword)
//               | `any text`                 (backquoted; \` and \\ escape)
//   VALUE      := STRING | NUMBER | "true" | "false"
//   STRING     := "..." with the escapes \" \\ \/ \n \t \r \b \f \uXXXX
//                 (a UTF-16 surrogate pair for characters beyond U+FFFF)
//   NUMBER     := an int64 ("-12"; out of range is an error), or a double
//                 when it has a fraction or an exponent ("2.5", "1e3")
// Precedence: not > and > or. `a and b and c` is one `all` of three
// filters, `a or b or c` one `any`; parentheses keep their own group.
// `k != v` is Filter.ne, `k not in [..]` a negated in_set, a bare `true` an
// empty `all` (matches everything) and `false` an empty `any`. The keywords
// (and, or, not, in, exists, contains, true, false) need backquotes as
// keys: `in` = 1.
//
// Limits (the server's, see quiver.proto): at most kMaxFilterNodes Filter
// messages in all, nested at most kMaxFilterDepth deep (a single comparison
// is depth 1, `a and b` depth 2), an in-list of at most kMaxFilterInSet
// values.
//
// Errors are InvalidArgument "at column C: <what>", C being the 1-based
// byte column in the text.
//
// Thread safety: the functions are thread-safe.
#ifndef QUIVER_CLIENT_FILTER_H_
#define QUIVER_CLIENT_FILTER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "quiver/v1/quiver.pb.h"

namespace quiver::client {

inline constexpr int kMaxFilterDepth = 16;
inline constexpr int kMaxFilterNodes = 256;
inline constexpr int kMaxFilterInSet = 1024;

// Parses a filter expression (see the file comment). InvalidArgument "at
// column C: ..." for a syntax error, a value of the wrong kind (a range on a
// string, `contains` with a number) or a filter over the limits.
absl::StatusOr<v1::Filter> ParseFilter(absl::string_view text);

// The filter in the syntax above, such that ParseFilter gives the same
// message back for anything ParseFilter made. Keys that are not plain
// identifiers (or are keywords) are backquoted. A range with several
// bounds prints as `k >= 1 and k < 5` (in parentheses where needed); a
// Filter with no operator prints as "<empty filter>".
std::string FilterToString(const v1::Filter& filter);

// One value as a literal of the syntax: "en" (quoted, escaped), 2020, 2.5
// (a double always shows a '.' or an exponent), true; a tag list as
// ["a", "b"]; an unset Value as "<unset>".
std::string FilterValueToString(const v1::Value& value);

// OK, or InvalidArgument naming the limit a filter exceeds: depth above
// kMaxFilterDepth, more than kMaxFilterNodes nodes, an in_set of more than
// kMaxFilterInSet values.
absl::Status CheckFilterLimits(const v1::Filter& filter);

// The key as the syntax writes it: bare when it is an identifier and not a
// keyword, else backquoted.
std::string FilterKeyToString(absl::string_view key);

}  // namespace quiver::client

#endif  // QUIVER_CLIENT_FILTER_H_
