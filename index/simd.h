// The SIMD level Quiver's index kernels run with, for logs, metrics and
// benchmarks.
//
//   QUIVER_LOG(INFO) << "kernels: " << quiver::index::SimdLevelName();
//
// The level is chosen once per process: the best of scalar, avx2, avx512 the
// CPU supports, or lower if the environment variable QUIVER_SIMD says so
// (QUIVER_SIMD=scalar|avx2|avx512; a level the CPU lacks is ignored).
//
// Thread safety: safe to call from any thread.
#ifndef QUIVER_INDEX_SIMD_H_
#define QUIVER_INDEX_SIMD_H_

#include <string_view>

namespace quiver::index {

// "scalar", "avx2" or "avx512".
std::string_view SimdLevelName();

}  // namespace quiver::index

#endif  // QUIVER_INDEX_SIMD_H_
