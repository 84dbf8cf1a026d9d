#!/usr/bin/env bash
# Ingest benchmark through the front door (not a test: nothing is asserted):
# quiverd at its defaults on a temporary data directory, fed by
# `quiver ingest` from .fvecs files of the project's synthetic generator.
#  1. N vectors into a new collection created with defaults (it trains
#     itself while the load runs);
#  2. an explicit training of those N, then M = N/4 more vectors into the
#     trained collection: batched encoding, the RocksDB write, the in-memory
#     update. 1.25x growth crosses the 1.15x that starts a new measurement
#     of the defaults, which runs beside the load at nice 10 (sustained
#     ingest pays for it too); M below 0.15 N measures ingest alone;
#  3. after another explicit training, M more with --parallel 2 (two
#     Upsert streams).
# Prints vectors per second of each phase (wall time of the CLI), and the CPU
# seconds quiverd and the client used: the client runs on the same machine
# and shares its cores with quiverd.
# Usage: scripts/bench-ingest.sh [BUILD_DIR] (default build). Environment:
# N (default 300000), M (default N/4), DIM (default 96), PERF=1 records
# quiverd with perf during phase PERF_PHASE (2 or 3, default 2; perf.data in
# the repository root; PERF_OPTS replaces its -g, e.g. "--call-graph dwarf").
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=$(readlink -f "${1:-build}")
N=${N:-300000}
M=${M:-$((N / 4))}
DIM=${DIM:-96}
QUIVERD=$BUILD/server/quiverd
CLI=$BUILD/client/quiver
GEN=$BUILD/tests/bench/gen_synthetic
for b in "$QUIVERD" "$CLI" "$GEN"; do
  [ -x "$b" ] || { echo "bench-ingest: $b not built" >&2; exit 1; }
done
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
log() { printf '[bench-ingest %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

log "generating $((N + 2 * M)) x $DIM"
"$GEN" --n $((N + 2 * M)) --dim "$DIM" --clusters 300 --queries 1 --gt_k 1 \
  --out "$work/data" >/dev/null 2>&1
base=$(ls "$work"/data/*base.fvecs)
row=$((4 + 4 * DIM))
rows() { dd if="$base" of="$work/$1.fvecs" bs=$row skip="$2" count="$3" status=none; }
rows a 0 "$N"
rows b "$N" "$M"
rows c $((N + M)) "$M"

"$QUIVERD" --data_dir="$work/db" --listen=127.0.0.1:0 --port_file="$work/port" \
  >"$work/quiverd.log" 2>&1 &
pid=$!
for _ in $(seq 300); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { cat "$work/quiverd.log" >&2; exit 1; }
q() { "$CLI" --server="127.0.0.1:$(cat "$work/port")" "$@"; }
ingest() {  # ingest LABEL FILE PREFIX [FLAGS...]: prints the rate
  local label=$1 file=$2 prefix=$3 t0 t1 rows
  shift 3
  rows=$(($(stat -c %s "$file") / row))
  s0=$(cpu)
  t0=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$work/time" "$CLI" --server="127.0.0.1:$(cat "$work/port")" \
    ingest --collection c "$file" --id_prefix "$prefix" --progress none \
    --state "$work/$prefix.state" "$@" >/dev/null
  t1=$(date +%s.%N)
  s1=$(cpu)
  awk -v a="$t0" -v b="$t1" -v n="$rows" -v l="$label" -v s0="$s0" -v s1="$s1" \
    -v c="$(awk '{ print $1 + $2 }' "$work/time")" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { s = (s1 - s0) / hz;
             printf "%-44s %7d vectors in %6.2f s: %7.0f vectors/s; quiverd %5.2f CPU s (%7.0f vectors per CPU s), client %5.2f CPU s\n",
                    l, n, b - a, n / (b - a), s, n / s, c }'
}
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }  # quiverd's CPU ticks
idle() {  # until no training (and its tuning) runs
  q collections describe --name c --wait >/dev/null
  for _ in $(seq 600); do
    q collections describe --name c --json | grep -q '"TRAINING"' || return 0
    sleep 0.5
  done
}

q collections create --name c --dimension "$DIM" --metric l2 >/dev/null
ingest "1. new collection, defaults (trains itself)" "$work/a.fvecs" a
idle
q collections train --name c --wait >/dev/null
idle
perf_start() {  # perf_start PHASE
  if [ "${PERF:-0}" = 1 ] && [ "${PERF_PHASE:-2}" = "$1" ]; then
    perf record -F 999 ${PERF_OPTS:--g} -p "$pid" -o perf.data >/dev/null 2>&1 &
    perf_pid=$!
  fi
}
perf_stop() {
  if [ -n "${perf_pid:-}" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
  perf_pid=
}
perf_start 2
ingest "2. into the trained collection, 1 stream" "$work/b.fvecs" b
perf_stop
idle
q collections train --name c --wait >/dev/null
idle
perf_start 3
ingest "3. into the trained collection, 2 streams" "$work/c.fvecs" x --parallel 2
perf_stop
q collections describe --name c | sed 's/^/  /'
grep -E "trained nlist|automatic training|reaches recall|defaults" "$work/quiverd.log" | sed 's/^/  /' || true
