// quiver ingest: resumable bulk loading over Upsert streams.
//
// One producer thread reads the files in order and cuts them into batches
// (a batch never spans two files; it covers a contiguous row range of its
// file, including malformed rows skipped inside it). --parallel sender
// threads each own an Upsert stream with up to --in_flight unacknowledged
// batches. When a batch is acknowledged its row range is marked done in the
// file's RowWatermark, and the contiguous prefix is written to the state
// file (throttled, and at the end). A stream that fails with UNAVAILABLE is
// reopened and its unacknowledged batches are re-sent (--retries).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/cli/commands.h"
#include "client/cli/common.h"
#include "client/cli/ingest_state.h"
#include "client/cli/progress.h"
#include "client/readers.h"

namespace quiver::cli {
namespace {

std::atomic<bool> g_interrupted{false};

void OnSigint(int) { g_interrupted.store(true); }

struct IngestOptions {
  std::string collection;
  std::vector<std::string> files;
  client::ReaderOptions reader;
  size_t batch_size = 1000;
  size_t parallel = 1;
  size_t in_flight = 4;
  std::string id_prefix;
  std::string state_path;
  bool resume = false;
  bool stop_on_error = true;
  std::vector<std::pair<std::string, std::string>> attributes;
  double max_rate = 0;  // rows/s, 0 = unlimited
  int retries = 5;
  enum class Progress { kBar, kLines, kNone } progress = Progress::kLines;
  absl::Duration progress_interval = absl::Seconds(5);
};

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

