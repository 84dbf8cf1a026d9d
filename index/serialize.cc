#include "index/serialize.h"

#include <cstring>
#include <string>

#include "absl/strings/str_format.h"
#include "common/status.h"

namespace quiver::index {
namespace {
constexpr size_t kMagicSize = 8;
constexpr size_t kHeaderSize = kMagicSize + 4 + 8;
constexpr size_t kChecksumSize = 8;
}  // namespace

uint64_t Fnv1a64(std::string_view data, uint64_t h) {
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

void BlobWriter::Raw(const void* p, size_t n) {
  data_.append(static_cast<const char*>(p), n);
}

void BlobWriter::Floats(const std::vector<float>& v) {
  U64(v.size());
  Raw(v.data(), v.size() * sizeof(float));
}

absl::Status BlobReader::Raw(void* p, size_t n, const char* what) {
  if (remaining() < n) {
    return absl::DataLossError(
        absl::StrFormat("blob truncated reading %s: need %d bytes at offset "
                        "%d, %d left",
                        what, n, pos_, remaining()));
  }
  // n == 0 (an empty vector's data() may be null): memcpy's pointers must
  // not be null even for no bytes.
  if (n > 0) std::memcpy(p, in_.data() + pos_, n);
  pos_ += n;
  return absl::OkStatus();
}

absl::Status BlobReader::Floats(std::vector<float>* v, size_t expected,
                                const char* what) {
  uint64_t count = 0;
  QUIVER_RETURN_IF_ERROR(U64(&count, what));
  if (expected != SIZE_MAX && count != expected) {
    return absl::DataLossError(absl::StrFormat(
        "blob has %d floats of %s, expected %d", count, what, expected));
  }
  if (count > remaining() / sizeof(float)) {
    return absl::DataLossError(
        absl::StrFormat("blob truncated: %s needs %d floats, %d bytes left",
                        what, count, remaining()));
  }
  v->resize(count);
  return Raw(v->data(), count * sizeof(float), what);
}

std::string FrameBlob(std::string_view magic, uint32_t version,
                      std::string_view payload) {
  QUIVER_CHECK(magic.size() == kMagicSize);
  std::string out;
  out.reserve(kHeaderSize + payload.size() + kChecksumSize);
  out.append(magic);
  out.append(reinterpret_cast<const char*>(&version), 4);
  const uint64_t size = payload.size();
  out.append(reinterpret_cast<const char*>(&size), 8);
  out.append(payload);
  const uint64_t sum = Fnv1a64(out);
  out.append(reinterpret_cast<const char*>(&sum), 8);
  return out;
}

absl::StatusOr<Unframed> UnframeBlob(std::string_view blob,
                                     std::string_view magic,
                                     uint32_t max_version) {
  if (blob.size() < kHeaderSize + kChecksumSize) {
    return absl::DataLossError(absl::StrFormat(
        "blob truncated: %d bytes, a header and checksum need %d", blob.size(),
        kHeaderSize + kChecksumSize));
  }
  if (blob.substr(0, kMagicSize) != magic) {
    return absl::DataLossError(
        absl::StrFormat("blob does not start with magic '%s'", magic));
  }
  Unframed u;
  uint64_t size = 0;
  std::memcpy(&u.version, blob.data() + kMagicSize, 4);
  std::memcpy(&size, blob.data() + kMagicSize + 4, 8);
  if (size != blob.size() - kHeaderSize - kChecksumSize) {
    return absl::DataLossError(absl::StrFormat(
        "blob size mismatch: header says a %d-byte payload, blob has %d "
        "bytes after the header",
        size, blob.size() - kHeaderSize - kChecksumSize));
  }
  uint64_t stored = 0;
  std::memcpy(&stored, blob.data() + blob.size() - kChecksumSize, 8);
  const uint64_t actual = Fnv1a64(blob.substr(0, blob.size() - kChecksumSize));
  if (stored != actual) {
    return absl::DataLossError(
        absl::StrFormat("blob checksum mismatch: stored %016x, computed %016x",
                        stored, actual));
  }
  if (u.version == 0 || u.version > max_version) {
    return absl::DataLossError(absl::StrFormat(
        "blob has unknown version %d (this build reads versions 1 to %d)",
        u.version, max_version));
  }
  u.payload = blob.substr(kHeaderSize, size);
  return u;
}

}  // namespace quiver::index
