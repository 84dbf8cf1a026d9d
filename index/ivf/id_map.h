// id -> uint32 map, compact for dense ids: the inverted list of each id
// (IvfPqState), and the row of each id in the flat index.
//
//   IdMap map;
//   uint32_t old;
//   if (map.Set(id, list, &old)) lists.Remove(old, id);
//
// Values are below 2^32 - 1.
//
// Ids below a moving bound live in a direct array (4 bytes per id slot:
// value + 1, 0 = absent); the bound grows while the ids stay dense (an id is
// taken in when it is below 2 x (entries + 1024)), which is the case for
// ids a server assigns sequentially. Other ids go to a hash map (~17-35
// bytes each). A direct slot costs 4 bytes whether used or not.
//
// Thread safety: none; the owner locks (IvfPqState::id_mu, FlatIndex's mutex).
#ifndef QUIVER_INDEX_IVF_ID_MAP_H_
#define QUIVER_INDEX_IVF_ID_MAP_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace quiver::index::ivf {

class IdMap {
 public:
  // The list of id, or false if absent.
  bool Find(uint64_t id, uint32_t* list) const;
  // Maps id to list. Returns true (and the previous list in *old) if id
  // was present.
  bool Set(uint64_t id, uint32_t list, uint32_t* old);
  // Removes id; returns true (and its list in *list) if it was present.
  bool Erase(uint64_t id, uint32_t* list);
  size_t size() const { return size_; }
  // Prepares for `n` more entries.
  void Reserve(size_t n);
  // Gives back the hash map's room after erases (the direct array stays).
  void Shrink() { sparse_.rehash(0); }
  // Bytes held (direct array capacity + hash map slots).
  size_t MemoryBytes() const;

 private:
  // Grows the direct array to cover id (moving sparse entries below the new
  // bound into it) if the ids are dense enough; false otherwise.
  bool GrowDirectFor(uint64_t id);

  std::vector<uint32_t> direct_;  // direct_[id] = list + 1, 0 = absent
  absl::flat_hash_map<uint64_t, uint32_t> sparse_;
  size_t size_ = 0;
};

}  // namespace quiver::index::ivf

#endif  // QUIVER_INDEX_IVF_ID_MAP_H_
