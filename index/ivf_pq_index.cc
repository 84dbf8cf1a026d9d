#include "index/ivf_pq_index.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/log.h"
#include "common/status.h"
#include "index/ivf/ivf_pq_state.h"
#include "index/kmeans.h"
#include "index/parallel.h"
#include "index/serialize.h"

namespace quiver::index {
namespace {

constexpr char kMagic[] = "QVIVFPQ\0";
constexpr std::string_view kMagicView(kMagic, 8);
constexpr uint32_t kVersion = 1;

// Copies n vectors, normalised when the metric is cosine.
const float* MaybeNormalize(Metric metric, const float* x, size_t n, size_t dim,
                            std::vector<float>* buf) {
  if (metric != Metric::kCosine) return x;
  buf->assign(x, x + n * dim);
  NormalizeL2(buf->data(), n, dim);
  return buf->data();
}

size_t ClampProbe(size_t nprobe, size_t nlist) {
  return std::clamp<size_t>(nprobe, 1, nlist);
}

}  // namespace

absl::Status IvfPqParams::Validate() const {
  if (metric != Metric::kL2 && metric != Metric::kInnerProduct &&
      metric != Metric::kCosine) {
    return absl::InvalidArgumentError(
        absl::StrFormat("metric %d is not one of L2, inner product, cosine",
                        static_cast<int>(metric)));
  }
  if (dim == 0 || dim > 65536) {
    return absl::InvalidArgumentError(
        absl::StrFormat("dim %d is outside [1, 65536]", dim));
  }
  if (nlist == 0 || nlist > (1u << 24)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("nlist %d is outside [1, 2^24]", nlist));
  }
  if (nbits != 8 && nbits != 4) {
    return absl::InvalidArgumentError(
        absl::StrFormat("nbits %d: must be 8 or 4", nbits));
  }
  if (m == 0 || dim % m != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("m %d must be >= 1 and divide dim %d", m, dim));
  }
  if (nbits == 4 && m > 256) {
    return absl::InvalidArgumentError(
        absl::StrFormat("m %d: 4-bit fast-scan supports m <= 256", m));
  }
  if (niter < 1 || niter > 10000) {
    return absl::InvalidArgumentError(
        absl::StrFormat("niter %d is outside [1, 10000]", niter));
  }
  if (threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("threads %d is negative", threads));
  }
  return absl::OkStatus();
}

struct IvfPqIndex::Impl {
  explicit Impl(const IvfPqParams& p) : state(p) {}
  ivf::IvfPqState state;
};

IvfPqIndex::IvfPqIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IvfPqIndex::~IvfPqIndex() = default;

absl::StatusOr<std::unique_ptr<IvfPqIndex>> IvfPqIndex::Train(
    const IvfPqParams& params, const float* x, size_t n) {
  QUIVER_RETURN_IF_ERROR(params.Validate());
  const size_t ksub = size_t{1} << params.nbits;
  if (n < params.nlist) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "training needs at least nlist = %d vectors, got %d", params.nlist, n));
  }
  if (n < ksub) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "training needs at least 2^nbits = %d vectors, got %d", ksub, n));
  }
  const size_t dim = params.dim;
  for (size_t i = 0; i < n * dim; ++i) {
    if (!std::isfinite(x[i])) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "training vector %d has a non-finite value at dimension %d", i / dim,
          i % dim));
    }
  }
  std::vector<float> buf;
  const float* xs = MaybeNormalize(params.metric, x, n, dim, &buf);

  KMeansParams kp;
  kp.k = params.nlist;
  kp.niter = params.niter;
  kp.seed = params.seed;
  kp.threads = params.threads;
  kp.balanced = params.balanced;
  kp.spherical = params.metric == Metric::kCosine;
  QUIVER_ASSIGN_OR_RETURN(KMeansResult coarse, KMeans(xs, n, dim, kp));

  auto impl = std::make_unique<Impl>(params);
  ivf::IvfPqState& s = impl->state;
  // Install the coarse quantizer first (with placeholder codebooks) to
  // assign the training vectors with the same code path as Add().
  s.centroids = std::move(coarse.centroids);
  if (s.centroids.size() != params.nlist * dim) {
    return absl::InternalError(
        absl::StrFormat("k-means returned %d floats, expected %d",
                        s.centroids.size(), params.nlist * dim));
  }
  s.BlockCentroids();
  s.centroid_norms.resize(params.nlist);
  for (size_t l = 0; l < params.nlist; ++l) {
    const float* c = s.centroids.data() + l * dim;
    double norm = 0;
    for (size_t t = 0; t < dim; ++t) norm += double{c[t]} * c[t];
    s.centroid_norms[l] = static_cast<float>(norm);
  }
  std::vector<uint32_t> labels(n);
  std::vector<float> dis(n);
  s.CoarseSearch(xs, n, 1, labels.data(), dis.data(), params.threads);
  std::vector<float> residuals(n * dim);
  for (size_t i = 0; i < n; ++i) {
    const float* c = s.centroids.data() + size_t{labels[i]} * dim;
    for (size_t t = 0; t < dim; ++t) {
      residuals[i * dim + t] = xs[i * dim + t] - c[t];
    }
  }
  pq::ProductQuantizer pq(dim, params.m, params.nbits);
  QUIVER_RETURN_IF_ERROR(pq.Train(residuals.data(), n, params.niter,
                                  params.seed + 1, params.threads));
  std::vector<float> centroids = s.centroids;
  QUIVER_RETURN_IF_ERROR(s.Build(std::move(centroids), pq.codebooks()));
  return std::unique_ptr<IvfPqIndex>(new IvfPqIndex(std::move(impl)));
}

