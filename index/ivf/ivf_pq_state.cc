#include "index/ivf/ivf_pq_state.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "index/clustering/distances.h"
#include "index/clustering/kmeans_internal.h"
#include "index/kernels/kernels.h"
#include "index/kmeans.h"
#include "index/parallel.h"

namespace quiver::index::ivf {
namespace {

// Queries per BLAS block in CoarseSearch.
constexpr size_t kCoarseBlock = 256;
// Vectors per PQ encoding block (residuals of a block: kEncodeBlock * dim
// floats, in L1/L2).
constexpr size_t kEncodeBlock = 64;

// Unit roundoff of float.
constexpr double kUnitRoundoff = 0x1.0p-24;

// Up to this nprobe, SelectBest keeps a sorted run of the best keys while
// scanning (a compare per list, few insertions); above it, nth_element.
constexpr size_t kInsertionSelectMax = 32;

// The order-preserving integer key of (score, list): negative floats flip
// all bits, others the sign bit; the list breaks ties.
inline uint64_t ScoreKey(float score, size_t list) {
  uint32_t bits;
  std::memcpy(&bits, &score, 4);
  bits ^= (bits >> 31) != 0 ? 0xffffffffu : 0x80000000u;
  return (uint64_t{bits} << 32) | list;
}

// Keeps the nprobe smallest (score, list) pairs of scores[0, nlist), best
// first (ties: smaller list). keys: scratch. Scores are packed with the list
// into one integer key (ScoreKey), so that selection and sorting compare
// plain integers; keys are unique, so both selection methods return the
// same lists in the same order.
void SelectBest(const float* scores, size_t nlist, size_t nprobe,
                std::vector<uint64_t>* keys, uint32_t* labels) {
  if (nprobe <= kInsertionSelectMax && nprobe < nlist) {
    keys->resize(nprobe);
    uint64_t* best = keys->data();
    size_t len = 0;
    uint64_t worst = ~uint64_t{0};
    for (size_t l = 0; l < nlist; ++l) {
      const uint64_t key = ScoreKey(scores[l], l);
      if (key >= worst) continue;
      size_t pos = len < nprobe ? len++ : nprobe - 1;
      while (pos > 0 && best[pos - 1] > key) {
        best[pos] = best[pos - 1];
        --pos;
      }
      best[pos] = key;
      if (len == nprobe) worst = best[nprobe - 1];
    }
    for (size_t p = 0; p < nprobe; ++p) {
      labels[p] = static_cast<uint32_t>(best[p] & 0xffffffffu);
    }
    return;
  }
  keys->resize(nlist);
  uint64_t* k = keys->data();
  for (size_t l = 0; l < nlist; ++l) k[l] = ScoreKey(scores[l], l);
  if (nprobe < nlist) std::nth_element(k, k + nprobe - 1, k + nlist);
  std::sort(k, k + nprobe);
  for (size_t p = 0; p < nprobe; ++p) {
    labels[p] = static_cast<uint32_t>(k[p] & 0xffffffffu);
  }
}

// The score a ScoreKey was made from.
inline float KeyScore(uint64_t key) {
  uint32_t bits = static_cast<uint32_t>(key >> 32);
  bits ^= (bits >> 31) != 0 ? 0x80000000u : 0xffffffffu;
  float score;
  std::memcpy(&score, &bits, 4);
  return score;
}

// SelectBest over keys already made (n unique ScoreKeys, reordered): the
// nprobe smallest, best first, and their scores.
void SelectBestKeys(uint64_t* keys, size_t n, size_t nprobe, uint32_t* labels,
                    float* scores) {
  nprobe = std::min(nprobe, n);
  if (nprobe < n) std::nth_element(keys, keys + nprobe - 1, keys + n);
  std::sort(keys, keys + nprobe);
  for (size_t p = 0; p < nprobe; ++p) {
    labels[p] = static_cast<uint32_t>(keys[p] & 0xffffffffu);
    scores[p] = KeyScore(keys[p]);
  }
}

bool AllFinite(const std::vector<float>& v) {
  for (float f : v) {
    if (!std::isfinite(f)) return false;
  }
  return true;
}

}  // namespace

IvfPqState::IvfPqState(const IvfPqParams& p)
    : params(p),
      dim(p.dim),
      nlist(p.nlist),
      m(p.m),
      ksub(size_t{1} << p.nbits),
      dsub(p.dim / p.m),
      code_size(p.nbits == 8 ? p.m : (p.m + 1) / 2),
      pq(p.dim, p.m, p.nbits),
      lists(p.nlist, p.nbits == 8 ? p.m : (p.m + 1) / 2,
            p.nbits == 8 ? CodeLayout::kFlat : CodeLayout::kBlocked4) {}

absl::Status IvfPqState::Build(std::vector<float> coarse,
                               std::vector<float> codebooks) {
  if (coarse.size() != nlist * dim) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "coarse centroids have %d floats, expected nlist * dim = %d * %d",
        coarse.size(), nlist, dim));
  }
  if (!AllFinite(coarse)) {
    return absl::InvalidArgumentError("coarse centroids are not finite");
  }
  QUIVER_RETURN_IF_ERROR(pq.SetCodebooks(std::move(codebooks)));
  centroids = std::move(coarse);
  BlockCentroids();
  const kernels::KernelTable& k = kernels::Kernels();
  centroid_norms.resize(nlist);
  for (size_t l = 0; l < nlist; ++l) {
    const float* c = centroids.data() + l * dim;
    centroid_norms[l] = k.inner_product(c, c, dim);
  }
  precomputed.clear();
  if (!by_ip() &&
      nlist * m * ksub * sizeof(float) <= kMaxPrecomputedTableBytes) {
    // ||r_jc||^2 + 2 <c_l,j, r_jc> per (list, sub-quantizer, code).
    std::vector<float> norms(m * ksub);
    for (size_t j = 0; j < m; ++j) {
      for (size_t c = 0; c < ksub; ++c) {
        const float* r = pq.centroid(j, c);
        norms[j * ksub + c] = k.inner_product(r, r, dsub);
      }
    }
    precomputed.resize(nlist * m * ksub);
    std::vector<float> ip(m * ksub);
    for (size_t l = 0; l < nlist; ++l) {
      pq.ComputeIpTable(centroids.data() + l * dim, ip.data());
      k.axpy(norms.data(), 2.0f, ip.data(), m * ksub,
             precomputed.data() + l * m * ksub);
    }
  }
  return absl::OkStatus();
}

