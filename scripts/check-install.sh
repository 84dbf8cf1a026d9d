#!/usr/bin/env bash
# The installed C++ client works for a project outside this tree: configures a
# client-only build (QUIVER_CLIENT_ONLY: no RocksDB, FAISS, BLAS,
# prometheus-cpp or GoogleTest), builds it, `cmake --install`s it into a
# temporary prefix, then configures and builds tests/install (find_package(
# Quiver) + Quiver::client) against that prefix alone and runs the program:
# it creates a client, calls ListCollections on a closed port and expects
# UNAVAILABLE. The installed `quiver` CLI must answer --help.
#
# Environment:
#   QUIVER_INSTALL_BUILD_DIR  the client-only build (default: build-install)
#   QUIVER_JOBS               parallel build jobs (default: nproc)
#   QUIVER_INSTALL_KEEP=1     keep the temporary prefix (printed) afterwards
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR="${QUIVER_INSTALL_BUILD_DIR:-build-install}"
JOBS="${QUIVER_JOBS:-$(nproc)}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/quiver-install.XXXXXX")"
if [ "${QUIVER_INSTALL_KEEP:-0}" = 1 ]; then
  echo "check-install: keeping $WORK"
else
  trap 'rm -rf "$WORK"' EXIT
fi
PREFIX="$WORK/prefix"

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DQUIVER_CLIENT_ONLY=ON
cmake --build "$BUILD_DIR" -j "$JOBS"
cmake --install "$BUILD_DIR" --prefix "$PREFIX"

echo "check-install: installed files:"
(cd "$PREFIX" && find . -type f | sort | sed 's/^/  /')
for f in include/quiver/client/client.h include/quiver/v1/quiver.pb.h \
         include/quiver/v1/quiver.grpc.pb.h lib/libquiver_client.a \
         lib/libquiver_proto.a lib/cmake/Quiver/QuiverConfig.cmake \
         lib/cmake/Quiver/QuiverConfigVersion.cmake \
         lib/cmake/Quiver/QuiverTargets.cmake bin/quiver; do
  if [ ! -f "$PREFIX/$f" ]; then
    echo "check-install: $f was not installed" >&2
    exit 1
  fi
done
# The installed package must not point back into the source or build tree.
if grep -rlF -e "$PWD/" "$PREFIX/lib/cmake" >/dev/null; then
  echo "check-install: the installed CMake package refers to $PWD:" >&2
  grep -rnF -e "$PWD/" "$PREFIX/lib/cmake" >&2
  exit 1
fi

"$PREFIX/bin/quiver" --help >/dev/null

# The consumer sees only the prefix (and the system's packages): the source
# tree is copied away so that no relative path can reach back into it.
cp -r tests/install "$WORK/app"
cmake -S "$WORK/app" -B "$WORK/app-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$PREFIX"
cmake --build "$WORK/app-build" -j "$JOBS"
"$WORK/app-build/quiver_install_test"
echo "check-install: find_package(Quiver) + Quiver::client work from $PREFIX"
