// Readers and writers for the TEXMEX vector formats used by the benchmarks:
// .fvecs (float32), .bvecs (uint8, read as float) and .ivecs (int32). Each
// row is a little-endian int32 dimension followed by that many values.
//
//   QUIVER_ASSIGN_OR_RETURN(VecsMatrix<float> base, ReadFloatVecs("b.fvecs"));
//   // base.data: base.rows * base.dim floats, row-major
//
// Thread safety: free functions without shared state.
#ifndef QUIVER_TESTS_BENCH_VECS_IO_H_
#define QUIVER_TESTS_BENCH_VECS_IO_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace quiver::bench {

template <typename T>
struct VecsMatrix {
  size_t rows = 0;
  size_t dim = 0;
  std::vector<T> data;  // rows * dim, row-major
};

// Reads .fvecs, or .bvecs (bytes widened to float), chosen by the file
// extension. At most max_rows rows. NOT_FOUND if the file cannot be opened;
// INVALID_ARGUMENT for a bad dimension, a ragged or truncated file.
absl::StatusOr<VecsMatrix<float>> ReadFloatVecs(const std::string& path,
                                                size_t max_rows = SIZE_MAX);
// Reads an .ivecs file (e.g. ground-truth ids), same errors.
absl::StatusOr<VecsMatrix<int32_t>> ReadIntVecs(const std::string& path,
                                                size_t max_rows = SIZE_MAX);

// Writes rows * dim values as .fvecs / .ivecs. INTERNAL on I/O failure.
absl::Status WriteFloatVecs(const std::string& path, const float* data,
                            size_t rows, size_t dim);
absl::Status WriteIntVecs(const std::string& path, const int32_t* data,
                          size_t rows, size_t dim);

}  // namespace quiver::bench

#endif  // QUIVER_TESTS_BENCH_VECS_IO_H_
