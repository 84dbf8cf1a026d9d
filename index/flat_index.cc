// Exact k-NN: query blocks x base blocks of inner products with one sgemm
// each, then a bounded max-heap per query. For L2 the GEMM distance
// ||q||^2 + ||x||^2 - 2 <q, x> loses precision to cancellation, so 2k
// candidates are kept and re-scored with a direct difference, which makes the
// reported distances (and the order of near ties) exact.
// kFloat16 and kScalar8 rows are decoded a block at a time into a float
// buffer for the GEMM, so every encoding shares the scan.
#include "index/flat_index.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/synchronization/mutex.h"
#include "index/clustering/distances.h"
#include "index/ivf/id_map.h"
#include "index/kernels/kernels.h"
#include "index/parallel.h"

namespace quiver::index {
namespace {

using clustering::Dot;
using clustering::InnerProducts;
using clustering::L2Sqr;

constexpr size_t kQueryBlock = 32;
constexpr size_t kBaseBlock = 4096;
// Floats decoded per block for kFloat16 and kScalar8 (1 MiB): the block of rows
// shrinks as dim grows.
constexpr size_t kDecodeFloats = size_t{1} << 18;

// Rounds y (|y| < 2^15) to the nearest half, ties to even; returns its bits.
uint16_t FloatToHalf(float y) {
  uint32_t b;
  std::memcpy(&b, &y, sizeof(b));
  const uint16_t sign = static_cast<uint16_t>((b >> 16) & 0x8000u);
  b &= 0x7fffffffu;
  if (b >= 0x38800000u) {            // >= 2^-14: a normal half
    b += 0xfffu + ((b >> 13) & 1u);  // round the 13 dropped bits, ties even
    return static_cast<uint16_t>(sign | ((b - 0x38000000u) >> 13));
  }
  // A subnormal half (or zero): a multiple of 2^-24.
  float f;
  std::memcpy(&f, &b, sizeof(f));
  return static_cast<uint16_t>(
      sign | static_cast<uint16_t>(std::nearbyint(f * 0x1p24f)));
}

// The row's scale: a power of two putting max |v[i]| in [2^14, 2^15).
float RowScale(const float* v, size_t dim) {
  float max_abs = 0;
  for (size_t i = 0; i < dim; ++i) max_abs = std::max(max_abs, std::fabs(v[i]));
  if (max_abs == 0) return 1.0f;
  int e = 0;
  std::frexp(max_abs, &e);  // max_abs = m * 2^e, m in [0.5, 1)
  return std::ldexp(1.0f, std::max(e, -100) - 15);
}

void EncodeHalf(const float* v, size_t dim, uint16_t* h, float* scale) {
  *scale = RowScale(v, dim);
  const float inv = 1.0f / *scale;  // a power of two: exact
  for (size_t i = 0; i < dim; ++i) h[i] = FloatToHalf(v[i] * inv);
}

// A bound on || decoded - vector || for a kFloat16 row from its decoded
// squared norm and scale: rounding to the nearest half moves a component
// by at most 2^-11 of its decoded magnitude (half an ulp; normal halves)
// or 2^-25 (subnormal halves), in units of the scale.
float HalfErrorBound(float norm2, float scale, size_t dim) {
  const double bound =
      std::ldexp(std::sqrt(static_cast<double>(norm2)), -11) +
      std::sqrt(static_cast<double>(dim)) * std::ldexp(double{scale}, -25);
  return static_cast<float>(bound * (1 + 1e-6)) +
         std::numeric_limits<float>::denorm_min();
}

void DecodeHalf(const uint16_t* h, float scale, size_t dim, float* out) {
  kernels::Kernels().half_to_float(h, dim, scale, out);
}

// kScalar8: codes round((v[i] - min) / step), step = (max - min) / 255, so
// that each component is within step / 2 of its value.
void EncodeScalar8(const float* v, size_t dim, uint8_t* c, float* offset,
                   float* step) {
  float lo = v[0], hi = v[0];
  for (size_t i = 1; i < dim; ++i) {
    lo = std::min(lo, v[i]);
    hi = std::max(hi, v[i]);
  }
  // In double: max - min of two finite floats may overflow a float.
  const double range = static_cast<double>(hi) - static_cast<double>(lo);
  const float s = static_cast<float>(range / 255.0);
  *offset = lo;
  *step = s;
  for (size_t i = 0; i < dim; ++i) {
    const double q = s > 0 ? (static_cast<double>(v[i]) - lo) / s : 0.0;
    c[i] = static_cast<uint8_t>(std::clamp(std::nearbyint(q), 0.0, 255.0));
  }
}

// Rows of `width` values each, in chunks of 2^shift rows. Appending moves
// at most the last chunk (which grows 1.25x at a time up to its full size),
// never every row: a large index grows without copying all of its rows
// (and faulting in a second copy of them) under its writer lock, and holds
// at most a quarter of one chunk unused while it grows; removals free each
// chunk they empty, and the last one's room once it is under half full.
template <typename T>
class ChunkedRows {
 public:
  ChunkedRows(size_t width, size_t shift) : width_(width), shift_(shift) {}

