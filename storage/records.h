// Private to storage/: encodings of the values the store writes (see the
// layout in store.h). Decoders never trust their input: a value of the wrong
// size or version gives DATA_LOSS naming `what` (e.g. "vector of document 7
// of collection 3"), never a crash.
//
// All functions are pure and thread-compatible.
#ifndef QUIVER_STORAGE_RECORDS_H_
#define QUIVER_STORAGE_RECORDS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "storage/store.h"

namespace quiver::storage::records {

// Version of the on-disk format, stored under keys::kFormatVersionKey.
inline constexpr uint32_t kFormatVersion = 1;

// "collections" value: u8 version (1) | u32 id | u32 dimension | schema bytes
// (integers big-endian). The name is the key.
std::string EncodeCollectionMeta(const CollectionMeta& meta);
absl::StatusOr<CollectionMeta> DecodeCollectionMeta(std::string_view name,
                                                    std::string_view value);

// "vectors" value: `dimension` float32 in host (little-endian) order.
// out.size() is the expected dimension.
absl::Status DecodeVector(std::string_view value, absl::Span<float> out,
                          std::string_view what);
// "codes" value: u32 list id (big-endian) | code bytes.
void AppendCodeValue(std::string* out, uint32_t list_id, std::string_view code);
absl::Status DecodeCodeValue(std::string_view value, uint32_t* list_id,
                             std::string_view* code, std::string_view what);

// Fixed-width integer values (big-endian): "ids" 'e' mappings, the
// high-water marks and the counters of the default family.
std::string EncodeU64(uint64_t v);
absl::StatusOr<uint64_t> DecodeU64(std::string_view value,
                                   std::string_view what);
std::string EncodeU32(uint32_t v);
absl::StatusOr<uint32_t> DecodeU32(std::string_view value,
                                   std::string_view what);

}  // namespace quiver::storage::records

#endif  // QUIVER_STORAGE_RECORDS_H_
