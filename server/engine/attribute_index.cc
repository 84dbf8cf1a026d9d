#include "server/engine/attribute_index.h"

#include <algorithm>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace quiver::engine {
namespace {

long double NumberOf(const AttributeValue& v) {
  if (const int64_t* i = std::get_if<int64_t>(&v)) {
    return static_cast<long double>(*i);
  }
  return static_cast<long double>(std::get<double>(v));
}

constexpr size_t T(AttributeType t) { return static_cast<size_t>(t); }

void RemoveFrom(absl::flat_hash_map<std::string, Roaring>* m,
                const std::string& key, uint32_t id) {
  auto it = m->find(key);
  if (it == m->end()) return;
  it->second.remove(id);
  if (it->second.isEmpty()) m->erase(it);
}

// Sorted unique tags: a document listing a tag twice is one posting.
std::vector<std::string> UniqueTags(const Tags& tags) {
  std::vector<std::string> out = tags;
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Narrows the range `into` to its intersection with the range `with` (the
// same key): the larger lower bound, the smaller upper one; at equal
// bounds, inclusive only if both are.
void Tighten(Filter* into, const Filter& with) {
  if (with.lower) {
    const int c = into->lower ? CompareNumbers(*with.lower, *into->lower) : 1;
    if (c > 0) {
      into->lower = with.lower;
      into->lower_inclusive = with.lower_inclusive;
    } else if (c == 0) {
      into->lower_inclusive = into->lower_inclusive && with.lower_inclusive;
    }
  }
  if (with.upper) {
    const int c = into->upper ? CompareNumbers(*with.upper, *into->upper) : -1;
    if (c < 0) {
      into->upper = with.upper;
      into->upper_inclusive = with.upper_inclusive;
    } else if (c == 0) {
      into->upper_inclusive = into->upper_inclusive && with.upper_inclusive;
    }
  }
}

}  // namespace

void AttributeIndex::Add(uint32_t id, const Attributes& attrs) {
  for (const auto& [key, value] : attrs) {
    KeyIndex& k = keys_[key];
    const size_t t = value.index();
    k.by_type[t].add(id);
    ++k.type_counts[t];
    switch (TypeOf(value)) {
      case AttributeType::kString:
        k.strings[std::get<std::string>(value)].add(id);
        break;
      case AttributeType::kInt:
      case AttributeType::kDouble: {
        k.numbers.insert(Number{NumberOf(value), id});
        absl::MutexLock lock(&blocks_mu_);
        k.blocks.reset();
        break;
      }
      case AttributeType::kBool:
        (std::get<bool>(value) ? k.bool_true : k.bool_false).add(id);
        break;
      case AttributeType::kTags:
        for (const std::string& tag : UniqueTags(std::get<Tags>(value))) {
          k.tags[tag].add(id);
        }
        break;
    }
  }
}

void AttributeIndex::Remove(uint32_t id, const Attributes& attrs) {
  for (const auto& [key, value] : attrs) {
    auto kit = keys_.find(key);
    if (kit == keys_.end()) continue;
    KeyIndex& k = kit->second;
    const size_t t = value.index();
    if (!k.by_type[t].contains(id)) continue;
    k.by_type[t].remove(id);
    --k.type_counts[t];
    switch (TypeOf(value)) {
      case AttributeType::kString:
        RemoveFrom(&k.strings, std::get<std::string>(value), id);
        break;
      case AttributeType::kInt:
      case AttributeType::kDouble: {
        k.numbers.erase(Number{NumberOf(value), id});
        absl::MutexLock lock(&blocks_mu_);
        k.blocks.reset();
        break;
      }
      case AttributeType::kBool:
        (std::get<bool>(value) ? k.bool_true : k.bool_false).remove(id);
        break;
      case AttributeType::kTags:
        for (const std::string& tag : UniqueTags(std::get<Tags>(value))) {
          RemoveFrom(&k.tags, tag, id);
        }
        break;
    }
    bool empty = true;
    for (uint64_t c : k.type_counts) empty = empty && c == 0;
    if (empty) keys_.erase(kit);
  }
}

std::shared_ptr<const AttributeIndex::NumberBlocks> AttributeIndex::Blocks(
    const KeyIndex& k) const {
  absl::MutexLock lock(&blocks_mu_);
  if (k.blocks != nullptr) return k.blocks;
  auto blocks = std::make_shared<NumberBlocks>();
  blocks->sorted.assign(k.numbers.begin(), k.numbers.end());
  const size_t n = blocks->sorted.size();
  // About 64 blocks (at least 256 entries each): a range unions at most
  // 64 bitmaps and adds the ids of at most two blocks one by one.
  const size_t per_block = std::max<size_t>(256, (n + 63) / 64);
  std::vector<uint32_t> ids;
  for (size_t b = 0; b < n; b += per_block) {
    const size_t e = std::min(n, b + per_block);
    blocks->starts.push_back(b);
    ids.clear();
    for (size_t i = b; i < e; ++i) ids.push_back(blocks->sorted[i].id);
    std::sort(ids.begin(), ids.end());
    Roaring r;
    r.addMany(ids.size(), ids.data());
    r.runOptimize();
    blocks->bitmaps.push_back(std::move(r));
  }
  blocks->starts.push_back(n);
  // Published for the searches that follow; writers reset it.
  const_cast<KeyIndex&>(k).blocks = blocks;
  return blocks;
}

Roaring AttributeIndex::NumberRange(const KeyIndex& k, long double lo,
                                    bool lo_inclusive, bool has_lo,
                                    long double hi, bool hi_inclusive,
                                    bool has_hi) const {
  if (k.numbers.size() >= kMinBlockedNumbers) {
    const std::shared_ptr<const NumberBlocks> blocks = Blocks(k);
    const std::vector<Number>& v = blocks->sorted;
    // [i0, i1): the entries within the bounds.
    size_t i0 = 0, i1 = v.size();
    if (has_lo) {
      i0 =
          static_cast<size_t>(std::partition_point(v.begin(), v.end(),
                                                   [&](const Number& x) {
                                                     return lo_inclusive
                                                                ? x.value < lo
                                                                : x.value <= lo;
                                                   }) -
                              v.begin());
    }
    if (has_hi) {
      i1 = static_cast<size_t>(std::partition_point(v.begin(), v.end(),
                                                    [&](const Number& x) {
                                                      return hi_inclusive
                                                                 ? x.value <= hi
                                                                 : x.value < hi;
                                                    }) -
                               v.begin());
    }
    Roaring out;
    if (i0 >= i1) return out;
    const std::vector<size_t>& starts = blocks->starts;
    std::vector<const Roaring*> whole;
    std::vector<uint32_t> edge;
    for (size_t b = 0; b + 1 < starts.size(); ++b) {
      const size_t s = starts[b], e = starts[b + 1];
      if (e <= i0 || s >= i1) continue;
      if (s >= i0 && e <= i1) {
        whole.push_back(&blocks->bitmaps[b]);
      } else {
        for (size_t i = std::max(s, i0); i < std::min(e, i1); ++i) {
          edge.push_back(v[i].id);
        }
      }
    }
    if (!whole.empty()) out = Roaring::fastunion(whole.size(), whole.data());
    std::sort(edge.begin(), edge.end());
    out.addMany(edge.size(), edge.data());
    return out;
  }
  auto first = k.numbers.begin();
  if (has_lo) {
    // (lo, 0) is the first entry of value lo; past every id of lo for ">".
    first = lo_inclusive ? k.numbers.lower_bound(Number{lo, 0})
                         : k.numbers.upper_bound(Number{lo, UINT32_MAX});
  }
  std::vector<uint32_t> ids;
  for (auto it = first; it != k.numbers.end(); ++it) {
    if (has_hi && (it->value > hi || (it->value == hi && !hi_inclusive))) {
      break;
    }
    ids.push_back(it->id);
  }
  std::sort(ids.begin(), ids.end());
  Roaring out;
  out.addMany(ids.size(), ids.data());
  return out;
}

Roaring AttributeIndex::EqualTo(const KeyIndex& k,
                                const AttributeValue& v) const {
  switch (TypeOf(v)) {
    case AttributeType::kString: {
      // A string attribute equal to it, or a tag list holding it.
      const std::string& s = std::get<std::string>(v);
      Roaring out;
      if (auto it = k.strings.find(s); it != k.strings.end()) out = it->second;
      if (auto it = k.tags.find(s); it != k.tags.end()) out |= it->second;
      return out;
    }
    case AttributeType::kBool:
      return std::get<bool>(v) ? k.bool_true : k.bool_false;
    case AttributeType::kInt:
    case AttributeType::kDouble: {
      const long double x = NumberOf(v);
      return NumberRange(k, x, true, true, x, true, true);
    }
    case AttributeType::kTags:
      break;
  }
  return Roaring();
}

Roaring AttributeIndex::Leaf(const Filter& f, const Roaring& live) const {
  using Op = Filter::Op;
  auto kit = keys_.find(f.key);
  if (kit == keys_.end()) return Roaring();
  const KeyIndex& k = kit->second;
  switch (f.op) {
    case Op::kEq:
      return f.values.empty() ? Roaring() : EqualTo(k, f.values[0]);
    case Op::kNe: {
      if (f.values.empty()) return Roaring();
      const AttributeValue& v = f.values[0];
      Roaring comparable;
      if (IsNumber(v)) {
        comparable = k.by_type[T(AttributeType::kInt)] |
                     k.by_type[T(AttributeType::kDouble)];
      } else if (std::holds_alternative<std::string>(v)) {
        comparable = k.by_type[T(AttributeType::kString)] |
                     k.by_type[T(AttributeType::kTags)];
      } else if (!std::holds_alternative<Tags>(v)) {
        comparable = k.by_type[v.index()];
      }
      comparable -= EqualTo(k, v);
      return comparable;
    }
    case Op::kIn: {
      std::vector<Roaring> parts;
      parts.reserve(f.values.size());
      for (const AttributeValue& v : f.values) parts.push_back(EqualTo(k, v));
      std::vector<const Roaring*> ptrs;
      for (const Roaring& r : parts) ptrs.push_back(&r);
      if (ptrs.empty()) return Roaring();
      return Roaring::fastunion(ptrs.size(), ptrs.data());
    }
    case Op::kRange:
      return NumberRange(k, f.lower ? NumberOf(*f.lower) : 0, f.lower_inclusive,
                         f.lower.has_value() && IsNumber(*f.lower),
                         f.upper ? NumberOf(*f.upper) : 0, f.upper_inclusive,
                         f.upper.has_value() && IsNumber(*f.upper));
    case Op::kExists: {
      std::vector<const Roaring*> ptrs;
      for (const Roaring& r : k.by_type) ptrs.push_back(&r);
      return Roaring::fastunion(ptrs.size(), ptrs.data());
    }
    case Op::kContains: {
      if (f.values.empty() ||
          !std::holds_alternative<std::string>(f.values[0])) {
        return Roaring();
      }
      return EqualTo(k, f.values[0]);
    }
    default:
      break;
  }
  (void)live;
  return Roaring();
}

Roaring AttributeIndex::Evaluate(const Filter& f, const Roaring& live) const {
  using Op = Filter::Op;
  switch (f.op) {
    case Op::kAnd: {
      if (f.children.empty()) return live;
      // Ranges on one key intersect into one range: `price >= 500 and
      // price < 501` reads the ids of the 0.1% in range, not two halves.
      std::vector<Filter> ranges;
      std::vector<const Filter*> parts;
      for (const Filter& c : f.children) {
        if (c.op != Op::kRange) {
          parts.push_back(&c);
          continue;
        }
        auto same =
            std::find_if(ranges.begin(), ranges.end(),
                         [&](const Filter& r) { return r.key == c.key; });
        if (same == ranges.end()) {
          ranges.push_back(c);
        } else {
          Tighten(&*same, c);
        }
      }
      for (const Filter& r : ranges) parts.push_back(&r);
      Roaring out = Evaluate(*parts[0], live);
      for (size_t i = 1; i < parts.size() && !out.isEmpty(); ++i) {
        out &= Evaluate(*parts[i], live);
      }
      return out;
    }
    case Op::kOr: {
      Roaring out;
      for (const Filter& c : f.children) out |= Evaluate(c, live);
      return out;
    }
    case Op::kNot: {
      Roaring out = live;
      if (f.children.size() == 1) out -= Evaluate(f.children[0], live);
      return out;
    }
    default:
      return Leaf(f, live);
  }
}

absl::Status AttributeIndex::CheckLeaf(const Filter& f) const {
  using Op = Filter::Op;
  auto kit = keys_.find(f.key);
  if (kit == keys_.end()) return absl::OkStatus();
  const KeyIndex& k = kit->second;
  auto has = [&](AttributeType t) { return k.type_counts[T(t)] > 0; };
  auto compatible = [&](const AttributeValue& v) {
    if (IsNumber(v))
      return has(AttributeType::kInt) || has(AttributeType::kDouble);
    if (std::holds_alternative<std::string>(v)) {
      return has(AttributeType::kString) || has(AttributeType::kTags);
    }
    return has(TypeOf(v));
  };
  std::vector<std::string> held;
  for (int t = 0; t < kAttributeTypes; ++t) {
    if (k.type_counts[t] > 0) {
      held.emplace_back(TypeName(static_cast<AttributeType>(t)));
    }
  }
  auto error = [&](const std::string& wanted) {
    return absl::InvalidArgumentError(
        absl::StrCat("filter: ", f.ToString(), ": attribute '", f.key,
                     "' holds ", absl::StrJoin(held, " and "),
                     " values in this collection, not ", wanted));
  };
  switch (f.op) {
    case Op::kEq:
    case Op::kNe:
    case Op::kIn: {
      if (f.values.empty()) return absl::OkStatus();
      for (const AttributeValue& v : f.values) {
        if (compatible(v)) return absl::OkStatus();
      }
      return error(IsNumber(f.values[0])
                       ? std::string("numbers")
                       : std::string(TypeName(TypeOf(f.values[0]))));
    }
    case Op::kRange:
      if (has(AttributeType::kInt) || has(AttributeType::kDouble)) {
        return absl::OkStatus();
      }
      return error("numbers (a range compares numbers)");
    case Op::kContains:
      if (has(AttributeType::kTags) || has(AttributeType::kString)) {
        return absl::OkStatus();
      }
      return error("tags (contains looks into a tag list)");
    default:
      return absl::OkStatus();
  }
}

absl::Status AttributeIndex::CheckTypes(const Filter& f) const {
  using Op = Filter::Op;
  if (f.op == Op::kAnd || f.op == Op::kOr || f.op == Op::kNot) {
    for (const Filter& c : f.children) {
      if (absl::Status s = CheckTypes(c); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  return CheckLeaf(f);
}

size_t AttributeIndex::memory_bytes() const {
  size_t bytes = 0;
  for (const auto& [key, k] : keys_) {
    bytes += key.size() + sizeof(KeyIndex);
    for (const auto& [v, r] : k.strings) bytes += v.size() + r.getSizeInBytes();
    for (const auto& [v, r] : k.tags) bytes += v.size() + r.getSizeInBytes();
    bytes += k.bool_true.getSizeInBytes() + k.bool_false.getSizeInBytes();
    bytes += k.numbers.size() * (sizeof(Number) + 8);
    for (const Roaring& r : k.by_type) bytes += r.getSizeInBytes();
  }
  return bytes;
}

}  // namespace quiver::engine
