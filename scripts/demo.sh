#!/usr/bin/env bash
# The README's "run it" command: installs dependencies, builds Quiver, starts
# quiverd on its embedded default (a local data directory, ./quiver-data),
# loads a real data set through the `quiver` tool, waits for the index to
# train, and benchmarks recall and QPS through the server.
#
# Data: SIFT-small from ../shared/data/siftsmall when present (or
# $QUIVER_DEMO_DATA pointing at a folder with *base.fvecs, *query.fvecs and
# *groundtruth.ivecs); otherwise a seeded synthetic set is generated.
#
# QUIVER_DEMO_KEEP_SERVER=1 leaves quiverd running at the end (to try the
# Python client or grpcurl against it); stop it with `kill <pid>` (printed).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash scripts/setup.sh
BUILD_DIR="${QUIVER_BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target quiverd quiver gen_synthetic

QUIVERD="$BUILD_DIR/server/quiverd"
QUIVER="$BUILD_DIR/client/quiver"
DATA_DIR="${QUIVER_DATA_DIR:-$ROOT/quiver-data}"
PORT="${QUIVER_DEMO_PORT:-50051}"
ADDR="127.0.0.1:$PORT"

DATA="${QUIVER_DEMO_DATA:-$ROOT/../shared/data/siftsmall}"
if ! ls "$DATA"/*base.fvecs >/dev/null 2>&1; then
  DATA="$BUILD_DIR/demo-synthetic"
  echo "demo: ../shared/data/siftsmall not found; generating a synthetic set in $DATA"
  "$BUILD_DIR/tests/bench/gen_synthetic" --n 20000 --dim 64 --clusters 50 --seed 1 \
    --queries 200 --out "$DATA"
fi
BASE=$(ls "$DATA"/*base.fvecs | head -1)
QUERY=$(ls "$DATA"/*query.fvecs | head -1)
GT=$(ls "$DATA"/*groundtruth.ivecs | head -1)

echo "demo: starting quiverd on $ADDR with data in $DATA_DIR"
"$QUIVERD" --listen="$ADDR" --data_dir="$DATA_DIR" &
SERVER=$!
if [ "${QUIVER_DEMO_KEEP_SERVER:-0}" != 1 ]; then
  trap 'kill -TERM $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
fi
for _ in $(seq 100); do
  "$QUIVER" --server="$ADDR" health >/dev/null 2>&1 && break
  sleep 0.1
done
"$QUIVER" --server="$ADDR" health

COLL=demo
"$QUIVER" --server="$ADDR" collections drop --name "$COLL" >/dev/null 2>&1 || true
"$QUIVER" --server="$ADDR" collections create --name "$COLL" --dimension \
  "$(od -An -t d4 -N4 "$BASE" | tr -d ' ')" --metric l2
"$QUIVER" --server="$ADDR" ingest --collection "$COLL" --state "$BUILD_DIR/demo.ingest-state" "$BASE"
"$QUIVER" --server="$ADDR" collections describe --name "$COLL" --wait
"$QUIVER" --server="$ADDR" bench --collection "$COLL" --queries "$QUERY" \
  --groundtruth "$GT" -k 10 --nprobe 0,1,2,4,8,16,32 --csv "$BUILD_DIR/demo-bench.csv" \
  --plot "$BUILD_DIR/demo-bench.svg"
echo "demo: results in $BUILD_DIR/demo-bench.csv and $BUILD_DIR/demo-bench.svg"
"$QUIVER" --server="$ADDR" search --collection "$COLL" --queries "$QUERY" -k 5 --limit 3 || true
if [ "${QUIVER_DEMO_KEEP_SERVER:-0}" = 1 ]; then
  echo "demo: quiverd keeps running on $ADDR (pid $SERVER); stop it with: kill $SERVER"
fi