std::string IvfPqIndex::Serialize() const {
  const ivf::IvfPqState& s = impl_->state;
  const IvfPqParams& p = s.params;
  BlobWriter w;
  w.U32(static_cast<uint32_t>(p.metric));
  w.U32(p.dim);
  w.U32(p.nlist);
  w.U32(p.m);
  w.U32(p.nbits);
  w.U32(p.balanced ? 1 : 0);
  w.I32(p.niter);
  w.U64(p.seed);
  w.I32(p.threads);
  w.Floats(s.centroids);
  w.Floats(s.pq.codebooks());
  // Flags: bit 0 = precomputed tables follow. Never written: they are
  // recomputed on Load().
  w.U32(0);
  return FrameBlob(kMagicView, kVersion, w.data());
}

absl::StatusOr<std::unique_ptr<IvfPqIndex>> IvfPqIndex::Load(
    std::string_view blob) {
  QUIVER_ASSIGN_OR_RETURN(Unframed u, UnframeBlob(blob, kMagicView, kVersion));
  BlobReader r(u.payload);
  IvfPqParams p;
  uint32_t metric = 0, balanced = 0;
  QUIVER_RETURN_IF_ERROR(r.U32(&metric, "metric"));
  QUIVER_RETURN_IF_ERROR(r.U32(&p.dim, "dim"));
  QUIVER_RETURN_IF_ERROR(r.U32(&p.nlist, "nlist"));
  QUIVER_RETURN_IF_ERROR(r.U32(&p.m, "m"));
  QUIVER_RETURN_IF_ERROR(r.U32(&p.nbits, "nbits"));
  QUIVER_RETURN_IF_ERROR(r.U32(&balanced, "balanced"));
  QUIVER_RETURN_IF_ERROR(r.I32(&p.niter, "niter"));
  QUIVER_RETURN_IF_ERROR(r.U64(&p.seed, "seed"));
  QUIVER_RETURN_IF_ERROR(r.I32(&p.threads, "threads"));
  p.metric = static_cast<Metric>(metric);
  p.balanced = balanced != 0;
  if (absl::Status st = p.Validate(); !st.ok()) {
    return absl::DataLossError(
        absl::StrCat("IVF-PQ blob holds invalid parameters: ", st.message()));
  }
  std::vector<float> centroids, codebooks;
  QUIVER_RETURN_IF_ERROR(
      r.Floats(&centroids, size_t{p.nlist} * p.dim, "coarse centroids"));
  QUIVER_RETURN_IF_ERROR(
      r.Floats(&codebooks, (size_t{1} << p.nbits) * p.dim, "PQ codebooks"));
  uint32_t flags = 0;
  QUIVER_RETURN_IF_ERROR(r.U32(&flags, "flags"));
  if (flags & 1u) {
    std::vector<float> ignored;  // recomputed below
    QUIVER_RETURN_IF_ERROR(r.Floats(&ignored, SIZE_MAX, "precomputed table"));
  }
  if (r.remaining() != 0) {
    return absl::DataLossError(absl::StrFormat(
        "IVF-PQ blob has %d unexpected trailing bytes", r.remaining()));
  }
  auto impl = std::make_unique<Impl>(p);
  if (absl::Status st =
          impl->state.Build(std::move(centroids), std::move(codebooks));
      !st.ok()) {
    return absl::DataLossError(
        absl::StrCat("IVF-PQ blob holds a bad quantizer: ", st.message()));
  }
  return std::unique_ptr<IvfPqIndex>(new IvfPqIndex(std::move(impl)));
}

