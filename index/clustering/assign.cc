// Blocked GEMM assignment: for a block of rows, one sgemm gives -2 <x, c>,
// the centroid norms are added during the argmin scan, and the point's norm
// is added only to the winner. Blocks are fixed-size and handed out to
// index/parallel.h workers, each running single-threaded BLAS on its own
// scratch, so the product and the argmin of a block stay in that core's
// cache.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "index/clustering/distances.h"
#include "index/clustering/kmeans_internal.h"
#include "index/parallel.h"

namespace quiver::index::clustering {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Per-thread scratch of the block kernel.
struct Scratch {
  explicit Scratch(size_t cols, size_t d, bool gather)
      : ip(kAssignBlockRows * cols),
        xn(kAssignBlockRows),
        best(kAssignBlockRows),
        second(kAssignBlockRows),
        label(kAssignBlockRows),
        top_len(kAssignBlockRows),
        rows(gather ? kAssignBlockRows * d : 0) {}
  std::vector<float> ip, xn, best, second;
  std::vector<uint32_t> label;
  std::vector<size_t> top_len;
  std::vector<float> rows;  // gathered rows when assigning a subset
};

// Where a block's results go: row r of the block is point ids[r] (or
// first + r when ids is null).
struct Outputs {
  uint32_t* labels;
  float* dists;   // nullable
  float* second;  // nullable: squared distance to the second nearest
  size_t top_m;   // 0 = no top list
  uint32_t* top_labels;
  float* top_dists;
  // Raw scores c_norms[j] - 2 <x, c_j> in dists / second: no point norms,
  // no clamping at 0 (top_m must be 0).
  bool raw = false;
};

// Assigns `rows` contiguous points xb (norms: rows, or null) and writes the
// results of row r to index out_index(r). Returns the sum of distances.
template <typename Index>
double AssignBlock(const float* xb, size_t rows, const float* norms,
                   const float* c, const float* c_norms, size_t k, size_t d,
                   size_t cols, Scratch* s, const Outputs& out,
                   Index out_index) {
  if (norms == nullptr && !out.raw) {
    SquaredNorms(xb, rows, d, s->xn.data());
    norms = s->xn.data();
  }
  const size_t top_m = out.top_m;
  std::fill(s->best.begin(), s->best.begin() + rows, kInf);
  std::fill(s->second.begin(), s->second.begin() + rows, kInf);
  std::fill(s->label.begin(), s->label.begin() + rows, 0u);
  std::fill(s->top_len.begin(), s->top_len.begin() + rows, 0);
  for (size_t j0 = 0; j0 < k; j0 += cols) {
    const size_t nc = std::min(cols, k - j0);
    InnerProducts(xb, rows, c + j0 * d, nc, d, -2.0f, s->ip.data());
    for (size_t r = 0; r < rows; ++r) {
      const float* row = s->ip.data() + r * nc;
      if (top_m > 0) {
        // The top list gives the nearest (and second nearest) as well.
        const size_t i = out_index(r);
        float* tv = out.top_dists + i * top_m;
        uint32_t* tl = out.top_labels + i * top_m;
        TopSmallestBiased(row, c_norms + j0, nc, static_cast<uint32_t>(j0),
                          top_m, tv, tl, &s->top_len[r]);
        s->best[r] = tv[0];
        s->label[r] = tl[0];
        s->second[r] = s->top_len[r] > 1 ? tv[1] : kInf;
        continue;
      }
      float v, v2 = kInf;
      const size_t j = out.second != nullptr
                           ? ArgMin2Biased(row, c_norms + j0, nc, &v, &v2)
                           : ArgMinBiased(row, c_norms + j0, nc, &v);
      if (v < s->best[r]) {
        s->second[r] = std::min(s->best[r], v2);
        s->best[r] = v;
        s->label[r] = static_cast<uint32_t>(j0 + j);
      } else {
        s->second[r] = std::min(s->second[r], v);
      }
    }
  }
  double sum = 0;
  for (size_t r = 0; r < rows; ++r) {
    const size_t i = out_index(r);
    out.labels[i] = s->label[r];
    if (out.raw) {
      if (out.dists) out.dists[i] = s->best[r];
      if (out.second) out.second[i] = s->second[r];
      continue;
    }
    const float dist = std::max(0.0f, s->best[r] + norms[r]);
    if (out.dists) out.dists[i] = dist;
    if (out.second) out.second[i] = std::max(0.0f, s->second[r] + norms[r]);
    sum += dist;
    if (top_m > 0) {
      float* tv = out.top_dists + i * top_m;
      for (size_t t = 0; t < top_m; ++t) {
        tv[t] = std::max(0.0f, tv[t] + norms[r]);
      }
    }
  }
  return sum;
}

}  // namespace

