#!/usr/bin/env bash
# `pip install ./client/python` works offline with Debian's packages only:
# copies client/python to a temporary folder (so that setuptools' build/ and
# *.egg-info stay out of the source tree), installs it with --no-index into
# a venv that sees the system's site-packages (python3-grpcio etc.), imports
# it and checks that the generated stubs came along.
#   tests/python/pip_install_test.sh <python3> <repository root>
# Exit 77 (ctest: skipped) when venv/pip or the client's dependencies are
# missing.
set -euo pipefail
PY="${1:-/usr/bin/python3}"
SRC="$(cd "${2:-$(dirname "$0")/../..}" && pwd)"

if ! "$PY" -c 'import ensurepip, venv, grpc, google.protobuf, numpy' 2>/dev/null; then
  echo "SKIP: $PY lacks venv/ensurepip, grpcio, protobuf or numpy" \
       "(python3-venv python3-grpcio python3-protobuf python3-numpy; scripts/setup.sh)"
  exit 77
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

mkdir -p "$TMP/src"
cp -r "$SRC/client/python/setup.py" "$SRC/client/python/README.md" \
      "$SRC/client/python/quiver_client" "$TMP/src/"
rm -rf "$TMP/src/quiver_client/_proto" "$TMP/src/quiver_client/__pycache__"

"$PY" -m venv --system-site-packages "$TMP/venv"
# Out of the repository, setup.py finds the proto through QUIVER_PROTO.
QUIVER_PROTO="$SRC/proto/quiver/v1/quiver.proto" \
  "$TMP/venv/bin/python" -m pip install --no-index --no-cache-dir \
  --disable-pip-version-check "$TMP/src"

cd "$TMP"
"$TMP/venv/bin/python" - <<'PY'
import os, sys
import quiver_client
from quiver_client._proto import quiver_pb2, quiver_pb2_grpc
assert "site-packages" in quiver_client.__file__, quiver_client.__file__
assert hasattr(quiver_pb2_grpc, "QuiverStub")
assert quiver_pb2.SearchRequest(k=3).k == 3
c = quiver_client.Client("127.0.0.1:1")
c.close()
print("installed", quiver_client.__version__, "at",
      os.path.dirname(quiver_client.__file__))
PY