void IvfPqState::BlockCentroids() {
  groups = CentroidGroups();
  centroids_blocked.clear();
  centroids_blocked.shrink_to_fit();
  if (nlist >= kGroupMinLists && GroupCentroids()) return;
  centroids_blocked.assign(kernels::Blocked16Floats(nlist, dim), 0.0f);
  kernels::TransposeBlocks16(centroids.data(), nlist, dim,
                             centroids_blocked.data());
}

bool IvfPqState::GroupCentroids() {
  KMeansParams kp;
  kp.k = static_cast<size_t>(
      std::lround(kGroupsPerSqrtList * std::sqrt(double(nlist))));
  kp.niter = 10;
  kp.max_points_per_centroid = 0;  // every centroid
  kp.seed = 0x67726f757073;        // fixed: the same centroids, same groups
  kp.threads = 1;
  absl::StatusOr<KMeansResult> heads = KMeans(centroids.data(), nlist, dim, kp);
  if (!heads.ok()) return false;  // (non-finite centroids): one flat scan
  std::vector<uint32_t> nearest(nlist);
  AssignNearest(centroids.data(), nlist, heads->centroids.data(), kp.k, dim,
                nearest.data(), nullptr, /*threads=*/1);
  std::vector<std::vector<uint32_t>> members(kp.k);
  for (uint32_t l = 0; l < nlist; ++l) members[nearest[l]].push_back(l);
  CentroidGroups g;
  std::vector<float> heads_kept;
  size_t blocks = 0;
  for (size_t h = 0; h < kp.k; ++h) {
    if (members[h].empty()) continue;  // an empty cluster is no group
    heads_kept.insert(heads_kept.end(), heads->centroids.begin() + h * dim,
                      heads->centroids.begin() + (h + 1) * dim);
    g.block_begin.push_back(static_cast<uint32_t>(blocks));
    g.lists_in_group.push_back(static_cast<uint32_t>(members[h].size()));
    blocks +=
        (members[h].size() + kernels::kDistBlock - 1) / kernels::kDistBlock;
  }
  g.count = g.lists_in_group.size();
  g.block_begin.push_back(static_cast<uint32_t>(blocks));
  // Scratch for the heads' scores or one group's (ProbeSearchOne and
  // CoarseSearchOne size theirs with it).
  g.widest_blocks = (g.count + kernels::kDistBlock - 1) / kernels::kDistBlock;
  for (size_t i = 0; i < g.count; ++i) {
    g.widest_blocks = std::max<size_t>(g.widest_blocks,
                                       g.block_begin[i + 1] - g.block_begin[i]);
  }
  g.heads_blocked.assign(kernels::Blocked16Floats(g.count, dim), 0.0f);
  kernels::TransposeBlocks16(heads_kept.data(), g.count, dim,
                             g.heads_blocked.data());
  g.member_list.assign(blocks * kernels::kDistBlock, kNoList);
  g.members_blocked.assign(blocks * kernels::kDistBlock * dim, 0.0f);
  std::vector<float> rows;
  size_t group = 0;
  for (size_t h = 0; h < kp.k; ++h) {
    if (members[h].empty()) continue;
    const size_t row0 = size_t{g.block_begin[group]} * kernels::kDistBlock;
    rows.resize(members[h].size() * dim);
    for (size_t r = 0; r < members[h].size(); ++r) {
      g.member_list[row0 + r] = members[h][r];
      std::copy_n(centroids.data() + size_t{members[h][r]} * dim, dim,
                  rows.data() + r * dim);
    }
    kernels::TransposeBlocks16(rows.data(), members[h].size(), dim,
                               g.members_blocked.data() + row0 * dim);
    ++group;
  }
  groups = std::move(g);
  return true;
}

