// Run-time choice of the kernel table: once, from the CPU's features and the
// QUIVER_SIMD environment variable.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "common/log.h"
#include "index/kernels/kernels.h"
#include "index/simd.h"

namespace quiver::index {
namespace kernels {
namespace {

bool CpuHasAvx2() {
  // (clang 14 cannot test "f16c"; no kernel uses F16C instructions.)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("popcnt");
}

bool CpuHasAvx512() {
  return CpuHasAvx2() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq");
}

SimdLevel BestLevel() {
  if (CpuHasAvx512()) return SimdLevel::kAvx512;
  if (CpuHasAvx2()) return SimdLevel::kAvx2;
  return SimdLevel::kScalar;
}

SimdLevel ChooseLevel() {
  SimdLevel level = BestLevel();
  const char* env =
      std::getenv("QUIVER_SIMD");  // NOLINT(concurrency-mt-unsafe)
  if (env != nullptr && *env != '\0') {
    SimdLevel wanted = level;
    if (std::strcmp(env, "scalar") == 0 || std::strcmp(env, "ref") == 0) {
      wanted = SimdLevel::kScalar;
    } else if (std::strcmp(env, "avx2") == 0) {
      wanted = SimdLevel::kAvx2;
    } else if (std::strcmp(env, "avx512") == 0) {
      wanted = SimdLevel::kAvx512;
    } else {
      QUIVER_LOG(WARNING) << "QUIVER_SIMD='" << env
                          << "' is not one of scalar|avx2|avx512; using "
                          << SimdLevelToString(level);
    }
    if (static_cast<int>(wanted) > static_cast<int>(level)) {
      QUIVER_LOG(WARNING) << "QUIVER_SIMD=" << env
                          << " is not supported by this CPU; using "
                          << SimdLevelToString(level);
    } else {
      level = wanted;
    }
  }
  return level;
}

double Seconds() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Best-of-5 time of an 8-bit scan of 256 codes with m = 16.
double TimeAdcScan8(void (*scan)(const float*, const uint8_t*, size_t, size_t,
                                 float, float*)) {
  constexpr size_t kN = 256, kM = 16;
  static float lut[kM * 256];
  static uint8_t codes[kN * kM];
  static float out[kN];
  uint32_t state = 12345;
  for (size_t i = 0; i < kM * 256; ++i) lut[i] = static_cast<float>(i % 251);
  for (size_t i = 0; i < kN * kM; ++i) {
    state = state * 1103515245u + 12345u;
    codes[i] = static_cast<uint8_t>(state >> 24);
  }
  double best = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    const double t0 = Seconds();
    for (int k = 0; k < 20; ++k) scan(lut, codes, kN, kM, 0.0f, out);
    best = std::min(best, Seconds() - t0);
  }
  return best;
}

// The level's table, with the faster of the two bit-identical 8-bit scans.
KernelTable Tune(const KernelTable& level) {
  KernelTable t = level;
  if (level.level == SimdLevel::kScalar ||
      TimeAdcScan8(&AdcScan8Interleaved) < TimeAdcScan8(level.adc_scan8)) {
    t.adc_scan8 = &AdcScan8Interleaved;
  }
  return t;
}

}  // namespace

std::string_view SimdLevelToString(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar:
      return "scalar";
    case SimdLevel::kAvx2:
      return "avx2";
    case SimdLevel::kAvx512:
      return "avx512";
  }
  return "unknown";
}

const KernelTable* KernelsFor(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar:
      return &ScalarKernels();
    case SimdLevel::kAvx2:
      return CpuHasAvx2() ? &Avx2Kernels() : nullptr;
    case SimdLevel::kAvx512:
      return CpuHasAvx512() ? &Avx512Kernels() : nullptr;
  }
  return nullptr;
}

const KernelTable& Kernels() {
  static const KernelTable table = Tune(*KernelsFor(ChooseLevel()));
  return table;
}

}  // namespace kernels

std::string_view SimdLevelName() {
  return kernels::SimdLevelToString(kernels::Kernels().level);
}

}  // namespace quiver::index
