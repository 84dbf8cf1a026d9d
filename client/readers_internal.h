// Internals shared by the reader implementations (readers.cc,
// text_readers.cc, hdf5_reader.cc). Not part of the client's public API.
#ifndef QUIVER_CLIENT_READERS_INTERNAL_H_
#define QUIVER_CLIENT_READERS_INTERNAL_H_

#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/readers.h"

namespace quiver::client::readers_internal {

// Closes a FILE* on destruction.
struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f != nullptr) std::fclose(f);
  }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

// Opens `path` for binary reading with a large buffer; *size receives the
// file's size. NotFound / PermissionDenied / InvalidArgument (a directory)
// naming the path and errno's text.
absl::StatusOr<FilePtr> OpenInput(const std::string& path, uint64_t* size);

absl::StatusOr<std::unique_ptr<RowReader>> OpenVecsReader(
    const std::string& path, Format format, const ReaderOptions& options);
absl::StatusOr<std::unique_ptr<RowReader>> OpenNpyReader(
    const std::string& path, const ReaderOptions& options);
absl::StatusOr<std::unique_ptr<RowReader>> OpenCsvReader(
    const std::string& path, Format format, const ReaderOptions& options);
absl::StatusOr<std::unique_ptr<RowReader>> OpenJsonlReader(
    const std::string& path, const ReaderOptions& options);
// hdf5_reader.cc: the dataset options.dataset ("train" when empty).
absl::StatusOr<std::unique_ptr<RowReader>> OpenHdf5Reader(
    const std::string& path, const ReaderOptions& options);
// Bytes of one HDF5 slab read (rows per read = this / row bytes, at least
// one); a variable so that tests can cross slab boundaries with small files.
extern size_t hdf5_slab_bytes;
// Reads up to max_rows rows of the integer 2-D dataset `dataset` as int32
// (elements must lie in 0..INT32_MAX: neighbour ids).
absl::StatusOr<Matrix<int32_t>> ReadHdf5Ids(const std::string& path,
                                            const std::string& dataset,
                                            size_t max_rows);

// Parses `text` as one float. On failure returns the reason, e.g.
// "'abc' is not a number" or "'1e999' is out of float32 range".
absl::Status ParseFloatField(absl::string_view text, float* out);

}  // namespace quiver::client::readers_internal

#endif  // QUIVER_CLIENT_READERS_INTERNAL_H_