size_t IvfPqState::ScoreGroup(const float* x, size_t group, float* scratch,
                              std::vector<uint64_t>* keys) const {
  const kernels::KernelTable& k = kernels::Kernels();
  const size_t b0 = groups.block_begin[group];
  const size_t nb = groups.block_begin[group + 1] - b0;
  const float* bt =
      groups.members_blocked.data() + b0 * kernels::kDistBlock * dim;
  const uint32_t* lists = groups.member_list.data() + b0 * kernels::kDistBlock;
  if (by_ip()) {
    k.ip_blocked16(x, bt, nb, dim, scratch);
  } else {
    k.l2sqr_blocked16(x, bt, nb, dim, scratch);
  }
  for (size_t r = 0; r < nb * kernels::kDistBlock; ++r) {
    if (lists[r] == kNoList) continue;
    keys->push_back(ScoreKey(by_ip() ? -scratch[r] : scratch[r], lists[r]));
  }
  return groups.lists_in_group[group];
}

void IvfPqState::ProbeSearchOne(const float* x, size_t nprobe, uint32_t* labels,
                                float* distances) const {
  const size_t want =
      std::max(nlist / kGroupCoverDiv, kGroupCoverPerProbe * nprobe);
  if (groups.count == 0 || want >= nlist) {
    CoarseSearchOne(x, nprobe, labels, distances);
    return;
  }
  thread_local std::vector<float> scratch;
  thread_local std::vector<uint64_t> order;
  thread_local std::vector<uint64_t> keys;
  const kernels::KernelTable& k = kernels::Kernels();
  const size_t head_blocks =
      (groups.count + kernels::kDistBlock - 1) / kernels::kDistBlock;
  scratch.resize(groups.widest_blocks * kernels::kDistBlock);
  if (by_ip()) {
    k.ip_blocked16(x, groups.heads_blocked.data(), head_blocks, dim,
                   scratch.data());
  } else {
    k.l2sqr_blocked16(x, groups.heads_blocked.data(), head_blocks, dim,
                      scratch.data());
  }
  order.resize(groups.count);
  for (size_t g = 0; g < groups.count; ++g) {
    order[g] = ScoreKey(by_ip() ? -scratch[g] : scratch[g], g);
  }
  std::sort(order.begin(), order.end());
  keys.clear();
  size_t covered = 0;
  for (size_t i = 0; i < groups.count && covered < want; ++i) {
    covered += ScoreGroup(x, order[i] & 0xffffffffu, scratch.data(), &keys);
  }
  SelectBestKeys(keys.data(), keys.size(), nprobe, labels, distances);
}

