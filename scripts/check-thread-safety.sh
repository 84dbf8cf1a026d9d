#!/usr/bin/env bash
# Builds Quiver's libraries and binaries with clang and -Wthread-safety (plus
# the usual -Wall -Wextra -Werror), so that every ABSL_GUARDED_BY /
# ABSL_*LOCKS_* annotation is checked at compile time. Tests and benchmarks are
# not built (the annotated code lives in the libraries). -O0, no debug info:
# the analysis and the warnings come from clang's front end, so optimising
# would only cost time.
#
# Environment:
#   QUIVER_BUILD_DIR   build directory (default: build-clang-tsa)
#   QUIVER_JOBS        parallel build jobs (default: nproc)
#   CC, CXX            the compilers (default: clang, clang++)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

BUILD_DIR="${QUIVER_BUILD_DIR:-build-clang-tsa}"
JOBS="${QUIVER_JOBS:-$(nproc)}"

CC="${CC:-clang}" CXX="${CXX:-clang++}" \
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_FLAGS_DEBUG=-O0 -DCMAKE_CXX_FLAGS_DEBUG=-O0 \
  -DQUIVER_THREAD_SAFETY_ANALYSIS=ON \
  -DQUIVER_BUILD_TESTS=OFF -DQUIVER_BUILD_BENCH=OFF
cmake --build "$BUILD_DIR" -j "$JOBS"
echo "check-thread-safety: clang -Wthread-safety -Werror build OK ($BUILD_DIR)"
