// Compiled without ISA flags: says which SIMD level hnsw_runner.cc was built
// for (QUIVER_BENCH_HNSWLIB_ISA, set by tests/bench/CMakeLists.txt) and
// whether this CPU runs it, before any of that code executes.
#include <string>

#include "tests/bench/hnsw_runner.h"

#ifndef QUIVER_BENCH_HNSWLIB_ISA
#define QUIVER_BENCH_HNSWLIB_ISA "generic"
#endif

namespace quiver::bench {

std::string HnswIsa() { return QUIVER_BENCH_HNSWLIB_ISA; }

bool HnswIsaSupported() {
  const std::string isa = HnswIsa();
  __builtin_cpu_init();
  if (isa == "avx512") {
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  if (isa == "avx2") {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  return true;
}

}  // namespace quiver::bench
