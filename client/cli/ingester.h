// The ingest engine behind `quiver ingest` (the flags live in
// ingest_cmd.cc).
//
// One producer thread reads the files in order and cuts them into batches
// (a batch never spans two files; it covers a contiguous row range of its
// file, including malformed rows skipped inside it). `parallel` sender
// threads each own an Upsert stream with up to `in_flight` unacknowledged
// batches. When a batch is acknowledged its row range is marked done in the
// file's RowWatermark, and the contiguous prefix is written to the state
// file (throttled, and at the end). A stream that fails with UNAVAILABLE is
// reopened and its unacknowledged batches are re-sent (`retries`).
//
//   Ingester ingester(options, client.get(), &console, std::move(state));
//   int exit_code = ingester.Run();
//
// Thread safety: Run() is called once, from one thread; it starts and joins
// its own threads.
#ifndef QUIVER_CLIENT_CLI_INGESTER_H_
#define QUIVER_CLIENT_CLI_INGESTER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/cli/ingest_state.h"
#include "client/cli/progress.h"
#include "client/client.h"
#include "client/readers.h"

namespace quiver::cli {

namespace v1 = ::quiver::v1;

// Set (from a signal handler) to stop an ingest gracefully: no new batches,
// in-flight ones are awaited, the state is saved, Run() returns 130.
std::atomic<bool>& IngestInterrupted();

// What to ingest and how (validated by the caller; see `quiver ingest
// --help` for the meaning of each flag).
struct IngestOptions {
  std::string collection;
  std::vector<std::string> files;  // in command-line order (ids depend on it)
  client::ReaderOptions reader;    // expected_dimension = the collection's
  size_t batch_size = 1000;        // rows per UpsertRequest, 1..10000
  size_t parallel = 1;             // Upsert streams
  size_t in_flight = 4;            // unacknowledged batches per stream
  std::string id_prefix;           // prefix of generated ids
  std::string state_path;          // the resumable state file
  bool resume = false;
  bool stop_on_error = true;  // false: report malformed/rejected rows, go on
  std::vector<std::pair<std::string, std::string>> attributes;  // on all docs
  double max_rate = 0;  // rows/s, 0 = unlimited
  int retries = 5;      // stream reopenings after UNAVAILABLE
  enum class Progress { kBar, kLines, kNone } progress = Progress::kLines;
  absl::Duration progress_interval = absl::Seconds(5);  // kLines period
};

// One batch: a contiguous row range of one file.
struct Batch {
  uint64_t id = 0;
  size_t file = 0;
  uint64_t begin_row = 0;  // rows [begin_row, end_row) of the file
  uint64_t end_row = 0;
  std::vector<uint64_t> rows;  // row of each document
  uint64_t bytes = 0;          // input bytes the batch covers
  v1::UpsertRequest request;
};
using BatchPtr = std::shared_ptr<Batch>;

// Runs one ingest. Owns nothing passed in: `client` and `console` must
// outlive it.
class Ingester {
 public:
  Ingester(IngestOptions options, client::QuiverClient* client,
           Console* console, IngestState state)
      : opts_(std::move(options)),
        client_(client),
        console_(console),
        state_(std::move(state)) {
    for (const FileProgress& f : state_.files) {
      marks_.emplace_back(f.done_rows);
      file_rows_.push_back(f.complete ? f.done_rows : UINT64_MAX);
    }
  }

  // Runs the ingest and prints the summary (stdout) and the outcome
  // (stderr); returns the exit code: 0 when every file is done, 130 when
  // interrupted, 1 otherwise. The state file is saved in every case.
  int Run();

 private:
  class Sender;

  void Produce();
  void SendLoop();
  void ProgressLoop();
  // Queues a batch (blocks while the queue is full); false if stopping.
  bool Push(BatchPtr batch);
  // Next batch to send; nullptr when there are no more or we stop.
  BatchPtr Pop();
  void OnAck(const Batch& batch, const v1::UpsertResponse& response);
  void MarkDone(size_t file, uint64_t begin, uint64_t end)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SaveState(bool force) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records the first failure; the ingest ends unsuccessfully.
  void SetFailure(absl::Status status) {
    absl::MutexLock lock(&mu_);
    if (failure_.ok()) failure_ = std::move(status);
  }
  bool Stopping() {
    if (IngestInterrupted().load()) {
      absl::MutexLock lock(&mu_);
      stop_ = true;
      interrupted_ = true;
    }
    absl::MutexLock lock(&mu_);
    return stop_;
  }
  std::string DocId(size_t file, const client::Row& row) const;

  const IngestOptions opts_;
  client::QuiverClient* const client_;
  Console* const console_;
  const absl::Time start_ = absl::Now();

  absl::Mutex mu_;
  IngestState state_ ABSL_GUARDED_BY(mu_);
  std::vector<RowWatermark> marks_ ABSL_GUARDED_BY(mu_);
  // Rows in each file once its end was reached; UINT64_MAX before.
  std::vector<uint64_t> file_rows_ ABSL_GUARDED_BY(mu_);
  std::deque<BatchPtr> queue_ ABSL_GUARDED_BY(mu_);
  bool producer_done_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool interrupted_ ABSL_GUARDED_BY(mu_) = false;
  bool all_done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  absl::Time last_save_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();

  std::atomic<uint64_t> rows_read_{0};
  std::atomic<uint64_t> rows_upserted_{0};
  std::atomic<uint64_t> rows_rejected_{0};
  std::atomic<uint64_t> rows_malformed_{0};
  // Input bytes whose rows are done (acknowledged or skipped): progress.
  std::atomic<uint64_t> bytes_done_{0};
  std::atomic<uint64_t> failed_files_{0};
  std::atomic<uint64_t> next_batch_id_{0};
  uint64_t total_bytes_ = 0;
  uint64_t resumed_rows_ = 0;
};

}  // namespace quiver::cli

#endif  // QUIVER_CLIENT_CLI_INGESTER_H_