  // Runs the ingest; returns the exit code.
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
    if (g_interrupted.load()) {
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

std::string Ingester::DocId(size_t file, const client::Row& row) const {
  if (!row.id.empty()) return row.id;
  if (opts_.files.size() == 1) return absl::StrCat(opts_.id_prefix, row.index);
  return absl::StrCat(opts_.id_prefix, file, ":", row.index);
}

bool Ingester::Push(BatchPtr batch) {
  absl::MutexLock lock(&mu_);
  const size_t cap = 2 * opts_.parallel + 2;
  auto room = [this, cap]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return queue_.size() < cap || stop_;
  };
  mu_.Await(absl::Condition(&room));
  if (stop_) return false;
  queue_.push_back(std::move(batch));
  return true;
}

BatchPtr Ingester::Pop() {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || producer_done_ || stop_;
  };
  mu_.Await(absl::Condition(&ready));
  if (stop_ || queue_.empty()) return nullptr;
  BatchPtr b = std::move(queue_.front());
  queue_.pop_front();
  return b;
}

void Ingester::MarkDone(size_t file, uint64_t begin, uint64_t end) {
  marks_[file].MarkDone(begin, end);
  FileProgress& f = state_.files[file];
  f.done_rows = marks_[file].done();
  f.complete = f.done_rows == file_rows_[file];
  SaveState(false);
}

void Ingester::SaveState(bool force) {
  const absl::Time now = absl::Now();
  if (!force && now - last_save_ < absl::Milliseconds(200)) return;
  last_save_ = now;
  if (absl::Status s = SaveIngestState(opts_.state_path, state_); !s.ok()) {
    console_->Print(absl::StrCat("warning: ", s.message()));
  }
}

void Ingester::OnAck(const Batch& batch, const v1::UpsertResponse& response) {
  rows_upserted_ += response.upserted();
  bytes_done_ += batch.bytes;
  uint64_t good_end = batch.end_row;
  for (const v1::RecordError& e : response.errors()) {
    ++rows_rejected_;
    const uint64_t row = e.position() < batch.rows.size()
                             ? batch.rows[e.position()]
                             : batch.begin_row;
    console_->Print(absl::StrCat(opts_.files[batch.file], ": row ", row,
                                 " (id '", e.id(),
                                 "'): rejected by the server: ", e.reason()));
    if (opts_.stop_on_error) good_end = std::min(good_end, row);
  }
  absl::MutexLock lock(&mu_);
  if (good_end < batch.end_row) {
    stop_ = true;
    if (failure_.ok()) {
      failure_ = absl::InvalidArgumentError(
          "the server rejected a row (use --on_error skip to go on)");
    }
  }
  MarkDone(batch.file, batch.begin_row, good_end);
}

void Ingester::Produce() {
  const double rate = opts_.max_rate;
  uint64_t produced = 0;
  const absl::Time t0 = absl::Now();
  for (size_t f = 0; f < opts_.files.size(); ++f) {
    const std::string& path = opts_.files[f];
    uint64_t skip = 0;
    {
      absl::MutexLock lock(&mu_);
      if (state_.files[f].complete) continue;
      skip = state_.files[f].done_rows;
    }
    absl::StatusOr<std::unique_ptr<client::RowReader>> opened =
        client::OpenRowReader(path, opts_.reader);
    if (!opened.ok()) {
      console_->Print(std::string(opened.status().message()));
      ++failed_files_;
      if (opts_.stop_on_error) {
        // Batches already queued still go out; nothing more is read.
        SetFailure(opened.status());
        break;
      }
      continue;
    }
    std::unique_ptr<client::RowReader> reader = std::move(*opened);
    uint64_t bytes_before = 0;
    if (skip > 0) {
      absl::StatusOr<uint64_t> skipped = reader->Skip(skip);
      if (!skipped.ok() || *skipped != skip) {
        console_->Print(absl::StrCat(
            path, ": cannot skip the ", skip, " rows already done: ",
            skipped.ok() ? absl::StrCat("the file has only ", *skipped)
                         : std::string(skipped.status().message())));
        ++failed_files_;
        SetFailure(absl::FailedPreconditionError(
            absl::StrCat(path, " has fewer rows than the state file says")));
        break;
      }
      bytes_before = reader->bytes_consumed();
      bytes_done_ += bytes_before;
    }
    auto batch = std::make_shared<Batch>();
    auto start_batch = [&]() {
      batch = std::make_shared<Batch>();
      batch->file = f;
      batch->begin_row = reader->next_row();
      batch->request.set_collection(opts_.collection);
    };
    // Sends the current batch covering rows up to `end`; false if stopping.
    auto flush = [&](uint64_t end) {
      batch->end_row = end;
      const uint64_t now_bytes = reader->bytes_consumed();
      batch->bytes = now_bytes - bytes_before;
      bytes_before = now_bytes;
      if (batch->rows.empty()) {
        bytes_done_ += batch->bytes;
        absl::MutexLock lock(&mu_);
        MarkDone(f, batch->begin_row, end);
        return !stop_;
      }
      batch->id = next_batch_id_++;
      batch->request.set_batch_id(batch->id);
      produced += batch->rows.size();
      if (!Push(batch)) return false;
      if (rate > 0) {
        const absl::Time due = t0 + absl::Seconds(produced / rate);
        if (due > absl::Now()) absl::SleepFor(due - absl::Now());
      }
      return true;
    };
    start_batch();
    client::Row row;
    bool stopped = false;
    while (true) {
      if (Stopping()) {
        stopped = true;
        break;
      }
      const uint64_t row_before = reader->next_row();
      absl::StatusOr<bool> more = reader->Next(&row);
      if (!more.ok()) {
        ++rows_malformed_;
        console_->Print(std::string(more.status().message()));
        if (opts_.stop_on_error || reader->fatal()) {
          // Rows before the bad one are good: send them, then stop here.
          if (!flush(row_before)) stopped = true;
          if (reader->fatal()) ++failed_files_;
          if (opts_.stop_on_error) {
            // The batch just flushed and those queued still go out.
            SetFailure(absl::InvalidArgumentError(
                "malformed input (use --on_error skip to go on)"));
            stopped = true;
          }
          break;
        }
        continue;  // skipped; the batch's row range covers it
      }
      if (!*more) {
        {
          absl::MutexLock lock(&mu_);
          file_rows_[f] = reader->next_row();
          if (state_.files[f].done_rows == file_rows_[f]) {
            state_.files[f].complete = true;
          }
        }
        if (!flush(reader->next_row())) stopped = true;
        break;
      }
      ++rows_read_;
      v1::Document* doc = batch->request.add_documents();
      doc->set_id(DocId(f, row));
      doc->mutable_vector()->Add(row.vector.begin(), row.vector.end());
      for (const auto& [k, v] : opts_.attributes) {
        (*doc->mutable_attributes())[k] = v;
      }
      for (auto& [k, v] : row.attributes) {
        (*doc->mutable_attributes())[k] = std::move(v);
      }
      batch->rows.push_back(row.index);
      if (batch->rows.size() >= opts_.batch_size) {
        if (!flush(reader->next_row())) {
          stopped = true;
          break;
        }
        start_batch();
      }
    }
    if (stopped) break;
  }
  absl::MutexLock lock(&mu_);
  producer_done_ = true;
}

// One Upsert stream plus the batches it has not had acknowledged yet.
class Ingester::Sender {
 public:
  explicit Sender(Ingester* ingester) : ing_(ingester) {}

