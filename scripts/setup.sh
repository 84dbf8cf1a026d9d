#!/usr/bin/env bash
# Installs every build and test dependency of Quiver from Debian 12's packages.
# Idempotent: packages already present are left alone; `apt-get update` runs at most once.
set -euo pipefail

PACKAGES=(
  build-essential g++ cmake ninja-build pkg-config git ca-certificates
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libfaiss-dev libopenblas-dev liblapack-dev librocksdb-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  prometheus-cpp-dev
  # Attribute indexes (bitmaps) and the router's shard hash.
  libroaring-dev libxxhash-dev
  # ann_bench's graph-index anchor (header-only).
  libhnswlib-dev
  # The client's HDF5 reader (ann-benchmarks .hdf5 files): libhdf5 (C API).
  libhdf5-dev
  # The Python client (client/python) and its tests (tests/python): the
  # runtime (grpcio, protobuf, numpy; stubs come from protobuf-compiler-grpc's
  # grpc_python_plugin) and an offline `pip install ./client/python`.
  python3 python3-grpcio python3-protobuf python3-numpy
  python3-setuptools python3-wheel python3-pip python3-venv
  # CI only: the format check and the clang -Wthread-safety build (libomp-dev
  # is clang's OpenMP runtime); the fuzzing leg (scripts/fuzz.sh): libFuzzer
  # (libclang-rt-dev) and llvm-symbolizer for its reports (llvm); the
  # Kubernetes manifest check (scripts/check-k8s.sh, python3-yaml).
  clang clang-format libomp-dev libclang-rt-dev llvm python3-yaml
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
