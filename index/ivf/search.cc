// Per-query scan of the probed inverted lists: ADC look-up tables, the 8-bit
// or 4-bit fast-scan kernels, top-k with the filter applied during the scan,
// and optional exact re-ranking.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "common/status.h"
#include "index/ivf/ivf_pq_state.h"
#include "index/ivf/topk.h"
#include "index/kernels/kernels.h"
#include "index/refine.h"

namespace quiver::index::ivf {
namespace {

constexpr size_t kBlock = kernels::kFastScanBlock;
// 8-bit codes scored per kernel call (distances stay in L1).
constexpr size_t kScanChunk = 256;
// Fast-scan blocks per kernel call between threshold updates.
constexpr size_t kFastScanChunkBlocks = 8;

// Per-thread buffers, grown once and reused: no allocation per query in
// steady state.
struct Scratch {
  std::vector<float> qtab;     // m * ksub: <q_j, centroid(j, c)>
  std::vector<float> lut;      // m * ksub: per-list ADC table
  std::vector<float> dis;      // kScanChunk
  std::vector<uint8_t> lut_q;  // npairs * 32
  std::vector<uint16_t> acc;   // kFastScanChunkBlocks * 32
  std::vector<uint32_t> masks;
  std::vector<float> residual;     // dim, L2 without precomputed tables
  std::vector<float> vecs;         // ncand * dim, for re-ranking
  std::vector<uint64_t> cand_ids;  // re-ranking candidates
  std::unique_ptr<bool[]> found;   // found_size flags, for GetVectors
  std::vector<float> errors;       // the candidates' error bounds
  std::vector<std::pair<Neighbor, float>> ranked;  // candidate, its bound
  size_t found_size = 0;
  TopK top;
  TopK exact;
};

Scratch& ThreadScratch() {
  thread_local Scratch s;
  return s;
}

// The uint16 fast-scan threshold that lets through every vector whose
// distance may be below `thr`: the float ADC of m sub-quantizers differs
// from the quantised sum by at most m / 2 units (+1 for float rounding).
uint16_t FastScanThreshold(float thr, float base, float scale, size_t m) {
  if (!(thr < std::numeric_limits<float>::infinity())) return 65535;
  const float t = (thr - base) * scale + 0.5f * static_cast<float>(m) +
                  (m > 0 ? 1.0f : 0.0f);
  if (!(t >= 0)) return 0;
  if (t >= 65535.0f) return 65535;
  return static_cast<uint16_t>(t);
}

// Float ADC of slot v of a fast-scan block: bias + sum_j lut[j][code_j],
// summed in sub-quantizer order (as the 8-bit kernels do).
inline float BlockAdc(const uint8_t* block, size_t npairs, size_t m, size_t v,
                      const float* lut, float bias) {
  const size_t byte = v & 15;
  const int shift = v < 16 ? 0 : 4;
  float d = bias;
  const size_t full = m / 2;
  for (size_t t = 0; t < full; ++t) {
    const uint8_t* p = block + t * 32 + byte;
    d += lut[t * 32 + ((p[0] >> shift) & 15)];
    d += lut[t * 32 + 16 + ((p[16] >> shift) & 15)];
  }
  if (full < npairs)
    d += lut[full * 32 + ((block[full * 32 + byte] >> shift) & 15)];
  return d;
}

}  // namespace

void IvfPqState::SearchPreassigned(const float* q, const uint32_t* probes,
                                   const float* probe_distances, size_t nprobe,
                                   const SearchParams& sp,
                                   std::vector<Neighbor>* out) const {
  out->clear();
  if (sp.k == 0) return;
  const kernels::KernelTable& k = kernels::Kernels();
  Scratch& s = ThreadScratch();
  const bool rerank = sp.rerank > 0 && sp.vectors != nullptr;
  s.top.Reset(rerank ? sp.k * sp.rerank : sp.k);
  const size_t table_size = m * ksub;
  s.qtab.resize(table_size);
  s.lut.resize(table_size);
  const bool use_precomputed = !by_ip() && !precomputed.empty();
  if (by_ip() || use_precomputed) pq.ComputeIpTable(q, s.qtab.data());
  if (by_ip()) {
    // -<q, r>: the same for every list; the list adds -<q, c>.
    std::fill(s.lut.begin(), s.lut.end(), 0.0f);
    k.axpy(s.lut.data(), -1.0f, s.qtab.data(), table_size, s.lut.data());
  }
  const bool fast_scan = pq.nbits() == 4;
  const size_t npairs = code_size;
  float scale = 1, sum_min = 0;
  if (fast_scan) {
    s.lut_q.resize(npairs * 32);
    s.acc.resize(kFastScanChunkBlocks * kBlock);
    s.masks.resize(kFastScanChunkBlocks);
    if (by_ip()) {
      scale = k.quantize_lut4(s.lut.data(), m, s.lut_q.data(), &sum_min);
    }
  } else {
    s.dis.resize(kScanChunk);
  }
  std::vector<float>& residual = s.residual;
  for (size_t p = 0; p < nprobe; ++p) {
    const uint32_t l = probes[p];
    const InvertedList& list = lists.list(l);
    absl::ReaderMutexLock lock(&list.mu);
    const size_t n = list.ids.size();
    if (n == 0) continue;
    float bias = probe_distances[p];
    if (use_precomputed) {
      // ||q - c||^2 + ||r||^2 + 2<c, r> - 2<q, r>.
      k.axpy(precomputed.data() + l * table_size, -2.0f, s.qtab.data(),
             table_size, s.lut.data());
    } else if (!by_ip()) {
      // ||(q - c) - r||^2 directly.
      residual.resize(dim);
      const float* c = centroids.data() + size_t{l} * dim;
      for (size_t t = 0; t < dim; ++t) residual[t] = q[t] - c[t];
      pq.ComputeL2Table(residual.data(), s.lut.data());
      bias = 0;
    }
    const uint64_t* ids = list.ids.data();
    const uint8_t* codes = list.codes.data();
    if (!fast_scan) {
      for (size_t i0 = 0; i0 < n; i0 += kScanChunk) {
        const size_t cn = std::min(kScanChunk, n - i0);
        k.adc_scan8(s.lut.data(), codes + i0 * m, cn, m, bias, s.dis.data());
        float thr = s.top.threshold();
        for (size_t i = 0; i < cn; ++i) {
          const float d = s.dis[i];
          if (d > thr) continue;
          const uint64_t id = ids[i0 + i];
          if (sp.filter != nullptr && !sp.filter->Accept(id)) continue;
          s.top.Push(d, id);
          thr = s.top.threshold();
        }
      }
      continue;
    }
    if (!by_ip()) {
      scale = k.quantize_lut4(s.lut.data(), m, s.lut_q.data(), &sum_min);
    }
    const float base = bias + sum_min;
    const size_t block_bytes = kBlock * npairs;
    const size_t nblocks = (n + kBlock - 1) / kBlock;
    const float* lut = s.lut.data();
    const float inv_scale = 1.0f / scale;
    // Quantised estimates need no rounding margin; float ADC re-scoring
    // needs the worst case (m / 2 units).
    const size_t margin_m = rerank ? 0 : m;
    float thr = s.top.threshold();
    uint16_t t16 = FastScanThreshold(thr, base, scale, margin_m);
    for (size_t b0 = 0; b0 < nblocks; b0 += kFastScanChunkBlocks) {
      const size_t nb = std::min(kFastScanChunkBlocks, nblocks - b0);
      k.fast_scan4(codes + b0 * block_bytes, nb, npairs, s.lut_q.data(), t16,
                   s.acc.data(), s.masks.data());
      for (size_t b = 0; b < nb; ++b) {
        uint32_t mask = s.masks[b];
        const size_t first = (b0 + b) * kBlock;
        if (first + kBlock > n) mask &= (1u << (n - first)) - 1;
        const uint8_t* block = codes + (b0 + b) * block_bytes;
        const uint16_t* acc = s.acc.data() + b * kBlock;
        while (mask != 0) {
          const size_t v = static_cast<size_t>(__builtin_ctz(mask));
          mask &= mask - 1;
          // The threshold may have tightened since the kernel ran.
          if (acc[v] > t16) continue;
          // Re-ranked searches keep the quantised estimate (as FAISS's
          // fast-scan does); others re-score with the float ADC.
          const float d = rerank ? base + static_cast<float>(acc[v]) * inv_scale
                                 : BlockAdc(block, npairs, m, v, lut, bias);
          if (d > thr) continue;
          const uint64_t id = ids[first + v];
          if (sp.filter != nullptr && !sp.filter->Accept(id)) continue;
          s.top.Push(d, id);
          if (s.top.threshold() != thr) {
            thr = s.top.threshold();
            t16 = FastScanThreshold(thr, base, scale, margin_m);
          }
        }
      }
    }
  }
  if (!rerank) {
    s.top.SortInto(out);
    return;
  }
  // Exact re-ranking of the PQ candidates, fetched in one call.
  TopK& exact = s.exact;
  const bool refine = sp.refine_vectors != nullptr;
  exact.Reset(refine ? std::max(sp.k, sp.refine_k) : sp.k);
  size_t ncand = 0;
  const Neighbor* cands = s.top.Finalize(&ncand);
  s.cand_ids.resize(ncand);
  for (size_t c = 0; c < ncand; ++c) s.cand_ids[c] = cands[c].id;
  s.vecs.resize(ncand * dim);
  if (s.found_size < ncand) {
    s.found = std::make_unique<bool[]>(ncand);
    s.found_size = ncand;
  }
  if (refine) {
    s.errors.resize(ncand);
    if (sp.vectors->GetVectorsAndErrors(s.cand_ids.data(), ncand, dim,
                                        s.vecs.data(), s.found.get(),
                                        s.errors.data())) {
      // Every candidate, best first on the compact vectors, with its
      // error bound: Refine re-scores those that can still enter the
      // best k.
      s.ranked.clear();
      for (size_t c = 0; c < ncand; ++c) {
        if (!s.found[c]) continue;
        const float* v = s.vecs.data() + c * dim;
        const float d =
            by_ip() ? -k.inner_product(q, v, dim) : k.l2sqr(q, v, dim);
        s.ranked.push_back({{s.cand_ids[c], d}, s.errors[c]});
      }
      std::sort(s.ranked.begin(), s.ranked.end(),
                [](const auto& a, const auto& b) {
                  return Closer(a.first, b.first);
                });
      out->resize(s.ranked.size());
      for (size_t c = 0; c < s.ranked.size(); ++c) {
        (*out)[c] = s.ranked[c].first;
        s.errors[c] = s.ranked[c].second;
      }
      Refine(params.metric, q, dim, *sp.refine_vectors, sp.k, out,
             s.errors.data());
      return;
    }
  } else {
    sp.vectors->GetVectors(s.cand_ids.data(), ncand, dim, s.vecs.data(),
                           s.found.get());
  }
  for (size_t c = 0; c < ncand; ++c) {
    if (!s.found[c]) continue;
    const float* v = s.vecs.data() + c * dim;
    const float d = by_ip() ? -k.inner_product(q, v, dim) : k.l2sqr(q, v, dim);
    exact.Push(d, s.cand_ids[c]);
  }
  exact.SortInto(out);
  if (refine) Refine(params.metric, q, dim, *sp.refine_vectors, sp.k, out);
}

}  // namespace quiver::index::ivf