  absl::Status Open() {
    absl::StatusOr<std::unique_ptr<client::UpsertStream>> s =
        ing_->client_->OpenUpsertStream(
            ing_->opts_.collection, ing_->opts_.in_flight,
            [this](const v1::UpsertResponse& r) { OnResponse(r); });
    if (!s.ok()) return s.status();
    stream_ = std::move(*s);
    return absl::OkStatus();
  }

  absl::Status Send(BatchPtr batch) {
    {
      absl::MutexLock lock(&mu_);
      unacked_.push_back(batch);
    }
    return stream_->Send(batch->request);
  }

  // Re-sends every unacknowledged batch on the (new) stream.
  absl::Status Resend() {
    std::vector<BatchPtr> again;
    {
      absl::MutexLock lock(&mu_);
      again.assign(unacked_.begin(), unacked_.end());
    }
    for (const BatchPtr& b : again) {
      absl::Status s = stream_->Send(b->request);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status Finish() {
    if (stream_ == nullptr) return absl::OkStatus();
    absl::Status s = stream_->Finish();
    stream_.reset();
    return s;
  }

  size_t unacked() {
    absl::MutexLock lock(&mu_);
    return unacked_.size();
  }

 private:
  void OnResponse(const v1::UpsertResponse& r) {
    BatchPtr b;
    {
      absl::MutexLock lock(&mu_);
      // UpsertStream checked the order: the oldest batch is the one acked.
      if (unacked_.empty() || unacked_.front()->id != r.batch_id()) return;
      b = std::move(unacked_.front());
      unacked_.pop_front();
    }
    ing_->OnAck(*b, r);
  }

  Ingester* const ing_;
  std::unique_ptr<client::UpsertStream> stream_;
  absl::Mutex mu_;
  std::deque<BatchPtr> unacked_ ABSL_GUARDED_BY(mu_);
};

void Ingester::SendLoop() {
  Sender sender(this);
  int failures = 0;
  absl::Duration backoff = absl::Milliseconds(500);
  absl::Status st = sender.Open();
  while (true) {
    BatchPtr b = st.ok() ? Pop() : nullptr;
    if (b != nullptr) {
      st = sender.Send(std::move(b));
      if (st.ok()) continue;
    }
    // No more batches, or the stream broke: close it and collect the acks.
    absl::Status fin = sender.Finish();
    if (st.ok() && fin.ok()) break;
    absl::Status err = !fin.ok() ? fin : st;
    const bool retryable = err.code() == absl::StatusCode::kUnavailable ||
                           err.code() == absl::StatusCode::kAborted;
    if (!retryable || ++failures > opts_.retries || g_interrupted.load()) {
      absl::MutexLock lock(&mu_);
      stop_ = true;
      if (failure_.ok()) failure_ = err;
      break;
    }
    console_->Print(absl::StrCat(
        "upsert stream failed (", err.message(), "); retrying in ",
        absl::FormatDuration(backoff), " with ", sender.unacked(),
        " unacknowledged batch(es) (", failures, "/", opts_.retries, ")"));
    // Waits up to `backoff`, returning early once the server accepts
    // connections again.
    const absl::Time until = absl::Now() + backoff;
    if (client_->WaitForConnected(backoff)) {
      absl::SleepFor(std::min(absl::Milliseconds(50), until - absl::Now()));
    }
    backoff = std::min(backoff * 2, absl::Seconds(5));
    st = sender.Open();
    if (st.ok()) st = sender.Resend();
  }
}

void Ingester::ProgressLoop() {
  const bool bar = opts_.progress == IngestOptions::Progress::kBar;
  const absl::Duration period =
      bar ? absl::Milliseconds(200) : opts_.progress_interval;
  absl::Time next = absl::Now() + period;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto done = [this]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return all_done_; };
      if (mu_.AwaitWithDeadline(absl::Condition(&done), next)) return;
    }
    next += period;
    const uint64_t rows = rows_upserted_ + rows_rejected_;
    const double fraction =
        total_bytes_ > 0 ? static_cast<double>(bytes_done_) / total_bytes_ : -1;
    const double elapsed = absl::ToDoubleSeconds(absl::Now() - start_);
    console_->SetStatus(ProgressLine(rows, fraction, elapsed, bar));
  }
}

