#include "server/engine/records.h"

#include <cmath>
#include <cstring>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/strings/str_format.h"
#include "common/status.h"

namespace quiver::engine::records {
namespace {

constexpr char kSchemaMagic[4] = {'Q', 'V', 'S', 'C'};
constexpr char kQuantizerMagic[4] = {'Q', 'V', 'Q', '1'};
constexpr char kQuantizerMagic2[4] = {'Q', 'V', 'Q', '2'};

// Schema field tags (version 1).
enum SchemaTag : uint8_t {
  kName = 1,
  kDimension = 2,
  kMetric = 3,
  kNlist = 10,
  kPqM = 11,
  kPqBits = 12,
  kTrainSize = 13,
  kNprobe = 14,
  kRerank = 15,
  kBalanced = 16,
  kAutoTrainThreshold = 17,
  kTargetRecall = 18,
  kTunedNprobe = 30,
  kTunedRerank = 31,
  kMeasuredRecall = 32,
  kTunedGeneration = 33,
  kTrainedCount = 34,
  kTrainError = 35,
  kReason = 36,
  kShard = 40,
  kShardCount = 41,
  kShardNode = 42,  // repeated, in shard order
};

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return v;
}

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    const uint8_t byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

bool GetLengthPrefixed(std::string_view* in, std::string_view* out) {
  uint64_t len = 0;
  if (!GetVarint(in, &len) || len > in->size()) return false;
  *out = in->substr(0, len);
  in->remove_prefix(len);
  return true;
}

uint32_t Fnv1a(std::string_view bytes) {
  uint32_t h = 2166136261u;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  return h;
}

void PutField(std::string* out, uint8_t tag, std::string_view value) {
  out->push_back(static_cast<char>(tag));
  PutVarint(out, value.size());
  out->append(value);
}

void PutIntField(std::string* out, uint8_t tag, uint64_t v) {
  std::string value;
  PutVarint(&value, v);
  PutField(out, tag, value);
}

void PutDoubleField(std::string* out, uint8_t tag, double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof(bits));
  std::string value;
  for (int i = 0; i < 8; ++i)
    value.push_back(static_cast<char>(bits >> (8 * i)));
  PutField(out, tag, value);
}

absl::Status SchemaError(std::string_view what) {
  return absl::DataLossError(absl::StrFormat("collection schema: %s", what));
}

absl::StatusOr<uint64_t> IntValue(std::string_view value, uint8_t tag,
                                  uint64_t max) {
  uint64_t v = 0;
  if (!GetVarint(&value, &v) || !value.empty() || v > max) {
    return SchemaError(absl::StrFormat("field %d is not a valid integer", tag));
  }
  return v;
}

absl::StatusOr<double> DoubleValue(std::string_view value, uint8_t tag) {
  if (value.size() != 8) {
    return SchemaError(
        absl::StrFormat("field %d is not an 8-byte double", tag));
  }
  uint64_t bits = 0;
  for (int i = 0; i < 8; ++i) {
    bits |= static_cast<uint64_t>(static_cast<unsigned char>(value[i]))
            << (8 * i);
  }
  double d;
  std::memcpy(&d, &bits, sizeof(d));
  return d;
}

absl::StatusOr<index::Metric> MetricValue(uint64_t v) {
  switch (v) {
    case 1:
      return index::Metric::kL2;
    case 2:
      return index::Metric::kInnerProduct;
    case 3:
      return index::Metric::kCosine;
    default:
      return SchemaError(absl::StrFormat("unknown metric %d", v));
  }
}

uint64_t MetricCode(index::Metric metric) {
  switch (metric) {
    case index::Metric::kL2:
      return 1;
    case index::Metric::kInnerProduct:
      return 2;
    case index::Metric::kCosine:
      return 3;
  }
  return 0;
}

