#include "server/upsert_stream.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/stubs/common.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/log.h"
#include "server/convert.h"

namespace quiver::server {

using google::protobuf::internal::WireFormatLite;

// ---- Parsing ---------------------------------------------------------------

namespace {

bool IsUtf8(const std::string& s) {
  return google::protobuf::internal::IsStructurallyValidUTF8(
      s.data(), static_cast<int>(s.size()));
}

}  // namespace

absl::StatusOr<ParsedBatch> ParseUpsertBatch(std::string_view bytes,
                                             uint64_t ordinal) {
  ParsedBatch out;
  if (out.request.ParseFromArray(bytes.data(),
                                 static_cast<int>(bytes.size()))) {
    return out;
  }
  // The fast path failed: read field by field, so that one bad document is
  // a per-record error and the rest of the batch goes in.
  out.request.Clear();
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes.data()),
      static_cast<int>(bytes.size()));
  bool have_batch_id = false;
  auto unreadable = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "batch %s: %s",
        have_batch_id
            ? absl::StrFormat("%d", out.request.batch_id())
            : absl::StrFormat("#%d of the stream (batch_id unread)", ordinal),
        why));
  };
  std::string field;
  bool bad_collection = false;
  while (const uint32_t tag = in.ReadTag()) {
    const int number = WireFormatLite::GetTagFieldNumber(tag);
    const WireFormatLite::WireType type = WireFormatLite::GetTagWireType(tag);
    if (number == v1::UpsertRequest::kCollectionFieldNumber &&
        type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!WireFormatLite::ReadString(&in, &field)) {
        return unreadable("truncated collection name");
      }
      // Reported once the batch_id (usually after it) has been read.
      bad_collection = !IsUtf8(field);
      out.request.set_collection(bad_collection ? "" : field);
    } else if (number == v1::UpsertRequest::kBatchIdFieldNumber &&
               type == WireFormatLite::WIRETYPE_VARINT) {
      uint64_t id = 0;
      if (!in.ReadVarint64(&id)) return unreadable("truncated batch_id");
      out.request.set_batch_id(id);
      have_batch_id = true;
    } else if (number == v1::UpsertRequest::kDocumentsFieldNumber &&
               type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!WireFormatLite::ReadBytes(&in, &field)) {
        return unreadable("truncated document");
      }
      v1::Document* doc = out.request.add_documents();
      if (!doc->ParseFromString(field)) {
        doc->Clear();
        out.malformed.push_back(
            static_cast<uint32_t>(out.request.documents_size() - 1));
      }
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return unreadable("not an UpsertRequest (unreadable field)");
    }
  }
  if (!in.ConsumedEntireMessage()) {
    return unreadable("not an UpsertRequest (bad field tag)");
  }
  if (bad_collection) {
    return unreadable("the collection name is not valid UTF-8");
  }
  if (out.malformed.empty()) {
    // Every part parsed alone, yet the whole did not: not ours to guess.
    return unreadable("not an UpsertRequest");
  }
  return out;
}

// ---- Workers ---------------------------------------------------------------

UpsertWorkers::UpsertWorkers(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

UpsertWorkers::~UpsertWorkers() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void UpsertWorkers::Schedule(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  tasks_.push_back(std::move(task));
}

void UpsertWorkers::Run() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](UpsertWorkers* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
            return w->stop_ || !w->tasks_.empty();
          },
          this));
      if (tasks_.empty()) return;  // stopping, nothing left
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

// ---- The reactor
// -------------------------------------------------------------

class UpsertReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  UpsertReactor(UpsertStreams* owner, absl::Time now)
      : owner_(owner), opened_(now), last_batch_(now) {}

  // First step: refuse with `refusal`, or start reading.
  void Begin(const absl::Status& refusal) {
    if (!refusal.ok()) {
      FinishOnce(ToGrpcStatus(refusal));
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      state_ = State::kReading;
    }
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      if (state_ == State::kFinished) return;  // ended while reading
      if (ok) {
        state_ = State::kProcessing;
        last_batch_ = absl::Now();
      }
    }
    if (!ok) {
      // The client closed its side (or went away): every batch read has
      // been acknowledged.
      FinishOnce(grpc::Status::OK);
      return;
    }
    owner_->workers_.Schedule([this] { Process(); });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED,
                              "client went away before reading the "
                              "acknowledgement"));
      return;
    }
    const absl::Time now = absl::Now();
    grpc::Status end;
    {
      absl::MutexLock lock(&mu_);
      last_batch_ = now;
      end = EndReasonLocked(now);
      if (end.ok()) state_ = State::kReading;
    }
    if (!end.ok()) {
      FinishOnce(end);
      return;
    }
    StartRead(&in_);
  }

  void OnDone() override {
    owner_->Forget(this);
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      status = final_status_;
    }
    if (owner_->done_) owner_->done_(status, absl::Now() - opened_);
    owner_->open_.fetch_sub(1);
    delete this;
  }

  // Reaper and Drain(): decides whether the stream, if it waits for a
  // batch, must end now (a limit, or draining). Non-OK: it is marked
  // finished and the caller must pass the status to EndNow() once it holds
  // no lock of UpsertStreams (Finish may run OnDone on the calling thread).
  grpc::Status Expire(absl::Time now) {
    absl::MutexLock lock(&mu_);
    if (state_ != State::kReading) return grpc::Status::OK;
    grpc::Status end = EndReasonLocked(now);
    if (end.ok() && owner_->limits_.idle_timeout > absl::ZeroDuration() &&
        now - last_batch_ > owner_->limits_.idle_timeout) {
      end = grpc::Status(
          grpc::StatusCode::DEADLINE_EXCEEDED,
          absl::StrFormat("no batch for %s; the stream was closed (the "
                          "server's idle limit). Every batch sent before "
                          "was acknowledged; open a new stream to go on",
                          absl::FormatDuration(now - last_batch_)));
    }
    if (!end.ok()) {
      state_ = State::kFinished;
      final_status_ = end;
    }
    return end;
  }
  void EndNow(const grpc::Status& status) { Finish(status); }

 private:
  enum class State { kStarting, kReading, kProcessing, kWriting, kFinished };

  // Why the stream must end now, between batches (OK: it goes on).
  grpc::Status EndReasonLocked(absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (owner_->draining_.load()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          absl::StrFormat("server is shutting down; %d batches "
                                          "of this stream were acknowledged",
                                          batches_));
    }
    if (owner_->limits_.max_lifetime > absl::ZeroDuration() &&
        now - opened_ > owner_->limits_.max_lifetime) {
      return grpc::Status(
          grpc::StatusCode::DEADLINE_EXCEEDED,
          absl::StrFormat("the stream has been open for %s, the server's "
                          "limit; %d batches were acknowledged. Open a new "
                          "stream to go on",
                          absl::FormatDuration(now - opened_), batches_));
    }
    return grpc::Status::OK;
  }

  void Process() {
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (in_.Dump(&slices).ok()) {
      size_t n = 0;
      for (const grpc::Slice& s : slices) n += s.size();
      bytes.reserve(n);
      for (const grpc::Slice& s : slices) {
        bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
    }
    in_.Clear();
    uint64_t ordinal;
    {
      absl::MutexLock lock(&mu_);
      ordinal = batches_;
    }
    absl::StatusOr<v1::UpsertResponse> response = [&] {
      absl::StatusOr<ParsedBatch> batch = ParseUpsertBatch(bytes, ordinal);
      if (!batch.ok())
        return absl::StatusOr<v1::UpsertResponse>(batch.status());
      return owner_->handler_(*batch);
    }();
    if (!response.ok()) {
      FinishOnce(ToGrpcStatus(response.status()));
      return;
    }
    const std::string wire = response->SerializeAsString();
    grpc::Slice slice(wire);
    out_ = grpc::ByteBuffer(&slice, 1);
    {
      absl::MutexLock lock(&mu_);
      ++batches_;
      state_ = State::kWriting;
    }
    StartWrite(&out_);
  }

  void FinishOnce(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (state_ == State::kFinished) return;
      state_ = State::kFinished;
      final_status_ = status;
    }
    Finish(status);
  }

  UpsertStreams* const owner_;
  const absl::Time opened_;
  grpc::ByteBuffer in_;   // gRPC's while reading, the worker's after
  grpc::ByteBuffer out_;  // gRPC's while writing
  absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kStarting;
  absl::Time last_batch_ ABSL_GUARDED_BY(mu_);
  uint64_t batches_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
};

// ---- The streams
// -------------------------------------------------------------

namespace {

int WorkerCount(int configured) {
  if (configured > 0) return configured;
  return std::max(4, 2 * static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace

UpsertStreams::UpsertStreams(StreamLimits limits, StreamCheck check,
                             BatchHandler handler, StreamDone done)
    : limits_(limits),
      check_(std::move(check)),
      handler_(std::move(handler)),
      done_(std::move(done)),
      workers_(WorkerCount(limits.workers)) {
  reaper_ = std::thread([this] { Reap(); });
}

UpsertStreams::~UpsertStreams() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  reaper_.join();
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
UpsertStreams::Open(grpc::CallbackServerContext* context) {
  auto* reactor = new UpsertReactor(this, absl::Now());
  const int open = open_.fetch_add(1) + 1;
  absl::Status refusal;
  if (draining_.load()) {
    refusal = absl::UnavailableError("server is shutting down");
  } else if (open > limits_.max_streams) {
    refusal = absl::ResourceExhaustedError(absl::StrFormat(
        "%d Upsert streams are open, the server's limit; retry later or send "
        "more documents per stream",
        limits_.max_streams));
  } else if (check_) {
    refusal = check_(context);
  }
  if (refusal.ok()) {
    absl::MutexLock lock(&mu_);
    streams_.insert(reactor);
  }
  reactor->Begin(refusal);
  return reactor;
}

void UpsertStreams::Forget(UpsertReactor* r) {
  absl::MutexLock lock(&mu_);
  streams_.erase(r);
}

void UpsertStreams::Drain() {
  draining_.store(true);
  ExpireAll();
}

void UpsertStreams::ExpireAll() {
  const absl::Time now = absl::Now();
  std::vector<std::pair<UpsertReactor*, grpc::Status>> ends;
  {
    absl::MutexLock lock(&mu_);
    for (UpsertReactor* r : streams_) {
      grpc::Status end = r->Expire(now);
      if (!end.ok()) ends.emplace_back(r, std::move(end));
    }
  }
  // Outside mu_: OnDone (which takes mu_) may run inside Finish.
  for (auto& [r, end] : ends) r->EndNow(end);
}

void UpsertStreams::Reap() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      // Wakes once a second, or at once when stopping.
      mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Seconds(1));
      if (stop_) return;
    }
    ExpireAll();
  }
}

}  // namespace quiver::server