  size_t size() const { return size_; }
  T* Row(size_t r) {
    return chunks_[r >> shift_].data() + (r & Mask()) * width_;
  }
  const T* Row(size_t r) const {
    return chunks_[r >> shift_].data() + (r & Mask()) * width_;
  }
  // Room for n rows (the chunks before the last full, the last one grown
  // geometrically).
  void Reserve(size_t n) {
    if (n <= size_) return;
    const size_t used = (n + Mask()) >> shift_;
    if (chunks_.size() < used) chunks_.resize(used);
    for (size_t c = size_ >> shift_; c < used; ++c) {
      Grow(c, c + 1 < used ? Mask() + 1 : n - (c << shift_));
    }
  }
  // Appends a row (zeroed) and returns it.
  T* Append() {
    const size_t c = size_ >> shift_;
    if (chunks_.size() <= c) chunks_.resize(c + 1);
    Grow(c, (size_ & Mask()) + 1);
    std::vector<T>& chunk = chunks_[c];
    chunk.resize(chunk.size() + width_);
    ++size_;
    return chunk.data() + chunk.size() - width_;
  }
  void PopBack() {
    --size_;
    std::vector<T>& chunk = chunks_[size_ >> shift_];
    chunk.resize(chunk.size() - width_);
    // The last chunk gives back its room once under half full (geometric:
    // adds and removes around one size do not copy it in turn).
    if (!chunk.empty() && 2 * chunk.size() < chunk.capacity() &&
        chunk.capacity() > 1024 * width_) {
      chunk.shrink_to_fit();
    }
    // An emptied chunk goes at once (one added again regrows from a row).
    const size_t used = (size_ + Mask()) >> shift_;
    if (chunks_.size() > used) chunks_.resize(used);
  }
  void ShrinkToFit() {
    chunks_.resize((size_ + Mask()) >> shift_);
    chunks_.shrink_to_fit();
    for (std::vector<T>& chunk : chunks_) chunk.shrink_to_fit();
  }
  // Rows of room.
  size_t capacity() const {
    size_t values = 0;
    for (const std::vector<T>& chunk : chunks_) values += chunk.capacity();
    return values / width_;
  }
  size_t memory_bytes() const {
    return capacity() * width_ * sizeof(T) +
           chunks_.capacity() * sizeof(std::vector<T>);
  }

 private:
  size_t Mask() const { return (size_t{1} << shift_) - 1; }
  // Chunk c has room for `rows` rows (1.25x growth, up to a full chunk).
  void Grow(size_t c, size_t rows) {
    std::vector<T>& chunk = chunks_[c];
    const size_t want = rows * width_;
    if (chunk.capacity() >= want) return;
    const size_t full = (Mask() + 1) * width_;
    chunk.reserve(std::min(
        full, std::max(want, chunk.capacity() + chunk.capacity() / 4)));
  }

  const size_t width_;
  const size_t shift_;
  size_t size_ = 0;
  std::vector<std::vector<T>> chunks_;
};

// Rows a chunk of the index holds: about 4 MiB of its widest array, a power
// of two from 2^10 to 2^16.
size_t ChunkShift(size_t row_bytes) {
  size_t shift = 10;
  while (shift < 16 && (row_bytes << (shift + 1)) <= (size_t{4} << 20)) {
    ++shift;
  }
  return shift;
}

// The rows a scan reads: the index's chunks (floats in place, kFloat16 and
// kScalar8 rows decoded on demand), or a plain matrix (BruteForce).
struct Rows {
  const float* plain = nullptr;                   // BruteForce: nb * dim
  const float* plain_norms = nullptr;             // BruteForce, L2: nb
  const ChunkedRows<float>* floats = nullptr;     // kFloat32
  const ChunkedRows<uint16_t>* halves = nullptr;  // kFloat16
  const ChunkedRows<uint8_t>* bytes = nullptr;    // kScalar8
  const ChunkedRows<float>* scales =
      nullptr;  // kFloat16: scale; kScalar8: step
  const ChunkedRows<float>* offsets = nullptr;  // kScalar8: the row's minimum
  const ChunkedRows<float>* norms = nullptr;    // ||x||^2 per row
  const ChunkedRows<uint64_t>* ids = nullptr;   // null: ids are row numbers
  size_t dim = 0;
  size_t chunk_rows = std::numeric_limits<size_t>::max();  // plain: all