const IvfPqParams& IvfPqIndex::params() const { return impl_->state.params; }
size_t IvfPqIndex::code_size() const { return impl_->state.code_size; }

void IvfPqIndex::Encode(const float* x, size_t n, uint32_t* list_ids,
                        uint8_t* codes) const {
  Encode(x, n, list_ids, codes, impl_->state.params.threads);
}

void IvfPqIndex::Encode(const float* x, size_t n, uint32_t* list_ids,
                        uint8_t* codes, int threads) const {
  const ivf::IvfPqState& s = impl_->state;
  std::vector<float> buf;
  const float* xs = MaybeNormalize(s.params.metric, x, n, s.dim, &buf);
  s.EncodeNormalized(xs, n, list_ids, codes, threads);
}

void IvfPqIndex::AddEncoded(uint64_t id, uint32_t list_id,
                            const uint8_t* code) {
  ivf::IvfPqState& s = impl_->state;
  if (list_id >= s.nlist) {
    // Bad input from storage must not take the process down; the caller
    // (which has no Status to return here) should validate first.
    QUIVER_LOG(ERROR) << "AddEncoded: id " << id << " has list " << list_id
                      << " but the index has " << s.nlist
                      << " lists; entry ignored";
    return;
  }
  s.AddEncodedBatch(&id, &list_id, code, 1);
}

void IvfPqIndex::Add(const uint64_t* ids, const float* x, size_t n) {
  if (n == 0) return;
  ivf::IvfPqState& s = impl_->state;
  std::vector<uint32_t> lists(n);
  std::vector<uint8_t> codes(n * s.code_size);
  Encode(x, n, lists.data(), codes.data());
  s.AddEncodedBatch(ids, lists.data(), codes.data(), n);
}

bool IvfPqIndex::Remove(uint64_t id) { return impl_->state.Remove(id); }

bool IvfPqIndex::Contains(uint64_t id) const {
  const ivf::IvfPqState& s = impl_->state;
  absl::ReaderMutexLock lock(&s.id_mu);
  uint32_t list = 0;
  return s.id_to_list.Find(id, &list);
}

size_t IvfPqIndex::size() const {
  const ivf::IvfPqState& s = impl_->state;
  absl::ReaderMutexLock lock(&s.id_mu);
  return s.id_to_list.size();
}

std::vector<Neighbor> IvfPqIndex::Search(const float* query,
                                         const SearchParams& params) const {
  const ivf::IvfPqState& s = impl_->state;
  std::vector<Neighbor> out;
  if (params.k == 0) return out;
  thread_local std::vector<float> q;
  thread_local std::vector<uint32_t> probes;
  thread_local std::vector<float> probe_dis;
  const float* qs = query;
  if (s.params.metric == Metric::kCosine) {
    q.assign(query, query + s.dim);
    NormalizeL2(q.data(), 1, s.dim);
    qs = q.data();
  }
  const size_t nprobe = ClampProbe(params.nprobe, s.nlist);
  probes.resize(nprobe);
  probe_dis.resize(nprobe);
  s.ProbeSearchOne(qs, nprobe, probes.data(), probe_dis.data());
  s.SearchPreassigned(qs, probes.data(), probe_dis.data(), nprobe, params,
                      &out);
  return out;
}

