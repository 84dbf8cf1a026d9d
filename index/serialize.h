// Versioned, checksummed blobs for trained index state.
//
//   BlobWriter w;  w.U32(dim);  w.Floats(centroids);
//   std::string blob = FrameBlob("QVRIVFPQ", 1, w.data());
//   QUIVER_ASSIGN_OR_RETURN(Unframed u, UnframeBlob(blob, "QVRIVFPQ", 1));
//   BlobReader r(u.payload);  uint32_t dim;
//   QUIVER_RETURN_IF_ERROR(r.U32(&dim));
//
// Frame: magic (8 bytes) | version (u32) | payload size (u64) | payload |
// FNV-1a 64 of everything before it (u64). Integers and floats are
// little-endian (the only byte order Quiver builds for).
//
// Thread safety: BlobWriter/BlobReader are single-threaded values; the free
// functions are pure.
#ifndef QUIVER_INDEX_SERIALIZE_H_
#define QUIVER_INDEX_SERIALIZE_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace quiver::index {

static_assert(std::endian::native == std::endian::little,
              "blob format is little-endian");

// FNV-1a, 64 bits, continuing from `h`.
uint64_t Fnv1a64(std::string_view data, uint64_t h = 0xcbf29ce484222325ull);

class BlobWriter {
 public:
  void U32(uint32_t v) { Raw(&v, sizeof(v)); }
  void U64(uint64_t v) { Raw(&v, sizeof(v)); }
  void I32(int32_t v) { Raw(&v, sizeof(v)); }
  // A u64 count followed by the floats.
  void Floats(const std::vector<float>& v);
  void Raw(const void* p, size_t n);
  const std::string& data() const { return data_; }

 private:
  std::string data_;
};

// Reads what BlobWriter wrote; every read fails with DATA_LOSS (naming
// `what`) when the payload is too short.
class BlobReader {
 public:
  explicit BlobReader(std::string_view payload) : in_(payload) {}
  absl::Status U32(uint32_t* v, const char* what) { return Raw(v, 4, what); }
  absl::Status U64(uint64_t* v, const char* what) { return Raw(v, 8, what); }
  absl::Status I32(int32_t* v, const char* what) { return Raw(v, 4, what); }
  // A u64 count (checked against `expected` unless it is SIZE_MAX) and the
  // floats.
  absl::Status Floats(std::vector<float>* v, size_t expected, const char* what);
  absl::Status Raw(void* p, size_t n, const char* what);
  size_t remaining() const { return in_.size() - pos_; }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

// Wraps a payload: magic must be 8 bytes.
std::string FrameBlob(std::string_view magic, uint32_t version,
                      std::string_view payload);

struct Unframed {
  uint32_t version = 0;
  std::string_view payload;  // points into the blob
};

// Checks magic, size, checksum and version (1..max_version). DATA_LOSS with
// the reason otherwise.
absl::StatusOr<Unframed> UnframeBlob(std::string_view blob,
                                     std::string_view magic,
                                     uint32_t max_version);

}  // namespace quiver::index

#endif  // QUIVER_INDEX_SERIALIZE_H_