int Ingester::Run() {
  for (const std::string& f : opts_.files) {
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(f, ec);
    if (!ec) total_bytes_ += size;
  }
  {
    absl::MutexLock lock(&mu_);
    for (const FileProgress& f : state_.files) {
      resumed_rows_ += f.done_rows;
      if (f.complete) bytes_done_ += f.size;
    }
    SaveState(true);
  }
  std::thread progress;
  if (opts_.progress != IngestOptions::Progress::kNone) {
    progress = std::thread(&Ingester::ProgressLoop, this);
  }
  std::thread producer(&Ingester::Produce, this);
  std::vector<std::thread> senders;
  for (size_t i = 0; i < opts_.parallel; ++i) {
    senders.emplace_back(&Ingester::SendLoop, this);
  }
  producer.join();
  for (std::thread& t : senders) t.join();
  {
    absl::MutexLock lock(&mu_);
    if (g_interrupted.load()) interrupted_ = true;
    all_done_ = true;
    SaveState(true);
  }
  if (progress.joinable()) progress.join();
  if (opts_.progress == IngestOptions::Progress::kBar) {
    // The final state of the bar (the last tick may be up to 200 ms old).
    const uint64_t rows = rows_upserted_ + rows_rejected_;
    const double fraction =
        total_bytes_ > 0 ? static_cast<double>(bytes_done_) / total_bytes_ : -1;
    console_->SetStatus(ProgressLine(
        rows, fraction, absl::ToDoubleSeconds(absl::Now() - start_), true));
  }
  console_->FinishStatus();

  const double secs = absl::ToDoubleSeconds(absl::Now() - start_);
  const uint64_t upserted = rows_upserted_;
  absl::MutexLock lock(&mu_);
  bool complete = true;
  for (const FileProgress& f : state_.files) complete = complete && f.complete;
  std::cout << absl::StrFormat(
      "ingested %s rows into '%s' in %.2f s (%s rows/s); %s rejected, %s "
      "malformed%s\n",
      FormatCount(upserted), opts_.collection, secs,
      FormatCount(secs > 0 ? static_cast<uint64_t>(upserted / secs) : 0),
      FormatCount(rows_rejected_), FormatCount(rows_malformed_),
      resumed_rows_ > 0
          ? absl::StrCat("; resumed after ", FormatCount(resumed_rows_),
                         " rows already done")
          : "");
  if (complete && failure_.ok() && !interrupted_) {
    return failed_files_ > 0 ? kExitError : kExitOk;
  }
  std::string done;
  for (size_t i = 0; i < state_.files.size(); ++i) {
    absl::StrAppend(&done, i > 0 ? ", " : "", state_.files[i].path, ": ",
                    FormatCount(state_.files[i].done_rows), " rows done");
  }
  if (interrupted_) {
    std::cerr << "quiver ingest: interrupted; " << done
              << ". Resume with the same command plus --resume (state in "
              << opts_.state_path << ").\n";
    return kExitInterrupted;
  }
  std::cerr << "quiver ingest: error: "
            << (failure_.ok() ? "some rows were not ingested"
                              : std::string(failure_.message()))
            << "; " << done << ". Fix the cause and re-run with --resume "
            << "(state in " << opts_.state_path << ").\n";
  return kExitError;
}