  // Rows per GEMM block: a power of two that divides chunk_rows, so that a
  // block never spans two chunks.
  size_t Block() const {
    const size_t natural =
        plain != nullptr || floats != nullptr
            ? kBaseBlock
            : std::clamp<size_t>(std::bit_floor(kDecodeFloats / dim), 64,
                                 kBaseBlock);
    return std::min(natural, chunk_rows);
  }
  uint64_t Id(size_t row) const { return ids ? *ids->Row(row) : row; }
  // The norms of a block's rows, from its first row r0 (L2 only).
  const float* Norms(size_t r0) const {
    return plain ? plain_norms + r0 : norms->Row(r0);
  }
  // Row `row` as floats into out (copied or decoded).
  void Copy(size_t row, float* out) const {
    if (plain != nullptr || floats != nullptr) {
      std::memcpy(out, plain ? plain + row * dim : floats->Row(row),
                  dim * sizeof(float));
    } else if (halves) {
      DecodeHalf(halves->Row(row), *scales->Row(row), dim, out);
    } else {
      kernels::Kernels().u8_to_float(bytes->Row(row), dim, *offsets->Row(row),
                                     *scales->Row(row), out);
    }
  }
  // Rows [r0, r0 + n) as floats: in place (a plain matrix, or float rows
  // within one chunk), or copied / decoded into *buf.
  const float* Get(size_t r0, size_t n, std::vector<float>* buf) const {
    if (plain) return plain + r0 * dim;
    if (floats && (r0 / chunk_rows == (r0 + n - 1) / chunk_rows)) {
      return floats->Row(r0);
    }
    buf->resize(n * dim);
    for (size_t r = 0; r < n; ++r) Copy(r0 + r, buf->data() + r * dim);
    return buf->data();
  }
  // Starts loading row `row` (and its scale) into the cache.
  void Prefetch(size_t row) const {
    const char* p = plain    ? reinterpret_cast<const char*>(plain + row * dim)
                    : floats ? reinterpret_cast<const char*>(floats->Row(row))
                    : halves ? reinterpret_cast<const char*>(halves->Row(row))
                             : reinterpret_cast<const char*>(bytes->Row(row));
    const size_t n =
        dim * (plain != nullptr || floats != nullptr ? sizeof(float)
               : halves                              ? sizeof(uint16_t)
                                                     : sizeof(uint8_t));
    for (size_t b = 0; b < n; b += 64) __builtin_prefetch(p + b);
    __builtin_prefetch(p + n - 1);  // rows need not be line-aligned
    if (scales) __builtin_prefetch(scales->Row(row));
    if (offsets) __builtin_prefetch(offsets->Row(row));
  }
};

// Puts c into `heap`, a max-heap under `worse` (the worst on top) of at
// most `keep`, in place of the worst when full: the caller checked that c
// beats it.
template <typename T, typename Worse>
void PushBounded(std::vector<T>* heap, const T& c, size_t keep, Worse worse) {
  if (heap->size() == keep) {
    std::pop_heap(heap->begin(), heap->end(), worse);
    heap->back() = c;
  } else {
    heap->push_back(c);
  }
  std::push_heap(heap->begin(), heap->end(), worse);
}

// A candidate: (distance, row); ordered by distance then id for ties.
struct Candidate {
  float dist;
  size_t row;
};

// Scans base rows [0, nb) for queries [q0, q1). Queries must already be
// normalised for cosine. out[q] receives query q's neighbours, best first.
void ScanRange(Metric metric, const Rows& base, size_t nb, const float* queries,
               size_t q0, size_t q1, size_t dim, size_t k,
               const IdFilter* filter,
               std::vector<std::vector<Neighbor>>* out) {
  const bool l2 = metric == Metric::kL2;
  const size_t keep = std::min(nb, l2 ? 2 * k : k);
  auto id_of = [&base](size_t row) -> uint64_t { return base.Id(row); };
  // Max-heap on (dist, id): the worst kept candidate on top.
  auto worse = [&](const Candidate& a, const Candidate& b) {
    if (a.dist != b.dist) return a.dist < b.dist;
    return id_of(a.row) < id_of(b.row);
  };
  const size_t block = base.Block();
  std::vector<float> ip(kQueryBlock * std::min(nb, block));
  std::vector<float> decoded;
  std::vector<std::vector<Candidate>> heaps(kQueryBlock);
  std::vector<float> qn(kQueryBlock);
  for (size_t b0 = q0; b0 < q1; b0 += kQueryBlock) {
    const size_t nq = std::min(kQueryBlock, q1 - b0);
    const float* qb = queries + b0 * dim;
    for (size_t q = 0; q < nq; ++q) {
      heaps[q].clear();
      qn[q] = l2 ? Dot(qb + q * dim, qb + q * dim, dim) : 0.0f;
    }
    for (size_t r0 = 0; r0 < nb && keep > 0; r0 += block) {
      const size_t nr = std::min(block, nb - r0);
      InnerProducts(qb, nq, base.Get(r0, nr, &decoded), nr, dim,
                    l2 ? -2.0f : -1.0f, ip.data());
      const float* norms = l2 ? base.Norms(r0) : nullptr;
      for (size_t q = 0; q < nq; ++q) {
        std::vector<Candidate>& heap = heaps[q];
        const float* row = ip.data() + q * nr;
        for (size_t j = 0; j < nr; ++j) {
          const float dist = l2 ? qn[q] + norms[j] + row[j] : row[j];
          const Candidate cand{dist, r0 + j};
          if (heap.size() == keep && !worse(cand, heap.front())) continue;
          if (filter != nullptr && !filter->Accept(id_of(r0 + j))) continue;
          PushBounded(&heap, cand, keep, worse);
        }
      }
    }
    for (size_t q = 0; q < nq; ++q) {
      std::vector<Candidate>& heap = heaps[q];
      if (l2) {
        for (Candidate& cand : heap) {
          cand.dist = L2Sqr(qb + q * dim, base.Get(cand.row, 1, &decoded), dim);
        }
      }
      std::sort(heap.begin(), heap.end(), worse);
      std::vector<Neighbor>& res = (*out)[b0 + q];
      res.clear();
      for (size_t j = 0; j < heap.size() && j < k; ++j) {
        res.push_back({id_of(heap[j].row), heap[j].dist});
      }
    }
  }
}

}  // namespace

struct FlatIndex::Impl {
  Impl(Metric m, size_t d, FlatEncoding e)
      : metric(m),
        dim(d),
        encoding(e),
        shift(
            ChunkShift(d * (e == FlatEncoding::kFloat32   ? sizeof(float)
                            : e == FlatEncoding::kFloat16 ? sizeof(uint16_t)
                                                          : sizeof(uint8_t)))),
        data(d, shift),
        halves(d, shift),
        bytes(d, shift),
        scales(1, shift),
        offsets(1, shift),
        errors(1, shift),
        norms(1, shift),
        ids(1, shift) {}
  const Metric metric;
  const size_t dim;
  const FlatEncoding encoding;
  const size_t shift;  // rows per chunk: 2^shift
  mutable absl::Mutex mu;
  ChunkedRows<float> data ABSL_GUARDED_BY(mu);       // kFloat32
  ChunkedRows<uint16_t> halves ABSL_GUARDED_BY(mu);  // kFloat16
  ChunkedRows<uint8_t> bytes ABSL_GUARDED_BY(mu);    // kScalar8
  ChunkedRows<float> scales ABSL_GUARDED_BY(mu);     // kFloat16, kScalar8
  ChunkedRows<float> offsets ABSL_GUARDED_BY(mu);    // kScalar8
  // kScalar8: per row, an upper bound on || decoded - vector || (kFloat16
  // derives its bound from the row's norm and scale: HalfErrorBound).
  ChunkedRows<float> errors ABSL_GUARDED_BY(mu);
  ChunkedRows<float> norms ABSL_GUARDED_BY(mu);  // ||x||^2 per row
  ChunkedRows<uint64_t> ids ABSL_GUARDED_BY(mu);
  // id -> row: 4 bytes per id for dense ids (the collections' internal
  // ids), a hash map entry for others.
  ivf::IdMap rows ABSL_GUARDED_BY(mu);
  // The row of id, or -1.
  int64_t RowOf(uint64_t id) const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    uint32_t row;
    return rows.Find(id, &row) ? static_cast<int64_t>(row) : -1;
  }

