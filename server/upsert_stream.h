// The Upsert stream on gRPC's callback API, with raw (unparsed) messages:
//
//  * An open stream holds no thread while it waits for a batch: a batch is
//    parsed and written by a small pool of workers (UpsertWorkers), so
//    thousands of idle streams cost memory, not threads.
//  * The server parses each batch itself. A document the protobuf parser
//    rejects (proto3 strings must be UTF-8: an id or attribute with bytes
//    such as \xff fails the whole message) becomes a per-record error of
//    its batch; a batch that is not an UpsertRequest at all, or names its
//    collection with invalid UTF-8, ends the stream with INVALID_ARGUMENT
//    naming the batch. Before, such a batch ended the stream with OK and
//    silently dropped it and every later batch.
//  * Limits (StreamLimits): open streams beyond `max_streams` are refused
//    with RESOURCE_EXHAUSTED; a stream with no batch for `idle_timeout`, or
//    open longer than `max_lifetime`, is ended (between batches, never
//    during one) with DEADLINE_EXCEEDED saying which limit.
//
// Pipelined, in order: while a batch is written, the stream's next one is
// read, parsed, validated and encoded (up to kPipelineDepth batches of a
// stream in hand); batches are written and acknowledged in the order they
// came (BeforeWrite). A batch that fails ends the stream once the batches
// before it are acknowledged; the batches after it are not written.
//
// Thread safety: UpsertStreams is thread-safe; a reactor's methods are
// called by gRPC and by the worker pool, serialised by its own mutex.
#ifndef QUIVER_SERVER_UPSERT_STREAM_H_
#define QUIVER_SERVER_UPSERT_STREAM_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "quiver/v1/quiver.pb.h"

namespace quiver::server {

struct StreamLimits {
  // Open Upsert streams; more get RESOURCE_EXHAUSTED.
  int max_streams = 4096;
  // A stream with no batch for this long is ended (0 = never).
  absl::Duration idle_timeout = absl::Minutes(10);
  // A stream open this long is ended after its current batch (0 = never).
  absl::Duration max_lifetime = absl::Hours(24);
  // Threads that process batches (0 = 2 x cores, at least 4).
  int workers = 0;
};

// A parsed batch: documents that could not be parsed are empty in
// `request` and listed (by position) in `malformed`.
struct ParsedBatch {
  v1::UpsertRequest request;
  std::vector<uint32_t> malformed;
};

// Parses one UpsertRequest from its wire bytes (see the header comment).
// `ordinal` (0-based count of batches read on the stream) names the batch
// in errors when its batch_id cannot be read.
absl::StatusOr<ParsedBatch> ParseUpsertBatch(std::string_view bytes,
                                             uint64_t ordinal);

// A fixed pool of threads running queued tasks in order of arrival.
class UpsertWorkers {
 public:
  explicit UpsertWorkers(int threads);
  // Runs every queued task, then joins the threads.
  ~UpsertWorkers();
  UpsertWorkers(const UpsertWorkers&) = delete;
  UpsertWorkers& operator=(const UpsertWorkers&) = delete;
  void Schedule(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

class UpsertReactor;

// The open streams: creates their reactors, enforces the limits, ends idle
// ones (a reaper thread, once a second) and all of them when draining.
class UpsertStreams {
 public:
  // Called by a handler once, after the batch's own work (parsing,
  // validation, encoding) and before it writes anything: waits until the
  // stream's batch before it is written and acknowledged. Non-OK (an
  // earlier batch failed, or the client went away): write nothing and
  // return the status.
  using BeforeWrite = std::function<absl::Status()>;
  // Handles one batch: returns the acknowledgement, or the status that ends
  // the stream. Batches of one stream are handled up to kPipelineDepth at
  // a time; a handler that writes must call before_write first, so that
  // they are written in the stream's order.
  using BatchHandler = std::function<absl::StatusOr<v1::UpsertResponse>(
      ParsedBatch& batch, const BeforeWrite& before_write)>;
  static constexpr int kPipelineDepth = 2;
  // Checks a new stream before its first read (auth, draining): a non-OK
  // status ends it at once.
  using StreamCheck = std::function<absl::Status(grpc::CallbackServerContext*)>;
  // Called once per stream with its final status (metrics).
  using StreamDone = std::function<void(const grpc::Status&, absl::Duration)>;

  UpsertStreams(StreamLimits limits, StreamCheck check, BatchHandler handler,
                StreamDone done);
  // Stops the reaper and the workers. Every stream must have ended (the
  // gRPC server has shut down).
  ~UpsertStreams();
  UpsertStreams(const UpsertStreams&) = delete;
  UpsertStreams& operator=(const UpsertStreams&) = delete;

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Open(
      grpc::CallbackServerContext* context);

  // Ends every stream that waits for a batch with UNAVAILABLE; a stream in
  // the middle of a batch ends after acknowledging it. New streams are
  // refused.
  void Drain() ABSL_LOCKS_EXCLUDED(mu_);
  // Streams open now.
  int open() const { return open_.load(); }

 private:
  friend class UpsertReactor;
  void Reap() ABSL_LOCKS_EXCLUDED(mu_);
  void ExpireAll() ABSL_LOCKS_EXCLUDED(mu_);
  void Forget(UpsertReactor* r) ABSL_LOCKS_EXCLUDED(mu_);

  const StreamLimits limits_;
  const StreamCheck check_;
  const BatchHandler handler_;
  const StreamDone done_;
  std::atomic<int> open_{0};
  std::atomic<bool> draining_{false};
  absl::Mutex mu_;
  absl::flat_hash_set<UpsertReactor*> streams_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  UpsertWorkers workers_;
  std::thread reaper_;
};

}  // namespace quiver::server

#endif  // QUIVER_SERVER_UPSERT_STREAM_H_
