// AVX2 kernels that the AVX-512 table reuses as they are (private to
// index/kernels/; defined in kernels_avx2.cc). Contracts: those of the
// KernelTable entries of the same names in kernels.h.
// REQUIRES: a CPU with AVX2 (call through KernelsFor()).
#ifndef QUIVER_INDEX_KERNELS_KERNELS_AVX2_H_
#define QUIVER_INDEX_KERNELS_KERNELS_AVX2_H_

#include <cstddef>
#include <cstdint>

namespace quiver::index::kernels::avx2 {

size_t ArgMinBiased(const float* v, const float* bias, size_t n,
                    float* min_value);
size_t ArgMin2Biased(const float* v, const float* bias, size_t n,
                     float* min_value, float* second_value);
void GroupMins(const float* v, const float* bias, size_t ngroups, size_t gs,
               float* gmin);
size_t CollectAtMost(const float* v, const float* bias, size_t n, float bound,
                     uint32_t label0, size_t cap, float* vals, uint32_t* labels,
                     size_t* count);

}  // namespace quiver::index::kernels::avx2

#endif  // QUIVER_INDEX_KERNELS_KERNELS_AVX2_H_
