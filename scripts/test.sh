#!/usr/bin/env bash
# The README's test command: installs dependencies (Debian packages), configures,
# builds and runs every test through ctest.
#
# Environment:
#   QUIVER_BUILD_DIR   build directory (default: build, or build-<sanitizer>)
#   QUIVER_SANITIZE    '' (default), 'address,undefined' or 'thread'; a
#                      sanitized build leaves the benchmarks out (their
#                      smoke test runs in the plain build)
#   QUIVER_CTEST_ARGS  extra ctest arguments (e.g. "-L concurrency")
#   QUIVER_BUILD_TARGETS  build only these targets (default: all), e.g.
#                      quiver_e2e_concurrency_tests (tests/CMakeLists.txt)
#   QUIVER_JOBS        parallel build/test jobs (default: nproc)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

SAN="${QUIVER_SANITIZE:-}"
if [ -n "$SAN" ]; then
  DEFAULT_DIR="build-$(echo "$SAN" | tr ',' '-')"
  BUILD_TYPE=RelWithDebInfo
  BENCH=OFF
else
  DEFAULT_DIR=build
  BUILD_TYPE=Release
  BENCH=ON
fi
BUILD_DIR="${QUIVER_BUILD_DIR:-$DEFAULT_DIR}"
JOBS="${QUIVER_JOBS:-$(nproc)}"

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" \
  -DQUIVER_SANITIZE="$SAN" -DQUIVER_BUILD_BENCH="$BENCH"
# shellcheck disable=SC2086
cmake --build "$BUILD_DIR" -j "$JOBS" ${QUIVER_BUILD_TARGETS:+--target $QUIVER_BUILD_TARGETS}

export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
if [ -n "$SAN" ]; then
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  export TSAN_OPTIONS="${TSAN_OPTIONS:-ignore_noninstrumented_modules=1 halt_on_error=1 suppressions=$PWD/tests/tsan.supp}"
  export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp}"
fi
# shellcheck disable=SC2086
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" ${QUIVER_CTEST_ARGS:-}
