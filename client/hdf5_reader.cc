// HDF5 input (.hdf5 / .h5), e.g. the ann-benchmarks files: a 2-D dataset
// ("train" by default) streamed in slabs of rows through libhdf5's C API, and
// the integer "neighbors" dataset read whole for ground truth.
//
// Debian's libhdf5 is built thread-safe; its error stack is per thread, so
// every entry point silences the automatic stderr printing for the calling
// thread and reports the innermost HDF5 message in the returned status.
#include <hdf5.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/readers.h"
#include "client/readers_internal.h"
#include "common/status.h"

namespace quiver::client::readers_internal {

size_t hdf5_slab_bytes = size_t{4} << 20;

namespace {

constexpr uint64_t kMaxDim = uint64_t{1} << 24;

// Owns one HDF5 identifier and closes it with the matching H5*close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) {
    o.id_ = H5I_INVALID_HID;
  }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      Reset();
      id_ = o.id_;
      close_ = o.close_;
      o.id_ = H5I_INVALID_HID;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { Reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  void Reset() {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
    id_ = H5I_INVALID_HID;
  }
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

// Turns off libhdf5's printing of error stacks to stderr for this thread
// (errors come back as statuses instead).
void Quiet() {
  thread_local bool done = false;
  if (!done) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    done = true;
  }
}

// The most specific message on this thread's HDF5 error stack (call right
// after the failing call), e.g. "truncated file: eof = 800, ...".
std::string LastError() {
  std::string msg;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* err, void* data) -> herr_t {
        if (n == 0 && err->desc != nullptr) {
          *static_cast<std::string*>(data) = err->desc;
        }
        return 0;
      },
      &msg);
  return msg.empty() ? std::string("unknown HDF5 error") : msg;
}

std::string ListRoot(hid_t file) {
  std::vector<std::string> names;
  H5Literate(
      file, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
        auto* v = static_cast<std::vector<std::string>*>(data);
        if (v->size() < 20) v->emplace_back(name);
        return 0;
      },
      &names);
  if (names.empty()) return "the file has no datasets at its root";
  return absl::StrCat("the file has: ", absl::StrJoin(names, ", "));
}

// An open 2-D numeric dataset.
struct Dataset {
  Handle file;
  Handle data;
  uint64_t rows = 0;
  uint64_t cols = 0;
  H5T_class_t type_class = H5T_NO_CLASS;
  size_t type_size = 0;
};

absl::StatusOr<Dataset> OpenDataset(const std::string& path,
                                    const std::string& name,
                                    uint64_t* file_size) {
  {
    // NotFound / PermissionDenied / directory, like every other format.
    QUIVER_ASSIGN_OR_RETURN(FilePtr probe, OpenInput(path, file_size));
  }
  Quiet();
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not an HDF5 file (no HDF5 signature)"));
  }
  Dataset d;
  d.file = Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!d.file.valid()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": cannot open as HDF5 (damaged or truncated?): ", LastError()));
  }
  if (name.empty() || H5Lexists(d.file.get(), name.c_str(), H5P_DEFAULT) <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": no dataset '", name, "' (", ListRoot(d.file.get()), ")"));
  }
  d.data = Handle(H5Dopen2(d.file.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d.data.valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": '", name, "' is not a dataset: ", LastError()));
  }
  const std::string where = absl::StrCat(path, ": dataset '", name, "'");
  Handle type(H5Dget_type(d.data.get()), H5Tclose);
  Handle space(H5Dget_space(d.data.get()), H5Sclose);
  if (!type.valid() || !space.valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": unreadable header: ", LastError()));
  }
  d.type_class = H5Tget_class(type.get());
  d.type_size = H5Tget_size(type.get());
  if (d.type_class != H5T_FLOAT && d.type_class != H5T_INTEGER) {
    return absl::InvalidArgumentError(
        absl::StrCat(where,
                     ": elements are not numbers (need an integer or "
                     "floating-point dataset)"));
  }
  const int ndims = H5Sget_simple_extent_ndims(space.get());
  if (ndims != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": has ", ndims,
                     " dimensions, need a 2-D array (rows, dimension)"));
  }
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  d.rows = dims[0];
  d.cols = dims[1];
  if (d.cols == 0 || d.cols > kMaxDim) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": invalid row dimension ", d.cols));
  }
  return d;
}

size_t SlabRows(uint64_t cols, size_t elem_size) {
  return std::max<size_t>(1, hdf5_slab_bytes / (cols * elem_size));
}

// Reads rows [first, first + n) of `d` as `mem_type` into out.
absl::Status ReadSlab(const Dataset& d, hid_t mem_type, uint64_t first,
                      uint64_t n, void* out) {
  Handle fspace(H5Dget_space(d.data.get()), H5Sclose);
  const hsize_t start[2] = {first, 0};
  const hsize_t count[2] = {n, d.cols};
  if (!fspace.valid() ||
      H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count,
                          nullptr) < 0) {
    return absl::InvalidArgumentError(LastError());
  }
  Handle mspace(H5Screate_simple(2, count, nullptr), H5Sclose);
  if (!mspace.valid() || H5Dread(d.data.get(), mem_type, mspace.get(),
                                 fspace.get(), H5P_DEFAULT, out) < 0) {
    return absl::InvalidArgumentError(LastError());
  }
  return absl::OkStatus();
}

