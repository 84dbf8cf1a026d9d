// libFuzzer target: the index deserializer (index/serialize.h framing,
// IvfPqIndex::Load) and the engine's quantizer record around it.
//
// Input: byte 0 picks how the rest reaches IvfPqIndex::Load:
//   0  as the blob itself (magic, version, size, checksum all fuzzed);
//   1  as the payload, framed here with FrameBlob and the real magic and
//      version (so that mutations reach the parameter and float parsing
//      instead of dying at the checksum);
//   2  as an engine quantizer record (records::DecodeQuantizer, then Load of
//      its blob), the path Collection recovery takes;
//   3  through BlobReader directly, one read per input byte.
// Load must answer DATA_LOSS or an index. An index that loads must be
// usable: its parameters validate, it serializes to bytes that load again
// and serialize identically, and adding a few vectors and searching them
// (with and without re-ranking, one query and a batch) returns at most k
// known ids without crashing.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/status.h"
#include "index/ivf_pq_index.h"
#include "index/serialize.h"
#include "server/engine/records.h"

namespace quiver {
namespace {

using index::IvfPqIndex;

// The first 8 bytes of a real serialized index (the magic); taken from a
// tiny trained index rather than repeated here.
const std::string& Magic() {
  static const std::string* magic = [] {
    index::IvfPqParams p;
    p.dim = 4;
    p.nlist = 2;
    p.m = 2;
    p.nbits = 4;
    p.niter = 2;
    p.threads = 1;
    std::vector<float> x(32 * p.dim);
    for (size_t i = 0; i < x.size(); ++i) {
      x[i] = static_cast<float>((i * 37) % 11) - 5.0f;
    }
    absl::StatusOr<std::unique_ptr<IvfPqIndex>> idx =
        IvfPqIndex::Train(p, x.data(), 32);
    QUIVER_CHECK(idx.ok());
    return new std::string((*idx)->Serialize().substr(0, 8));
  }();
  return *magic;
}

// Full-precision vectors for re-ranking: those the target added.
class Vectors final : public index::VectorSource {
 public:
  Vectors(const std::vector<float>& x, size_t dim, size_t n)
      : x_(x), dim_(dim), n_(n) {}
  bool GetVector(uint64_t id, float* out) const override {
    if (id >= n_) return false;
    std::memcpy(out, x_.data() + id * dim_, dim_ * sizeof(float));
    return true;
  }

 private:
  const std::vector<float>& x_;
  size_t dim_, n_;
};

void CheckHits(const std::vector<index::Neighbor>& hits, size_t k, size_t n) {
  QUIVER_CHECK(hits.size() <= std::min(k, n));
  std::vector<uint64_t> ids;
  for (const index::Neighbor& h : hits) {
    QUIVER_CHECK(h.id < n);
    ids.push_back(h.id);
  }
  std::sort(ids.begin(), ids.end());
  QUIVER_CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
}

void Exercise(IvfPqIndex& idx, std::string_view seed) {
  const index::IvfPqParams& p = idx.params();
  QUIVER_CHECK(p.Validate().ok());
  const size_t dim = p.dim;

  // Serialize() is stable across a reload.
  const std::string blob = idx.Serialize();
  absl::StatusOr<std::unique_ptr<IvfPqIndex>> again = IvfPqIndex::Load(blob);
  QUIVER_CHECK(again.ok());
  QUIVER_CHECK((*again)->Serialize() == blob);

  // A few vectors (values from the input, small and finite).
  constexpr size_t kN = 6;
  std::vector<float> x(kN * dim);
  uint32_t state = 0x9e3779b9u;
  for (char c : seed.substr(0, 64))
    state = state * 31 + static_cast<uint8_t>(c);
  for (float& v : x) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(state >> 8) / static_cast<float>(1u << 24) - 0.5f;
  }
  std::vector<uint64_t> ids(kN);
  for (size_t i = 0; i < kN; ++i) ids[i] = i;
  idx.Add(ids.data(), x.data(), kN - 2);
  // The last two through Encode + AddEncoded (the engine's recovery path).
  std::vector<uint32_t> lists(2);
  std::vector<uint8_t> codes(2 * idx.code_size());
  idx.Encode(x.data() + (kN - 2) * dim, 2, lists.data(), codes.data());
  for (size_t i = 0; i < 2; ++i) {
    QUIVER_CHECK(lists[i] < p.nlist);
    idx.AddEncoded(kN - 2 + i, lists[i], codes.data() + i * idx.code_size());
  }
  // A list id out of range is ignored, not stored.
  idx.AddEncoded(1000, p.nlist, codes.data());
  QUIVER_CHECK(!idx.Contains(1000));
  QUIVER_CHECK(idx.size() == kN);

