// Private to storage/: the key layout of the store's column families (see
// store.h). Integers in keys are big-endian, so that RocksDB's bytewise order
// sorts the keys of one collection by internal id and keeps each collection's
// keys in one contiguous range [CollectionPrefix(cid),
// CollectionUpperBound(cid)).
//
//   std::string key;
//   keys::AppendDocKey(&key, cid, iid);   // 12 bytes: cid | iid
//
// All functions are pure and thread-compatible.
#ifndef QUIVER_STORAGE_KEYS_H_
#define QUIVER_STORAGE_KEYS_H_

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace quiver::storage::keys {

// Collection ids are assigned from 1; 0 is never used. The largest id is
// kMaxCollectionId, so that CollectionUpperBound() fits in 4 bytes.
inline constexpr uint32_t kFirstCollectionId = 1;
inline constexpr uint32_t kMaxCollectionId =
    std::numeric_limits<uint32_t>::max() - 1;

// Column family names (stable: they are on disk).
inline constexpr char kCollectionsCf[] = "collections";
inline constexpr char kQuantizersCf[] = "quantizers";
inline constexpr char kVectorsCf[] = "vectors";
inline constexpr char kCodesCf[] = "codes";
inline constexpr char kIdsCf[] = "ids";
inline constexpr char kAttributesCf[] = "attributes";

// Keys of the default column family (store-wide metadata).
//   kFormatVersionKey      -> u32 format version
//   kNextCollectionIdKey   -> u32 next collection id to assign
//   'h' | cid              -> u64 one past the largest internal id ever
//                             written to the collection (a max-merge value)
inline constexpr char kFormatVersionKey[] = "format_version";
inline constexpr char kNextCollectionIdKey[] = "next_collection_id";
inline constexpr char kHighWaterTag = 'h';

// Tags of the two mappings in the "ids" column family.
inline constexpr char kExternalTag = 'e';  // cid | 'e' | external id -> iid
inline constexpr char kInternalTag = 'i';  // cid | 'i' | iid -> external id

inline constexpr size_t kCidBytes = 4;
inline constexpr size_t kDocKeyBytes = kCidBytes + 8;
inline constexpr size_t kInternalIdKeyBytes = kCidBytes + 1 + 8;

inline void AppendBigEndian32(std::string* out, uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(b, 4);
}

inline void AppendBigEndian64(std::string* out, uint64_t v) {
  AppendBigEndian32(out, static_cast<uint32_t>(v >> 32));
  AppendBigEndian32(out, static_cast<uint32_t>(v));
}

// REQUIRES: p points to at least 4 (resp. 8) readable bytes.
inline uint32_t ReadBigEndian32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) |
         (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

inline uint64_t ReadBigEndian64(const char* p) {
  return (uint64_t{ReadBigEndian32(p)} << 32) | ReadBigEndian32(p + 4);
}

// The 4-byte prefix shared by every key of collection `cid` in the
// "quantizers", "vectors", "codes", "ids" and "attributes" families.
inline std::string CollectionPrefix(uint32_t cid) {
  std::string key;
  AppendBigEndian32(&key, cid);
  return key;
}

// The smallest key greater than every key of collection `cid`.
// REQUIRES: cid <= kMaxCollectionId.
inline std::string CollectionUpperBound(uint32_t cid) {
  return CollectionPrefix(cid + 1);
}

// "vectors", "codes", "attributes": cid | iid.
inline void AppendDocKey(std::string* out, uint32_t cid, uint64_t iid) {
  AppendBigEndian32(out, cid);
  AppendBigEndian64(out, iid);
}
inline std::string DocKey(uint32_t cid, uint64_t iid) {
  std::string key;
  AppendDocKey(&key, cid, iid);
  return key;
}

// "ids": cid | 'e' | external id.
inline void AppendExternalIdKey(std::string* out, uint32_t cid,
                                std::string_view external_id) {
  AppendBigEndian32(out, cid);
  out->push_back(kExternalTag);
  out->append(external_id);
}
inline std::string ExternalIdKey(uint32_t cid, std::string_view external_id) {
  std::string key;
  AppendExternalIdKey(&key, cid, external_id);
  return key;
}

// "ids": cid | 'i' | iid.
inline void AppendInternalIdKey(std::string* out, uint32_t cid, uint64_t iid) {
  AppendBigEndian32(out, cid);
  out->push_back(kInternalTag);
  AppendBigEndian64(out, iid);
}
inline std::string InternalIdKey(uint32_t cid, uint64_t iid) {
  std::string key;
  AppendInternalIdKey(&key, cid, iid);
  return key;
}

// Bounds of all "ids" keys of `cid` with the given tag: [cid|tag, cid|tag+1).
inline std::string IdsTagPrefix(uint32_t cid, char tag) {
  std::string key = CollectionPrefix(cid);
  key.push_back(tag);
  return key;
}
inline std::string IdsTagUpperBound(uint32_t cid, char tag) {
  return IdsTagPrefix(cid, static_cast<char>(tag + 1));
}

// "quantizers": cid.
inline std::string QuantizerKey(uint32_t cid) { return CollectionPrefix(cid); }

// Default family: 'h' | cid.
inline std::string HighWaterKey(uint32_t cid) {
  std::string key(1, kHighWaterTag);
  AppendBigEndian32(&key, cid);
  return key;
}

}  // namespace quiver::storage::keys

#endif  // QUIVER_STORAGE_KEYS_H_
