// The names (external ids) of one collection's documents by internal id, and
// the internal id of each name, in about 30 bytes a document for names of up
// to 15 bytes (a std::string per id plus a hash map keyed by a second copy
// took about 85).
//
//   NameTable names;
//   names.Grow(next_iid);
//   if (!names.Insert(7, "doc-7")) { /* 7 is taken or "doc-7" is in use */ }
//   std::optional<uint64_t> iid = names.Find("doc-7");   // 7
//   std::string_view name = names.Name(7);               // "doc-7"
//   names.Erase(7);
//
// Layout: one 16-byte slot per internal id below the high-water mark (Grow).
// A name of up to 15 bytes lives in the slot, its length in the last byte; a
// longer one lives in its own heap block, which the slot points to. A free
// slot has length 0 (names are never empty). The name -> id direction is a
// hash set of internal ids whose hash and equality read the names from the
// slots, with heterogeneous lookup by std::string_view, so no name is stored
// twice.
//
// Memory only: the collection rebuilds the table from the store when it
// opens. Thread safety: none; the collection guards it with its metadata
// lock. Const members may run concurrently with each other.
#ifndef QUIVER_SERVER_ENGINE_NAME_TABLE_H_
#define QUIVER_SERVER_ENGINE_NAME_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"

namespace quiver::engine {

class NameTable {
 public:
  NameTable();
  ~NameTable();
  NameTable(const NameTable&) = delete;
  NameTable& operator=(const NameTable&) = delete;

  // Makes room for internal ids below `n` (never shrinks).
  void Grow(uint64_t n);
  // Names `iid` (below the high-water mark; grown if not). False, and
  // nothing changed, if `iid` already has a name or `name` names another
  // id. `name` must not be empty.
  bool Insert(uint64_t iid, std::string_view name);
  // Forgets the name of `iid`; no-op if it has none.
  void Erase(uint64_t iid);
  // Drops every name and slot.
  void Clear();

  std::optional<uint64_t> Find(std::string_view name) const;
  bool Contains(uint64_t iid) const {
    return iid < slots_.size() && Length(slots_[iid]) != 0;
  }
  // The name of `iid`, "" if it has none. Valid until it is erased or
  // the table grows (Grow, or Insert past the high-water mark).
  std::string_view Name(uint64_t iid) const {
    return iid < slots_.size() ? View(slots_[iid]) : std::string_view();
  }

  // Named ids, and the high-water mark (ids with a slot).
  size_t size() const { return ids_.size(); }
  uint64_t slots() const { return slots_.size(); }
  // Gives back the hash set's room after many erases.
  void Shrink() { ids_.rehash(0); }
  // Bytes held: slots, the hash set's capacity and the long names' blocks.
  size_t memory_bytes() const;

 private:
  static constexpr size_t kInline = 15;
  static constexpr unsigned char kHeap = 0xff;  // length byte of a long name
  struct Slot {
    // Inline: bytes [0, len), byte 15 = len. Heap: a char* at 0, a
    // uint32_t length at 8, byte 15 = kHeap. Free: byte 15 = 0.
    alignas(8) char bytes[16];
  };
  static_assert(sizeof(Slot) == 16);

  static unsigned char Length(const Slot& s) {
    return static_cast<unsigned char>(s.bytes[15]);
  }
  static std::string_view View(const Slot& s);
  static void Release(Slot& s);

  // Hash and equality of internal ids by their names, transparent to
  // std::string_view lookups.
  struct Hash {
    using is_transparent = void;
    const NameTable* table;
    size_t operator()(uint64_t iid) const {
      return absl::Hash<std::string_view>()(table->Name(iid));
    }
    size_t operator()(std::string_view name) const {
      return absl::Hash<std::string_view>()(name);
    }
  };
  struct Eq {
    using is_transparent = void;
    const NameTable* table;
    bool operator()(uint64_t a, uint64_t b) const { return a == b; }
    bool operator()(uint64_t a, std::string_view b) const {
      return table->Name(a) == b;
    }
    bool operator()(std::string_view a, uint64_t b) const {
      return a == table->Name(b);
    }
  };

  std::vector<Slot> slots_;
  absl::flat_hash_set<uint64_t, Hash, Eq> ids_;
  size_t heap_bytes_ = 0;  // long names' blocks
};

}  // namespace quiver::engine

#endif  // QUIVER_SERVER_ENGINE_NAME_TABLE_H_
