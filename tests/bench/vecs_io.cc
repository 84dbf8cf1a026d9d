#include "tests/bench/vecs_io.h"

#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace quiver::bench {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f != nullptr) std::fclose(f);
  }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

// Reads rows of element type `Elem` and converts them to `Out`.
template <typename Elem, typename Out>
absl::StatusOr<VecsMatrix<Out>> ReadRows(const std::string& path,
                                         size_t max_rows) {
  File f(std::fopen(path.c_str(), "rb"));
  if (f == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("cannot open '", path, "': ", std::strerror(errno)));
  }
  VecsMatrix<Out> m;
  std::vector<Elem> row;
  while (m.rows < max_rows) {
    int32_t d = 0;
    const size_t got = std::fread(&d, 1, sizeof(d), f.get());
    if (got == 0) break;
    if (got != sizeof(d)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": truncated dimension at row ", m.rows));
    }
    if (d <= 0 || d > (1 << 20)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": bad dimension ", d, " at row ", m.rows));
    }
    if (m.dim == 0) m.dim = static_cast<size_t>(d);
    if (static_cast<size_t>(d) != m.dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": row ", m.rows, " has dimension ", d, ", row 0 has ", m.dim));
    }
    row.resize(m.dim);
    if (std::fread(row.data(), sizeof(Elem), m.dim, f.get()) != m.dim) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": truncated at row ", m.rows));
    }
    m.data.insert(m.data.end(), row.begin(), row.end());
    ++m.rows;
  }
  if (m.rows == 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no vectors"));
  }
  return m;
}

template <typename T>
absl::Status WriteRows(const std::string& path, const T* data, size_t rows,
                       size_t dim) {
  File f(std::fopen(path.c_str(), "wb"));
  if (f == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot create '", path, "': ", std::strerror(errno)));
  }
  const int32_t d = static_cast<int32_t>(dim);
  for (size_t i = 0; i < rows; ++i) {
    if (std::fwrite(&d, sizeof(d), 1, f.get()) != 1 ||
        std::fwrite(data + i * dim, sizeof(T), dim, f.get()) != dim) {
      return absl::InternalError(absl::StrCat("write to '", path,
                                              "' failed at row ", i, ": ",
                                              std::strerror(errno)));
    }
  }
  if (std::fclose(f.release()) != 0) {
    return absl::InternalError(absl::StrCat("closing '", path, "' failed"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<VecsMatrix<float>> ReadFloatVecs(const std::string& path,
                                                size_t max_rows) {
  if (absl::EndsWith(path, ".bvecs")) {
    return ReadRows<uint8_t, float>(path, max_rows);
  }
  return ReadRows<float, float>(path, max_rows);
}

absl::StatusOr<VecsMatrix<int32_t>> ReadIntVecs(const std::string& path,
                                                size_t max_rows) {
  return ReadRows<int32_t, int32_t>(path, max_rows);
}

absl::Status WriteFloatVecs(const std::string& path, const float* data,
                            size_t rows, size_t dim) {
  return WriteRows(path, data, rows, dim);
}

absl::Status WriteIntVecs(const std::string& path, const int32_t* data,
                          size_t rows, size_t dim) {
  return WriteRows(path, data, rows, dim);
}

}  // namespace quiver::bench
