// Private to storage/: the one place where RocksDB statuses become
// absl::Status (see "Errors" in store.h).
//
//   rocksdb::Status s = db->Put(...);
//   if (!s.ok()) return FromRocksDb(s, "writing collection 'docs'");
#ifndef QUIVER_STORAGE_ROCKSDB_STATUS_H_
#define QUIVER_STORAGE_ROCKSDB_STATUS_H_

#include <string_view>

#include "absl/status/status.h"
#include "rocksdb/status.h"

namespace quiver::storage {

// NotFound -> NOT_FOUND, Corruption -> DATA_LOSS, IOError with the NoSpace
// subcode -> RESOURCE_EXHAUSTED, other IOError -> UNAVAILABLE, OK -> OK,
// everything else -> INTERNAL. The message is "<context>: <RocksDB's
// message>".
absl::Status FromRocksDb(const rocksdb::Status& status,
                         std::string_view context);

}  // namespace quiver::storage

#endif  // QUIVER_STORAGE_ROCKSDB_STATUS_H_
