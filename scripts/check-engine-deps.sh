#!/usr/bin/env bash
# The engine (server/engine/, CMake library quiver_engine) is a leaf over
# index/ and storage/: no gRPC, no generated proto code, no API (v1::) type.
# Fails listing every line that breaks that.
set -euo pipefail
cd "$(dirname "$0")/.."

bad=$(grep -nE '#include[[:space:]]*[<"](grpc|grpcpp|google/protobuf)/|\.pb\.h|\bv1::|quiver_proto|quiver_server' \
  server/engine/*.h server/engine/*.cc server/engine/CMakeLists.txt tests/engine/*.cc tests/engine/CMakeLists.txt || true)
if [ -n "$bad" ]; then
  echo "check-engine-deps: the engine must not use gRPC, protobuf or the API types:"
  echo "$bad"
  exit 1
fi
echo "check-engine-deps: server/engine and tests/engine use no gRPC, protobuf or v1:: types"