double AssignBlocked(const float* x, size_t n, size_t d, const float* x_norms,
                     const float* c, const float* c_norms, size_t k,
                     int threads, uint32_t* labels, float* dists, size_t top_m,
                     uint32_t* top_labels, float* top_dists, float* second) {
  if (n == 0) return 0;
  const size_t nblocks = (n + kAssignBlockRows - 1) / kAssignBlockRows;
  const size_t cols = std::min(k, kAssignBlockCols);
  std::vector<double> block_sums(nblocks, 0.0);
  const Outputs out{labels, dists, second, top_m, top_labels, top_dists};
  ScopedBlasSingleThread blas;
  WorkQueue queue(nblocks);
  RunWorkers(ThreadsFor(threads, 2.0 * n * k * d, nblocks), [&](size_t) {
    Scratch scratch(cols, d, /*gather=*/false);
    for (size_t b; queue.Next(&b);) {
      const size_t i0 = b * kAssignBlockRows;
      const size_t rows = std::min(kAssignBlockRows, n - i0);
      block_sums[b] = AssignBlock(
          x + i0 * d, rows, x_norms ? x_norms + i0 : nullptr, c, c_norms, k, d,
          cols, &scratch, out, [i0](size_t r) { return i0 + r; });
    }
  });
  double total = 0;
  for (double s : block_sums) total += s;
  return total;
}

void NearestScores(const float* x, size_t n, size_t d, const float* c,
                   const float* c_bias, size_t k, int threads, uint32_t* labels,
                   float* best, float* second) {
  if (n == 0) return;
  const size_t nblocks = (n + kAssignBlockRows - 1) / kAssignBlockRows;
  const size_t cols = std::min(k, kAssignBlockCols);
  Outputs out{labels, best, second, 0, nullptr, nullptr};
  out.raw = true;
  ScopedBlasSingleThread blas;
  WorkQueue queue(nblocks);
  RunWorkers(ThreadsFor(threads, 2.0 * n * k * d, nblocks), [&](size_t) {
    Scratch scratch(cols, d, /*gather=*/false);
    for (size_t b; queue.Next(&b);) {
      const size_t i0 = b * kAssignBlockRows;
      const size_t rows = std::min(kAssignBlockRows, n - i0);
      AssignBlock(x + i0 * d, rows, nullptr, c, c_bias, k, d, cols, &scratch,
                  out, [i0](size_t r) { return i0 + r; });
    }
  });
}

