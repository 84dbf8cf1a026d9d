#!/usr/bin/env bash
# Runs the standard Quiver-vs-FAISS comparisons (tests/bench/ann_bench) and
# writes one CSV + log per data set and FAISS flavour under a results folder.
#
# Usage: scripts/bench.sh [--build DIR] [--results DIR] [--data DIR]
#                         [--synthetic-dir DIR] [--no-1m] [--only-1m]
#   --build          build folder with ann_bench (default build-bench; it is
#                    configured and the bench targets are built if needed)
#   --results        where CSVs and logs go (default /tmp/bench-results)
#   --data           the shared real data sets (default ../shared/data)
#   --synthetic-dir  where the 1M x 96 synthetic set is generated once
#                    (default /tmp/quiver-synth-1m, ~400 MB)
#   --no-1m / --only-1m  skip / run only the 1M synthetic comparison
# Env: QUIVER_FAISS_AVX2_DIR (default third_party/faiss-avx2): when it holds
# a built libfaiss_avx2.a, ann_bench_avx2 runs too. NICE (default 10).
# TRAIN_THREADS (default 1: with --clock cpu, ann_bench's default, training
# is then timed in process CPU time, robust on a shared machine; on an idle
# machine use all cores and add --clock wall via EXTRA_ARGS). EXTRA_ARGS are
# passed to every ann_bench run.
# Everything runs Release; the real data sets take about a minute each, the
# 1M synthetic set several minutes per FAISS flavour (training nlist 4096).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${REPO}/build-bench"
RESULTS=/tmp/bench-results
DATA="${REPO}/../shared/data"
SYNTH=/tmp/quiver-synth-1m
RUN_SMALL=1
RUN_1M=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD="$2"; shift 2 ;;
    --results) RESULTS="$2"; shift 2 ;;
    --data) DATA="$2"; shift 2 ;;
    --synthetic-dir) SYNTH="$2"; shift 2 ;;
    --no-1m) RUN_1M=0; shift ;;
    --only-1m) RUN_SMALL=0; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
AVX2_DIR="${QUIVER_FAISS_AVX2_DIR:-${REPO}/third_party/faiss-avx2}"
NICE="${NICE:-10}"
TRAIN_THREADS="${TRAIN_THREADS:-1}"
read -r -a extra <<<"${EXTRA_ARGS:-}"
mkdir -p "${RESULTS}"

targets=(ann_bench gen_synthetic)
cmake_args=(-S "${REPO}" -B "${BUILD}" -G Ninja -DCMAKE_BUILD_TYPE=Release -DQUIVER_BUILD_BENCH=ON)
if [ -f "${AVX2_DIR}/lib/libfaiss_avx2.a" ]; then
  cmake_args+=(-DQUIVER_FAISS_AVX2_DIR="${AVX2_DIR}")
  targets+=(ann_bench_avx2)
else
  echo "bench.sh: no ${AVX2_DIR}/lib/libfaiss_avx2.a (scripts/build-faiss-avx2.sh); generic FAISS only"
fi
cmake "${cmake_args[@]}" >/dev/null
nice -n "${NICE}" cmake --build "${BUILD}" -j2 --target "${targets[@]}"

flavours=(generic)
[ -x "${BUILD}/tests/bench/ann_bench_avx2" ] && flavours+=(avx2)
bin_of() { if [ "$1" = avx2 ]; then echo "${BUILD}/tests/bench/ann_bench_avx2"; else echo "${BUILD}/tests/bench/ann_bench"; fi; }

run() {  # run NAME FLAVOUR ARGS...
  local name="$1" flavour="$2"; shift 2
  local out="${RESULTS}/${name}-${flavour}"
  echo "== ${name} (${flavour} FAISS) -> ${out}.csv"
  nice -n "${NICE}" "$(bin_of "${flavour}")" "$@" --train_threads "${TRAIN_THREADS}" \
    "${extra[@]}" --csv "${out}.csv" | tee "${out}.log"
}

if [ "${RUN_SMALL}" = 1 ]; then
  for f in "${flavours[@]}"; do
    if [ -d "${DATA}/siftsmall" ]; then
      run siftsmall "$f" --base "${DATA}/siftsmall/siftsmall_base.fvecs" \
        --query "${DATA}/siftsmall/siftsmall_query.fvecs" \
        --groundtruth "${DATA}/siftsmall/siftsmall_groundtruth.ivecs" --metric l2
    fi
    if [ -d "${DATA}/sift20k" ]; then
      run sift20k "$f" --base "${DATA}/sift20k/sift20k_base.fvecs" \
        --query "${DATA}/sift20k/sift20k_query.fvecs" \
        --groundtruth "${DATA}/sift20k/sift20k_groundtruth.ivecs" --metric l2
    fi
    if [ -d "${DATA}/glove-50-angular-9k" ]; then
      run glove-50-angular-9k "$f" --base "${DATA}/glove-50-angular-9k/base.fvecs" \
        --query "${DATA}/glove-50-angular-9k/query.fvecs" \
        --groundtruth "${DATA}/glove-50-angular-9k/groundtruth.ivecs" --metric cosine
    fi
    if [ -d "${DATA}/sift20k" ]; then
      run kmeans-sift20k "$f" --kmeans --base "${DATA}/sift20k/sift20k_base.fvecs" --k 256 --niter 20
    fi
  done
fi

if [ "${RUN_1M}" = 1 ]; then
  if [ ! -f "${SYNTH}/groundtruth.ivecs" ]; then
    nice -n "${NICE}" "${BUILD}/tests/bench/gen_synthetic" --n 1000000 --dim 96 \
      --clusters 1000 --seed 1 --queries 1000 --out "${SYNTH}"
  fi
  common=(--base "${SYNTH}/base.fvecs" --query "${SYNTH}/query.fvecs"
    --groundtruth "${SYNTH}/groundtruth.ivecs" --metric l2 --nlist 4096
    --nprobe 1,2,4,8,16,32,64)
  for f in "${flavours[@]}"; do
    run synth1m-pq96x4fs "$f" "${common[@]}" --nbits 4 --m 96 --rerank 4
    run synth1m-pq48x8 "$f" "${common[@]}" --nbits 8 --m 48 --rerank 4
  done
fi
echo "bench.sh: results in ${RESULTS}"
