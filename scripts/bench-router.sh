#!/usr/bin/env bash
# Router benchmark (not a test: nothing is asserted), on one machine, over
# SIFT-small, with the quiver CLI's bench (one query per request, client
# round trips):
#  1. overhead: the same collection on one quiverd, queried directly and
#     through quiver-router over that one node (a collection created on a
#     node directly is a one-shard collection to the router): p50/p99
#     latency at concurrency 1, and the difference;
#  2. scale-out: QPS and recall@10 with 1, 2 and 3 shards (a router over 1,
#     2, 3 nodes; the collection created through it, one shard per node),
#     and the wall time of `quiver ingest` of SIFT-small (direct, 2, 3).
# Usage: scripts/bench-router.sh [BUILD_DIR] (default build). Environment:
# DATA (SIFT-small folder, default ../shared/data/siftsmall), REPEAT (passes
# over the 100 queries per setting, default 20), CONCURRENCY (default 1,4),
# NPROBE (default 0,4,16; 0 = the collection's own default).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=$(readlink -f "${1:-build}")
DATA=$(readlink -f "${DATA:-../shared/data/siftsmall}")
REPEAT=${REPEAT:-20}
CONCURRENCY=${CONCURRENCY:-1,4}
NPROBE=${NPROBE:-0,4,16}
QUIVERD=$BUILD/server/quiverd
ROUTER=$BUILD/server/router/quiver-router
CLI=$BUILD/client/quiver
for b in "$QUIVERD" "$ROUTER" "$CLI"; do
  [ -x "$b" ] || { echo "bench-router: $b not built" >&2; exit 1; }
done
[ -f "$DATA/siftsmall_base.fvecs" ] || { echo "bench-router: no SIFT-small at $DATA" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
log() { printf '[bench-router %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# start NAME BINARY ARGS...: on a free port; prints the port.
start() {
  local name=$1; shift
  "$@" --listen=127.0.0.1:0 --port_file="$work/$name.port" >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do
    [ -s "$work/$name.port" ] && { cat "$work/$name.port"; return; }
    sleep 0.1
  done
  echo "bench-router: $name did not start" >&2; cat "$work/$name.log" >&2; exit 1
}
node() { start "node$1" "$QUIVERD" --data_dir="$work/node$1"; }
router() { local name=$1; shift; start "$name" "$ROUTER" --shards="$(IFS=,; echo "$*")"; }
q() { local port=$1; shift; "$CLI" --server="127.0.0.1:$port" "$@"; }
bench() {  # bench PORT COLLECTION LABEL
  q "$1" bench --collection "$2" --queries "$DATA/siftsmall_query.fvecs" \
    --groundtruth "$DATA/siftsmall_groundtruth.ivecs" -k 10 --nprobe "$NPROBE" \
    --concurrency "$CONCURRENCY" --repeat "$REPEAT" --csv "$work/$3.csv" >/dev/null
  sed 1d "$work/$3.csv" | sed "s/^/$3,/"
}
load() {  # load PORT COLLECTION LABEL: prints the ingest's wall time
  q "$1" collections create --name "$2" --dimension 128 --metric l2 >/dev/null
  local t0 t1
  t0=$(date +%s.%N)
  q "$1" ingest --collection "$2" "$DATA/siftsmall_base.fvecs" >/dev/null
  t1=$(date +%s.%N)
  q "$1" collections describe --name "$2" --wait >/dev/null
  awk -v a="$t0" -v b="$t1" -v l="$3" 'BEGIN { printf "ingest %s: %.2f s\n", l, b - a }' >>"$work/ingest.txt"
}

p0=$(node 0); p1=$(node 1); p2=$(node 2)
log "nodes on $p0 $p1 $p2"
load "$p0" one direct
r1=$(router r1 "127.0.0.1:$p0")
r2=$(router r2 "127.0.0.1:$p1" "127.0.0.1:$p2")
r3=$(router r3 "127.0.0.1:$p0" "127.0.0.1:$p1" "127.0.0.1:$p2")
load "$r2" two router_2shards
load "$r3" three router_3shards
log "loaded; benchmarking (repeat $REPEAT, concurrency $CONCURRENCY, nprobe $NPROBE)"

echo "setup,nprobe,rerank,concurrency,recall_at_1,recall_at_10,qps,p50_ms,p95_ms,p99_ms"
bench "$p0" one direct
bench "$r1" one router_1shard
bench "$r2" two router_2shards
bench "$r3" three router_3shards
cat "$work/ingest.txt"
# The overhead at concurrency 1: p50 and p99 through the router minus direct.
python3 - "$work/direct.csv" "$work/router_1shard.csv" <<'PY'
import csv, sys
def rows(path):
    return {(r["nprobe"], r["concurrency"]): r for r in csv.DictReader(open(path))}
d, r = rows(sys.argv[1]), rows(sys.argv[2])
for key in sorted(d):
    if key[1] != "1" or key not in r:
        continue
    for p in ("p50_ms", "p99_ms"):
        a, b = float(d[key][p]), float(r[key][p])
        print(f"router overhead nprobe {key[0]} {p}: direct {a:.3f} ms, "
              f"router {b:.3f} ms, +{b - a:.3f} ms ({b / a:.2f}x)")
PY
