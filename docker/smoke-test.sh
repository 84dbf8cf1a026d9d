#!/usr/bin/env bash
# Builds Quiver's image and checks it end to end with a real container engine
# (Docker, or podman): start the server on a fresh volume, create a
# collection, ingest SIFT-small with the image's own `quiver` tool, search,
# check recall@10 >= 0.9 with `quiver bench`, restart the container and check
# that the data survived, then stop it and clean up.
#
#   docker/smoke-test.sh                       # uses `docker`
#   ENGINE=podman docker/smoke-test.sh
#
# Environment:
#   ENGINE       docker | podman (default: docker if its daemon answers, else podman)
#   BUILD_ARGS   extra `build` arguments (e.g. "--pull=never --network host --format docker")
#   IMAGE        image tag to build and test (default quiver:smoke)
#   SKIP_BUILD   1 = test an existing IMAGE
#   DATA         SIFT-small folder (default ../shared/data/siftsmall)
#   PORT         loopback port for the server (default 15051; host networking)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${ENGINE:-}" ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then ENGINE=docker
  elif command -v podman >/dev/null; then ENGINE=podman
  else echo "smoke-test: no container engine (docker daemon or podman)" >&2; exit 2; fi
fi
IMAGE=${IMAGE:-quiver:smoke}
PORT=${PORT:-15051}
DATA=$(readlink -f "${DATA:-../shared/data/siftsmall}")
NAME=quiver-smoke-$$
VOL=quiver-smoke-data-$$
ADDR=127.0.0.1:$PORT
log() { printf '[smoke %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

[ -f "$DATA/siftsmall_base.fvecs" ] || { log "SKIP: no SIFT-small at $DATA"; exit 0; }

cleanup() {
  $ENGINE logs "$NAME" 2>&1 | tail -20 | sed 's/^/[quiverd] /' >&2 || true
  $ENGINE rm -f "$NAME" >/dev/null 2>&1 || true
  $ENGINE volume rm -f "$VOL" >/dev/null 2>&1 || true
}
trap cleanup EXIT

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "$ENGINE build -f docker/Dockerfile -t $IMAGE ."
  start=$SECONDS
  # shellcheck disable=SC2086
  $ENGINE build ${BUILD_ARGS:-} -f docker/Dockerfile -t "$IMAGE" .
  log "image built in $((SECONDS - start)) s"
fi
log "image size: $($ENGINE image inspect --format '{{.Size}}' "$IMAGE") bytes"

# The `quiver` tool from the image, on the host network, with the data set.
q() {
  $ENGINE run --rm --network host -v "$DATA:/dataset:ro" --entrypoint quiver "$IMAGE" \
    --server="$ADDR" --timeout=60s "$@"
}
wait_healthy() {
  for _ in $(seq 150); do
    if q health >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  fail "server not healthy on $ADDR"
}

$ENGINE volume create "$VOL" >/dev/null
log "starting $NAME on $ADDR (volume $VOL)"
$ENGINE run -d --name "$NAME" --network host -v "$VOL:/data" "$IMAGE" \
  --listen="$ADDR" >/dev/null
wait_healthy

q collections create --name sift --dimension 128 --metric l2
q ingest --collection sift --state /tmp/ingest-state /dataset/siftsmall_base.fvecs
q collections describe --name sift --wait --wait_timeout=5m
q search --collection sift --queries /dataset/siftsmall_query.fvecs --limit 2 -k 5

bench() {
  $ENGINE run --rm --network host -v "$DATA:/dataset:ro" --entrypoint bash "$IMAGE" -c \
    "quiver --server=$ADDR bench --collection sift --queries /dataset/siftsmall_query.fvecs \
       --groundtruth /dataset/siftsmall_groundtruth.ivecs -k 10 --nprobe 8,16 \
       --csv /tmp/bench.csv >&2 && cat /tmp/bench.csv"
}
check_recall() {
  # CSV: nprobe,rerank,concurrency,recall_at_1,recall_at_10,...
  awk -F, 'NR > 1 && $5 > best { best = $5 } END { print best + 0 }' <<<"$1"
}
csv=$(bench)
r=$(check_recall "$csv")
log "recall@10 = $r"
awk -v r="$r" 'BEGIN { exit !(r >= 0.9) }' || fail "recall@10 $r < 0.9"

log "restarting $NAME"
$ENGINE restart -t 20 "$NAME" >/dev/null
wait_healthy
count=$(q collections describe --name sift --json | tr ',' '\n' | grep '"count"' | tr -dc '0-9')
[ "$count" = 10000 ] || fail "after restart the collection holds '$count' documents, not 10000"
csv=$(bench)
r2=$(check_recall "$csv")
log "after restart: count $count, recall@10 = $r2"
awk -v r="$r2" 'BEGIN { exit !(r >= 0.9) }' || fail "recall@10 after restart $r2 < 0.9"

log "stopping $NAME"
$ENGINE stop -t 20 "$NAME" >/dev/null
log "PASS"
