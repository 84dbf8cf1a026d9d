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
  # CI only: the format check and the clang -Wthread-safety build (libomp-dev
  # is clang's OpenMP runtime); the fuzzing leg (scripts/fuzz.sh): libFuzzer
  # (libclang-rt-dev) and llvm-symbolizer for its reports (llvm).
  clang clang-format libomp-dev libclang-rt-dev llvm
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
