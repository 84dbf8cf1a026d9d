#!/usr/bin/env bash
# Runs docker/compose.cluster.yaml (quiver-router + 3 quiverd nodes) with
# podman-compose, as a user would, and checks through the router:
#  - SIFT-small ingested with the quiver CLI lands on all three shards
#    (describe: 10,000 documents, about a third on each node), recall@10 at
#    the defaults
#    >= 0.9 (quiver bench);
#  - a node killed: a search gets UNAVAILABLE naming its shard; the node
#    started again: searches answer again and every document is there.
# Environment: IMAGE (default quiver:smoke, must exist and hold
# quiver-router), DATA (SIFT-small folder, default ../shared/data/siftsmall),
# PORT (the router's host port, default 15050).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-quiver:smoke}
PORT=${PORT:-15050}
DATA=$(readlink -f "${DATA:-../shared/data/siftsmall}")
log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { log "FAIL: $*"; compose logs >&2 2>&1 | tail -40 || true; exit 1; }

[ -f "$DATA/siftsmall_base.fvecs" ] || { log "SKIP: no SIFT-small at $DATA"; exit 0; }
if ! command -v podman-compose >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman-compose >/dev/null
fi
podman image exists "$IMAGE" || fail "image $IMAGE not built (run docker/smoke-test.sh first)"

export QUIVER_IMAGE="$IMAGE" QUIVER_ROUTER_PORT="$PORT"
compose() { podman-compose -p quiver-cluster-ci -f docker/compose.cluster.yaml "$@"; }
# The quiver CLI inside the router's container, against the router.
cli() { podman exec quiver-cluster-ci_router_1 quiver --server=127.0.0.1:50050 "$@"; }

cleanup() { compose down -v >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup
log "podman-compose up -d (router on 127.0.0.1:$PORT)"
compose up -d >/dev/null 2>&1 || fail "compose up failed"
ok=
for _ in $(seq 60); do
  if cli health --timeout=2s >/dev/null 2>&1; then ok=1; break; fi
  sleep 1
done
[ -n "$ok" ] || fail "the router never became healthy"

for f in siftsmall_base.fvecs siftsmall_query.fvecs siftsmall_groundtruth.ivecs; do
  podman cp "$DATA/$f" "quiver-cluster-ci_router_1:/tmp/$f"
done
# The nodes may still be starting: the first create is retried.
for _ in $(seq 30); do
  cli collections create --name sift --dimension 128 --metric l2 --if_not_exists \
    >/dev/null 2>&1 && break
  sleep 1
done
cli ingest --collection sift /tmp/siftsmall_base.fvecs >/dev/null || fail "ingest failed"
info=$(cli collections describe --name sift --wait --json) || fail "describe failed"
grep -Eq '"count": *"?10000' <<<"$info" || fail "not 10000 documents: $info"
# Each node holds one shard: about a third of the documents.
for n in 0 1 2; do
  c=$(podman exec "quiver-cluster-ci_quiver-${n}_1" quiver collections describe \
    --name sift --json | grep -Eo '"count": *"?[0-9]+' | grep -Eo '[0-9]+$')
  if [ "${c:-0}" -le 2500 ] || [ "$c" -ge 4200 ]; then
    fail "node $n holds ${c:-no} documents"
  fi
  log "node quiver-$n holds $c documents"
done
log "ingested SIFT-small: 10000 documents over 3 shards"
out=$(cli bench --collection sift --queries /tmp/siftsmall_query.fvecs \
  --groundtruth /tmp/siftsmall_groundtruth.ivecs -k 10 --nprobe 0 \
  --csv /tmp/cluster.csv 2>&1) || fail "bench failed: $out"
r=$(podman exec quiver-cluster-ci_router_1 cat /tmp/cluster.csv |
  awk -F, '$1 == "0" { print $5; exit }')
[ -n "$r" ] || fail "no bench row at the defaults"
awk -v r="$r" 'BEGIN { exit !(r >= 0.9) }' || fail "recall@10 at the defaults $r < 0.9"
log "recall@10 through the router at the defaults: $r"

log "killing node quiver-1"
podman kill quiver-cluster-ci_quiver-1_1 >/dev/null
if out=$(cli search --collection sift --queries /tmp/siftsmall_query.fvecs \
  --limit 1 -k 10 2>&1); then
  fail "a search succeeded with a node away: $out"
fi
# The CLI words UNAVAILABLE as "cannot reach the quiver server".
grep -Eq "UNAVAILABLE|cannot reach" <<<"$out" || fail "no UNAVAILABLE with a node away: $out"
grep -q "shard 1 (quiver-1:50051)" <<<"$out" || fail "the error does not name shard 1: $out"
log "with a node away: $(grep -m1 -o 'shard 1.*' <<<"$out" | cut -c1-120)"

podman start quiver-cluster-ci_quiver-1_1 >/dev/null
ok=
for _ in $(seq 60); do
  if cli search --collection sift --queries /tmp/siftsmall_query.fvecs \
    --limit 1 -k 10 >/dev/null 2>&1; then ok=1; break; fi
  sleep 1
done
[ -n "$ok" ] || fail "searches did not come back after the node restarted"
info=$(cli collections describe --name sift --json) || fail "describe failed"
grep -Eq '"count": *"?10000' <<<"$info" || fail "documents lost: $info"
log "PASS: node back, 10000 documents, searches answer"