  index::SearchParams sp;
  sp.k = 3;
  sp.nprobe = 1 + static_cast<size_t>(state % 4);
  CheckHits(idx.Search(x.data(), sp), sp.k, kN);
  Vectors vectors(x, dim, kN);
  sp.rerank = 2;
  sp.vectors = &vectors;
  CheckHits(idx.Search(x.data() + dim, sp), sp.k, kN);
  sp.rerank = 0;
  sp.vectors = nullptr;
  const std::vector<std::vector<index::Neighbor>> batch =
      idx.SearchBatch(x.data(), 2, sp, 1);
  QUIVER_CHECK(batch.size() == 2);
  for (const auto& hits : batch) CheckHits(hits, sp.k, kN);

  QUIVER_CHECK(idx.Remove(0));
  QUIVER_CHECK(!idx.Remove(0));
  CheckHits(idx.Search(x.data(), sp), sp.k, kN);
  const index::ListStats st = idx.list_stats();
  QUIVER_CHECK(st.total == kN - 1);
  std::vector<uint64_t> list_ids;
  std::vector<uint8_t> list_codes;
  idx.GetList(lists[0], &list_ids, &list_codes);
  QUIVER_CHECK(list_codes.size() == list_ids.size() * idx.code_size());
}

void LoadAndExercise(std::string_view blob) {
  absl::StatusOr<std::unique_ptr<IvfPqIndex>> idx = IvfPqIndex::Load(blob);
  if (!idx.ok()) {
    QUIVER_CHECK(idx.status().code() == absl::StatusCode::kDataLoss);
    return;
  }
  Exercise(**idx, blob);
}

// One BlobReader call per input byte, on the bytes after the first 16.
void ReadAll(std::string_view in) {
  const std::string_view ops = in.substr(0, std::min<size_t>(16, in.size()));
  const std::string_view payload = in.substr(ops.size());
  index::BlobReader r(payload);
  for (char op : ops) {
    const size_t before = r.remaining();
    absl::Status s;
    switch (static_cast<uint8_t>(op) % 5) {
      case 0: {
        uint32_t v;
        s = r.U32(&v, "u32");
        break;
      }
      case 1: {
        uint64_t v;
        s = r.U64(&v, "u64");
        break;
      }
      case 2: {
        int32_t v;
        s = r.I32(&v, "i32");
        break;
      }
      case 3: {
        std::vector<float> v;
        s = r.Floats(&v, SIZE_MAX, "floats");
        if (s.ok()) QUIVER_CHECK(before - r.remaining() == 8 + 4 * v.size());
        break;
      }
      default: {
        std::vector<float> v;
        s = r.Floats(&v, static_cast<uint8_t>(op) >> 3, "floats");
        if (s.ok()) QUIVER_CHECK(v.size() == static_cast<uint8_t>(op) >> 3u);
        break;
      }
    }
    QUIVER_CHECK(r.remaining() <= before);
    if (!s.ok()) {
      QUIVER_CHECK(s.code() == absl::StatusCode::kDataLoss);
      return;
    }
  }
  // A framed payload unframes to itself.
  const std::string framed = index::FrameBlob(Magic(), 1, payload);
  absl::StatusOr<index::Unframed> u = index::UnframeBlob(framed, Magic(), 1);
  QUIVER_CHECK(u.ok() && u->version == 1 && u->payload == payload);
  // And any other bytes unframe as DATA_LOSS or to a payload inside them.
  absl::StatusOr<index::Unframed> v = index::UnframeBlob(in, Magic(), 3);
  if (v.ok()) {
    QUIVER_CHECK(v->payload.data() >= in.data() &&
                 v->payload.data() + v->payload.size() <=
                     in.data() + in.size());
  } else {
    QUIVER_CHECK(v.status().code() == absl::StatusCode::kDataLoss);
  }
}

}  // namespace
}  // namespace quiver

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  quiver::Magic();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 4) {
    case 0:
      quiver::LoadAndExercise(in);
      break;
    case 1:
      quiver::LoadAndExercise(quiver::index::FrameBlob(quiver::Magic(), 1, in));
      break;
    case 2: {
      absl::StatusOr<quiver::engine::records::QuantizerRecord> r =
          quiver::engine::records::DecodeQuantizer(in);
      if (r.ok()) quiver::LoadAndExercise(r->blob);
      break;
    }
    default:
      quiver::ReadAll(in);
      break;
  }
  return 0;
}
