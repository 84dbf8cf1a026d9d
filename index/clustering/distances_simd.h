// Per-ISA versions of the scans in distances.h (private to
// index/clustering/). distances.cc dispatches to them after a CPU check.
#ifndef QUIVER_INDEX_CLUSTERING_DISTANCES_SIMD_H_
#define QUIVER_INDEX_CLUSTERING_DISTANCES_SIMD_H_

#include <cstddef>
#include <cstdint>

namespace quiver::index::clustering {

// True when the CPU has AVX2 and FMA and QUIVER_SIMD does not ask for
// "scalar". Decided once per process.
bool UseAvx2();

namespace avx2 {
// Same contracts (and bit-identical results) as Dot / L2Sqr / L2SqrMany in
// distances.h. REQUIRES: an AVX2 CPU.
float Dot(const float* a, const float* b, size_t d);
float L2Sqr(const float* a, const float* b, size_t d);
void L2SqrMany(const float* x, const float* q, size_t nq, size_t d, float* out);
// Same contracts as ArgMinBiased / ArgMin2Biased in distances.h.
// REQUIRES: an AVX2 CPU.
size_t ArgMinBiased(const float* v, const float* bias, size_t n,
                    float* min_value);
size_t ArgMin2Biased(const float* v, const float* bias, size_t n,
                     float* min_value, float* second_value);
// Pieces of TopSmallestBiased (distances.cc), with identical results:
// gmin[g] = min over t < gs of v[t * ngroups + g] + bias[...]; and
// CollectAtMost appends (v[j] + bias[j], label0 + j) for every j with value
// <= bound, in order of j, to (vals, labels) at *count, stopping before
// *count would pass cap; returns the j it stopped at (n when done).
void GroupMins(const float* v, const float* bias, size_t ngroups, size_t gs,
               float* gmin);
size_t CollectAtMost(const float* v, const float* bias, size_t n, float bound,
                     uint32_t label0, size_t cap, float* vals, uint32_t* labels,
                     size_t* count);
}  // namespace avx2

}  // namespace quiver::index::clustering

#endif  // QUIVER_INDEX_CLUSTERING_DISTANCES_SIMD_H_