std::vector<std::vector<Neighbor>> IvfPqIndex::SearchBatch(
    const float* queries, size_t nq, const SearchParams& params,
    int threads) const {
  const ivf::IvfPqState& s = impl_->state;
  std::vector<std::vector<Neighbor>> results(nq);
  if (nq == 0 || params.k == 0) return results;
  std::vector<float> buf;
  const float* qs = MaybeNormalize(s.params.metric, queries, nq, s.dim, &buf);
  const size_t nprobe = ClampProbe(params.nprobe, s.nlist);
  if (s.groups.count > 0) {
    // Grouped centroids: each query's probes as Search finds them (a
    // fraction of the centroids read, cheaper than the matrix product over
    // all of them, and the same lists as one query at a time).
    ParallelFor(nq, ResolveThreads(threads), [&](size_t begin, size_t end) {
      std::vector<uint32_t> probes(nprobe);
      std::vector<float> probe_dis(nprobe);
      for (size_t i = begin; i < end; ++i) {
        const float* q = qs + i * s.dim;
        s.ProbeSearchOne(q, nprobe, probes.data(), probe_dis.data());
        s.SearchPreassigned(q, probes.data(), probe_dis.data(), nprobe, params,
                            &results[i]);
      }
    });
    return results;
  }
  // Coarse step for blocks of queries (BLAS), then the scans in parallel.
  constexpr size_t kBlock = 1024;
  std::vector<uint32_t> probes(std::min(nq, kBlock) * nprobe);
  std::vector<float> probe_dis(probes.size());
  for (size_t b0 = 0; b0 < nq; b0 += kBlock) {
    const size_t nb = std::min(kBlock, nq - b0);
    s.CoarseSearch(qs + b0 * s.dim, nb, nprobe, probes.data(), probe_dis.data(),
                   threads);
    ParallelFor(nb, ResolveThreads(threads), [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        s.SearchPreassigned(qs + (b0 + i) * s.dim, probes.data() + i * nprobe,
                            probe_dis.data() + i * nprobe, nprobe, params,
                            &results[b0 + i]);
      }
    });
  }
  return results;
}

absl::StatusOr<RebalanceResult> IvfPqIndex::Rebalance(
    const RebalanceOptions& options, const VectorSource& vectors) const {
  const ivf::IvfPqState& s = impl_->state;
  const size_t nlist = s.nlist, dim = s.dim, cs = s.code_size;
  RebalanceResult out;
  // 1 = split, 2 = merge.
  std::vector<uint8_t> role(nlist, 0);
  std::vector<uint32_t> splits, merges;
  for (uint32_t l : options.split) {
    if (l < nlist && role[l] == 0 && s.lists.ListSize(l) >= 2) {
      role[l] = 1;
      splits.push_back(l);
    }
  }
  for (uint32_t l : options.merge) {
    if (l < nlist && role[l] == 0 &&
        nlist + splits.size() > merges.size() + 1) {
      role[l] = 2;
      merges.push_back(l);
    }
  }
  if (splits.empty() && merges.empty()) return out;

  // The lists whose vectors are encoded again.
  std::vector<uint8_t> reassign(nlist, 0);
  for (uint32_t l : splits) reassign[l] = 1;
  for (uint32_t l : merges) reassign[l] = 1;
  if (options.neighbors > 0) {
    const size_t near = std::min(nlist, options.neighbors + 1);
    std::vector<uint32_t> labels(near);
    std::vector<float> dis(near);
    for (uint32_t l : splits) {
      s.CoarseSearchOne(s.centroids.data() + size_t{l} * dim, near,
                        labels.data(), dis.data());
      for (uint32_t n : labels) reassign[n] = 1;
    }
  }

  // New centroids: origin[slot] is the old list whose entries the slot
  // keeps (-1: a new centroid).
  std::vector<float> centroids = s.centroids;
  std::vector<int64_t> origin(nlist);
  for (size_t l = 0; l < nlist; ++l) origin[l] = static_cast<int64_t>(l);
  std::vector<uint64_t> ids;
  std::vector<float> x;
  for (uint32_t l : splits) {
    s.lists.Get(l, &ids, nullptr);
    x.resize(ids.size() * dim);
    size_t got = 0;
    for (uint64_t id : ids) {
      if (vectors.GetVector(id, x.data() + got * dim)) ++got;
    }
    if (got < 2) continue;
    KMeansParams kp;
    kp.k = 2;
    kp.niter = 10;
    kp.seed = options.seed + l;
    kp.threads = 1;
    kp.spherical = s.params.metric == Metric::kCosine;
    absl::StatusOr<KMeansResult> two = KMeans(x.data(), got, dim, kp);
    if (!two.ok()) continue;  // e.g. all vectors equal: keep the list
    std::copy(two->centroids.begin(), two->centroids.begin() + dim,
              centroids.begin() + size_t{l} * dim);
    centroids.insert(centroids.end(), two->centroids.begin() + dim,
                     two->centroids.begin() + 2 * dim);
    origin[l] = -1;
    origin.push_back(-1);
    ++out.splits;
  }
  // A merged slot takes the last slot's centroid and entries (highest
  // slots first, so that the last slot is never one still to be merged).
  std::sort(merges.rbegin(), merges.rend());
  for (uint32_t l : merges) {
    const size_t last = origin.size() - 1;
    if (l != last) {
      std::copy(centroids.begin() + last * dim,
                centroids.begin() + (last + 1) * dim,
                centroids.begin() + size_t{l} * dim);
      origin[l] = origin[last];
    }
    origin.pop_back();
    centroids.resize(origin.size() * dim);
    ++out.merges;
  }
  if (out.splits == 0 && out.merges == 0) return out;

  IvfPqParams p = s.params;
  p.nlist = static_cast<uint32_t>(origin.size());
  auto impl = std::make_unique<Impl>(p);
  ivf::IvfPqState& t = impl->state;
  QUIVER_RETURN_IF_ERROR(t.Build(std::move(centroids), s.pq.codebooks()));
  const size_t nslots = origin.size();
  out.renewed.assign(nslots, false);
  auto record = [&](const uint64_t* id, const uint32_t* list,
                    const uint8_t* code, size_t n) {
    out.moved_ids.insert(out.moved_ids.end(), id, id + n);
    out.moved_lists.insert(out.moved_lists.end(), list, list + n);
    out.moved_codes.insert(out.moved_codes.end(), code, code + n * cs);
  };
  // Lists kept as they are (possibly under another number).
  std::vector<uint8_t> codes;
  std::vector<uint32_t> lists;
  for (size_t slot = 0; slot < nslots; ++slot) {
    const int64_t o = origin[slot];
    out.renewed[slot] = o != static_cast<int64_t>(slot);
    if (o < 0 || reassign[o]) continue;
    s.lists.Get(static_cast<size_t>(o), &ids, &codes);
    lists.assign(ids.size(), static_cast<uint32_t>(slot));
    t.AddEncodedBatch(ids.data(), lists.data(), codes.data(), ids.size());
    if (out.renewed[slot]) {
      record(ids.data(), lists.data(), codes.data(), ids.size());
    }
  }
  // The vectors of the reassigned lists, against every new centroid.
  std::vector<uint64_t> todo;
  for (size_t l = 0; l < nlist; ++l) {
    if (!reassign[l]) continue;
    s.lists.Get(l, &ids, nullptr);
    todo.insert(todo.end(), ids.begin(), ids.end());
  }
  constexpr size_t kChunk = 4096;
  std::vector<uint64_t> live;
  for (size_t off = 0; off < todo.size(); off += kChunk) {
    const size_t end = std::min(todo.size(), off + kChunk);
    live.clear();
    x.resize((end - off) * dim);
    for (size_t i = off; i < end; ++i) {
      if (vectors.GetVector(todo[i], x.data() + live.size() * dim)) {
        live.push_back(todo[i]);
      }
    }
    const size_t n = live.size();
    lists.resize(n);
    codes.resize(n * cs);
    t.EncodeNormalized(x.data(), n, lists.data(), codes.data(), p.threads);
    t.AddEncodedBatch(live.data(), lists.data(), codes.data(), n);
    record(live.data(), lists.data(), codes.data(), n);
  }
  out.index.reset(new IvfPqIndex(std::move(impl)));
  return out;
}