// Version 0: the protobuf wire form of quiver.v1.CollectionInfo. Only the
// fields a schema ever held are read; others are skipped by wire type.
absl::Status DecodeLegacyMessage(std::string_view in, bool index_params,
                                 SchemaRecord* out, bool* has_metric) {
  while (!in.empty()) {
    uint64_t key = 0;
    if (!GetVarint(&in, &key)) return SchemaError("legacy: bad field key");
    const uint64_t field = key >> 3;
    const uint64_t wire = key & 7;
    uint64_t v = 0;
    std::string_view bytes;
    switch (wire) {
      case 0:
        if (!GetVarint(&in, &v)) return SchemaError("legacy: bad varint");
        break;
      case 1:
        if (in.size() < 8) return SchemaError("legacy: truncated fixed64");
        in.remove_prefix(8);
        continue;
      case 2:
        if (!GetLengthPrefixed(&in, &bytes)) {
          return SchemaError("legacy: truncated length-delimited field");
        }
        break;
      case 5:
        if (in.size() < 4) return SchemaError("legacy: truncated fixed32");
        in.remove_prefix(4);
        continue;
      default:
        return SchemaError(absl::StrFormat("legacy: wire type %d", wire));
    }
    if (index_params) {
      IndexConfig& c = out->config.index;
      if (wire != 0) continue;
      switch (field) {
        case 1:
          c.nlist = static_cast<uint32_t>(v);
          break;
        case 2:
          c.pq_m = static_cast<uint32_t>(v);
          break;
        case 3:
          c.pq_bits = static_cast<uint32_t>(v);
          break;
        case 4:
          c.train_size = v;
          break;
        case 5:
          c.nprobe = static_cast<uint32_t>(v);
          break;
        case 6:
          c.rerank = static_cast<uint32_t>(v);
          break;
        case 7:
          c.balanced = v != 0;
          break;
        case 8:
          c.auto_train_threshold = v;
          break;
        default:
          break;
      }
      continue;
    }
    if (field == 1 && wire == 2) {
      out->config.name = std::string(bytes);
    } else if (field == 2 && wire == 0) {
      if (v > UINT32_MAX) return SchemaError("legacy: dimension too large");
      out->config.dimension = static_cast<uint32_t>(v);
    } else if (field == 3 && wire == 0) {
      absl::StatusOr<index::Metric> m = MetricValue(v);
      if (!m.ok()) return m.status();
      out->config.metric = *m;
      *has_metric = true;
    } else if (field == 4 && wire == 2) {
      absl::Status s = DecodeLegacyMessage(bytes, true, out, has_metric);
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SchemaRecord> DecodeLegacySchema(std::string_view bytes) {
  SchemaRecord out;
  bool has_metric = false;
  absl::Status s = DecodeLegacyMessage(bytes, false, &out, &has_metric);
  if (!s.ok()) return s;
  if (!has_metric || out.config.dimension == 0) {
    return SchemaError("legacy record has no dimension or metric");
  }
  return out;
}

}  // namespace

std::string EncodeSchema(const SchemaRecord& record) {
  const CollectionConfig& c = record.config;
  const MaintenanceState& m = record.maintenance;
  std::string out(kSchemaMagic, 4);
  out.push_back(static_cast<char>(kSchemaVersion));
  PutField(&out, kName, c.name);
  PutIntField(&out, kDimension, c.dimension);
  PutIntField(&out, kMetric, MetricCode(c.metric));
  PutIntField(&out, kNlist, c.index.nlist);
  PutIntField(&out, kPqM, c.index.pq_m);
  PutIntField(&out, kPqBits, c.index.pq_bits);
  PutIntField(&out, kTrainSize, c.index.train_size);
  PutIntField(&out, kNprobe, c.index.nprobe);
  PutIntField(&out, kRerank, c.index.rerank);
  PutIntField(&out, kBalanced, c.index.balanced ? 1 : 0);
  PutIntField(&out, kAutoTrainThreshold, c.index.auto_train_threshold);
  PutDoubleField(&out, kTargetRecall, c.index.target_recall);
  PutIntField(&out, kTunedNprobe, m.tuned_nprobe);
  PutIntField(&out, kTunedRerank, m.tuned_rerank);
  PutDoubleField(&out, kMeasuredRecall, m.measured_recall);
  PutIntField(&out, kTunedGeneration, m.generation);
  PutIntField(&out, kTrainedCount, m.trained_count);
  PutDoubleField(&out, kTrainError, m.train_error);
  PutField(&out, kReason, m.reason);
  if (c.placement.shard_count > 0) {
    PutIntField(&out, kShard, c.placement.shard);
    PutIntField(&out, kShardCount, c.placement.shard_count);
    for (const std::string& node : c.placement.nodes) {
      PutField(&out, kShardNode, node);
    }
  }
  PutU32(&out, Fnv1a(out));
  return out;
}

absl::StatusOr<SchemaRecord> DecodeSchema(std::string_view bytes) {
  if (bytes.size() < 4 || std::memcmp(bytes.data(), kSchemaMagic, 4) != 0) {
    return DecodeLegacySchema(bytes);
  }
  if (bytes.size() < 4 + 1 + 4) return SchemaError("truncated");
  const uint8_t version = static_cast<uint8_t>(bytes[4]);
  if (version != kSchemaVersion) {
    return SchemaError(
        absl::StrFormat("version %d; this build reads versions 0 and %d",
                        version, kSchemaVersion));
  }
  const std::string_view body = bytes.substr(0, bytes.size() - 4);
  if (GetU32(bytes.data() + bytes.size() - 4) != Fnv1a(body)) {
    return SchemaError("checksum mismatch");
  }
  std::string_view in = body.substr(5);
  SchemaRecord out;
  IndexConfig& c = out.config.index;
  MaintenanceState& m = out.maintenance;
  bool has_name = false, has_dim = false, has_metric = false;
  constexpr uint64_t kU32 = UINT32_MAX;
  constexpr uint64_t kU64 = UINT64_MAX;
  while (!in.empty()) {
    const uint8_t tag = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    std::string_view v;
    if (!GetLengthPrefixed(&in, &v)) {
      return SchemaError(absl::StrFormat("field %d is truncated", tag));
    }
#define QUIVER_INT_FIELD(dst, max)                                 \
  {                                                                \
    absl::StatusOr<uint64_t> x = IntValue(v, tag, max);            \
    if (!x.ok()) return x.status();                                \
    dst = static_cast<std::remove_reference_t<decltype(dst)>>(*x); \
  }
#define QUIVER_DOUBLE_FIELD(dst)                    \
  {                                                 \
    absl::StatusOr<double> x = DoubleValue(v, tag); \
    if (!x.ok()) return x.status();                 \
    dst = *x;                                       \
  }
    switch (tag) {
      case kName:
        out.config.name = std::string(v);
        has_name = true;
        break;
      case kDimension:
        QUIVER_INT_FIELD(out.config.dimension, kU32);
        has_dim = true;
        break;
      case kMetric: {
        absl::StatusOr<uint64_t> x = IntValue(v, tag, 255);
        if (!x.ok()) return x.status();
        absl::StatusOr<index::Metric> metric = MetricValue(*x);
        if (!metric.ok()) return metric.status();
        out.config.metric = *metric;
        has_metric = true;
        break;
      }
      case kNlist:
        QUIVER_INT_FIELD(c.nlist, kU32);
        break;
      case kPqM:
        QUIVER_INT_FIELD(c.pq_m, kU32);
        break;
      case kPqBits:
        QUIVER_INT_FIELD(c.pq_bits, kU32);
        break;
      case kTrainSize:
        QUIVER_INT_FIELD(c.train_size, kU64);
        break;
      case kNprobe:
        QUIVER_INT_FIELD(c.nprobe, kU32);
        break;
      case kRerank:
        QUIVER_INT_FIELD(c.rerank, kU32);
        break;
      case kBalanced:
        QUIVER_INT_FIELD(c.balanced, 1);
        break;
      case kAutoTrainThreshold:
        QUIVER_INT_FIELD(c.auto_train_threshold, kU64);
        break;
      case kTargetRecall:
        QUIVER_DOUBLE_FIELD(c.target_recall);
        break;
      case kTunedNprobe:
        QUIVER_INT_FIELD(m.tuned_nprobe, kU32);
        break;
      case kTunedRerank:
        QUIVER_INT_FIELD(m.tuned_rerank, kU32);
        break;
      case kMeasuredRecall:
        QUIVER_DOUBLE_FIELD(m.measured_recall);
        break;
      case kTunedGeneration:
        QUIVER_INT_FIELD(m.generation, kU32);
        break;
      case kTrainedCount:
        QUIVER_INT_FIELD(m.trained_count, kU64);
        break;
      case kTrainError:
        QUIVER_DOUBLE_FIELD(m.train_error);
        break;
      case kReason:
        m.reason = std::string(v);
        break;
      case kShard:
        QUIVER_INT_FIELD(out.config.placement.shard, kU32);
        break;
      case kShardCount:
        QUIVER_INT_FIELD(out.config.placement.shard_count, kU32);
        break;
      case kShardNode:
        out.config.placement.nodes.emplace_back(v);
        break;
      default:
        break;  // a field of a newer writer
    }
#undef QUIVER_INT_FIELD
#undef QUIVER_DOUBLE_FIELD
  }
  if (!has_name || !has_dim || !has_metric) {
    return SchemaError("name, dimension or metric missing");
  }
  return out;
}

std::string EncodeQuantizer(uint32_t generation, std::string_view blob) {
  std::string out(kQuantizerMagic, 4);
  PutU32(&out, generation);
  out.append(blob);
  return out;
}

std::string EncodeQuantizer(const QuantizerRecord& record) {
  if (record.list_epochs.empty()) {
    return EncodeQuantizer(record.generation, record.blob);
  }
  std::string out(kQuantizerMagic2, 4);
  PutU32(&out, record.generation);
  PutU32(&out, record.base_generation);
  PutU32(&out, static_cast<uint32_t>(record.list_epochs.size()));
  for (uint32_t e : record.list_epochs) PutU32(&out, e);
  out.append(record.blob);
  return out;
}

absl::StatusOr<QuantizerRecord> DecodeQuantizer(std::string_view bytes) {
  QuantizerRecord r;
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kQuantizerMagic, 4) == 0) {
    r.generation = GetU32(bytes.data() + 4);
    r.base_generation = r.generation;
    r.blob = bytes.substr(8);
    return r;
  }
  if (bytes.size() < 16 ||
      std::memcmp(bytes.data(), kQuantizerMagic2, 4) != 0) {
    return absl::DataLossError(absl::StrFormat(
        "quantizer record (%d bytes) has no Quiver header", bytes.size()));
  }
  r.generation = GetU32(bytes.data() + 4);
  r.base_generation = GetU32(bytes.data() + 8);
  const uint32_t nlist = GetU32(bytes.data() + 12);
  if (nlist == 0) {
    return absl::DataLossError("quantizer record has no list epochs");
  }
  if (r.base_generation > r.generation) {
    return absl::DataLossError(absl::StrFormat(
        "quantizer record: base generation %d is after generation %d",
        r.base_generation, r.generation));
  }
  if ((bytes.size() - 16) / 4 < nlist) {
    return absl::DataLossError(absl::StrFormat(
        "quantizer record: %d list epochs do not fit in %d bytes", nlist,
        bytes.size()));
  }
  r.list_epochs.resize(nlist);
  for (uint32_t l = 0; l < nlist; ++l) {
    const uint32_t e = GetU32(bytes.data() + 16 + 4 * size_t{l});
    if (e < r.base_generation || e > r.generation) {
      return absl::DataLossError(absl::StrFormat(
          "quantizer record: list %d has epoch %d outside [%d, %d]", l, e,
          r.base_generation, r.generation));
    }
    r.list_epochs[l] = e;
  }
  r.blob = bytes.substr(16 + 4 * size_t{nlist});
  return r;
}

