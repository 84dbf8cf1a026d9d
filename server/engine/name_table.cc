#include "server/engine/name_table.h"

#include <cstring>

namespace quiver::engine {

NameTable::NameTable() : ids_(0, Hash{this}, Eq{this}) {}

NameTable::~NameTable() { Clear(); }

std::string_view NameTable::View(const Slot& s) {
  const unsigned char len = Length(s);
  if (len != kHeap) return std::string_view(s.bytes, len);
  const char* p;
  uint32_t n;
  std::memcpy(&p, s.bytes, sizeof(p));
  std::memcpy(&n, s.bytes + 8, sizeof(n));
  return std::string_view(p, n);
}

void NameTable::Release(Slot& s) {
  if (Length(s) == kHeap) {
    char* p;
    std::memcpy(&p, s.bytes, sizeof(p));
    delete[] p;
  }
  s.bytes[15] = 0;
}

void NameTable::Grow(uint64_t n) {
  if (n > slots_.size()) slots_.resize(n, Slot{});
}

bool NameTable::Insert(uint64_t iid, std::string_view name) {
  if (name.empty() || name.size() > UINT32_MAX || Contains(iid) ||
      ids_.contains(name)) {
    return false;
  }
  Grow(iid + 1);
  Slot& s = slots_[iid];
  if (name.size() <= kInline) {
    std::memcpy(s.bytes, name.data(), name.size());
    s.bytes[15] = static_cast<char>(name.size());
  } else {
    char* p = new char[name.size()];
    std::memcpy(p, name.data(), name.size());
    const uint32_t n = static_cast<uint32_t>(name.size());
    std::memcpy(s.bytes, &p, sizeof(p));
    std::memcpy(s.bytes + 8, &n, sizeof(n));
    s.bytes[15] = static_cast<char>(kHeap);
    heap_bytes_ += name.size();
  }
  ids_.insert(iid);  // hashes the name just stored
  return true;
}

void NameTable::Erase(uint64_t iid) {
  if (!Contains(iid)) return;
  ids_.erase(iid);  // while the name is there to hash
  Slot& s = slots_[iid];
  if (Length(s) == kHeap) heap_bytes_ -= View(s).size();
  Release(s);
}

void NameTable::Clear() {
  ids_.clear();
  for (Slot& s : slots_) Release(s);
  slots_.clear();
  heap_bytes_ = 0;
}

std::optional<uint64_t> NameTable::Find(std::string_view name) const {
  auto it = ids_.find(name);
  if (it == ids_.end()) return std::nullopt;
  return *it;
}

size_t NameTable::memory_bytes() const {
  return slots_.capacity() * sizeof(Slot) +
         ids_.capacity() * (sizeof(uint64_t) + 1) + heap_bytes_;
}

}  // namespace quiver::engine
