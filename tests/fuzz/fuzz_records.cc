// libFuzzer target: the record decoders of the engine
// (server/engine/records.h) and of the store (storage/records.h).
//
// Input: byte 0 picks the decoder, the rest is the record. Every decoder
// must answer an error status or a value (never crash, never read out of
// bounds); a value must survive re-encoding: encode(decode(x)) decodes to
// the same value, and for the fixed-layout records it is x itself. A
// mismatch aborts (QUIVER_CHECK), which libFuzzer reports as a crash.
//
// Mode 1 frames its input as a version-1 schema ("QVSC" | 1 | fields | FNV-1a
// of the bytes before it) so that mutations reach the field parser instead
// of dying at the checksum.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/status.h"
#include "server/engine/attributes.h"
#include "server/engine/config.h"
#include "server/engine/records.h"
#include "storage/records.h"
#include "storage/store.h"

namespace quiver {
namespace {

namespace er = engine::records;
namespace sr = storage::records;

bool SameDouble(double a, double b) {
  return std::memcmp(&a, &b, sizeof(a)) == 0;
}

bool SameSchema(const er::SchemaRecord& a, const er::SchemaRecord& b) {
  const engine::CollectionConfig& x = a.config;
  const engine::CollectionConfig& y = b.config;
  const engine::MaintenanceState& m = a.maintenance;
  const engine::MaintenanceState& n = b.maintenance;
  return x.name == y.name && x.dimension == y.dimension &&
         x.metric == y.metric && x.index.nlist == y.index.nlist &&
         x.index.pq_m == y.index.pq_m && x.index.pq_bits == y.index.pq_bits &&
         x.index.train_size == y.index.train_size &&
         x.index.nprobe == y.index.nprobe && x.index.rerank == y.index.rerank &&
         x.index.balanced == y.index.balanced &&
         x.index.auto_train_threshold == y.index.auto_train_threshold &&
         SameDouble(x.index.target_recall, y.index.target_recall) &&
         m.tuned_nprobe == n.tuned_nprobe && m.tuned_rerank == n.tuned_rerank &&
         SameDouble(m.measured_recall, n.measured_recall) &&
         m.generation == n.generation && m.trained_count == n.trained_count &&
         SameDouble(m.train_error, n.train_error) && m.reason == n.reason;
}

// The schema's checksum (records.h: u32 little-endian FNV-1a of every byte
// before it).
uint32_t Fnv1a32(std::string_view bytes) {
  uint32_t h = 2166136261u;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  return h;
}

void CheckSchema(std::string_view bytes) {
  absl::StatusOr<er::SchemaRecord> r = er::DecodeSchema(bytes);
  if (!r.ok()) {
    QUIVER_CHECK(r.status().code() == absl::StatusCode::kDataLoss);
    return;
  }
  // Version 0 and non-canonical version 1 bytes re-encode differently; the
  // re-encoded form must be stable and decode to the same record.
  const std::string encoded = er::EncodeSchema(*r);
  absl::StatusOr<er::SchemaRecord> again = er::DecodeSchema(encoded);
  QUIVER_CHECK(again.ok());
  QUIVER_CHECK(SameSchema(*r, *again));
  QUIVER_CHECK(er::EncodeSchema(*again) == encoded);
}

void CheckFramedSchema(std::string_view fields) {
  std::string bytes = "QVSC";
  bytes.push_back(static_cast<char>(er::kSchemaVersion));
  bytes.append(fields);
  const uint32_t sum = Fnv1a32(bytes);
  for (int i = 0; i < 4; ++i)
    bytes.push_back(static_cast<char>(sum >> (8 * i)));
  CheckSchema(bytes);
}

void CheckQuantizer(std::string_view bytes) {
  absl::StatusOr<er::QuantizerRecord> r = er::DecodeQuantizer(bytes);
  if (!r.ok()) return;
  QUIVER_CHECK(r->blob.data() >= bytes.data() &&
               r->blob.data() + r->blob.size() <= bytes.data() + bytes.size());
  QUIVER_CHECK(er::EncodeQuantizer(*r) == bytes);
}

void CheckCode(std::string_view bytes) {
  absl::StatusOr<er::CodeRecord> r = er::DecodeCode(bytes);
  if (!r.ok()) {
    QUIVER_CHECK(bytes.size() < 4);
    return;
  }
  const std::string encoded = er::EncodeCode(
      r->generation, reinterpret_cast<const uint8_t*>(r->code.data()),
      r->code.size());
  QUIVER_CHECK(encoded == bytes);
}

void CheckAttributes(std::string_view bytes) {
  absl::StatusOr<engine::Attributes> a = er::DecodeAttributes(bytes);
  if (!a.ok()) return;
  for (size_t i = 1; i < a->size(); ++i) {
    QUIVER_CHECK((*a)[i - 1].first < (*a)[i].first);  // sorted, unique
  }
  const std::string encoded = er::EncodeAttributes(*a);
  absl::StatusOr<engine::Attributes> again = er::DecodeAttributes(encoded);
  QUIVER_CHECK(again.ok());
  QUIVER_CHECK(*again == *a);
  QUIVER_CHECK(er::EncodeAttributes(*again) == encoded);
}

// Input: u8 name length | name | value.
void CheckCollectionMeta(std::string_view in) {
  if (in.empty()) return;
  const size_t name_len =
      std::min<size_t>(static_cast<uint8_t>(in[0]), in.size() - 1);
  const std::string_view name = in.substr(1, name_len);
  const std::string_view value = in.substr(1 + name_len);
  absl::StatusOr<storage::CollectionMeta> meta =
      sr::DecodeCollectionMeta(name, value);
  if (!meta.ok()) {
    QUIVER_CHECK(meta.status().code() == absl::StatusCode::kDataLoss);
    return;
  }
  QUIVER_CHECK(meta->name == name);
  QUIVER_CHECK(meta->dimension > 0);
  QUIVER_CHECK(sr::EncodeCollectionMeta(*meta) == value);
  // The engine's schema lives inside: decode it as Registry::Open does.
  CheckSchema(meta->schema);
}

// Input: u8 dimension | value.
void CheckVector(std::string_view in) {
  if (in.empty()) return;
  const size_t dim = static_cast<uint8_t>(in[0]);
  const std::string_view value = in.substr(1);
  std::vector<float> out(dim);
  const absl::Status s = sr::DecodeVector(value, absl::MakeSpan(out), "vector");
  QUIVER_CHECK(s.ok() == (value.size() == dim * sizeof(float)));
  if (s.ok() && dim > 0) {
    QUIVER_CHECK(std::memcmp(out.data(), value.data(), value.size()) == 0);
  }
}

void CheckCodeValue(std::string_view value) {
  uint32_t list = 0;
  std::string_view code;
  const absl::Status s = sr::DecodeCodeValue(value, &list, &code, "code");
  QUIVER_CHECK(s.ok() == (value.size() >= 4));
  if (!s.ok()) return;
  std::string encoded;
  sr::AppendCodeValue(&encoded, list, code);
  QUIVER_CHECK(encoded == value);
}

void CheckIntegers(std::string_view value) {
  absl::StatusOr<uint64_t> u64 = sr::DecodeU64(value, "u64");
  QUIVER_CHECK(u64.ok() == (value.size() == 8));
  if (u64.ok()) QUIVER_CHECK(sr::EncodeU64(*u64) == value);
  absl::StatusOr<uint32_t> u32 = sr::DecodeU32(value, "u32");
  QUIVER_CHECK(u32.ok() == (value.size() == 4));
  if (u32.ok()) QUIVER_CHECK(sr::EncodeU32(*u32) == value);
}

}  // namespace
}  // namespace quiver

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 9) {
    case 0:
      quiver::CheckSchema(in);
      break;
    case 1:
      quiver::CheckFramedSchema(in);
      break;
    case 2:
      quiver::CheckQuantizer(in);
      break;
    case 3:
      quiver::CheckCode(in);
      break;
    case 4:
      quiver::CheckAttributes(in);
      break;
    case 5:
      quiver::CheckCollectionMeta(in);
      break;
    case 6:
      quiver::CheckVector(in);
      break;
    case 7:
      quiver::CheckCodeValue(in);
      break;
    default:
      quiver::CheckIntegers(in);
      break;
  }
  return 0;
}