  Rows View() const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    Rows r;
    r.dim = dim;
    r.chunk_rows = size_t{1} << shift;
    r.norms = &norms;
    r.ids = &ids;
    switch (encoding) {
      case FlatEncoding::kFloat32:
        r.floats = &data;
        break;
      case FlatEncoding::kFloat16:
        r.halves = &halves;
        r.scales = &scales;
        break;
      case FlatEncoding::kScalar8:
        r.bytes = &bytes;
        r.scales = &scales;
        r.offsets = &offsets;
        break;
    }
    return r;
  }
  // Writes row `row` (== size() to append) from v; returns the stored
  // vector's squared norm (of the decoded vector for kFloat16, kScalar8).
  float Put(size_t row, const float* v, float* scratch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const bool append = row == ids.size();
    if (encoding == FlatEncoding::kFloat32) {
      std::memcpy(append ? data.Append() : data.Row(row), v,
                  dim * sizeof(float));
      return Dot(v, v, dim);
    }
    if (encoding == FlatEncoding::kFloat16) {
      if (append) {
        halves.Append();
        scales.Append();
      }
      EncodeHalf(v, dim, halves.Row(row), scales.Row(row));
    } else {
      if (append) {
        bytes.Append();
        scales.Append();
        offsets.Append();
      }
      EncodeScalar8(v, dim, bytes.Row(row), offsets.Row(row), scales.Row(row));
    }
    View().Copy(row, scratch);
    const float norm = Dot(scratch, scratch, dim);
    if (encoding == FlatEncoding::kFloat16) return norm;
    // The distance from the decoded vector to v, in double and rounded up
    // (a bound that float arithmetic cannot undercut).
    double err2 = 0;
    for (size_t i = 0; i < dim; ++i) {
      const double e = static_cast<double>(v[i]) - scratch[i];
      err2 += e * e;
    }
    const float err = static_cast<float>(std::sqrt(err2) * (1 + 1e-6)) +
                      std::numeric_limits<float>::denorm_min();
    *(append ? errors.Append() : errors.Row(row)) = err;
    return norm;
  }
  // Moves row `from` onto row `to`.
  void Move(size_t from, size_t to) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    switch (encoding) {
      case FlatEncoding::kFloat32:
        std::memcpy(data.Row(to), data.Row(from), dim * sizeof(float));
        break;
      case FlatEncoding::kFloat16:
        std::memcpy(halves.Row(to), halves.Row(from), dim * sizeof(uint16_t));
        *scales.Row(to) = *scales.Row(from);
        break;
      case FlatEncoding::kScalar8:
        std::memcpy(bytes.Row(to), bytes.Row(from), dim);
        *scales.Row(to) = *scales.Row(from);
        *offsets.Row(to) = *offsets.Row(from);
        *errors.Row(to) = *errors.Row(from);
        break;
    }
    *norms.Row(to) = *norms.Row(from);
    *ids.Row(to) = *ids.Row(from);
  }
  // Drops the last row.
  void PopBack() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    switch (encoding) {
      case FlatEncoding::kFloat32:
        data.PopBack();
        break;
      case FlatEncoding::kFloat16:
        halves.PopBack();
        scales.PopBack();
        break;
      case FlatEncoding::kScalar8:
        bytes.PopBack();
        scales.PopBack();
        offsets.PopBack();
        errors.PopBack();
        break;
    }
    norms.PopBack();
    ids.PopBack();
  }
  void ShrinkToFit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    data.ShrinkToFit();
    halves.ShrinkToFit();
    bytes.ShrinkToFit();
    scales.ShrinkToFit();
    offsets.ShrinkToFit();
    errors.ShrinkToFit();
    norms.ShrinkToFit();
    ids.ShrinkToFit();
    rows.Shrink();
  }
  // Room for n rows (each array's last chunk grows 1.25x at a time).
  void Reserve(size_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    switch (encoding) {
      case FlatEncoding::kFloat32:
        data.Reserve(n);
        break;
      case FlatEncoding::kFloat16:
        halves.Reserve(n);
        scales.Reserve(n);
        break;
      case FlatEncoding::kScalar8:
        bytes.Reserve(n);
        scales.Reserve(n);
        offsets.Reserve(n);
        errors.Reserve(n);
        break;
    }
    norms.Reserve(n);
    ids.Reserve(n);
  }
};