void AssignPruned(const float* x, size_t n, size_t d, const float* x_norms,
                  const float* c, const float* c_norms, size_t k,
                  const float* shifts, int threads, uint32_t* labels,
                  PruneState* state, PruneCounts* counts) {
  if (n == 0) return;
  PruneState& st = *state;
  const size_t cols = std::min(k, kAssignBlockCols);
  // After the GEMM: candidates and bounds from the sorted top list.
  auto refresh = [&st, k](size_t i) {
    const float* td = st.top_dists.data() + i * st.m1;
    float* lb = st.cand_lower.data() + i * st.mc;
    for (size_t r = 0; r < st.mc; ++r) lb[r] = std::sqrt(td[r]);
    st.upper[i] = lb[0];
    st.rest[i] = st.mc < k ? std::sqrt(td[st.mc]) : kInf;
  };
  if (shifts == nullptr) {
    st.mc = std::min(k, kPruneCandidates);
    st.m1 = std::min(k, st.mc + 1);
    st.upper.assign(n, 0);
    st.rest.assign(n, 0);
    st.cand_lower.assign(n * st.mc, 0);
    st.top_labels.assign(n * st.m1, 0);
    st.top_dists.assign(n * st.m1, 0);
    AssignBlocked(x, n, d, x_norms, c, c_norms, k, threads, labels, nullptr,
                  st.m1, st.top_labels.data(), st.top_dists.data());
    for (size_t i = 0; i < n; ++i) refresh(i);
    counts->full = n;
    return;
  }
  // The few centroids that moved most ("movers") are handled exactly when a
  // point needs a tight `rest`: shifts are heavy-tailed (in later iterations
  // most centroids barely move), so the bound for all other non-candidates
  // decays by the largest shift outside the movers only.
  const size_t nmovers = std::min(k, kPruneMovers);
  std::vector<uint32_t> movers(k);
  for (size_t j = 0; j < k; ++j) movers[j] = static_cast<uint32_t>(j);
  std::partial_sort(movers.begin(), movers.begin() + nmovers, movers.end(),
                    [shifts](uint32_t a, uint32_t b) {
                      return shifts[a] != shifts[b] ? shifts[a] > shifts[b]
                                                    : a < b;
                    });
  movers.resize(nmovers);
  const float max_shift = shifts[movers[0]];
  float max_other = 0;  // largest shift outside the movers
  for (size_t j = 0; j < k; ++j) {
    if (shifts[j] > max_other &&
        std::find(movers.begin(), movers.end(), j) == movers.end()) {
      max_other = shifts[j];
    }
  }
  constexpr size_t kChunk = 2048;
  const size_t nchunks = (n + kChunk - 1) / kChunk;
  // 0: kept, 1: resolved among candidates, 2: needs the GEMM.
  std::vector<uint8_t> how(n);
  {
    WorkQueue queue(nchunks);
    RunWorkers(ThreadsFor(threads, 8.0 * n * d, nchunks), [&](size_t) {
      // stamp[j] == i + 1: centroid j is a candidate of point i.
      std::vector<size_t> stamp(k, 0);
      for (size_t ch; queue.Next(&ch);) {
        const size_t i1 = std::min(n, (ch + 1) * kChunk);
        for (size_t i = ch * kChunk; i < i1; ++i) {
          const uint32_t a = labels[i];
          const uint32_t* cand = st.top_labels.data() + i * st.m1;
          float* lb = st.cand_lower.data() + i * st.mc;
          const float rest_old = st.rest[i];
          float rest = rest_old - max_shift;
          float min_cand = kInf;  // bound over the other candidates
          size_t own = 0;
          for (size_t r = 0; r < st.mc; ++r) {
            lb[r] -= shifts[cand[r]];
            if (cand[r] == a) {
              own = r;
            } else {
              min_cand = std::min(min_cand, lb[r]);
            }
          }
          float upper = st.upper[i] + shifts[a];
          how[i] = 0;
          if (upper > std::min(min_cand, rest)) {
            const float* xi = x + i * d;
            float best = L2Sqr(xi, c + size_t{a} * d, d);
            upper = std::sqrt(best);
            lb[own] = upper;
            if (upper > rest && rest_old < kInf) {
              // Tighter rest: exact distances to the movers that are not
              // candidates, and the smaller decay for everything else.
              for (size_t r = 0; r < st.mc; ++r) stamp[cand[r]] = i + 1;
              float tight = rest_old - max_other;
              for (uint32_t t : movers) {
                if (stamp[t] == i + 1) continue;
                tight =
                    std::min(tight, std::sqrt(L2Sqr(xi, c + size_t{t} * d, d)));
              }
              rest = std::max(rest, tight);
            }
            if (upper > std::min(min_cand, rest)) {
              if (upper > rest) {
                how[i] = 2;
              } else {
                // The nearest centroid is a candidate (all others are
                // farther than rest >= upper): check those the bounds do not
                // exclude.
                uint32_t best_j = a;
                for (size_t r = 0; r < st.mc; ++r) {
                  const uint32_t j = cand[r];
                  if (j == a || lb[r] > upper) continue;  // (lb may be < 0)
                  const float dist = L2Sqr(xi, c + size_t{j} * d, d);
                  lb[r] = std::sqrt(dist);
                  if (dist < best || (dist == best && j < best_j)) {
                    best = dist;
                    best_j = j;
                    upper = lb[r];
                  }
                }
                labels[i] = best_j;
                how[i] = 1;
              }
            }
          }
          st.upper[i] = upper;
          st.rest[i] = rest;
        }
      }
    });
  }
  std::vector<uint32_t> todo;
  for (size_t i = 0; i < n; ++i) {
    if (how[i] == 2) {
      todo.push_back(static_cast<uint32_t>(i));
    } else if (how[i] == 1) {
      ++counts->candidates;
    } else {
      ++counts->kept;
    }
  }
  counts->full = todo.size();

  const size_t nblocks =
      (todo.size() + kAssignBlockRows - 1) / kAssignBlockRows;
  if (nblocks == 0) return;
  const Outputs out{labels,
                    nullptr,
                    nullptr,
                    st.m1,
                    st.top_labels.data(),
                    st.top_dists.data()};
  ScopedBlasSingleThread blas;
  WorkQueue queue(nblocks);
  RunWorkers(
      ThreadsFor(threads, 2.0 * todo.size() * k * d, nblocks), [&](size_t) {
        Scratch scratch(cols, d, /*gather=*/true);
        std::vector<float> norms(kAssignBlockRows);
        for (size_t b; queue.Next(&b);) {
          const size_t t0 = b * kAssignBlockRows;
          const size_t rows = std::min(kAssignBlockRows, todo.size() - t0);
          const uint32_t* ids = todo.data() + t0;
          for (size_t r = 0; r < rows; ++r) {
            std::memcpy(scratch.rows.data() + r * d, x + size_t{ids[r]} * d,
                        d * sizeof(float));
            norms[r] = x_norms[ids[r]];
          }
          AssignBlock(scratch.rows.data(), rows, norms.data(), c, c_norms, k, d,
                      cols, &scratch, out,
                      [ids](size_t r) { return size_t{ids[r]}; });
          for (size_t r = 0; r < rows; ++r) refresh(ids[r]);
        }
      });
}

}  // namespace quiver::index::clustering
