#include "server/engine/filter.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace quiver::engine {

std::string_view TypeName(AttributeType type) {
  switch (type) {
    case AttributeType::kString:
      return "string";
    case AttributeType::kInt:
      return "int";
    case AttributeType::kDouble:
      return "double";
    case AttributeType::kBool:
      return "bool";
    case AttributeType::kTags:
      return "tags";
  }
  return "unknown";
}

namespace {

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

long double AsLongDouble(const AttributeValue& v) {
  if (const int64_t* i = std::get_if<int64_t>(&v)) {
    return static_cast<long double>(*i);
  }
  return static_cast<long double>(std::get<double>(v));
}

// `a` an attribute, `b` a filter value (never a tag list).
bool Comparable(const AttributeValue& a, const AttributeValue& b) {
  if (IsNumber(a) && IsNumber(b)) return true;
  if (std::holds_alternative<Tags>(b)) return false;
  if (std::holds_alternative<Tags>(a)) {
    return std::holds_alternative<std::string>(b);
  }
  return a.index() == b.index();
}

absl::Status Invalid(const Filter& f, const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat("filter: ", f.ToString(), ": ", what));
}

absl::Status CheckValue(const Filter& f, const AttributeValue& v) {
  if (std::holds_alternative<Tags>(v)) {
    return Invalid(f,
                   "a tag list is not a value to compare with; use "
                   "contains for one tag");
  }
  if (const double* d = std::get_if<double>(&v); d && !std::isfinite(*d)) {
    return Invalid(f, "values must be finite numbers");
  }
  return absl::OkStatus();
}

absl::Status Validate(const Filter& f, size_t depth, size_t* nodes) {
  if (++*nodes > kMaxFilterNodes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "filter: more than %d nodes (the limit)", kMaxFilterNodes));
  }
  if (depth > kMaxFilterDepth) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "filter: nested deeper than %d levels (the limit)", kMaxFilterDepth));
  }
  using Op = Filter::Op;
  switch (f.op) {
    case Op::kAnd:
    case Op::kOr:
      for (const Filter& c : f.children) {
        if (absl::Status s = Validate(c, depth + 1, nodes); !s.ok()) return s;
      }
      return absl::OkStatus();
    case Op::kNot:
      if (f.children.size() != 1) {
        return absl::InvalidArgumentError("filter: not takes one filter");
      }
      return Validate(f.children[0], depth + 1, nodes);
    default:
      break;
  }
  if (f.key.empty()) return Invalid(f, "the attribute key is empty");
  switch (f.op) {
    case Op::kEq:
    case Op::kNe:
      if (f.values.size() != 1) return Invalid(f, "needs one value");
      return CheckValue(f, f.values[0]);
    case Op::kIn:
      if (f.values.size() > kMaxFilterInValues) {
        return Invalid(f, absl::StrFormat("%d values; the limit is %d",
                                          f.values.size(), kMaxFilterInValues));
      }
      for (const AttributeValue& v : f.values) {
        if (absl::Status s = CheckValue(f, v); !s.ok()) return s;
      }
      return absl::OkStatus();
    case Op::kContains:
      if (f.values.size() != 1 ||
          !std::holds_alternative<std::string>(f.values[0])) {
        return Invalid(f, "contains takes one string (a tag)");
      }
      return absl::OkStatus();
    case Op::kRange:
      if (!f.lower && !f.upper) return Invalid(f, "a range needs a bound");
      for (const auto* b : {&f.lower, &f.upper}) {
        if (!*b) continue;
        if (!IsNumber(**b)) {
          return Invalid(f, absl::StrCat("range bounds must be numbers, not ",
                                         std::string(TypeName(TypeOf(**b)))));
        }
        if (absl::Status s = CheckValue(f, **b); !s.ok()) return s;
      }
      return absl::OkStatus();
    case Op::kExists:
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError("filter: unknown operator");
  }
}

}  // namespace

std::string DebugString(const AttributeValue& v) {
  struct Visitor {
    std::string operator()(const std::string& s) const { return Quote(s); }
    std::string operator()(int64_t i) const { return absl::StrCat(i); }
    std::string operator()(double d) const {
      std::string s = absl::StrFormat("%.17g", d);
      if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
      return s;
    }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(const Tags& t) const {
      std::string out = "[";
      for (size_t i = 0; i < t.size(); ++i) {
        if (i > 0) out += ", ";
        out += Quote(t[i]);
      }
      return out + "]";
    }
  };
  return std::visit(Visitor{}, v);
}

