#include "server/upsert_stream.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/stubs/common.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>
#include <memory>
#include <optional>
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
    Actions a;
    {
      absl::MutexLock lock(&mu_);
      if (!refusal.ok()) {
        a.finish = EndLocked(ToGrpcStatus(refusal));
      } else {
        a = StepLocked(absl::Now());
      }
    }
    Act(a);
  }

  void OnReadDone(bool ok) override {
    Actions a;
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      if (finished_) return;  // ended while reading
      const absl::Time now = absl::Now();
      if (!ok) {
        // The client closed its side (or went away): the stream ends once
        // every batch read is acknowledged.
        if (!ending_.has_value()) ending_ = grpc::Status::OK;
      } else if (!ending_.has_value()) {
        last_batch_ = now;
        auto bytes = std::make_shared<grpc::ByteBuffer>();
        bytes->Swap(&in_);
        const uint64_t seq = next_seq_++;
        ++running_;
        owner_->workers_.Schedule(
            [this, seq, bytes] { Process(seq, bytes.get()); });
      }
      a = StepLocked(now);
    }
    Act(a);
  }

  void OnWriteDone(bool ok) override {
    Actions a;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      const absl::Time now = absl::Now();
      if (ok) {
        last_batch_ = now;
      } else {
        broken_ = true;
        if (!ending_.has_value() || ending_->ok()) {
          ending_ = grpc::Status(grpc::StatusCode::CANCELLED,
                                 "client went away before reading the "
                                 "acknowledgement");
        }
      }
      a = StepLocked(now);
    }
    Act(a);
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
  // batch (none in hand), must end now (a limit, or draining). Non-OK: it
  // is marked finished and the caller must pass the status to EndNow()
  // once it holds no lock of UpsertStreams (Finish may run OnDone on the
  // calling thread).
  grpc::Status Expire(absl::Time now) {
    absl::MutexLock lock(&mu_);
    if (finished_ || ending_.has_value() || !reading_ || !QuietLocked()) {
      return grpc::Status::OK;
    }
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
    if (!end.ok()) EndLocked(end);
    return end;
  }
  void EndNow(const grpc::Status& status) { Finish(status); }

 private:
  // What the stream does next, decided under mu_ and done without it.
  struct Actions {
    bool read = false;   // StartRead(&in_)
    bool write = false;  // StartWrite(&out_)
    std::optional<grpc::Status> finish;
  };

  void Act(const Actions& a) {
    if (a.write) StartWrite(&out_);
    if (a.read) StartRead(&in_);
    if (a.finish.has_value()) Finish(*a.finish);
  }

  grpc::Status EndLocked(grpc::Status status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    finished_ = true;
    final_status_ = status;
    return status;
  }

  // No batch in hand: none being processed, and every acknowledgement
  // written (or the client gone).
  bool QuietLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return running_ == 0 && !writing_ && (broken_ || acks_.empty());
  }

  Actions StepLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Actions a;
    if (finished_) return a;
    if (!broken_ && !writing_ && !acks_.empty()) {
      out_ = std::move(acks_.front());
      acks_.pop_front();
      writing_ = a.write = true;
    }
    if (ending_.has_value()) {
      if (QuietLocked()) a.finish = EndLocked(*ending_);
      return a;
    }
    // The server's limits end a stream between batches, and stop it
    // reading ahead.
    grpc::Status end = EndReasonLocked(now);
    if (!end.ok()) {
      if (QuietLocked()) a.finish = EndLocked(end);
      return a;
    }
    const size_t in_hand = running_ + acks_.size() + (writing_ ? 1 : 0);
    if (!reading_ && in_hand < UpsertStreams::kPipelineDepth) {
      reading_ = a.read = true;
    }
    return a;
  }

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

  // Until batch `seq` may be written: every batch before it is. Not OK
  // when an earlier batch failed or the client went away.
  absl::Status WaitTurn(uint64_t seq) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    struct Turn {
      UpsertReactor* r;
      uint64_t seq;
    } turn{this, seq};
    mu_.Await(absl::Condition(
        +[](Turn* t) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return t->r->turn_ == t->seq ||
                 (t->r->ending_.has_value() && !t->r->ending_->ok());
        },
        &turn));
    if (ending_.has_value() && !ending_->ok()) {
      return absl::CancelledError(
          "an earlier batch of this stream failed, or its client went away: "
          "this batch was not written");
    }
    return absl::OkStatus();
  }

  void Process(uint64_t seq, grpc::ByteBuffer* in) {
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (in->Dump(&slices).ok()) {
      size_t n = 0;
      for (const grpc::Slice& s : slices) n += s.size();
      bytes.reserve(n);
      for (const grpc::Slice& s : slices) {
        bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
    }
    in->Clear();
    bool my_turn = false;
    const UpsertStreams::BeforeWrite before_write = [&] {
      absl::Status s = WaitTurn(seq);
      my_turn = s.ok();
      return s;
    };
    absl::StatusOr<v1::UpsertResponse> response = [&] {
      absl::StatusOr<ParsedBatch> batch = ParseUpsertBatch(bytes, seq);
      if (!batch.ok())
        return absl::StatusOr<v1::UpsertResponse>(batch.status());
      return owner_->handler_(*batch, before_write);
    }();
    // Acknowledged (or failed) in the stream's order too.
    if (!my_turn) my_turn = WaitTurn(seq).ok();
    std::string wire;
    if (my_turn && response.ok()) wire = response->SerializeAsString();
    Actions a;
    {
      absl::MutexLock lock(&mu_);
      if (my_turn) {
        if (response.ok()) {
          grpc::Slice slice(wire);
          acks_.emplace_back(&slice, 1);
          ++batches_;
        } else {
          ending_ = ToGrpcStatus(response.status());
        }
        turn_ = seq + 1;
      }
      --running_;
      a = StepLocked(absl::Now());
    }
    Act(a);
  }

  UpsertStreams* const owner_;
  const absl::Time opened_;
  grpc::ByteBuffer in_;   // gRPC's while reading_
  grpc::ByteBuffer out_;  // gRPC's while writing_
  absl::Mutex mu_;
  absl::Time last_batch_ ABSL_GUARDED_BY(mu_);
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // Batches handed to the workers and not done with.
  size_t running_ ABSL_GUARDED_BY(mu_) = 0;
  // Acknowledgements waiting for the one being written.
  std::deque<grpc::ByteBuffer> acks_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;  // the next batch read
  uint64_t turn_ ABSL_GUARDED_BY(mu_) = 0;      // the next batch to write
  uint64_t batches_ ABSL_GUARDED_BY(mu_) = 0;   // acknowledged
  // How the stream will end once quiet: OK when the client closed its
  // side, else the first failure.
  std::optional<grpc::Status> ending_ ABSL_GUARDED_BY(mu_);
  bool broken_ ABSL_GUARDED_BY(mu_) = false;    // the client went away
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // Finish decided
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
