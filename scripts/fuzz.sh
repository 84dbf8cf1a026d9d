#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, -fsanitize=fuzzer,
# address,undefined; the libraries under test with fuzzer-no-link) in
# build-fuzz and runs each for a bounded time, starting from a copy of its
# seed corpus tests/fuzz/corpus/<target>/ in a temporary directory (the
# repository is never written). Exits non-zero when a target crashes, fails
# a check, leaks, hangs (-timeout) or runs out of memory (-rss_limit_mb),
# printing the reproducer, which is kept under $BUILD_DIR/fuzz-artifacts/.
#
# Reproduce:  build-fuzz/tests/fuzz/<target> <reproducer>
# Longer run: QUIVER_FUZZ_SECONDS=600 QUIVER_FUZZ_TARGETS=fuzz_records \
#               bash scripts/fuzz.sh
#
# Environment:
#   QUIVER_FUZZ_SECONDS  seconds per target (default 30; -max_total_time)
#   QUIVER_FUZZ_TARGETS  targets to run (default: all, see below)
#   QUIVER_FUZZ_MAX_LEN  largest input in bytes (default 16384)
#   QUIVER_BUILD_DIR     build directory (default: build-fuzz)
#   QUIVER_JOBS          parallel build jobs (default: nproc)
#   CC, CXX              the compilers (default: clang, clang++)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

BUILD_DIR="${QUIVER_BUILD_DIR:-build-fuzz}"
JOBS="${QUIVER_JOBS:-$(nproc)}"
SECONDS_PER_TARGET="${QUIVER_FUZZ_SECONDS:-30}"
MAX_LEN="${QUIVER_FUZZ_MAX_LEN:-16384}"
TARGETS="${QUIVER_FUZZ_TARGETS:-fuzz_records fuzz_index_blob fuzz_client_readers fuzz_request_validation}"
CC="${CC:-clang}"
CXX="${CXX:-clang++}"

# libFuzzer ships in Debian's libclang-rt-<version>-dev (scripts/setup.sh).
fuzzer_lib="$("$CXX" -print-file-name=libclang_rt.fuzzer-x86_64.a)"
if [ ! -f "$fuzzer_lib" ]; then
  fuzzer_lib="$("$CXX" -print-runtime-dir 2>/dev/null)/libclang_rt.fuzzer-x86_64.a"
fi
if [ ! -f "$fuzzer_lib" ]; then
  echo "fuzz: $CXX has no libFuzzer runtime (install libclang-rt-dev)" >&2
  exit 2
fi

# -O1 and line tables only: what fuzzing wants (fast enough, symbolized
# reports) at a fraction of -O2 -g's compile time. No NDEBUG, so that
# QUIVER_DCHECKs are checked too.
CC="$CC" CXX="$CXX" cmake -S . -B "$BUILD_DIR" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DQUIVER_FUZZ=ON -DQUIVER_BUILD_TESTS=ON -DQUIVER_BUILD_BENCH=OFF \
  -DQUIVER_SANITIZE= >/dev/null
# shellcheck disable=SC2086
cmake --build "$BUILD_DIR" -j "$JOBS" --target $TARGETS

work="$(mktemp -d "${TMPDIR:-/tmp}/quiver-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
keep="$PWD/$BUILD_DIR/fuzz-artifacts"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# BLAS and OpenMP threads would only add noise (and leak reports) here.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

failed=()
summary=()
for target in $TARGETS; do
  bin="$BUILD_DIR/tests/fuzz/$target"
  seeds="tests/fuzz/corpus/$target"
  corpus="$work/corpus/$target"
  artifacts="$work/artifacts/$target"
  mkdir -p "$corpus" "$artifacts"
  if [ -d "$seeds" ]; then cp -R "$seeds/." "$corpus/"; fi
  log="$work/$target.log"
  echo "fuzz: $target for ${SECONDS_PER_TARGET} s ($(find "$corpus" -type f | wc -l) seeds)"
  rc=0
  # TMPDIR: fuzz_client_readers writes its input file there.
  TMPDIR="$work" "$bin" -max_total_time="$SECONDS_PER_TARGET" \
    -timeout=10 -rss_limit_mb=2048 -max_len="$MAX_LEN" \
    -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$corpus" >"$log" 2>&1 || rc=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)"
  summary+=("$(printf '%-26s %10s runs %7s exec/s  cov %6s  corpus %5s  rc %d' \
    "$target" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
    "$(find "$corpus" -type f | wc -l)" "$rc")")
  if [ "$rc" -ne 0 ]; then
    failed+=("$target")
    echo "fuzz: $target FAILED (exit $rc); the end of its log:"
    tail -n 60 "$log"
    mkdir -p "$keep"
    for f in "$artifacts"/*; do
      [ -f "$f" ] || continue
      cp "$f" "$keep/"
      echo "fuzz: reproducer: $keep/$(basename "$f")"
      echo "fuzz:   run it: $bin $keep/$(basename "$f")"
    done
  fi
done

echo "fuzz: summary (${SECONDS_PER_TARGET} s per target)"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all targets ran without a finding"