bool CodeIsCurrent(const QuantizerRecord& q, uint32_t code_generation,
                   uint32_t list) {
  if (code_generation < q.base_generation || code_generation > q.generation) {
    return false;
  }
  if (q.list_epochs.empty()) return code_generation == q.generation;
  return list < q.list_epochs.size() && code_generation >= q.list_epochs[list];
}

std::string EncodeCode(uint32_t generation, const uint8_t* code, size_t size) {
  std::string out;
  out.reserve(4 + size);
  PutU32(&out, generation);
  out.append(reinterpret_cast<const char*>(code), size);
  return out;
}

absl::StatusOr<CodeRecord> DecodeCode(std::string_view bytes) {
  if (bytes.size() < 4) {
    return absl::DataLossError(absl::StrFormat(
        "code record has %d bytes; at least 4 expected", bytes.size()));
  }
  CodeRecord r;
  r.generation = GetU32(bytes.data());
  r.code = bytes.substr(4);
  return r;
}

namespace {

constexpr uint8_t kAttributesVersion = 1;

void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

bool GetU64(std::string_view* in, uint64_t* v) {
  if (in->size() < 8) return false;
  *v = 0;
  for (int i = 0; i < 8; ++i) {
    *v |= static_cast<uint64_t>(static_cast<unsigned char>((*in)[i]))
          << (8 * i);
  }
  in->remove_prefix(8);
  return true;
}

void PutString(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}

bool AllStrings(const Attributes& attributes) {
  for (const auto& kv : attributes) {
    if (!std::holds_alternative<std::string>(kv.second)) return false;
  }
  return true;
}

absl::Status AttributeError(std::string_view what, uint64_t i) {
  return absl::DataLossError(
      absl::StrFormat("attribute bytes: %s at attribute %d", what, i));
}

// Reads one value of format `version` (0: a string; 1: a type byte and
// its value) from the front of `in` into *out.
absl::Status ReadAttributeValue(uint8_t version, std::string_view* in,
                                uint64_t i, AttributeValue* out) {
  std::string_view& bytes = *in;
  if (version == 0) {
    std::string_view v;
    if (!GetLengthPrefixed(&bytes, &v)) return AttributeError("truncated", i);
    *out = std::string(v);
    return absl::OkStatus();
  }
  if (bytes.empty()) return AttributeError("truncated", i);
  const uint8_t type = static_cast<uint8_t>(bytes.front());
  bytes.remove_prefix(1);
  switch (type) {
    case static_cast<uint8_t>(AttributeType::kString): {
      std::string_view v;
      if (!GetLengthPrefixed(&bytes, &v)) return AttributeError("truncated", i);
      *out = std::string(v);
      return absl::OkStatus();
    }
    case static_cast<uint8_t>(AttributeType::kInt): {
      uint64_t v = 0;
      if (!GetU64(&bytes, &v)) return AttributeError("truncated", i);
      *out = static_cast<int64_t>(v);
      return absl::OkStatus();
    }
    case static_cast<uint8_t>(AttributeType::kDouble): {
      uint64_t v = 0;
      if (!GetU64(&bytes, &v)) return AttributeError("truncated", i);
      double d = 0;
      std::memcpy(&d, &v, sizeof d);
      if (!std::isfinite(d)) return AttributeError("a non-finite double", i);
      *out = d;
      return absl::OkStatus();
    }
    case static_cast<uint8_t>(AttributeType::kBool):
      if (bytes.empty() || static_cast<uint8_t>(bytes.front()) > 1) {
        return AttributeError("a bad bool", i);
      }
      *out = bytes.front() == 1;
      bytes.remove_prefix(1);
      return absl::OkStatus();
    case static_cast<uint8_t>(AttributeType::kTags): {
      uint64_t count = 0;
      if (!GetVarint(&bytes, &count) || count > bytes.size()) {
        return AttributeError("a bad tag count", i);
      }
      Tags tags(count);
      for (uint64_t t = 0; t < count; ++t) {
        std::string_view tag;
        if (!GetLengthPrefixed(&bytes, &tag)) {
          return AttributeError("truncated tags", i);
        }
        tags[t] = std::string(tag);
      }
      *out = std::move(tags);
      return absl::OkStatus();
    }
    default:
      return AttributeError(absl::StrFormat("unknown type %d", type), i);
  }
}

// The body of format 0 or 1: varint count, then per attribute the key and
// the value.
absl::StatusOr<Attributes> DecodeAttributeList(uint8_t version,
                                               std::string_view bytes) {
  Attributes out;
  uint64_t n = 0;
  if (!GetVarint(&bytes, &n) || n == 0 || n > bytes.size()) {
    return absl::DataLossError("attribute bytes: bad count");
  }
  out.resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view k;
    if (!GetLengthPrefixed(&bytes, &k)) return AttributeError("truncated", i);
    if (i > 0 && !(out[i - 1].first < k)) {
      return AttributeError("keys out of order", i);
    }
    out[i].first = std::string(k);
    QUIVER_RETURN_IF_ERROR(
        ReadAttributeValue(version, &bytes, i, &out[i].second));
  }
  if (!bytes.empty()) {
    return absl::DataLossError(
        absl::StrFormat("attribute bytes: %d trailing bytes", bytes.size()));
  }
  return out;
}

}  // namespace

