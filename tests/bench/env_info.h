// What a benchmark result depends on, printed before the numbers: CPU model
// and SIMD support, the Quiver kernel level in use, the FAISS build flavour,
// the BLAS library actually loaded, thread counts, and the build type (with
// a loud warning for debug or sanitizer builds, whose timings mean nothing).
//
// Thread safety: PrintEnvironment() and SetComputeThreads() touch process
// globals (OpenMP / OpenBLAS thread counts); call them from the main thread.
#ifndef QUIVER_TESTS_BENCH_ENV_INFO_H_
#define QUIVER_TESTS_BENCH_ENV_INFO_H_

#include <cstdio>
#include <string>

namespace quiver::bench {

// True for a Release-like build (NDEBUG defined, no sanitizers).
bool IsOptimizedBuild();

// The Quiver SIMD kernel level (index/simd.h), or "unknown".
std::string QuiverSimdLevel();

// Path of the shared library that provides sgemm_ (the BLAS in use), and
// OpenBLAS's own configuration string when it is OpenBLAS.
std::string BlasDescription();

// Sets OpenMP's and OpenBLAS's thread counts (FAISS and Quiver's training
// use both) to n >= 1.
void SetComputeThreads(int n);

// Prints the environment block; `faiss_flavour` e.g. "generic (Debian ...)".
void PrintEnvironment(std::FILE* out, const std::string& faiss_flavour,
                      int train_threads, int search_threads);

}  // namespace quiver::bench

#endif  // QUIVER_TESTS_BENCH_ENV_INFO_H_
