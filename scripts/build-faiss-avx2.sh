#!/usr/bin/env bash
# Builds FAISS 1.7.3 with FAISS_OPT_LEVEL=avx2 (static libfaiss_avx2.a) from Debian 12's own
# source package, so that tests/bench/ann_bench_avx2 can compare Quiver against the FAISS that
# `pip install faiss-cpu` users get (Debian's libfaiss-dev is a baseline SSE build).
#
# Usage: scripts/build-faiss-avx2.sh [PREFIX]      (default: third_party/faiss-avx2, gitignored)
#   then: cmake -DQUIVER_FAISS_AVX2_DIR=<PREFIX> ...   (builds ann_bench_avx2)
#
# Result: PREFIX/lib/libfaiss_avx2.a, PREFIX/include/faiss/*.h, PREFIX/BUILD_INFO.
# Idempotent: exits at once when PREFIX/lib/libfaiss_avx2.a exists (delete PREFIX to rebuild).
# Downloads only from the Debian mirror already configured in /etc/apt (adds a deb-src entry once)
# and installs libopenblas0-openmp (runtime only; the system BLAS default stays as it is) unless
# QUIVER_NO_OPENBLAS_OPENMP=1. Not part of CI's default path. Takes ~10-20 min on 2 cores.
# Env: JOBS (default 2).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${1:-${REPO}/third_party/faiss-avx2}"
JOBS="${JOBS:-2}"
VERSION="1.7.3-2"

if [ -f "${PREFIX}/lib/libfaiss_avx2.a" ]; then
  echo "build-faiss-avx2: ${PREFIX}/lib/libfaiss_avx2.a already built; nothing to do"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

need_update=0
# 1. A deb-src entry for the mirror that debian.sources already uses (Debian 12: deb822 files).
SRC_LIST=/etc/apt/sources.list.d/debian-src.sources
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  MIRROR="$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
  MIRROR="${MIRROR:-http://deb.debian.org/debian}"
  echo "build-faiss-avx2: adding ${SRC_LIST} (deb-src ${MIRROR} bookworm main)"
  printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "${MIRROR}" | ${SUDO} tee "${SRC_LIST}" >/dev/null
  need_update=1
fi

pkgs=()
for p in dpkg-dev cmake liblapack-dev libopenblas-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || pkgs+=("$p")
done
if [ "${QUIVER_NO_OPENBLAS_OPENMP:-0}" != 1 ] &&
  ! dpkg-query -W -f='${Status}' libopenblas0-openmp 2>/dev/null | grep -q "install ok installed"; then
  pkgs+=(libopenblas0-openmp)
fi
if [ ${need_update} -eq 1 ] || [ ${#pkgs[@]} -gt 0 ]; then
  ${SUDO} apt-get update -qq
fi
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "build-faiss-avx2: installing ${pkgs[*]}"
  ${SUDO} apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
fi

# 2. The source package, unpacked.
WORK="${PREFIX}/work"
mkdir -p "${WORK}"
cd "${WORK}"
if [ ! -d faiss-src ]; then
  [ -f "faiss_${VERSION}.dsc" ] || apt-get source --download-only "faiss=${VERSION}"
  dpkg-source -x "faiss_${VERSION}.dsc" faiss-src
fi

# 3. Configure and build only the AVX2 static library.
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
cmake -S faiss-src -B build "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DFAISS_ENABLE_GPU=OFF \
  -DFAISS_ENABLE_PYTHON=OFF -DFAISS_ENABLE_C_API=OFF -DBUILD_TESTING=OFF \
  -DFAISS_OPT_LEVEL=avx2 -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON
cmake --build build -j"${JOBS}" --target faiss_avx2

# 4. Install the library and the headers into PREFIX (the .a last: it marks completion).
mkdir -p "${PREFIX}/include" "${PREFIX}/lib"
(cd faiss-src && find faiss -name '*.h' -exec cp --parents {} "${PREFIX}/include/" \;)
{
  echo "faiss ${VERSION} (Debian source package), FAISS_OPT_LEVEL=avx2, static, Release"
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) with $(c++ --version | head -1)"
} >"${PREFIX}/BUILD_INFO"
cp build/faiss/libfaiss_avx2.a "${PREFIX}/lib/libfaiss_avx2.a.tmp"
mv "${PREFIX}/lib/libfaiss_avx2.a.tmp" "${PREFIX}/lib/libfaiss_avx2.a"
echo "build-faiss-avx2: done: ${PREFIX}/lib/libfaiss_avx2.a"
echo "  configure Quiver with -DQUIVER_FAISS_AVX2_DIR=${PREFIX}"
