// Internal to quiver_storage: how the store behaves when its disk fills up.
//
//  * RocksDB's own info log (the LOG file) is replaced by ForwardingLogger,
//    which sends warnings and errors to Quiver's log. RocksDB's file logger
//    asserts (and aborts the process) when it writes again after a failed
//    write, which is what a full disk does to it.
//  * DiskSpace answers "may a write that adds data go ahead?": only while
//    the filesystem of the data directory keeps, after the write, a reserve
//    (StoreOptions::disk_reserve_bytes; by default 5% of the filesystem, at
//    most 2 GiB) plus room to flush what sits in RocksDB's memtables. Below
//    that, writes that add data get RESOURCE_EXHAUSTED naming the free
//    space; reads, deletes and drops go on (the flood-stage watermark of
//    Elasticsearch, in spirit).
//
// Thread safety: both are safe for concurrent use.
#ifndef QUIVER_STORAGE_DISK_H_
#define QUIVER_STORAGE_DISK_H_

#include <cstdarg>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"

namespace quiver::storage {

// RocksDB messages at WARN and above, as Quiver log lines ("rocksdb: ...").
class ForwardingLogger final : public rocksdb::Logger {
 public:
  ForwardingLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override;
  void Logv(rocksdb::InfoLogLevel level, const char* format,
            va_list ap) override;
};

struct SpaceReport {
  uint64_t free_bytes = 0;      // available to this process
  uint64_t capacity_bytes = 0;  // size of the filesystem
};

// statvfs of `path`'s filesystem; UNAVAILABLE if it cannot be read.
absl::Status StatFilesystem(const std::string& path, SpaceReport* out);

// The reserve for a filesystem of `capacity` bytes: `configured` when it is
// >= 0, else 5% of the capacity, at most 2 GiB.
uint64_t ReserveBytes(int64_t configured, uint64_t capacity);

// OK when a write adding data may go ahead on `db` (stored in `path`); else
// RESOURCE_EXHAUSTED naming the free space, the reserve and what the
// memtables hold. `what` names the write ("writing 1000 documents").
absl::Status CheckFreeSpace(rocksdb::DB* db, const std::string& path,
                            int64_t configured_reserve, std::string_view what);

// "12.3 MiB"
std::string FormatBytes(uint64_t bytes);

}  // namespace quiver::storage

#endif  // QUIVER_STORAGE_DISK_H_
