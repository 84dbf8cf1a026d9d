// Exact k-NN: query blocks x base blocks of inner products with one sgemm
// each, then a bounded max-heap per query. For L2 the GEMM distance
// ||q||^2 + ||x||^2 - 2 <q, x> loses precision to cancellation, so 2k
// candidates are kept and re-scored with a direct difference, which makes the
// reported distances (and the order of near ties) exact.
#include "index/flat_index.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "index/clustering/distances.h"
#include "index/parallel.h"

namespace quiver::index {
namespace {

using clustering::Dot;
using clustering::InnerProducts;
using clustering::L2Sqr;

constexpr size_t kQueryBlock = 32;
constexpr size_t kBaseBlock = 4096;

// A candidate: (distance, row); ordered by distance then id for ties.
struct Candidate {
  float dist;
  size_t row;
};

// Scans base rows [0, nb) for queries [q0, q1). ids (nullable) maps rows to
// ids; base_norms is used for L2 only. Queries must already be normalised for
// cosine. out[q] receives query q's neighbours, best first.
void ScanRange(Metric metric, const float* base, const float* base_norms,
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
  std::vector<float> ip(kQueryBlock * std::min(nb, kBaseBlock));
  std::vector<std::vector<Candidate>> heaps(kQueryBlock);
  std::vector<float> qn(kQueryBlock);
  for (size_t b0 = q0; b0 < q1; b0 += kQueryBlock) {
    const size_t nq = std::min(kQueryBlock, q1 - b0);
    const float* qb = queries + b0 * dim;
    for (size_t q = 0; q < nq; ++q) {
      heaps[q].clear();
      qn[q] = l2 ? Dot(qb + q * dim, qb + q * dim, dim) : 0.0f;
    }
    for (size_t r0 = 0; r0 < nb && keep > 0; r0 += kBaseBlock) {
      const size_t nr = std::min(kBaseBlock, nb - r0);
      InnerProducts(qb, nq, base + r0 * dim, nr, dim, l2 ? -2.0f : -1.0f,
                    ip.data());
      for (size_t q = 0; q < nq; ++q) {
        std::vector<Candidate>& heap = heaps[q];
        const float* row = ip.data() + q * nr;
        for (size_t j = 0; j < nr; ++j) {
          const float dist = l2 ? qn[q] + base_norms[r0 + j] + row[j] : row[j];
          const Candidate cand{dist, r0 + j};
          if (heap.size() == keep && !worse(cand, heap.front())) continue;
          if (filter != nullptr && !filter->Accept(id_of(r0 + j))) continue;
          if (heap.size() == keep) {
            std::pop_heap(heap.begin(), heap.end(), worse);
            heap.back() = cand;
          } else {
            heap.push_back(cand);
          }
          std::push_heap(heap.begin(), heap.end(), worse);
        }
      }
    }
    for (size_t q = 0; q < nq; ++q) {
      std::vector<Candidate>& heap = heaps[q];
      if (l2) {
        for (Candidate& cand : heap) {
          cand.dist = L2Sqr(qb + q * dim, base + cand.row * dim, dim);
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
  Impl(Metric m, size_t d) : metric(m), dim(d) {}
  const Metric metric;
  const size_t dim;
  mutable absl::Mutex mu;
  std::vector<float> data ABSL_GUARDED_BY(mu);   // size() * dim
  std::vector<float> norms ABSL_GUARDED_BY(mu);  // ||x||^2 per row
  std::vector<uint64_t> ids ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<uint64_t, size_t> rows ABSL_GUARDED_BY(mu);
};

FlatIndex::FlatIndex(Metric metric, size_t dim)
    : impl_(std::make_unique<Impl>(metric, dim)) {}

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
  absl::MutexLock lock(&s.mu);
  // Geometric growth: an exact reserve per call would copy everything on
  // every Add().
  if (s.data.capacity() < s.data.size() + n * dim) {
    s.data.reserve(std::max(s.data.size() + n * dim, 2 * s.data.capacity()));
  }
  for (size_t i = 0; i < n; ++i) {
    const float* v = x + i * dim;
    const float norm = Dot(v, v, dim);
    auto [it, inserted] = s.rows.try_emplace(ids[i], s.ids.size());
    if (inserted) {
      s.ids.push_back(ids[i]);
      s.norms.push_back(norm);
      s.data.insert(s.data.end(), v, v + dim);
    } else {
      std::memcpy(s.data.data() + it->second * dim, v, dim * sizeof(float));
      s.norms[it->second] = norm;
    }
  }
}

bool FlatIndex::Remove(uint64_t id) {
  Impl& s = *impl_;
  absl::MutexLock lock(&s.mu);
  auto it = s.rows.find(id);
  if (it == s.rows.end()) return false;
  const size_t row = it->second;
  const size_t last = s.ids.size() - 1;
  s.rows.erase(it);
  if (row != last) {
    std::memcpy(s.data.data() + row * s.dim, s.data.data() + last * s.dim,
                s.dim * sizeof(float));
    s.norms[row] = s.norms[last];
    s.ids[row] = s.ids[last];
    s.rows[s.ids[row]] = row;
  }
  s.data.resize(last * s.dim);
  s.norms.pop_back();
  s.ids.pop_back();
  // Give memory back after mass deletes (amortised: only below half use).
  if (s.ids.capacity() > 1024 && s.ids.size() < s.ids.capacity() / 2) {
    s.data.shrink_to_fit();
    s.norms.shrink_to_fit();
    s.ids.shrink_to_fit();
  }
  return true;
}

size_t FlatIndex::size() const {
  absl::ReaderMutexLock lock(&impl_->mu);
  return impl_->ids.size();
}

bool FlatIndex::GetVector(uint64_t id, float* out) const {
  absl::ReaderMutexLock lock(&impl_->mu);
  auto it = impl_->rows.find(id);
  if (it == impl_->rows.end()) return false;
  std::memcpy(out, impl_->data.data() + it->second * impl_->dim,
              impl_->dim * sizeof(float));
  return true;
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
  const size_t row_bytes = s.dim * sizeof(float);
  absl::ReaderMutexLock lock(&s.mu);
  for (size_t i = 0; i < n; ++i) {
    auto it = s.rows.find(ids[i]);
    if (it == s.rows.end()) continue;
    const char* row =
        reinterpret_cast<const char*>(s.data.data() + it->second * s.dim);
    for (size_t b = 0; b < row_bytes; b += 64) __builtin_prefetch(row + b);
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
  ScanRange(s.metric, s.data.data(), s.norms.data(), s.ids.data(), s.ids.size(),
            queries, 0, nq, dim, k, filter, &out);
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
  auto better = [](const Neighbor& a, const Neighbor& b) {
    if (a.distance != b.distance) return a.distance < b.distance;
    return a.id < b.id;
  };
  const Impl& s = *impl_;
  absl::ReaderMutexLock lock(&s.mu);
  std::vector<std::pair<uint64_t, const float*>> rows;
  rows.reserve(nids);
  for (size_t i = 0; i < nids; ++i) {
    auto it = s.rows.find(ids[i]);
    if (it != s.rows.end()) {
      rows.emplace_back(ids[i], s.data.data() + it->second * dim);
    }
  }
  std::vector<Neighbor> heap;  // max-heap under `better`: the worst on top
  for (size_t q = 0; q < nq; ++q) {
    const float* query = queries + q * dim;
    heap.clear();
    for (const auto& [id, v] : rows) {
      const Neighbor cand{id, l2 ? L2Sqr(query, v, dim) : -Dot(query, v, dim)};
      if (heap.size() == k) {
        if (!better(cand, heap.front())) continue;
        std::pop_heap(heap.begin(), heap.end(), better);
        heap.back() = cand;
      } else {
        heap.push_back(cand);
      }
      std::push_heap(heap.begin(), heap.end(), better);
    }
    std::sort(heap.begin(), heap.end(), better);
    out[q] = heap;
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
      ScanRange(metric, base, norms.data(), nullptr, nb, queries, q0,
                std::min(nq, q0 + kQueryBlock), dim, k, nullptr, &out);
    }
  });
  return out;
}

}  // namespace quiver::index