void IvfPqState::CoarseSearchOne(const float* x, size_t nprobe,
                                 uint32_t* labels, float* distances) const {
  thread_local std::vector<float> scores;
  thread_local std::vector<uint64_t> order;
  const kernels::KernelTable& k = kernels::Kernels();
  if (groups.count > 0) {
    // Every group: the same scores as one flat scan (each row's score is
    // what l2sqr / inner_product returns whatever its block), the same keys.
    scores.resize(groups.widest_blocks * kernels::kDistBlock);
    order.clear();
    for (size_t g = 0; g < groups.count; ++g) {
      ScoreGroup(x, g, scores.data(), &order);
    }
    SelectBestKeys(order.data(), order.size(), nprobe, labels, distances);
    return;
  }
  // 16 centroids per kernel step, each score bit for bit what l2sqr /
  // inner_product of that centroid returns.
  const size_t nblocks =
      (nlist + kernels::kDistBlock - 1) / kernels::kDistBlock;
  scores.resize(nblocks * kernels::kDistBlock);
  if (by_ip()) {
    k.ip_blocked16(x, centroids_blocked.data(), nblocks, dim, scores.data());
    for (size_t l = 0; l < nlist; ++l) scores[l] = -scores[l];
  } else {
    k.l2sqr_blocked16(x, centroids_blocked.data(), nblocks, dim, scores.data());
  }
  SelectBest(scores.data(), nlist, nprobe, &order, labels);
  for (size_t p = 0; p < nprobe; ++p) distances[p] = scores[labels[p]];
}

void IvfPqState::NearestList(const float* x, size_t n, uint32_t* labels,
                             float* distances, int threads) const {
  // The GEMM scores s_j = bias_j - 2 <x, c_j> (bias: ||c_j||^2 for L2, 0 for
  // inner product) pick the list. Their rounding differs from that of the
  // kernels CoarseSearchOne uses, by at most e = gamma_{d+2} (||x|| +
  // max ||c||)^2 each for either score (gamma_n = n u / (1 - n u), u the
  // unit roundoff; standard dot-product error bounds). So when the second
  // best score exceeds the best by more than 4 e, both computations have
  // the same, unique winner; otherwise (near ties, NaN) the vector goes
  // through CoarseSearchOne. Either way the result is exactly that of
  // encoding the vectors one at a time.
  std::vector<float> best(n), second(n);
  std::vector<float> zeros;
  const float* bias = centroid_norms.data();
  if (by_ip()) {
    zeros.assign(nlist, 0.0f);
    bias = zeros.data();
  }
  clustering::NearestScores(x, n, dim, centroids.data(), bias, nlist, threads,
                            labels, best.data(), second.data());
  const kernels::KernelTable& k = kernels::Kernels();
  float max_norm2 = 0;
  for (float v : centroid_norms) max_norm2 = std::max(max_norm2, v);
  const double nu = static_cast<double>(dim + 3) * kUnitRoundoff;
  // 4 gamma_{d+3}, with 1% slack for the rounding of the norms themselves.
  const double factor = 4.0 * 1.01 * nu / (1.0 - nu);
  const double max_norm = std::sqrt(static_cast<double>(max_norm2));
  for (size_t i = 0; i < n; ++i) {
    const float* xi = x + i * dim;
    const double scale =
        std::sqrt(static_cast<double>(k.inner_product(xi, xi, dim))) + max_norm;
    const double gap = static_cast<double>(second[i]) - best[i];
    if (!(gap > factor * scale * scale)) {
      CoarseSearchOne(xi, 1, labels + i, distances + i);
      continue;
    }
    const float* c = centroids.data() + size_t{labels[i]} * dim;
    distances[i] = by_ip() ? -k.inner_product(xi, c, dim) : k.l2sqr(xi, c, dim);
  }
}

void IvfPqState::CoarseSearch(const float* x, size_t n, size_t nprobe,
                              uint32_t* labels, float* distances,
                              int threads) const {
  if (n == 1) {
    CoarseSearchOne(x, nprobe, labels, distances);
    return;
  }
  if (nprobe == 1) {
    NearestList(x, n, labels, distances, threads);
    return;
  }
  const kernels::KernelTable& k = kernels::Kernels();
  std::vector<float> ip(std::min(n, kCoarseBlock) * nlist);
  clustering::ScopedBlasSingleThread blas;
  for (size_t b0 = 0; b0 < n; b0 += kCoarseBlock) {
    const size_t nb = std::min(kCoarseBlock, n - b0);
    clustering::InnerProducts(x + b0 * dim, nb, centroids.data(), nlist, dim,
                              1.0f, ip.data());
    const size_t workers = std::min(ResolveThreads(threads), (nb + 15) / 16);
    ParallelFor(nb, workers, [&](size_t begin, size_t end) {
      std::vector<uint64_t> order;
      std::vector<std::pair<float, uint32_t>> best(nprobe);
      for (size_t i = begin; i < end; ++i) {
        float* s = ip.data() + i * nlist;
        for (size_t l = 0; l < nlist; ++l) {
          s[l] = by_ip() ? -s[l] : centroid_norms[l] - 2.0f * s[l];
        }
        uint32_t* lab = labels + (b0 + i) * nprobe;
        float* dis = distances + (b0 + i) * nprobe;
        SelectBest(s, nlist, nprobe, &order, lab);
        // Exact distances with the single-query kernel, re-sorted.
        const float* xi = x + (b0 + i) * dim;
        for (size_t p = 0; p < nprobe; ++p) {
          const float* c = centroids.data() + size_t{lab[p]} * dim;
          best[p] = {
              by_ip() ? -k.inner_product(xi, c, dim) : k.l2sqr(xi, c, dim),
              lab[p]};
        }
        std::sort(best.begin(), best.end());
        for (size_t p = 0; p < nprobe; ++p) {
          dis[p] = best[p].first;
          lab[p] = best[p].second;
        }
      }
    });
  }
}