// Reads the first row of `path` to learn its dimension.
absl::StatusOr<size_t> ProbeDimension(const std::string& path,
                                      const client::ReaderOptions& options) {
  absl::StatusOr<std::unique_ptr<client::RowReader>> reader =
      client::OpenRowReader(path, options);
  if (!reader.ok()) return reader.status();
  client::Row row;
  absl::StatusOr<bool> more = (*reader)->Next(&row);
  if (!more.ok()) return more.status();
  if (!*more) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no rows to take the dimension from"));
  }
  return row.vector.size();
}

}  // namespace

int RunIngest(const std::vector<std::string>& args) {
  const std::string cmd = "ingest";
  GlobalFlags global;
  IngestOptions opts;
  std::string format, on_error = "stop", progress = "auto", metric = "l2";
  std::string csv_header = "auto", csv_id = "auto", delimiter;
  std::vector<std::string> attributes;
  int64_t batch_size = 1000, parallel = 1, in_flight = 4, retries = 5;
  bool create = false, train = false, wait = false;
  absl::Duration wait_timeout = absl::Minutes(30);
  IndexFlags index;
  FlagSet flags(
      "quiver ingest", "--collection C [flags] FILE...",
      "Streams the rows of each FILE into collection C in batches over Upsert "
      "streams.\n"
      "\n"
      "Formats: .fvecs .bvecs .ivecs .npy .csv .tsv .jsonl (or --format).\n"
      "Ids: a CSV 'id' column or a JSONL \"id\" is used as is. Otherwise the "
      "id is\n"
      "  <id_prefix><row>               with one FILE, e.g. 0, 1, 2, ...\n"
      "  <id_prefix><file>:<row>        with several FILEs (file = 0-based "
      "position\n"
      "                                 on the command line), e.g. 1:0\n"
      "  where row is the 0-based data row within its file. Keep the same "
      "file order\n"
      "  when resuming or re-running, so ids stay the same.\n"
      "Resuming: the state file records per file how many leading rows the "
      "server has\n"
      "  acknowledged. After an interruption (Ctrl-C, crash, lost server), "
      "run the same\n"
      "  command with --resume to continue after them; rows re-sent are "
      "upserted again\n"
      "  by id, so the result is the same as one uninterrupted run.\n"
      "Errors: a malformed row is reported with its file and line/row; "
      "--on_error stop\n"
      "  (default) ends the ingest there, --on_error skip reports and goes "
      "on.");
  flags.String("collection", &opts.collection, "target collection", "NAME");
  flags.String("format", &format,
               "input format for every FILE (default: by extension)", "FMT");
  flags.Int("batch_size", &batch_size, "rows per Upsert batch (1-10000)");
  flags.Int("parallel", &parallel, "concurrent Upsert streams");
  flags.Int("in_flight", &in_flight,
            "unacknowledged batches allowed per stream");
  flags.String("id_prefix", &opts.id_prefix,
               "prefix of generated ids (not of ids read from the file)",
               "STR");
  flags.StringList("attribute", &attributes,
                   "attribute added to every document", "KEY=VALUE");
  flags.String("state", &opts.state_path,
               "state file [default: <collection>.ingest-state]", "FILE");
  flags.Bool("resume", &opts.resume,
             "skip the rows the state file says are done");
  flags.String("on_error", &on_error,
               "on a malformed or rejected row: stop or skip", "MODE");
  flags.Double("max_rate", &opts.max_rate, "rows per second limit (0 = none)");
  flags.Int("retries", &retries,
            "times a broken stream is reopened before giving up");
  flags.String("progress", &progress,
               "auto (bar on a terminal, else lines), bar, lines or none",
               "MODE");
  flags.Duration("progress_interval", &opts.progress_interval,
                 "time between progress lines when not a terminal");
  flags.Section("CSV/TSV");
  flags.String("csv_header", &csv_header,
               "first line is a header: auto, yes, no", "MODE");
  flags.String("csv_id", &csv_id,
               "id column: auto ('id' header, or a non-numeric first field), "
               "first, none",
               "MODE");
  flags.String("delimiter", &delimiter,
               "field delimiter (default: ',' for csv, tab for tsv)", "CHAR");
  flags.Section("Collection");
  flags.Bool(
      "create", &create,
      "create the collection if missing (dimension from the first file)");
  flags.String("metric", &metric, "metric for --create: l2, ip, cosine",
               "METRIC");
  flags.Bool("train", &train, "start training the index after the ingest");
  flags.Bool("wait", &wait, "with --train: wait until the index is ready");
  flags.Duration("wait_timeout", &wait_timeout, "give up waiting after this");
  AddIndexFlags(&flags, &index);
  AddGlobalFlags(&flags, &global);
  if (auto rc = ParseFlags(flags, args)) return *rc;

  if (opts.collection.empty()) return UsageError(cmd, "missing --collection");
  opts.files = flags.positional();
  if (opts.files.empty()) return UsageError(cmd, "no input files");
  if (batch_size < 1 || batch_size > 10000) {
    return UsageError(cmd, "--batch_size must be in 1..10000");
  }
  if (parallel < 1 || parallel > 64) {
    return UsageError(cmd, "--parallel must be in 1..64");
  }
  if (in_flight < 1 || in_flight > 1024) {
    return UsageError(cmd, "--in_flight must be in 1..1024");
  }
  if (retries < 0) return UsageError(cmd, "--retries must be >= 0");
  opts.batch_size = static_cast<size_t>(batch_size);
  opts.parallel = static_cast<size_t>(parallel);
  opts.in_flight = static_cast<size_t>(in_flight);
  opts.retries = static_cast<int>(retries);
  if (on_error != "stop" && on_error != "skip") {
    return UsageError(cmd, "--on_error must be stop or skip");
  }
  opts.stop_on_error = on_error == "stop";
  if (!format.empty()) {
    absl::StatusOr<client::Format> f = client::ParseFormat(format);
    if (!f.ok()) return UsageError(cmd, f.status().message());
    opts.reader.format = *f;
  }
  if (csv_header == "auto") {
    opts.reader.csv.header = client::CsvOptions::Header::kAuto;
  } else if (csv_header == "yes") {
    opts.reader.csv.header = client::CsvOptions::Header::kYes;
  } else if (csv_header == "no") {
    opts.reader.csv.header = client::CsvOptions::Header::kNo;
  } else {
    return UsageError(cmd, "--csv_header must be auto, yes or no");
  }
  if (csv_id == "auto") {
    opts.reader.csv.id_column = client::CsvOptions::IdColumn::kAuto;
  } else if (csv_id == "first") {
    opts.reader.csv.id_column = client::CsvOptions::IdColumn::kFirst;
  } else if (csv_id == "none") {
    opts.reader.csv.id_column = client::CsvOptions::IdColumn::kNone;
  } else {
    return UsageError(cmd, "--csv_id must be auto, first or none");
  }
  if (!delimiter.empty()) {
    if (delimiter == "\\t" || delimiter == "tab") delimiter = "\t";
    if (delimiter.size() != 1) {
      return UsageError(cmd, "--delimiter must be one character");
    }
    opts.reader.csv.delimiter = delimiter[0];
  }
  for (const std::string& a : attributes) {
    const size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0) {
      return UsageError(cmd,
                        absl::StrCat("--attribute '", a, "' is not KEY=VALUE"));
    }
    opts.attributes.emplace_back(a.substr(0, eq), a.substr(eq + 1));
  }
  if (progress == "auto") {
    opts.progress = isatty(STDERR_FILENO) ? IngestOptions::Progress::kBar
                                          : IngestOptions::Progress::kLines;
  } else if (progress == "bar") {
    opts.progress = IngestOptions::Progress::kBar;
  } else if (progress == "lines") {
    opts.progress = IngestOptions::Progress::kLines;
  } else if (progress == "none") {
    opts.progress = IngestOptions::Progress::kNone;
  } else {
    return UsageError(cmd, "--progress must be auto, bar, lines or none");
  }
  if (opts.state_path.empty()) {
    opts.state_path = opts.collection + ".ingest-state";
  }

  auto client_or = MakeClient(global);
  if (!client_or.ok()) return ReportError(cmd, client_or.status());
  client::QuiverClient& client = **client_or;
  Console console(opts.progress == IngestOptions::Progress::kBar);

  // The state: fresh, or loaded and checked against this command line.
  IngestState state;
  state.collection = opts.collection;
  state.id_prefix = opts.id_prefix;
  for (const std::string& f : opts.files) {
    FileProgress fp;
    fp.path = f;
    std::error_code ec;
    fp.size = std::filesystem::file_size(f, ec);
    if (ec) fp.size = 0;
    state.files.push_back(fp);
  }
  if (opts.resume) {
    absl::StatusOr<IngestState> old = LoadIngestState(opts.state_path);
    if (!old.ok() && old.status().code() == absl::StatusCode::kNotFound) {
      console.Print(absl::StrCat("no state file ", opts.state_path,
                                 "; starting from the beginning"));
    } else if (!old.ok()) {
      return ReportError(cmd, old.status());
    } else {
      std::string why;
      if (old->collection != state.collection) {
        why = absl::StrCat("it is for collection '", old->collection, "'");
      } else if (old->id_prefix != state.id_prefix) {
        why = absl::StrCat("it used --id_prefix '", old->id_prefix, "'");
      } else if (old->files.size() != state.files.size()) {
        why = absl::StrCat("it lists ", old->files.size(), " files, not ",
                           state.files.size());
      } else {
        for (size_t i = 0; i < state.files.size() && why.empty(); ++i) {
          if (old->files[i].path != state.files[i].path) {
            why = absl::StrCat("file ", i, " was ", old->files[i].path);
          } else if (old->files[i].size != state.files[i].size) {
            why = absl::StrCat(state.files[i].path, " changed size (",
                               old->files[i].size, " -> ", state.files[i].size,
                               " bytes)");
          }
        }
      }
      if (!why.empty()) {
        return ReportError(
            cmd, absl::FailedPreconditionError(absl::StrCat(
                     "cannot resume from ", opts.state_path, ": ", why,
                     " (run without --resume to start over)")));
      }
      state = std::move(*old);
    }
  }

  // The collection: its dimension validates every row client-side.
  absl::StatusOr<v1::CollectionInfo> info =
      client.GetCollection(opts.collection);
  if (!info.ok() && info.status().code() == absl::StatusCode::kNotFound &&
      create) {
    absl::StatusOr<size_t> dim = ProbeDimension(opts.files[0], opts.reader);
    if (!dim.ok()) return ReportError(cmd, dim.status());
    v1::CreateCollectionRequest request;
    request.set_name(opts.collection);
    request.set_dimension(static_cast<uint32_t>(*dim));
    absl::StatusOr<v1::Metric> m = ParseMetric(metric);
    if (!m.ok()) return UsageError(cmd, m.status().message());
    request.set_metric(*m);
    if (absl::Status s = ToIndexParams(index, request.mutable_index());
        !s.ok()) {
      return UsageError(cmd, s.message());
    }
    info = client.CreateCollection(request);
    if (info.ok()) {
      console.Print(absl::StrCat("created collection '", opts.collection,
                                 "' (dimension ", *dim, ", ", MetricName(*m),
                                 ")"));
    } else if (info.status().code() == absl::StatusCode::kAlreadyExists) {
      info = client.GetCollection(opts.collection);
    }
  }
  if (!info.ok()) {
    if (info.status().code() == absl::StatusCode::kNotFound) {
      return ReportError(cmd, absl::NotFoundError(absl::StrCat(
                                  info.status().message(),
                                  " (create it first, or pass --create)")));
    }
    return ReportError(cmd, info.status());
  }
  opts.reader.expected_dimension = info->dimension();

  struct sigaction sa = {};
  sa.sa_handler = OnSigint;
  sa.sa_flags = SA_RESETHAND;  // a second Ctrl-C kills at once
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  Ingester ingester(opts, &client, &console, std::move(state));
  const int rc = ingester.Run();
  if (rc != kExitOk || !train) return rc;
  absl::StatusOr<v1::CollectionInfo> trained = client.Train(opts.collection);
  if (!trained.ok()) return ReportError(cmd, trained.status());
  std::cerr << "training '" << opts.collection << "' started\n";
  if (!wait) return kExitOk;
  absl::StatusOr<v1::CollectionInfo> ready =
      client.WaitReady(opts.collection, wait_timeout);
  if (!ready.ok()) return ReportError(cmd, ready.status());
  std::cerr << "collection '" << opts.collection << "' is ready (nlist "
            << ready->index().nlist() << ")\n";
  return kExitOk;
}

}  // namespace quiver::cli
