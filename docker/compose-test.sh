#!/usr/bin/env bash
# Runs the compose files as a user would, with podman-compose (CI has podman,
# not a Docker engine): the server of docker/compose.yaml, then the demo of
# docker/compose.demo.yaml ingesting SIFT-small and benchmarking it; passes
# when the demo's recall@10 at the collection's defaults is >= 0.9. Also
# checks that the demo refuses to start without QUIVER_DATA.
# docker/compose.ci.yaml switches both to host networking (CI's podman makes
# no bridge networks) and to the image the smoke test built.
#
# Environment: IMAGE (default quiver:smoke, must exist), DATA (SIFT-small
# folder, default ../shared/data/siftsmall), PORT (default 15052).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-quiver:smoke}
PORT=${PORT:-15052}
DATA=$(readlink -f "${DATA:-../shared/data/siftsmall}")
log() { printf '[compose %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

[ -f "$DATA/siftsmall_base.fvecs" ] || { log "SKIP: no SIFT-small at $DATA"; exit 0; }
if ! command -v podman-compose >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman-compose >/dev/null
fi
podman image exists "$IMAGE" || fail "image $IMAGE not built (run docker/smoke-test.sh first)"

files=(-f docker/compose.yaml -f docker/compose.demo.yaml -f docker/compose.ci.yaml)
compose() { podman-compose -p quiver-ci "${files[@]}" "$@"; }

# Without QUIVER_DATA the demo must stop with a message, not mount nothing.
if out=$(env -u QUIVER_DATA podman-compose -p quiver-ci "${files[@]}" --dry-run \
  run --rm demo 2>&1); then
  fail "compose accepted the demo without QUIVER_DATA"
fi
grep -q "set QUIVER_DATA" <<<"$out" || fail "no clear message without QUIVER_DATA: $out"
log "without QUIVER_DATA: refused with a message"

export QUIVER_DATA="$DATA" QUIVER_IMAGE="$IMAGE" QUIVER_PORT="$PORT"

cleanup() { compose down -v >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup
log "podman-compose up -d quiverd (port $PORT)"
compose up -d quiverd >/dev/null
log "podman-compose run demo"
# --no-deps: quiverd is up; without it podman-compose brings the demo's
# dependencies up again and rebuilds the image (compose.yaml's build:).
out=$(compose run --no-deps --rm demo 2>&1) || { printf '%s\n' "$out" | tail -30 >&2; fail "the demo failed"; }
printf '%s\n' "$out" | tail -12 >&2
# CSV after the marker: nprobe,rerank,concurrency,recall_at_1,recall_at_10,...
r=$(printf '%s\n' "$out" | sed -n '/^demo bench CSV:/,$p' |
  awk -F, '$1 == "0" { print $5; exit }')
[ -n "$r" ] || fail "no bench row at the defaults (nprobe 0) in the demo's output"
awk -v r="$r" 'BEGIN { exit !(r >= 0.9) }' || fail "recall@10 at the defaults $r < 0.9"
log "PASS: recall@10 at the defaults = $r"