FlatIndex::FlatIndex(Metric metric, size_t dim, FlatEncoding encoding)
    : impl_(std::make_unique<Impl>(metric, dim, encoding)) {}

FlatIndex::~FlatIndex() = default;

void FlatIndex::Add(const uint64_t* ids, const float* x, size_t n) {
  const size_t dim = impl_->dim;
  std::vector<float> normalized;
  if (impl_->metric == Metric::kCosine && n > 0) {
    normalized.assign(x, x + n * dim);
    NormalizeL2(normalized.data(), n, dim);
    x = normalized.data();
  }
  Impl& s = *impl_;
  std::vector<float> scratch(dim);
  absl::MutexLock lock(&s.mu);
  // Geometric growth: an exact reserve per call would copy the last chunk
  // on every Add().
  s.Reserve(s.ids.size() + n);
  for (size_t i = 0; i < n; ++i) {
    const float* v = x + i * dim;
    const int64_t row = s.RowOf(ids[i]);
    if (row >= 0) {
      *s.norms.Row(row) = s.Put(row, v, scratch.data());
      continue;
    }
    const size_t end = s.ids.size();
    uint32_t unused;
    s.rows.Set(ids[i], static_cast<uint32_t>(end), &unused);
    const float norm = s.Put(end, v, scratch.data());
    *s.norms.Append() = norm;
    *s.ids.Append() = ids[i];
  }
}