int CompareNumbers(const AttributeValue& a, const AttributeValue& b) {
  if (std::holds_alternative<int64_t>(a) &&
      std::holds_alternative<int64_t>(b)) {
    const int64_t x = std::get<int64_t>(a), y = std::get<int64_t>(b);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  // x86-64's long double has a 64-bit mantissa: every int64 and every
  // double converts exactly.
  const long double x = AsLongDouble(a), y = AsLongDouble(b);
  return x < y ? -1 : (x > y ? 1 : 0);
}

bool ValuesEqual(const AttributeValue& attribute, const AttributeValue& value) {
  if (IsNumber(attribute) && IsNumber(value)) {
    return CompareNumbers(attribute, value) == 0;
  }
  if (const Tags* tags = std::get_if<Tags>(&attribute)) {
    const std::string* s = std::get_if<std::string>(&value);
    return s != nullptr &&
           std::find(tags->begin(), tags->end(), *s) != tags->end();
  }
  return attribute == value;
}

Filter Filter::Eq(std::string key, AttributeValue v) {
  Filter f;
  f.op = Op::kEq;
  f.key = std::move(key);
  f.values.push_back(std::move(v));
  return f;
}

Filter Filter::Ne(std::string key, AttributeValue v) {
  Filter f = Eq(std::move(key), std::move(v));
  f.op = Op::kNe;
  return f;
}

Filter Filter::In(std::string key, std::vector<AttributeValue> values) {
  Filter f;
  f.op = Op::kIn;
  f.key = std::move(key);
  f.values = std::move(values);
  return f;
}

Filter Filter::Range(std::string key, std::optional<AttributeValue> lower,
                     bool lower_inclusive, std::optional<AttributeValue> upper,
                     bool upper_inclusive) {
  Filter f;
  f.op = Op::kRange;
  f.key = std::move(key);
  f.lower = std::move(lower);
  f.upper = std::move(upper);
  f.lower_inclusive = lower_inclusive;
  f.upper_inclusive = upper_inclusive;
  return f;
}

Filter Filter::Exists(std::string key) {
  Filter f;
  f.op = Op::kExists;
  f.key = std::move(key);
  return f;
}

Filter Filter::Contains(std::string key, std::string tag) {
  Filter f = Eq(std::move(key), std::move(tag));
  f.op = Op::kContains;
  return f;
}

Filter Filter::And(std::vector<Filter> children) {
  Filter f;
  f.op = Op::kAnd;
  f.children = std::move(children);
  return f;
}

Filter Filter::Or(std::vector<Filter> children) {
  Filter f = And(std::move(children));
  f.op = Op::kOr;
  return f;
}

Filter Filter::Not(Filter child) {
  Filter f;
  f.op = Op::kNot;
  f.children.push_back(std::move(child));
  return f;
}

std::string Filter::ToString() const {
  auto value = [&](size_t i) {
    return i < values.size() ? DebugString(values[i]) : std::string("?");
  };
  switch (op) {
    case Op::kEq:
      return absl::StrCat(key, " = ", value(0));
    case Op::kNe:
      return absl::StrCat(key, " != ", value(0));
    case Op::kIn: {
      std::vector<std::string> parts;
      for (size_t i = 0; i < values.size(); ++i) parts.push_back(value(i));
      return absl::StrCat(key, " in [", absl::StrJoin(parts, ", "), "]");
    }
    case Op::kRange: {
      std::vector<std::string> parts;
      if (lower) {
        parts.push_back(absl::StrCat(key, lower_inclusive ? " >= " : " > ",
                                     DebugString(*lower)));
      }
      if (upper) {
        parts.push_back(absl::StrCat(key, upper_inclusive ? " <= " : " < ",
                                     DebugString(*upper)));
      }
      if (parts.empty()) return absl::StrCat(key, " in range ()");
      return parts.size() == 1
                 ? parts[0]
                 : absl::StrCat("(", absl::StrJoin(parts, " and "), ")");
    }
    case Op::kExists:
      return absl::StrCat("exists ", key);
    case Op::kContains:
      return absl::StrCat(key, " contains ", value(0));
    case Op::kAnd:
    case Op::kOr: {
      if (children.empty()) return op == Op::kAnd ? "true" : "false";
      std::vector<std::string> parts;
      for (const Filter& c : children) parts.push_back(c.ToString());
      return absl::StrCat(
          "(", absl::StrJoin(parts, op == Op::kAnd ? " and " : " or "), ")");
    }
    case Op::kNot:
      return absl::StrCat("not ",
                          children.empty() ? "?" : children[0].ToString());
  }
  return "?";
}

absl::Status ValidateFilter(const Filter& filter) {
  size_t nodes = 0;
  return Validate(filter, 1, &nodes);
}

bool Matches(const Filter& f, const Attributes& attrs) {
  using Op = Filter::Op;
  switch (f.op) {
    case Op::kAnd:
      for (const Filter& c : f.children) {
        if (!Matches(c, attrs)) return false;
      }
      return true;
    case Op::kOr:
      for (const Filter& c : f.children) {
        if (Matches(c, attrs)) return true;
      }
      return false;
    case Op::kNot:
      return f.children.size() == 1 && !Matches(f.children[0], attrs);
    default:
      break;
  }
  const AttributeValue* a = FindAttribute(attrs, f.key);
  if (a == nullptr) return false;
  switch (f.op) {
    case Op::kEq:
      return !f.values.empty() && ValuesEqual(*a, f.values[0]);
    case Op::kNe:
      return !f.values.empty() && Comparable(*a, f.values[0]) &&
             !ValuesEqual(*a, f.values[0]);
    case Op::kIn:
      for (const AttributeValue& v : f.values) {
        if (ValuesEqual(*a, v)) return true;
      }
      return false;
    case Op::kRange: {
      if (!IsNumber(*a)) return false;
      if (f.lower) {
        const int c = CompareNumbers(*a, *f.lower);
        if (c < 0 || (c == 0 && !f.lower_inclusive)) return false;
      }
      if (f.upper) {
        const int c = CompareNumbers(*a, *f.upper);
        if (c > 0 || (c == 0 && !f.upper_inclusive)) return false;
      }
      return true;
    }
    case Op::kExists:
      return true;
    case Op::kContains:
      return !f.values.empty() &&
             std::holds_alternative<std::string>(f.values[0]) &&
             ValuesEqual(*a, f.values[0]);
    default:
      return false;
  }
}

}  // namespace quiver::engine
