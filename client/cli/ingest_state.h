// Resumable-ingest bookkeeping for `quiver ingest`.
//
// The state file records, per input file, how many leading rows are done:
// rows [0, done_rows) were all acknowledged by the server (or skipped as
// malformed under --on-error skip). `--resume` skips those rows; since an
// upsert replaces a document with the same id, re-sending rows past
// done_rows is harmless, so an interrupted ingest re-run with --resume
// converges to the same collection.
//
// File format (text, one record per line; the path is the rest of the line):
//   quiver-ingest-state 1
//   collection <name>
//   id_prefix <prefix>
//   file <index> <done_rows> <complete 0|1> <size bytes> <path>
//
// Thread safety: RowWatermark and the functions are not synchronized; the
// caller serializes access.
#ifndef QUIVER_CLIENT_CLI_INGEST_STATE_H_
#define QUIVER_CLIENT_CLI_INGEST_STATE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace quiver::cli {

struct FileProgress {
  std::string path;
  uint64_t size = 0;       // bytes when the ingest started (change check)
  uint64_t done_rows = 0;  // rows [0, done_rows) are done
  bool complete = false;   // every row of the file is done
};

struct IngestState {
  std::string collection;
  std::string id_prefix;
  std::vector<FileProgress> files;  // in command-line order
};

// NotFound if the file does not exist; InvalidArgument naming the line for
// a malformed file.
absl::StatusOr<IngestState> LoadIngestState(const std::string& path);
// Writes atomically (temporary file, fsync, rename), so a crash leaves the
// old or the new state, never a torn one.
absl::Status SaveIngestState(const std::string& path, const IngestState& state);

// Tracks which row ranges of one file are done, in any order, and the
// contiguous prefix [0, done()) they form.
class RowWatermark {
 public:
  explicit RowWatermark(uint64_t start = 0) : done_(start) {}
  // Marks rows [begin, end) done. Ranges may arrive in any order but must
  // not overlap.
  void MarkDone(uint64_t begin, uint64_t end);
  uint64_t done() const { return done_; }
  // Ranges done beyond the contiguous prefix.
  size_t pending_ranges() const { return pending_.size(); }

 private:
  uint64_t done_;
  std::map<uint64_t, uint64_t> pending_;  // begin -> end
};

}  // namespace quiver::cli

#endif  // QUIVER_CLIENT_CLI_INGEST_STATE_H_