bool FlatIndex::Remove(uint64_t id) {
  Impl& s = *impl_;
  absl::MutexLock lock(&s.mu);
  uint32_t row;
  if (!s.rows.Erase(id, &row)) return false;
  const size_t last = s.ids.size() - 1;
  if (row != last) {
    s.Move(last, row);
    uint32_t moved_from;
    s.rows.Set(*s.ids.Row(row), row, &moved_from);
  }
  s.PopBack();
  // Give memory back after mass deletes, id map included (amortised: only
  // once a third of the room is unused).
  const size_t room = s.ids.capacity();
  if (room > 1024 && 3 * s.ids.size() < 2 * room) s.ShrinkToFit();
  return true;
}

void FlatIndex::ShrinkToFit() {
  Impl& s = *impl_;
  absl::MutexLock lock(&s.mu);
  s.ShrinkToFit();
}

size_t FlatIndex::size() const {
  absl::ReaderMutexLock lock(&impl_->mu);
  return impl_->ids.size();
}

FlatEncoding FlatIndex::encoding() const { return impl_->encoding; }

size_t FlatIndex::memory_bytes() const {
  const Impl& s = *impl_;
  absl::ReaderMutexLock lock(&s.mu);
  return s.data.memory_bytes() + s.halves.memory_bytes() +
         s.bytes.memory_bytes() + s.scales.memory_bytes() +
         s.offsets.memory_bytes() + s.errors.memory_bytes() +
         s.norms.memory_bytes() + s.ids.memory_bytes() + s.rows.MemoryBytes();
}

bool FlatIndex::GetVector(uint64_t id, float* out) const {
  const Impl& s = *impl_;
  absl::ReaderMutexLock lock(&s.mu);
  const int64_t row = s.RowOf(id);
  if (row < 0) return false;
  s.View().Copy(row, out);
  return true;
}

void FlatIndex::GetVectors(const uint64_t* ids, size_t n, float* out,
                           bool* found, float* errors) const {
  const Impl& s = *impl_;
  absl::InlinedVector<size_t, 256> rows(n);
  absl::ReaderMutexLock lock(&s.mu);
  const Rows view = s.View();
  for (size_t i = 0; i < n; ++i) {
    const int64_t row = s.RowOf(ids[i]);
    found[i] = row >= 0;
    if (!found[i]) continue;
    rows[i] = row;
    view.Prefetch(rows[i]);
  }
  for (size_t i = 0; i < n; ++i) {
    if (!found[i]) continue;
    view.Copy(rows[i], out + i * s.dim);
    if (errors == nullptr) continue;
    switch (s.encoding) {
      case FlatEncoding::kFloat32:
        errors[i] = 0;
        break;
      case FlatEncoding::kFloat16:
        errors[i] = HalfErrorBound(*s.norms.Row(rows[i]),
                                   *s.scales.Row(rows[i]), s.dim);
        break;
      case FlatEncoding::kScalar8:
        errors[i] = *s.errors.Row(rows[i]);
        break;
    }
  }
}

