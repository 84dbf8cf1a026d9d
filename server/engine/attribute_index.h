// The attribute indexes of one collection: for every attribute key, CRoaring
// bitmaps of the documents holding each string, bool and tag value, a
// sorted (value, id) index of its numbers, and one bitmap per value type.
// A filter expression evaluates to the bitmap of the matching documents by
// bitmap algebra (and = intersection, or = union, not = the live documents
// minus the child), never by reading documents.
//
//   AttributeIndex index;
//   index.Add(7, attrs);
//   QUIVER_RETURN_IF_ERROR(index.CheckTypes(filter));
//   Roaring hits = index.Evaluate(filter, live);
//
// Ids are the collection's internal ids (below 2^32). The index lives in
// memory only: the collection rebuilds it from the stored attributes when
// it opens.
//
// Thread safety: none; the collection guards it with its metadata lock
// (writers exclusive, searches shared). Evaluate() and CheckTypes() are
// const and may run concurrently with each other.
#ifndef QUIVER_SERVER_ENGINE_ATTRIBUTE_INDEX_H_
#define QUIVER_SERVER_ENGINE_ATTRIBUTE_INDEX_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "roaring/roaring.hh"
#include "server/engine/attributes.h"
#include "server/engine/filter.h"

namespace quiver::engine {

class AttributeIndex {
 public:
  void Add(uint32_t id, const Attributes& attrs);
  // `attrs` must be what Add() was given for this id.
  void Remove(uint32_t id, const Attributes& attrs);

  // INVALID_ARGUMENT when a comparison can never match because every
  // document holding its key holds another type (e.g. `year = "2020"` where
  // year is always an int, a range on a string attribute, `contains` on a
  // number), naming the key and the types. Keys no document has are not an
  // error (they match nothing).
  absl::Status CheckTypes(const Filter& filter) const;

  // The documents of `live` that match `filter` (see filter.h for the
  // semantics; `live` is the universe of `not`).
  Roaring Evaluate(const Filter& filter, const Roaring& live) const;

  // Approximate bytes held.
  size_t memory_bytes() const;

 private:
  struct Number {
    long double value;  // exact for every int64 and double
    uint32_t id;
    bool operator<(const Number& o) const {
      return value < o.value || (value == o.value && id < o.id);
    }
  };
  // A key's numbers as a sorted array cut into blocks, each with the
  // bitmap of its ids: a range is the union of the blocks inside it plus
  // the ids of the two blocks at its ends, whatever it spans. Built on the
  // first range query after a write to the key.
  struct NumberBlocks {
    std::vector<Number> sorted;
    std::vector<size_t> starts;  // block b = sorted[starts[b], starts[b+1])
    std::vector<Roaring> bitmaps;
  };
  struct KeyIndex {
    absl::flat_hash_map<std::string, Roaring> strings;
    absl::flat_hash_map<std::string, Roaring> tags;
    Roaring bool_true, bool_false;
    absl::btree_set<Number> numbers;
    std::array<Roaring, kAttributeTypes> by_type;
    std::array<uint64_t, kAttributeTypes> type_counts{};
    // Null when stale (see NumberBlocks); guarded by blocks_mu_.
    std::shared_ptr<const NumberBlocks> blocks;
  };
  // Keys with fewer numbers walk the btree instead.
  static constexpr size_t kMinBlockedNumbers = 4096;
  std::shared_ptr<const NumberBlocks> Blocks(const KeyIndex& k) const;

  Roaring Leaf(const Filter& f, const Roaring& live) const;
  Roaring EqualTo(const KeyIndex& k, const AttributeValue& v) const;
  Roaring NumberRange(const KeyIndex& k, long double lo, bool lo_inclusive,
                      bool has_lo, long double hi, bool hi_inclusive,
                      bool has_hi) const;
  absl::Status CheckLeaf(const Filter& f) const;

  absl::flat_hash_map<std::string, KeyIndex> keys_;
  // Searches share the index; the first range query after a write builds
  // the key's blocks under this lock.
  mutable absl::Mutex blocks_mu_;
};

}  // namespace quiver::engine

#endif  // QUIVER_SERVER_ENGINE_ATTRIBUTE_INDEX_H_
