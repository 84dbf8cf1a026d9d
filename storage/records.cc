#include "storage/records.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "storage/keys.h"
#include "storage/strings.h"

namespace quiver::storage::records {
namespace {

constexpr uint8_t kMetaVersion = 1;
constexpr size_t kMetaHeaderBytes = 1 + 4 + 4;

absl::Status BadSize(std::string_view what, size_t got, size_t want) {
  return absl::DataLossError(
      absl::StrCat("corrupt ", Sv(what), ": ", got, " bytes, expected ", want));
}

}  // namespace

std::string EncodeCollectionMeta(const CollectionMeta& meta) {
  std::string out;
  out.reserve(kMetaHeaderBytes + meta.schema.size());
  out.push_back(static_cast<char>(kMetaVersion));
  keys::AppendBigEndian32(&out, meta.id);
  keys::AppendBigEndian32(&out, meta.dimension);
  out.append(meta.schema);
  return out;
}

absl::StatusOr<CollectionMeta> DecodeCollectionMeta(std::string_view name,
                                                    std::string_view value) {
  if (value.size() < kMetaHeaderBytes) {
    return absl::DataLossError(absl::StrCat(
        "corrupt metadata of collection '", Sv(name), "': ", value.size(),
        " bytes, expected at least ", kMetaHeaderBytes));
  }
  if (static_cast<uint8_t>(value[0]) != kMetaVersion) {
    return absl::DataLossError(absl::StrCat(
        "corrupt metadata of collection '", Sv(name), "': unknown version ",
        static_cast<int>(static_cast<uint8_t>(value[0])), ", expected ",
        kMetaVersion));
  }
  CollectionMeta meta;
  meta.name = std::string(name);
  meta.id = keys::ReadBigEndian32(value.data() + 1);
  meta.dimension = keys::ReadBigEndian32(value.data() + 5);
  meta.schema = std::string(value.substr(kMetaHeaderBytes));
  if (meta.id < keys::kFirstCollectionId || meta.id > keys::kMaxCollectionId ||
      meta.dimension == 0) {
    return absl::DataLossError(absl::StrCat("corrupt metadata of collection '",
                                            Sv(name), "': id ", meta.id,
                                            ", dimension ", meta.dimension));
  }
  return meta;
}

absl::Status DecodeVector(std::string_view value, absl::Span<float> out,
                          std::string_view what) {
  const size_t want = out.size() * sizeof(float);
  if (value.size() != want) return BadSize(what, value.size(), want);
  if (want > 0) std::memcpy(out.data(), value.data(), want);
  return absl::OkStatus();
}

void AppendCodeValue(std::string* out, uint32_t list_id,
                     std::string_view code) {
  keys::AppendBigEndian32(out, list_id);
  out->append(code);
}

absl::Status DecodeCodeValue(std::string_view value, uint32_t* list_id,
                             std::string_view* code, std::string_view what) {
  if (value.size() < 4) {
    return absl::DataLossError(absl::StrCat("corrupt ", Sv(what), ": ",
                                            value.size(),
                                            " bytes, expected at least 4"));
  }
  *list_id = keys::ReadBigEndian32(value.data());
  *code = value.substr(4);
  return absl::OkStatus();
}

std::string EncodeU64(uint64_t v) {
  std::string out;
  keys::AppendBigEndian64(&out, v);
  return out;
}

absl::StatusOr<uint64_t> DecodeU64(std::string_view value,
                                   std::string_view what) {
  if (value.size() != 8) return BadSize(what, value.size(), 8);
  return keys::ReadBigEndian64(value.data());
}

std::string EncodeU32(uint32_t v) {
  std::string out;
  keys::AppendBigEndian32(&out, v);
  return out;
}

absl::StatusOr<uint32_t> DecodeU32(std::string_view value,
                                   std::string_view what) {
  if (value.size() != 4) return BadSize(what, value.size(), 4);
  return keys::ReadBigEndian32(value.data());
}

}  // namespace quiver::storage::records