namespace {

// The queries as the index compares them: normalised (into *copy) for
// cosine, else as they are.
const float* PrepareQueries(Metric metric, const float* queries, size_t nq,
                            size_t dim, std::vector<float>* copy) {
  if (metric != Metric::kCosine) return queries;
  copy->assign(queries, queries + nq * dim);
  NormalizeL2(copy->data(), nq, dim);
  return copy->data();
}

}  // namespace

void FlatIndex::Prefetch(const uint64_t* ids, size_t n) const {
  const Impl& s = *impl_;
  absl::ReaderMutexLock lock(&s.mu);
  const Rows view = s.View();
  for (size_t i = 0; i < n; ++i) {
    const int64_t row = s.RowOf(ids[i]);
    if (row >= 0) view.Prefetch(row);
  }
}

std::vector<std::vector<Neighbor>> FlatIndex::Search(
    const float* queries, size_t nq, size_t k, const IdFilter* filter) const {
  std::vector<std::vector<Neighbor>> out(nq);
  if (nq == 0 || k == 0) return out;
  const size_t dim = impl_->dim;
  std::vector<float> normalized;
  queries = PrepareQueries(impl_->metric, queries, nq, dim, &normalized);
  clustering::ScopedBlasSingleThread blas;
  const Impl& s = *impl_;
  absl::ReaderMutexLock lock(&s.mu);
  ScanRange(s.metric, s.View(), s.ids.size(), queries, 0, nq, dim, k, filter,
            &out);
  return out;
}

std::vector<std::vector<Neighbor>> FlatIndex::SearchYielding(
    const float* queries, size_t nq, size_t k, const IdFilter* filter,
    const std::atomic<bool>* cancel) const {
  std::vector<std::vector<Neighbor>> out(nq);
  if (nq == 0 || k == 0) return out;
  const Impl& s = *impl_;
  const size_t dim = s.dim;
  std::vector<float> normalized;
  queries = PrepareQueries(s.metric, queries, nq, dim, &normalized);
  const bool l2 = s.metric == Metric::kL2;
  const size_t keep = l2 ? 2 * k : k;
  // Max-heaps on (GEMM distance, id): the worst kept candidate on top; each
  // candidate's exact distance (direct difference for L2) taken on entry.
  struct Cand {
    float dist, exact;
    uint64_t id;
  };
  auto worse = [](const Cand& a, const Cand& b) {
    if (a.dist != b.dist) return a.dist < b.dist;
    return a.id < b.id;
  };
  std::vector<std::vector<Cand>> heaps(nq);
  std::vector<float> qn(nq, 0.0f);
  if (l2) {
    for (size_t q = 0; q < nq; ++q) {
      qn[q] = Dot(queries + q * dim, queries + q * dim, dim);
    }
  }
  // 1 MiB of rows a block whatever the encoding; queries in chunks so the
  // inner products of a chunk and a block stay in cache.
  constexpr size_t kChunk = 256;
  const size_t block = std::clamp<size_t>(kDecodeFloats / dim, 64, kBaseBlock);
  std::vector<float> rows(block * dim), norms(block);
  std::vector<uint64_t> ids(block);
  std::vector<float> ip(std::min(nq, kChunk) * block);
  clustering::ScopedBlasSingleThread blas;
  size_t end = size();
  while (end > 0) {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) break;
    size_t nr = 0;
    {
      absl::ReaderMutexLock lock(&s.mu);
      end = std::min(end, s.ids.size());
      if (end == 0) break;
      const size_t r0 = end - std::min(block, end);
      nr = end - r0;
      const Rows view = s.View();
      for (size_t r = 0; r < nr; ++r) view.Copy(r0 + r, rows.data() + r * dim);
      for (size_t r = 0; r < nr; ++r) {
        norms[r] = *s.norms.Row(r0 + r);
        ids[r] = *s.ids.Row(r0 + r);
      }
      end = r0;
    }
    for (size_t q0 = 0; q0 < nq; q0 += kChunk) {
      const size_t nc = std::min(kChunk, nq - q0);
      InnerProducts(queries + q0 * dim, nc, rows.data(), nr, dim,
                    l2 ? -2.0f : -1.0f, ip.data());
      for (size_t c = 0; c < nc; ++c) {
        const size_t q = q0 + c;
        std::vector<Cand>& heap = heaps[q];
        const float* row = ip.data() + c * nr;
        for (size_t j = 0; j < nr; ++j) {
          Cand cand{l2 ? qn[q] + norms[j] + row[j] : row[j], 0.0f, ids[j]};
          if (heap.size() == keep && !worse(cand, heap.front())) continue;
          if (filter != nullptr && !filter->Accept(cand.id)) continue;
          // Seen twice: moved by a Remove from a block already read.
          if (std::any_of(heap.begin(), heap.end(),
                          [&](const Cand& h) { return h.id == cand.id; })) {
            continue;
          }
          cand.exact = l2 ? L2Sqr(queries + q * dim, rows.data() + j * dim, dim)
                          : cand.dist;
          PushBounded(&heap, cand, keep, worse);
        }
      }
    }
  }
  for (size_t q = 0; q < nq; ++q) {
    std::vector<Cand>& heap = heaps[q];
    std::sort(heap.begin(), heap.end(), [](const Cand& a, const Cand& b) {
      if (a.exact != b.exact) return a.exact < b.exact;
      return a.id < b.id;
    });
    for (size_t j = 0; j < heap.size() && j < k; ++j) {
      out[q].push_back({heap[j].id, heap[j].exact});
    }
  }
  return out;
}

