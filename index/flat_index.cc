// Exact k-NN: query blocks x base blocks of inner products with one sgemm
// each, then a bounded max-heap per query. For L2 the GEMM distance
// ||q||^2 + ||x||^2 - 2 <q, x> loses precision to cancellation, so 2k
// candidates are kept and re-scored with a direct difference, which makes the
// reported distances (and the order of near ties) exact.
// kFloat16 and kScalar8 rows are decoded a block at a time into a float
// buffer for the GEMM, so every encoding shares the scan.
#include "index/flat_index.h"

#include <algorithm>
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

// The rows a scan reads: floats in place, or kFloat16 / kScalar8 rows
// decoded on demand.
struct Rows {
  const float* floats = nullptr;     // kFloat32: nb * dim
  const uint16_t* halves = nullptr;  // kFloat16: nb * dim
  const uint8_t* bytes = nullptr;    // kScalar8: nb * dim
  const float* scales = nullptr;     // kFloat16: scale; kScalar8: step
  const float* offsets = nullptr;    // kScalar8: one per row (the minimum)
  size_t dim = 0;

  // Rows per GEMM block.
  size_t Block() const {
    return floats ? kBaseBlock
                  : std::clamp<size_t>(kDecodeFloats / dim, 64, kBaseBlock);
  }
  // Row `row` as floats into out (copied or decoded).
  void Copy(size_t row, float* out) const {
    if (floats) {
      std::memcpy(out, floats + row * dim, dim * sizeof(float));
    } else if (halves) {
      DecodeHalf(halves + row * dim, scales[row], dim, out);
    } else {
      kernels::Kernels().u8_to_float(bytes + row * dim, dim, offsets[row],
                                     scales[row], out);
    }
  }
  // Rows [r0, r0 + n) as floats: in place, or decoded into *buf.
  const float* Get(size_t r0, size_t n, std::vector<float>* buf) const {
    if (floats) return floats + r0 * dim;
    buf->resize(n * dim);
    for (size_t r = 0; r < n; ++r) Copy(r0 + r, buf->data() + r * dim);
    return buf->data();
  }
  // Starts loading row `row` (and its scale) into the cache.
  void Prefetch(size_t row) const {
    const char* p = floats   ? reinterpret_cast<const char*>(floats + row * dim)
                    : halves ? reinterpret_cast<const char*>(halves + row * dim)
                             : reinterpret_cast<const char*>(bytes + row * dim);
    const size_t n = dim * (floats   ? sizeof(float)
                            : halves ? sizeof(uint16_t)
                                     : sizeof(uint8_t));
    for (size_t b = 0; b < n; b += 64) __builtin_prefetch(p + b);
    __builtin_prefetch(p + n - 1);  // rows need not be line-aligned
    if (!floats) __builtin_prefetch(scales + row);
    if (offsets) __builtin_prefetch(offsets + row);
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

// Scans base rows [0, nb) for queries [q0, q1). ids (nullable) maps rows to
// ids; base_norms is used for L2 only. Queries must already be normalised for
// cosine. out[q] receives query q's neighbours, best first.
void ScanRange(Metric metric, const Rows& base, const float* base_norms,
               const uint64_t* ids, size_t nb, const float* queries, size_t q0,
               size_t q1, size_t dim, size_t k, const IdFilter* filter,
               std::vector<std::vector<Neighbor>>* out) {
  const bool l2 = metric == Metric::kL2;
  const size_t keep = std::min(nb, l2 ? 2 * k : k);
  auto id_of = [ids](size_t row) -> uint64_t { return ids ? ids[row] : row; };
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
      for (size_t q = 0; q < nq; ++q) {
        std::vector<Candidate>& heap = heaps[q];
        const float* row = ip.data() + q * nr;
        for (size_t j = 0; j < nr; ++j) {
          const float dist = l2 ? qn[q] + base_norms[r0 + j] + row[j] : row[j];
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
  Impl(Metric m, size_t d, FlatEncoding e) : metric(m), dim(d), encoding(e) {}
  const Metric metric;
  const size_t dim;
  const FlatEncoding encoding;
  mutable absl::Mutex mu;
  std::vector<float> data ABSL_GUARDED_BY(mu);       // kFloat32: size() * dim
  std::vector<uint16_t> halves ABSL_GUARDED_BY(mu);  // kFloat16: size() * dim
  std::vector<uint8_t> bytes ABSL_GUARDED_BY(mu);    // kScalar8: size() * dim
  std::vector<float> scales ABSL_GUARDED_BY(mu);     // kFloat16, kScalar8
  std::vector<float> offsets ABSL_GUARDED_BY(mu);    // kScalar8: 1 per row
  // kScalar8: per row, an upper bound on || decoded - vector || (kFloat16
  // derives its bound from the row's norm and scale: HalfErrorBound).
  std::vector<float> errors ABSL_GUARDED_BY(mu);
  std::vector<float> norms ABSL_GUARDED_BY(mu);  // ||x||^2 per row
  std::vector<uint64_t> ids ABSL_GUARDED_BY(mu);
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
    switch (encoding) {
      case FlatEncoding::kFloat32:
        r.floats = data.data();
        break;
      case FlatEncoding::kFloat16:
        r.halves = halves.data();
        r.scales = scales.data();
        break;
      case FlatEncoding::kScalar8:
        r.bytes = bytes.data();
        r.scales = scales.data();
        r.offsets = offsets.data();
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
      if (append) {
        data.insert(data.end(), v, v + dim);
      } else {
        std::memcpy(data.data() + row * dim, v, dim * sizeof(float));
      }
      return Dot(v, v, dim);
    }
    if (encoding == FlatEncoding::kFloat16) {
      if (append) {
        halves.resize(halves.size() + dim);
        scales.push_back(1.0f);
      }
      EncodeHalf(v, dim, halves.data() + row * dim, &scales[row]);
    } else {
      if (append) {
        bytes.resize(bytes.size() + dim);
        scales.push_back(0.0f);
        offsets.push_back(0.0f);
      }
      EncodeScalar8(v, dim, bytes.data() + row * dim, &offsets[row],
                    &scales[row]);
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
    if (append) {
      errors.push_back(err);
    } else {
      errors[row] = err;
    }
    return norm;
  }
  // Moves row `from` onto row `to`.
  void Move(size_t from, size_t to) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    switch (encoding) {
      case FlatEncoding::kFloat32:
        std::memcpy(data.data() + to * dim, data.data() + from * dim,
                    dim * sizeof(float));
        break;
      case FlatEncoding::kFloat16:
        std::memcpy(halves.data() + to * dim, halves.data() + from * dim,
                    dim * sizeof(uint16_t));
        scales[to] = scales[from];
        break;
      case FlatEncoding::kScalar8:
        std::memcpy(bytes.data() + to * dim, bytes.data() + from * dim, dim);
        scales[to] = scales[from];
        offsets[to] = offsets[from];
        break;
    }
    if (!errors.empty()) errors[to] = errors[from];
  }
  // Keeps the first n rows' payload.
  void Truncate(size_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    data.resize(std::min(data.size(), n * dim));
    halves.resize(std::min(halves.size(), n * dim));
    bytes.resize(std::min(bytes.size(), n * dim));
    scales.resize(std::min(scales.size(), n));
    offsets.resize(std::min(offsets.size(), n));
    errors.resize(std::min(errors.size(), n));
  }
  void ShrinkToFit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    data.shrink_to_fit();
    halves.shrink_to_fit();
    bytes.shrink_to_fit();
    scales.shrink_to_fit();
    offsets.shrink_to_fit();
    errors.shrink_to_fit();
    norms.shrink_to_fit();
    ids.shrink_to_fit();
    rows.Shrink();
  }
  // Room for n rows, growing by 1.25x: the rows are most of a collection's
  // RAM, and doubling would leave up to half of it unused.
  void Reserve(size_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto grow = [](auto* v, size_t want) {
      if (v->capacity() < want) {
        v->reserve(std::max(want, v->capacity() + v->capacity() / 4));
      }
    };
    switch (encoding) {
      case FlatEncoding::kFloat32:
        grow(&data, n * dim);
        break;
      case FlatEncoding::kFloat16:
        grow(&halves, n * dim);
        grow(&scales, n);
        break;
      case FlatEncoding::kScalar8:
        grow(&bytes, n * dim);
        grow(&scales, n);
        grow(&offsets, n);
        grow(&errors, n);
        break;
    }
    grow(&norms, n);
    grow(&ids, n);
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
  // Geometric growth: an exact reserve per call would copy everything on
  // every Add().
  s.Reserve(s.ids.size() + n);
  for (size_t i = 0; i < n; ++i) {
    const float* v = x + i * dim;
    const int64_t row = s.RowOf(ids[i]);
    if (row >= 0) {
      s.norms[row] = s.Put(row, v, scratch.data());
      continue;
    }
    uint32_t unused;
    s.rows.Set(ids[i], static_cast<uint32_t>(s.ids.size()), &unused);
    s.norms.push_back(s.Put(s.ids.size(), v, scratch.data()));
    s.ids.push_back(ids[i]);
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
    s.norms[row] = s.norms[last];
    s.ids[row] = s.ids[last];
    uint32_t moved_from;
    s.rows.Set(s.ids[row], row, &moved_from);
  }
  s.Truncate(last);
  s.norms.pop_back();
  s.ids.pop_back();
  // Give memory back after mass deletes, id map included (amortised: only
  // once a third of the room is unused).
  if (s.ids.capacity() > 1024 && 3 * s.ids.size() < 2 * s.ids.capacity()) {
    s.ShrinkToFit();
  }
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
  return s.data.capacity() * sizeof(float) +
         s.halves.capacity() * sizeof(uint16_t) + s.bytes.capacity() +
         s.scales.capacity() * sizeof(float) +
         s.offsets.capacity() * sizeof(float) +
         s.errors.capacity() * sizeof(float) +
         s.norms.capacity() * sizeof(float) +
         s.ids.capacity() * sizeof(uint64_t) + s.rows.MemoryBytes();
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
        errors[i] = HalfErrorBound(s.norms[rows[i]], s.scales[rows[i]], s.dim);
        break;
      case FlatEncoding::kScalar8:
        errors[i] = s.errors[rows[i]];
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
  ScanRange(s.metric, s.View(), s.norms.data(), s.ids.data(), s.ids.size(),
            queries, 0, nq, dim, k, filter, &out);
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
      std::copy(s.norms.begin() + r0, s.norms.begin() + end, norms.begin());
      std::copy(s.ids.begin() + r0, s.ids.begin() + end, ids.begin());
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
      rows.floats = base;
      rows.dim = dim;
      ScanRange(metric, rows, norms.data(), nullptr, nb, queries, q0,
                std::min(nq, q0 + kQueryBlock), dim, k, nullptr, &out);
    }
  });
  return out;
}

}  // namespace quiver::index