class Hdf5Reader final : public RowReader {
 public:
  Hdf5Reader(std::string path, std::string dataset, size_t expected_dimension,
             Dataset d, uint64_t file_size)
      : RowReader(std::move(path), Format::kHdf5, expected_dimension),
        dataset_(std::move(dataset)),
        d_(std::move(d)),
        slab_rows_(SlabRows(d_.cols, sizeof(float))) {
    total_bytes_ = file_size;
    total_rows_ = d_.rows;
  }

  absl::StatusOr<bool> Next(Row* row) override {
    if (fatal_) return fatal_status_;
    if (next_row_ >= d_.rows) return false;
    if (next_row_ < buf_first_ || next_row_ >= buf_first_ + buf_rows_) {
      Quiet();
      const uint64_t n = std::min<uint64_t>(slab_rows_, d_.rows - next_row_);
      buf_.resize(n * d_.cols);
      absl::Status s =
          ReadSlab(d_, H5T_NATIVE_FLOAT, next_row_, n, buf_.data());
      if (!s.ok()) {
        buf_rows_ = 0;
        return Fail(absl::InvalidArgumentError(
            absl::StrCat(Where(next_row_), ": cannot read rows ", next_row_,
                         "..", next_row_ + n - 1, ": ", s.message())));
      }
      buf_first_ = next_row_;
      buf_rows_ = n;
    }
    row->index = next_row_++;
    row->id.clear();
    row->attributes.clear();
    row->typed_attributes.clear();
    const float* v = buf_.data() + (row->index - buf_first_) * d_.cols;
    row->vector.assign(v, v + d_.cols);
    UpdateBytes();
    QUIVER_RETURN_IF_ERROR(
        CheckVector(row->vector, [&] { return Where(row->index); }));
    return true;
  }

  absl::StatusOr<uint64_t> Skip(uint64_t n) override {
    if (fatal_) return fatal_status_;
    const uint64_t k = std::min<uint64_t>(n, d_.rows - next_row_);
    next_row_ += k;
    UpdateBytes();
    return k;
  }

 private:
  std::string Where(uint64_t row) const {
    return absl::StrCat(path_, ": dataset '", dataset_, "': row ", row);
  }

  // The file holds other datasets too: progress is the share of rows read,
  // applied to the file's size.
  void UpdateBytes() {
    bytes_consumed_ =
        next_row_ >= d_.rows
            ? total_bytes_
            : static_cast<uint64_t>(static_cast<long double>(total_bytes_) *
                                    next_row_ / d_.rows);
  }

  std::string dataset_;
  Dataset d_;
  size_t slab_rows_;
  std::vector<float> buf_;
  uint64_t buf_first_ = 0;
  uint64_t buf_rows_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<RowReader>> OpenHdf5Reader(
    const std::string& path, const ReaderOptions& options) {
  const std::string name = options.dataset.empty() ? "train" : options.dataset;
  uint64_t size = 0;
  QUIVER_ASSIGN_OR_RETURN(Dataset d, OpenDataset(path, name, &size));
  return std::unique_ptr<RowReader>(new Hdf5Reader(
      path, name, options.expected_dimension, std::move(d), size));
}

absl::StatusOr<Matrix<int32_t>> ReadHdf5Ids(const std::string& path,
                                            const std::string& dataset,
                                            size_t max_rows) {
  uint64_t size = 0;
  QUIVER_ASSIGN_OR_RETURN(Dataset d, OpenDataset(path, dataset, &size));
  const std::string where = absl::StrCat(path, ": dataset '", dataset, "'");
  if (d.type_class != H5T_INTEGER) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": holds floating-point values, need integer neighbour ids"));
  }
  if (d.rows == 0) return absl::InvalidArgumentError(where + ": no rows");
  Matrix<int32_t> m;
  m.rows = static_cast<size_t>(std::min<uint64_t>(d.rows, max_rows));
  m.dim = d.cols;
  m.data.resize(m.rows * m.dim);
  const size_t slab = SlabRows(d.cols, sizeof(int64_t));
  std::vector<int64_t> buf;
  for (uint64_t first = 0; first < m.rows; first += slab) {
    const uint64_t n = std::min<uint64_t>(slab, m.rows - first);
    buf.resize(n * d.cols);
    Quiet();
    absl::Status s = ReadSlab(d, H5T_NATIVE_INT64, first, n, buf.data());
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": cannot read rows ", first, "..", first + n - 1,
                       ": ", s.message()));
    }
    for (size_t i = 0; i < buf.size(); ++i) {
      if (buf[i] < std::numeric_limits<int32_t>::min() ||
          buf[i] > std::numeric_limits<int32_t>::max()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": row ", first + i / d.cols, ": id ", buf[i],
                         " does not fit in int32"));
      }
      m.data[first * d.cols + i] = static_cast<int32_t>(buf[i]);
    }
  }
  return m;
}

}  // namespace quiver::client::readers_internal