std::vector<std::vector<Neighbor>> FlatIndex::SearchSubset(const float* queries,
                                                           size_t nq, size_t k,
                                                           const uint64_t* ids,
                                                           size_t nids) const {
  std::vector<std::vector<Neighbor>> out(nq);
  if (nq == 0 || k == 0 || nids == 0) return out;
  const size_t dim = impl_->dim;
  std::vector<float> normalized;
  queries = PrepareQueries(impl_->metric, queries, nq, dim, &normalized);
  const bool l2 = impl_->metric == Metric::kL2;
  const Impl& s = *impl_;
  absl::ReaderMutexLock lock(&s.mu);
  const Rows view = s.View();
  // Row by row (each decoded once), every query's heap in turn.
  std::vector<std::vector<Neighbor>> heaps(nq);  // max-heaps: worst on top
  std::vector<float> decoded;
  for (size_t i = 0; i < nids; ++i) {
    const int64_t row = s.RowOf(ids[i]);
    if (row < 0) continue;
    const float* v = view.Get(row, 1, &decoded);
    for (size_t q = 0; q < nq; ++q) {
      const float* query = queries + q * dim;
      const Neighbor cand{ids[i],
                          l2 ? L2Sqr(query, v, dim) : -Dot(query, v, dim)};
      std::vector<Neighbor>& heap = heaps[q];
      if (heap.size() == k && !Closer(cand, heap.front())) continue;
      PushBounded(&heap, cand, k, Closer);
    }
  }
  for (size_t q = 0; q < nq; ++q) {
    std::sort(heaps[q].begin(), heaps[q].end(), Closer);
    out[q] = std::move(heaps[q]);
  }
  return out;
}

std::vector<std::vector<Neighbor>> FlatIndex::BruteForce(
    Metric metric, const float* base, size_t nb, const float* queries,
    size_t nq, size_t dim, size_t k) {
  std::vector<std::vector<Neighbor>> out(nq);
  if (nq == 0 || k == 0 || nb == 0) return out;
  std::vector<float> base_copy, query_copy, norms;
  if (metric == Metric::kCosine) {
    base_copy.assign(base, base + nb * dim);
    NormalizeL2(base_copy.data(), nb, dim);
    base = base_copy.data();
    query_copy.assign(queries, queries + nq * dim);
    NormalizeL2(query_copy.data(), nq, dim);
    queries = query_copy.data();
  }
  if (metric == Metric::kL2) {
    norms.resize(nb);
    clustering::SquaredNorms(base, nb, dim, norms.data());
  }
  clustering::ScopedBlasSingleThread blas;
  const size_t nblocks = (nq + kQueryBlock - 1) / kQueryBlock;
  WorkQueue queue(nblocks);
  RunWorkers(ThreadsFor(0, 2.0 * nq * nb * dim, nblocks), [&](size_t) {
    for (size_t b; queue.Next(&b);) {
      const size_t q0 = b * kQueryBlock;
      Rows rows;
      rows.plain = base;
      rows.plain_norms = norms.data();
      rows.dim = dim;
      ScanRange(metric, rows, nb, queries, q0, std::min(nq, q0 + kQueryBlock),
                dim, k, nullptr, &out);
    }
  });
  return out;
}

}  // namespace quiver::index
