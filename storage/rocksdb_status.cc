#include "storage/rocksdb_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "storage/strings.h"

namespace quiver::storage {

absl::Status FromRocksDb(const rocksdb::Status& status,
                         std::string_view context) {
  if (status.ok()) return absl::OkStatus();
  const std::string message =
      absl::StrCat(Sv(context), ": rocksdb: ", status.ToString());
  if (status.IsNotFound()) return absl::NotFoundError(message);
  if (status.IsCorruption()) return absl::DataLossError(message);
  // NoSpace is a subcode of IOError: test it first.
  if (status.IsNoSpace()) return absl::ResourceExhaustedError(message);
  if (status.IsIOError()) return absl::UnavailableError(message);
  return absl::InternalError(message);
}

}  // namespace quiver::storage
