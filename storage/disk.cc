#include "storage/disk.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log.h"
#include "storage/strings.h"

namespace quiver::storage {

void ForwardingLogger::Logv(const char* format, va_list ap) {
  Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
}

void ForwardingLogger::Logv(rocksdb::InfoLogLevel level, const char* format,
                            va_list ap) {
  if (level < GetInfoLogLevel()) return;
  char buffer[1024];
  const int n = std::vsnprintf(buffer, sizeof(buffer), format, ap);
  if (n < 0) return;
  if (level >= rocksdb::InfoLogLevel::ERROR_LEVEL) {
    QUIVER_LOG(ERROR) << "rocksdb: " << buffer;
  } else {
    QUIVER_LOG(WARNING) << "rocksdb: " << buffer;
  }
}

absl::Status StatFilesystem(const std::string& path, SpaceReport* out) {
  struct statvfs st;
  if (statvfs(path.c_str(), &st) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot read the free space of the data directory: ",
                     std::strerror(errno)));
  }
  out->free_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  out->capacity_bytes = static_cast<uint64_t>(st.f_blocks) * st.f_frsize;
  return absl::OkStatus();
}

uint64_t ReserveBytes(int64_t configured, uint64_t capacity) {
  if (configured >= 0) return static_cast<uint64_t>(configured);
  return std::min<uint64_t>(capacity / 20, uint64_t{2} << 30);
}

std::string FormatBytes(uint64_t bytes) {
  return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
}

absl::Status CheckFreeSpace(rocksdb::DB* db, const std::string& path,
                            int64_t configured_reserve, std::string_view what) {
  SpaceReport space;
  if (absl::Status s = StatFilesystem(path, &space); !s.ok()) {
    // Not knowing is no reason to refuse: RocksDB reports a real failure.
    return absl::OkStatus();
  }
  const uint64_t reserve =
      ReserveBytes(configured_reserve, space.capacity_bytes);
  uint64_t memtables = 0;
  if (!db->GetAggregatedIntProperty(
          rocksdb::DB::Properties::kCurSizeAllMemTables, &memtables)) {
    memtables = 0;
  }
  if (space.free_bytes >= reserve + memtables) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrFormat(
      "%s: refused, the disk is nearly full: %s free on the data "
      "directory's filesystem, and writes stop below %s (a reserve of %s "
      "plus %s of buffered writes still to be flushed). Searches, gets and "
      "deletes still work; free space or grow the disk, then retry",
      Sv(what), FormatBytes(space.free_bytes), FormatBytes(reserve + memtables),
      FormatBytes(reserve), FormatBytes(memtables)));
}

}  // namespace quiver::storage
