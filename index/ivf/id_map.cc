#include "index/ivf/id_map.h"

#include <algorithm>
#include <utility>

namespace quiver::index::ivf {
namespace {
// Lists are < 2^24 (IvfPqParams::Validate), so list + 1 fits.
constexpr uint64_t kMaxDirect = uint64_t{1} << 32;
}  // namespace

bool IdMap::Find(uint64_t id, uint32_t* list) const {
  if (id < direct_.size()) {
    if (direct_[id] == 0) return false;
    *list = direct_[id] - 1;
    return true;
  }
  auto it = sparse_.find(id);
  if (it == sparse_.end()) return false;
  *list = it->second;
  return true;
}

bool IdMap::GrowDirectFor(uint64_t id) {
  if (id >= kMaxDirect || id >= 2 * (size_ + 1024)) return false;
  const size_t old_size = direct_.size();
  size_t want = std::max<size_t>(id + 1, old_size + old_size / 8 + 1024);
  want = static_cast<size_t>(std::min<uint64_t>(want, kMaxDirect));
  direct_.reserve(want);
  direct_.resize(want, 0);
  // Keep the invariant: ids below direct_.size() are never in sparse_.
  for (auto it = sparse_.begin(); it != sparse_.end();) {
    if (it->first < want) {
      direct_[it->first] = it->second + 1;
      sparse_.erase(it++);
    } else {
      ++it;
    }
  }
  // erase() keeps the buckets: give them back once most ids moved out
  // (rehash(0) sizes the table to its entries, freeing it when empty).
  if (sparse_.size() * 4 < sparse_.capacity()) sparse_.rehash(0);
  return true;
}

bool IdMap::Set(uint64_t id, uint32_t list, uint32_t* old) {
  if (id >= direct_.size() && !sparse_.contains(id)) GrowDirectFor(id);
  if (id < direct_.size()) {
    uint32_t& slot = direct_[id];
    const bool present = slot != 0;
    if (present) {
      *old = slot - 1;
    } else {
      ++size_;
    }
    slot = list + 1;
    return present;
  }
  auto [it, inserted] = sparse_.try_emplace(id, list);
  if (inserted) {
    ++size_;
    return false;
  }
  *old = std::exchange(it->second, list);
  return true;
}

bool IdMap::Erase(uint64_t id, uint32_t* list) {
  if (id < direct_.size()) {
    if (direct_[id] == 0) return false;
    *list = direct_[id] - 1;
    direct_[id] = 0;
    --size_;
    return true;
  }
  auto it = sparse_.find(id);
  if (it == sparse_.end()) return false;
  *list = it->second;
  sparse_.erase(it);
  --size_;
  return true;
}

void IdMap::Reserve(size_t n) {
  // Dense ids will land in direct_; only pre-size the hash map when it is
  // already in use.
  if (!sparse_.empty()) sparse_.reserve(sparse_.size() + n);
}

size_t IdMap::MemoryBytes() const {
  // absl's flat_hash_map: one slot plus one control byte per bucket.
  return direct_.capacity() * sizeof(uint32_t) +
         sparse_.capacity() * (sizeof(std::pair<const uint64_t, uint32_t>) + 1);
}

}  // namespace quiver::index::ivf
