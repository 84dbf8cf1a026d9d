// Internals shared by the reader implementations (readers.cc,
// text_readers.cc). Not part of the client's public API.
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

// Parses `text` as one float. On failure returns the reason, e.g.
// "'abc' is not a number" or "'1e999' is out of float32 range".
absl::Status ParseFloatField(absl::string_view text, float* out);

}  // namespace quiver::client::readers_internal

#endif  // QUIVER_CLIENT_READERS_INTERNAL_H_
