// Filter expressions over typed attributes, as the engine holds them (the
// RPC edge converts quiver.v1.Filter into this): comparisons (eq, ne, in,
// range, exists, contains) combined with and / or / not.
//
//   Filter f = Filter::And({Filter::Eq("lang", std::string("en")),
//                           Filter::Range("year", int64_t{2020}, true, {},
//                           false)});
//   QUIVER_RETURN_IF_ERROR(ValidateFilter(f));
//   if (Matches(f, document_attributes)) ...
//
// Semantics (the reference the attribute indexes are tested against):
//   eq    the attribute exists and equals the value. Strings, bools: same
//         type and value. Numbers (int or double): equal as numbers. A tag
//         list equals a string it holds (as in MongoDB: `tags = "news"` is
//         `tags contains "news"`, `tags in [...]` holds any of them).
//   ne    the attribute exists, has a comparable type and differs (a tag
//         list: does not hold the string).
//   in    eq with any of the values.
//   range a numeric attribute within the bounds (each optional, inclusive or
//         not); ints and doubles compare as numbers, exactly.
//   exists the document has the key (any type).
//   contains a tag list holding the string, or a string attribute equal to it.
//   and / or / not as usual; and() of nothing is true, or() of nothing false.
//
// Thread safety: value types and pure functions.
#ifndef QUIVER_SERVER_ENGINE_FILTER_H_
#define QUIVER_SERVER_ENGINE_FILTER_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/engine/attributes.h"

namespace quiver::engine {

// Limits of a filter expression (part of the API contract).
inline constexpr size_t kMaxFilterDepth = 16;
inline constexpr size_t kMaxFilterNodes = 256;
inline constexpr size_t kMaxFilterInValues = 1024;

struct Filter {
  enum class Op { kEq, kNe, kIn, kRange, kExists, kContains, kAnd, kOr, kNot };

  Op op = Op::kAnd;
  std::string key;                     // comparisons
  std::vector<AttributeValue> values;  // eq/ne/contains: one; in: any number
  // range: lower / upper bounds (ints or doubles), each optional.
  std::optional<AttributeValue> lower, upper;
  bool lower_inclusive = false, upper_inclusive = false;
  std::vector<Filter> children;  // and / or: any number; not: one

  static Filter Eq(std::string key, AttributeValue v);
  static Filter Ne(std::string key, AttributeValue v);
  static Filter In(std::string key, std::vector<AttributeValue> values);
  static Filter Range(std::string key, std::optional<AttributeValue> lower,
                      bool lower_inclusive, std::optional<AttributeValue> upper,
                      bool upper_inclusive);
  static Filter Exists(std::string key);
  static Filter Contains(std::string key, std::string tag);
  static Filter And(std::vector<Filter> children);
  static Filter Or(std::vector<Filter> children);
  static Filter Not(Filter child);

  // Readable text, e.g. (lang = "en" and year >= 2020).
  std::string ToString() const;
};

// INVALID_ARGUMENT naming the problem: depth over kMaxFilterDepth, more than
// kMaxFilterNodes nodes or kMaxFilterInValues values in one `in`, an empty
// key, a value of the wrong kind for its operator (range: numbers; contains:
// a string; eq/ne/in: not a tag list), a NaN, a not without exactly one
// child, a range without bounds.
absl::Status ValidateFilter(const Filter& filter);

// True when `attrs` (sorted) match `filter`. The reference semantics above;
// the collection evaluates filters with its attribute indexes instead.
bool Matches(const Filter& filter, const Attributes& attrs);

// Compares two numbers (int64 or double) exactly: -1, 0, 1. Both must hold
// int64 or double.
int CompareNumbers(const AttributeValue& a, const AttributeValue& b);
// True for int64 or double.
inline bool IsNumber(const AttributeValue& v) {
  return std::holds_alternative<int64_t>(v) ||
         std::holds_alternative<double>(v);
}
// eq's notion of equality (numbers as numbers; a tag list equals a string
// it holds).
bool ValuesEqual(const AttributeValue& attribute, const AttributeValue& value);

}  // namespace quiver::engine

#endif  // QUIVER_SERVER_ENGINE_FILTER_H_