std::string EncodeAttributes(const Attributes& attributes) {
  std::string out;
  if (attributes.empty()) return out;
  if (AllStrings(attributes)) {
    // Version 0: what every earlier release reads.
    PutVarint(&out, attributes.size());
    for (const auto& [k, v] : attributes) {
      PutString(&out, k);
      PutString(&out, std::get<std::string>(v));
    }
    return out;
  }
  out.push_back('\0');
  out.push_back(static_cast<char>(kAttributesVersion));
  PutVarint(&out, attributes.size());
  for (const auto& [k, v] : attributes) {
    PutString(&out, k);
    out.push_back(static_cast<char>(v.index()));
    switch (TypeOf(v)) {
      case AttributeType::kString:
        PutString(&out, std::get<std::string>(v));
        break;
      case AttributeType::kInt:
        PutU64(&out, static_cast<uint64_t>(std::get<int64_t>(v)));
        break;
      case AttributeType::kDouble: {
        uint64_t bits = 0;
        const double d = std::get<double>(v);
        std::memcpy(&bits, &d, sizeof bits);
        PutU64(&out, bits);
        break;
      }
      case AttributeType::kBool:
        out.push_back(std::get<bool>(v) ? 1 : 0);
        break;
      case AttributeType::kTags: {
        const Tags& tags = std::get<Tags>(v);
        PutVarint(&out, tags.size());
        for (const std::string& t : tags) PutString(&out, t);
        break;
      }
    }
  }
  return out;
}

absl::StatusOr<Attributes> DecodeAttributes(std::string_view bytes) {
  if (bytes.empty()) return Attributes();
  if (bytes.front() != '\0') return DecodeAttributeList(0, bytes);
  if (bytes.size() < 2 ||
      static_cast<uint8_t>(bytes[1]) != kAttributesVersion) {
    return absl::DataLossError(absl::StrFormat(
        "attribute bytes: version %d; this build reads versions 0 and %d",
        bytes.size() < 2 ? -1 : static_cast<uint8_t>(bytes[1]),
        kAttributesVersion));
  }
  return DecodeAttributeList(kAttributesVersion, bytes.substr(2));
}

}  // namespace quiver::engine::records
