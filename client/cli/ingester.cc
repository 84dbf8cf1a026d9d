#include "client/cli/ingester.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/cli/common.h"

namespace quiver::cli {

std::atomic<bool>& IngestInterrupted() {
  static std::atomic<bool> interrupted{false};
  return interrupted;
}

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
        doc->mutable_typed_attributes()->erase(k);
        (*doc->mutable_attributes())[k] = std::move(v);
      }
      for (auto& [k, v] : row.typed_attributes) {
        // A key is in one map only: a typed value replaces a --attribute.
        doc->mutable_attributes()->erase(k);
        SetValue(std::move(v), &(*doc->mutable_typed_attributes())[k]);
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

  absl::Status Send(const BatchPtr& batch) {
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
      st = sender.Send(b);
      if (st.ok()) continue;
    }
    // No more batches, or the stream broke: close it and collect the acks.
    absl::Status fin = sender.Finish();
    if (st.ok() && fin.ok()) break;
    absl::Status err = !fin.ok() ? fin : st;
    const bool retryable = err.code() == absl::StatusCode::kUnavailable ||
                           err.code() == absl::StatusCode::kAborted;
    if (!retryable || ++failures > opts_.retries ||
        IngestInterrupted().load()) {
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
    if (IngestInterrupted().load()) interrupted_ = true;
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

}  // namespace quiver::cli
