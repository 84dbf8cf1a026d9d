#include "tests/bench/env_info.h"

#include <dlfcn.h>
#include <omp.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

#if __has_include("index/simd.h")
#include "index/simd.h"
#define QUIVER_BENCH_HAVE_SIMD_H 1
#endif

namespace quiver::bench {
namespace {

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "model name")) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        return std::string(absl::StripLeadingAsciiWhitespace(
            absl::string_view(line).substr(colon + 1)));
      }
    }
  }
  return "unknown";
}

std::string CpuFlags() {
  std::string s;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2")) s += " sse4.2";
  if (__builtin_cpu_supports("avx")) s += " avx";
  if (__builtin_cpu_supports("avx2")) s += " avx2";
  if (__builtin_cpu_supports("fma")) s += " fma";
  if (__builtin_cpu_supports("avx512f")) s += " avx512f";
  if (__builtin_cpu_supports("avx512bw")) s += " avx512bw";
  return s.empty() ? " (none of sse4.2/avx/avx2/fma/avx512)" : s;
}

const char* EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

}  // namespace

bool IsOptimizedBuild() {
#if defined(NDEBUG) && !defined(QUIVER_SANITIZER_BUILD)
  return true;
#else
  return false;
#endif
}

std::string QuiverSimdLevel() {
#ifdef QUIVER_BENCH_HAVE_SIMD_H
  return std::string(::quiver::index::SimdLevelName());
#else
  return "unknown (index/simd.h not present)";
#endif
}

std::string BlasDescription() {
  void* sym = dlsym(RTLD_DEFAULT, "sgemm_");
  std::string where = "sgemm_ not found";
  Dl_info info;
  if (sym != nullptr && dladdr(sym, &info) != 0 && info.dli_fname != nullptr) {
    where = info.dli_fname;
    char* real = realpath(info.dli_fname, nullptr);
    if (real != nullptr) {
      if (where != real) absl::StrAppend(&where, " -> ", real);
      std::free(real);
    }
  }
  using ConfigFn = char* (*)();
  auto config =
      reinterpret_cast<ConfigFn>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  if (config != nullptr) absl::StrAppend(&where, " [", config(), "]");
  using ThreadsFn = int (*)();
  auto threads = reinterpret_cast<ThreadsFn>(
      dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (threads != nullptr) absl::StrAppend(&where, " threads=", threads());
  return where;
}

void SetComputeThreads(int n) {
  if (n < 1) n = 1;
  omp_set_num_threads(n);
  using SetFn = void (*)(int);
  auto set =
      reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (set != nullptr) set(n);
}

void PrintEnvironment(std::FILE* out, const std::string& faiss_flavour,
                      int train_threads, int search_threads) {
  std::fprintf(out, "CPU:           %s;%s; %u hardware threads\n",
               CpuModel().c_str(), CpuFlags().c_str(),
               std::thread::hardware_concurrency());
  std::fprintf(out, "Quiver kernel: %s\n", QuiverSimdLevel().c_str());
  std::fprintf(out, "FAISS:         %s\n", faiss_flavour.c_str());
  std::fprintf(out, "BLAS:          %s\n", BlasDescription().c_str());
  std::fprintf(out,
               "Threads:       train %d, search %d (%s); OMP_NUM_THREADS=%s "
               "OPENBLAS_NUM_THREADS=%s\n",
               train_threads, search_threads,
               search_threads <= 1 ? "one query at a time" : "batched",
               EnvOr("OMP_NUM_THREADS", "unset"),
               EnvOr("OPENBLAS_NUM_THREADS", "unset"));
  std::fprintf(out, "Build:         %s, %s%s\n",
#ifdef NDEBUG
               "NDEBUG",
#else
               "assertions ON (debug)",
#endif
#ifdef QUIVER_SANITIZER_BUILD
               "sanitizers ON",
#else
               "no sanitizers",
#endif
               absl::StrCat(", g++ ", __VERSION__).c_str());
  if (!IsOptimizedBuild()) {
    std::fprintf(out,
                 "WARNING: this is not an optimized Release build (debug or "
                 "sanitizer); timings are NOT meaningful.\n");
  }
}

}  // namespace quiver::bench
