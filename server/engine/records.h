// The one owner of every byte the engine persists through storage::Store:
// the collection schema, the trained-quantizer record, the per-document code
// record and the attribute bytes. Typed encode/decode; decoders never trust
// their input and answer DATA_LOSS (naming what is wrong), never crash.
//
// Byte order: every fixed-width integer here is little-endian (the store's
// own framing and keys are big-endian so that keys sort; that is storage's
// business). Variable-length integers are LEB128 varints.
//
// Formats:
//   Schema (CollectionMeta::schema)
//     version 1: "QVSC" | u8 version (1) | fields | u32 FNV-1a of all the
//       bytes before it. A field is u8 tag | varint length | bytes; integers
//       are varints, doubles 8 bytes. Unknown tags are skipped (a newer
//       writer's optional field), a missing required field (name, dimension,
//       metric) is DATA_LOSS.
//     version 0 (written by releases before the engine library): the
//       protobuf wire form of quiver.v1.CollectionInfo (fields 1 name,
//       2 dimension, 3 metric, 4 IndexParams). Read here without the
//       generated code; rewritten as version 1 on the next schema update.
//   Quantizer ("quantizers" value), two forms:
//     "QVQ1" | u32 generation | index blob (index::IvfPqIndex::Serialize(),
//       which carries its own version and checksum): a full training; its
//       codes are those of this generation.
//     "QVQ2" | u32 generation | u32 base generation | u32 nlist | nlist x u32
//       list epoch | index blob: after list splits/merges (generation), on
//       top of the full training `base`; list l's centroid and number hold
//       since generation epoch[l] (base <= epoch <= generation).
//   Code ("codes" value after the store's list id): u32 generation | code.
//     A code is current when base <= its generation <= generation and its
//     generation >= the epoch of its list (CodeIsCurrent); any other code
//     (or one of another size) is stale, not corrupt: recovery re-encodes
//     that document.
//   Attributes ("attributes" value), in key order; no attributes = no bytes.
//     version 0 (every attribute a string; also what earlier releases
//       wrote): varint count, then per attribute varint length | key |
//       varint length | value.
//     version 1 (some attribute not a string): 0x00 (a count of 0, which
//       version 0 never writes) | u8 1 | varint count, then per attribute
//       varint length | key | u8 type (AttributeType: 0 string, 1 int,
//       2 double, 3 bool, 4 tags) | value: string = varint length | bytes;
//       int = 8 bytes two's complement; double = 8 bytes IEEE-754 (finite);
//       bool = 1 byte 0/1; tags = varint count, then varint length | bytes
//       each.
//
// Thread safety: pure functions.
#ifndef QUIVER_SERVER_ENGINE_RECORDS_H_
#define QUIVER_SERVER_ENGINE_RECORDS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/attributes.h"
#include "server/engine/config.h"

namespace quiver::engine::records {

inline constexpr uint8_t kSchemaVersion = 1;

// What the schema record holds: the collection's configuration and the
// state of its index maintenance (tuned defaults, size and error at the last
// training).
struct SchemaRecord {
  CollectionConfig config;
  MaintenanceState maintenance;
};

std::string EncodeSchema(const SchemaRecord& record);
// Accepts versions 0 and 1; DATA_LOSS otherwise.
absl::StatusOr<SchemaRecord> DecodeSchema(std::string_view bytes);

struct QuantizerRecord {
  uint32_t generation = 0;
  // The last full training (QVQ1: = generation).
  uint32_t base_generation = 0;
  // Per list (QVQ1: empty, every list's epoch is `generation`; QVQ2: at
  // least one).
  std::vector<uint32_t> list_epochs;
  std::string_view blob;  // points into the decoded bytes
};
// QVQ1: a full training.
std::string EncodeQuantizer(uint32_t generation, std::string_view blob);
// QVQ1 when list_epochs is empty (a full training), else QVQ2.
std::string EncodeQuantizer(const QuantizerRecord& record);
// DATA_LOSS for a short or unknown record, or epochs out of order.
absl::StatusOr<QuantizerRecord> DecodeQuantizer(std::string_view bytes);
// Whether a code record of `code_generation` in `list` belongs to the
// quantizer `q` (see "Code" above). The caller checks list < nlist.
bool CodeIsCurrent(const QuantizerRecord& q, uint32_t code_generation,
                   uint32_t list);

struct CodeRecord {
  uint32_t generation = 0;
  std::string_view code;  // points into the decoded bytes
};
std::string EncodeCode(uint32_t generation, const uint8_t* code, size_t size);
// DATA_LOSS if shorter than the generation.
absl::StatusOr<CodeRecord> DecodeCode(std::string_view bytes);

std::string EncodeAttributes(const Attributes& attributes);
// DATA_LOSS for malformed bytes, unsorted or repeated keys.
absl::StatusOr<Attributes> DecodeAttributes(std::string_view bytes);

}  // namespace quiver::engine::records

#endif  // QUIVER_SERVER_ENGINE_RECORDS_H_