void IvfPqState::EncodeNormalized(const float* x, size_t n, uint32_t* list_ids,
                                  uint8_t* codes, int threads) const {
  if (n == 0) return;
  std::vector<float> dis(n);
  CoarseSearch(x, n, 1, list_ids, dis.data(), threads);
  // PQ codes of the residuals, a block at a time.
  const size_t nblocks = (n + kEncodeBlock - 1) / kEncodeBlock;
  const size_t workers = ThreadsFor(threads, 3.0 * n * dim * ksub, nblocks);
  ParallelFor(nblocks, workers, [&](size_t block_begin, size_t block_end) {
    std::vector<float> residuals(kEncodeBlock * dim);
    for (size_t b = block_begin; b < block_end; ++b) {
      const size_t b0 = b * kEncodeBlock;
      const size_t nb = std::min(kEncodeBlock, n - b0);
      for (size_t i = 0; i < nb; ++i) {
        const float* xi = x + (b0 + i) * dim;
        const float* c = centroids.data() + size_t{list_ids[b0 + i]} * dim;
        float* r = residuals.data() + i * dim;
        for (size_t t = 0; t < dim; ++t) r[t] = xi[t] - c[t];
      }
      pq.Encode(residuals.data(), nb, codes + b0 * code_size);
    }
  });
}

void IvfPqState::AddEncodedBatch(const uint64_t* ids, const uint32_t* list_ids,
                                 const uint8_t* codes, size_t n) {
  if (n == 0) return;
  // For an id repeated within the batch, only its last occurrence counts.
  std::vector<size_t> keep;
  keep.reserve(n);
  if (n == 1) {
    keep.push_back(0);
  } else {
    absl::flat_hash_set<uint64_t> seen;
    seen.reserve(n);
    for (size_t i = n; i-- > 0;) {
      if (seen.insert(ids[i]).second) keep.push_back(i);
    }
    std::reverse(keep.begin(), keep.end());
  }
  for (size_t i : keep) QUIVER_CHECK(list_ids[i] < nlist);
  std::vector<uint64_t> group_ids;
  std::vector<uint8_t> group_codes;
  absl::MutexLock lock(&id_mu);
  id_to_list.Reserve(keep.size());
  // Map the ids in input order (before grouping by list): sequential ids
  // then grow the id map's direct array instead of passing through its hash
  // map, whose buckets would stay allocated.
  for (size_t i : keep) {
    uint32_t old = 0;
    if (id_to_list.Set(ids[i], list_ids[i], &old)) {
      QUIVER_CHECK(lists.Remove(old, ids[i]));
    }
  }
  // Group by list (stable, so insertion order within a list is kept).
  std::stable_sort(keep.begin(), keep.end(), [list_ids](size_t a, size_t b) {
    return list_ids[a] < list_ids[b];
  });
  for (size_t g = 0; g < keep.size();) {
    const uint32_t l = list_ids[keep[g]];
    size_t e = g;
    group_ids.clear();
    group_codes.clear();
    while (e < keep.size() && list_ids[keep[e]] == l) {
      group_ids.push_back(ids[keep[e]]);
      const uint8_t* c = codes + keep[e] * code_size;
      group_codes.insert(group_codes.end(), c, c + code_size);
      ++e;
    }
    lists.Append(l, group_ids.data(), group_codes.data(), group_ids.size());
    g = e;
  }
}

bool IvfPqState::Remove(uint64_t id) {
  absl::MutexLock lock(&id_mu);
  uint32_t list = 0;
  if (!id_to_list.Erase(id, &list)) return false;
  QUIVER_CHECK(lists.Remove(list, id));
  return true;
}

size_t IvfPqState::MemoryBytes() const {
  size_t bytes = lists.MemoryBytes();
  absl::MutexLock lock(&id_mu);
  return bytes + id_to_list.MemoryBytes();
}

}  // namespace quiver::index::ivf