std::vector<size_t> IvfPqIndex::list_sizes() const {
  const ivf::IvfPqState& s = impl_->state;
  std::vector<size_t> sizes(s.nlist);
  for (size_t l = 0; l < s.nlist; ++l) sizes[l] = s.lists.ListSize(l);
  return sizes;
}

ListStats IvfPqIndex::list_stats() const {
  const ivf::IvfPqState& s = impl_->state;
  ListStats st;
  st.min = std::numeric_limits<size_t>::max();
  for (size_t l = 0; l < s.nlist; ++l) {
    const size_t n = s.lists.ListSize(l);
    st.min = std::min(st.min, n);
    st.max = std::max(st.max, n);
    st.total += n;
  }
  st.mean = static_cast<double>(st.total) / static_cast<double>(s.nlist);
  return st;
}

size_t IvfPqIndex::memory_bytes() const { return impl_->state.MemoryBytes(); }

const std::vector<float>& IvfPqIndex::coarse_centroids() const {
  return impl_->state.centroids;
}

const std::vector<float>& IvfPqIndex::pq_codebooks() const {
  return impl_->state.pq.codebooks();
}

void IvfPqIndex::GetList(uint32_t l, std::vector<uint64_t>* ids,
                         std::vector<uint8_t>* codes) const {
  const ivf::IvfPqState& s = impl_->state;
  if (l >= s.nlist) {
    if (ids != nullptr) ids->clear();
    if (codes != nullptr) codes->clear();
    return;
  }
  s.lists.Get(l, ids, codes);
}

}  // namespace quiver::index
