// One collection of the engine: the in-memory index state (an exact
// FlatIndex over every vector in half precision, an IVF-PQ index once
// trained, the id maps and
// the attribute postings) wired to its durable copy in the Store. Plain C++
// types in and out; no gRPC.
//
//   QUIVER_ASSIGN_OR_RETURN(auto c, Collection::Open(store, meta, {}));
//   QUIVER_ASSIGN_OR_RETURN(UpsertResult r, c->Upsert(std::move(docs)));
//   QUIVER_ASSIGN_OR_RETURN(auto hits, c->Search(query));
//
// Writes: every Upsert()/Delete() is ONE atomic Store::Write; the in-memory
// state is updated after it succeeds and before the call returns, so a search
// that starts after an acknowledged write sees it. A deleted document's
// internal id goes to a later new document (so memory follows the live
// count under churn), but only once no search that started before the
// delete still runs: a search never names a document that took the place of
// one it found.
//
// Training: StartTraining() (or an automatic trigger, see "Maintenance")
// runs in a background thread at low CPU priority: it samples the stored
// vectors, trains an IvfPqIndex, encodes every vector, persists the
// quantizer and the codes, and swaps the new index in. Writers keep going
// meanwhile; the ids they touch are logged and re-encoded just before the swap,
// under the writer lock, so the new index is complete. Persisted codes carry
// the training generation, so a crash in the middle of persisting is repaired
// on the next Open() (codes of another generation are re-encoded).
//
// Lists that outgrow the rest (writes crowding into one region) are split
// and lists emptied by deletes merged, in the background like a training
// but touching only those lists and their neighbours
// (IvfPqIndex::Rebalance); a full retraining stays the fallback. Persisted
// codes then belong to the quantizer by their generation and list epoch
// (records::CodeIsCurrent).
//
// Maintenance: nobody has to call Train. A collection trains itself when it
// reaches AutoTrainThreshold() (until then searches are exact), and again
// whenever RetrainReason() says so: it doubled (or shrank to a quarter)
// since the last training, grew a quarter past a size where a fresh build
// has twice the lists (AutoNlist), or the vectors written since then quantize
// markedly worse than the collection did right after it. After every training
// it measures its own recall@10 on a sample of stored vectors used as queries
// (each query's own document left out of both answers) and picks the
// cheapest nprobe / rerank that reach the target recall; those become the
// defaults of requests that do not set them (persisted with the schema).
//
// Validation: Upsert() and Search() check their inputs themselves (ids,
// dimension, finite values, attribute limits, k, query count) and answer
// INVALID_ARGUMENT, so no caller can corrupt the collection by skipping the
// RPC layer's checks.
//
// Thread safety: every public method is safe to call concurrently. Writers
// (Upsert, Delete, the end of a training) are serialised by one mutex per
// collection; searches never take it and run in parallel with each other and
// with writers (the indexes lock per list / per scan).
#ifndef QUIVER_SERVER_ENGINE_COLLECTION_H_
#define QUIVER_SERVER_ENGINE_COLLECTION_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "index/flat_index.h"
#include "index/ivf_pq_index.h"
#include "roaring/roaring.hh"
#include "server/engine/attribute_index.h"
#include "server/engine/attributes.h"
#include "server/engine/config.h"
#include "server/engine/filter.h"
#include "server/engine/name_table.h"
#include "storage/store.h"

namespace quiver::engine {

enum class TrainState { kUntrained, kTraining, kReady };

// One document of an upsert.
struct DocumentInput {
  std::string id;
  std::vector<float> vector;  // exactly `dimension` values
  Attributes attributes;
};

// A document as stored.
struct StoredDocument {
  std::string id;
  std::vector<float> vector;  // empty unless requested
  Attributes attributes;
};

// A search request. queries: nq * dimension floats, row-major.
struct SearchQuery {
  const float* queries = nullptr;
  size_t nq = 0;
  size_t k = 10;
  uint32_t nprobe = 0;  // 0 = collection default; clamped to nlist
  uint32_t rerank = 0;  // 0 = collection default
  // Equality on every entry (the API's `filter` map); empty = none.
  Attributes filter;
  // A filter expression, ANDed with `filter`.
  std::optional<Filter> where;
  bool exact = false;  // brute force regardless of the index
  bool include_attributes = false;
};

// How a search was answered (SearchRequest.explain).
struct SearchPlan {
  // "exact", "exact-filtered", "ivf" or "ivf-filtered".
  std::string strategy;
  uint64_t matching = 0;  // documents matching the filter (count without)
  uint64_t count = 0;     // live documents
  uint32_t nprobe = 0;    // the most lists probed by one query
  uint32_t rerank = 0;
  std::string detail;
};

struct SearchHit {
  std::string id;
  float distance = 0;
  Attributes attributes;  // only with include_attributes
};

// A snapshot of a collection's state for GetCollection / metrics.
struct CollectionStatus {
  // index: as requested, with the values in use filled in once trained
  // (nprobe and rerank: the defaults a request gets).
  CollectionConfig config;
  // Measured defaults and the figures of the last training.
  MaintenanceState maintenance;
  uint64_t count = 0;
  TrainState state = TrainState::kUntrained;
  index::ListStats lists;  // trained collections only
  size_t memory_bytes = 0;
  double training_progress = 0;
  uint64_t train_generation = 0;
  std::string last_error;
  double last_training_seconds = 0;
  // Why the last training started ("created", "grew from ...", "requested").
  std::string last_training_reason;
};

struct CollectionOptions {
  // Threads used by a training (0 = DefaultTrainThreads(): all cores but
  // one).
  int train_threads = 0;
  // Queries used to measure recall after a training, held out of its
  // sample (at most a fifth of the collection; 0 = the defaults are not
  // tuned).
  size_t tune_queries = 1000;
  // Tests only (crash tests kill the process at a chosen step): called on
  // the training thread at named steps of a training or rebalance, with no
  // lock held. "rebalance entries persisted": a rebalance wrote the entries
  // it moved, not yet its quantizer record; "swapped": the quantizer
  // record is written and the new index in use, the defaults not yet
  // measured again; "defaults: exact answers computed": the measurement of
  // the defaults has its exact answers, not yet the approximate ones.
  std::function<void(const char* step)> training_step_hook;
};

class Collection {
 public:
  // Builds the in-memory state of the stored collection `meta` from `store`
  // without re-encoding (codes of another generation are re-encoded and
  // rewritten). `store` must outlive the collection. DATA_LOSS for a corrupt
  // schema, quantizer or attribute record.
  static absl::StatusOr<std::unique_ptr<Collection>> Open(
      storage::Store* store, const storage::CollectionMeta& meta,
      const CollectionOptions& options);

  ~Collection();
  Collection(const Collection&) = delete;
  Collection& operator=(const Collection&) = delete;

  const CollectionConfig& config() const { return config_; }
  const std::string& name() const { return config_.name; }
  storage::CollectionId id() const { return cid_; }

  // Stores `docs` in one atomic write, then updates memory. INVALID_ARGUMENT
  // naming the position of the first invalid document (nothing written). An
  // existing id keeps its internal id and gets the new vector, code and
  // attributes. Duplicate ids in one call: the last one wins. Returns the
  // number of documents written. NOT_FOUND after Drop; store errors as-is. May
  // start the automatic training.
  //
  // `before_write` (optional) is called once, outside every lock of the
  // collection, after the batch is validated and encoded and before it is
  // written: a caller whose batches must be written in order (one Upsert
  // stream, encoding its next batch while this one is written) waits there
  // for the batch before it. A non-OK status from it is returned and
  // nothing is written.
  absl::StatusOr<uint64_t> Upsert(
      std::vector<DocumentInput> docs,
      const std::function<absl::Status()>& before_write = nullptr);
  // Deletes the documents with these ids (unknown ids are ignored); returns
  // how many existed.
  absl::StatusOr<uint64_t> Delete(absl::Span<const std::string> ids);
  // The stored documents of these ids, in request order; unknown ids are
  // absent.
  absl::StatusOr<std::vector<StoredDocument>> Get(
      absl::Span<const std::string> ids, bool include_vectors) const;
  // k nearest neighbours of each query, best first. INVALID_ARGUMENT for k
  // outside 1..1024, no or too many queries, a bad vector, a bad filter (see
  // ValidateFilter and AttributeIndex::CheckTypes).
  //
  // Filters: the attribute indexes give the exact set of matching documents
  // (a bitmap) first; then the planner picks the cheaper of
  //   exact-filtered  brute force over the matching documents only, and
  //   ivf-filtered    the IVF scan with the bitmap applied inside it,
  //                   probing more lists the rarer the matches are
  //                   (nprobe * sqrt(0.5 / selectivity) below 50%), and
  //                   again with more lists while a query has fewer than k
  //                   hits,
  // by the bytes each would read (rows; codes, ids and distance tables). Either
  // way k hits come back whenever k documents match. Hits deleted (or whose
  // attributes changed) by a write racing with the scan are dropped and the
  // query is scanned again. `plan`, when given, receives the plan chosen.
  absl::StatusOr<std::vector<std::vector<SearchHit>>> Search(
      const SearchQuery& query, SearchPlan* plan = nullptr) const;

  // Starts a (re)training in the background with `overrides` merged into the
  // requested index params (kept if the training succeeds). Returns at once.
  // FAILED_PRECONDITION if too few vectors are stored; INVALID_ARGUMENT for
  // bad overrides. While a training runs, a request with overrides is queued
  // (OK) and runs with them as soon as that training ends; one without is a
  // no-op (OK).
  absl::Status StartTraining(const std::optional<IndexConfig>& overrides,
                             std::string reason = "requested");
  // Blocks until no training is running (tests, shutdown).
  void WaitForTraining();

  CollectionStatus Status() const;
  uint64_t count() const;
  // Nlist of the trained index, 0 if untrained.
  uint32_t nlist() const;

  // Marks the collection dropped (later writes fail with NOT_FOUND), cancels
  // and joins its training. Holds the writer lock while `on_stopped` runs
  // (the registry removes the store's keys there), so no write interleaves.
  absl::Status Drop(const std::function<absl::Status()>& on_stopped);
  // Cancels and joins the training thread (shutdown).
  void Stop();

 private:
  class RoaringFilter;

  Collection(storage::Store* store, storage::CollectionId cid,
             CollectionConfig config, MaintenanceState maintenance,
             const CollectionOptions& options);

  struct IndexSnapshot {
    std::shared_ptr<index::IvfPqIndex> ivf;  // null while untrained
    uint32_t generation = 0;
    // The full training it comes from (tuned defaults measured on any
    // generation since still apply).
    uint32_t base_generation = 0;
  };

  absl::Status Recover();
  absl::StatusOr<uint64_t> DeleteLocked(absl::Span<const std::string> ids);
  IndexSnapshot CurrentIndex() const;
  // Internal ids of every stored document, ascending.
  std::vector<uint64_t> LiveIds() const;
  bool IsLive(uint64_t iid) const ABSL_SHARED_LOCKS_REQUIRED(meta_mu_);
  // The attributes of a live document (empty if it has none).
  const Attributes& AttributesOf(uint64_t iid) const
      ABSL_SHARED_LOCKS_REQUIRED(meta_mu_);
  // The documents matching `filter` now, and the live count.
  absl::Status EvaluateFilter(const Filter& filter, Roaring* matching,
                              uint64_t* count) const;
  // Starts a training when the collection reached its threshold untrained,
  // or RetrainReason() says so.
  void MaybeAutoTrain(uint64_t count);
  // RetrainReason() for the current state ("" = none).
  std::string RetrainReasonNow(uint64_t count) const;
  // Lists to split and merge now (automatic nlist only; none = empty).
  index::RebalanceOptions PlanRebalance() const;
  // Why a rebalance (or a new measurement of the defaults) should run now
  // ("" = none); checked every RebalanceCheckInterval() writes.
  std::string RebalanceReasonNow() const;
  // Starts a rebalance in the background unless a training runs.
  void StartRebalance(std::string reason);
  // Starts the training thread for the next generation; returns the
  // previous (finished) thread to join outside the lock.
  std::thread LaunchLocked(CollectionConfig config, std::string reason,
                           bool rebalance)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(train_mu_);
  void TrainMain(CollectionConfig config, uint32_t generation, bool rebalance);
  absl::Status RunTraining(const CollectionConfig& config, uint32_t generation,
                           bool rebalance);
  // Measures recall on stored vectors and picks the cheapest default nprobe
  // and rerank reaching the target; persists them with the schema.
  // `queries`: stored documents held out of the training sample;
  // `population`: the training's snapshot of ids, the only documents the
  // measurement searches.
  // `after_rebalance`: measured after a split/merge or growth, not a
  // training; below the target, a full training is due.
  void TuneDefaults(const index::IvfPqIndex& ivf, const IndexConfig& config,
                    uint32_t generation, std::vector<uint64_t> queries,
                    const Roaring& population, bool after_rebalance);
  // Persists the schema record (config as requested + maintenance state).
  absl::Status PersistSchema();
  // Mean squared distance of the n rows of x to their coarse centroids
  // `lists[i]`.
  double QuantizationError(const index::IvfPqIndex& ivf, const float* x,
                           const uint32_t* lists, size_t n) const;
  void SetProgress(double p);
  // `want` of `ids` (seeded) as queries measuring the defaults without a
  // training, as many from the documents of the last training's snapshot
  // as their share of `ids`, and those from the ones its quantizers were
  // not fitted to when there are enough of them (the rest from the
  // documents written since).
  std::vector<uint64_t> MeasurementQueries(const std::vector<uint64_t>& ids,
                                           size_t want, uint64_t seed) const;

  storage::Store* const store_;
  const storage::CollectionId cid_;
  const CollectionConfig config_;  // as created; see requested_ for updates
  const CollectionOptions options_;

  // Serialises writers: Upsert, Delete, the persist/swap of a training, Drop.
  mutable absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(meta_mu_);
  uint64_t next_iid_ ABSL_GUARDED_BY(write_mu_) = 0;
  // Internal ids of deleted documents, taken by new documents before
  // next_iid_ (a collection with churn keeps as many id slots as it holds
  // documents, not as it ever held): freed_iids_ were freed since the last
  // moment no search ran (a search that started before an id was freed
  // may still name its old document), free_iids_ can be reused.
  std::vector<uint64_t> freed_iids_ ABSL_GUARDED_BY(write_mu_);
  std::vector<uint64_t> free_iids_ ABSL_GUARDED_BY(write_mu_);
  bool dropped_ ABSL_GUARDED_BY(write_mu_) = false;
  // While a training runs: internal ids written since its snapshot, and
  // once its index is swapped in, since the swap (the measurement of the
  // defaults that follows leaves them out).
  bool logging_ ABSL_GUARDED_BY(write_mu_) = false;
  std::vector<uint64_t> changed_ ABSL_GUARDED_BY(write_mu_);
  // Vectors encoded since the last training and the sum of their squared
  // distances to their coarse centroids (the drift trigger).
  uint64_t recent_count_ ABSL_GUARDED_BY(write_mu_) = 0;
  double recent_error_sum_ ABSL_GUARDED_BY(write_mu_) = 0;
  // Documents deleted since the last training, and since the last
  // compaction of the collection's keys.
  uint64_t recent_deleted_ ABSL_GUARDED_BY(write_mu_) = 0;
  uint64_t deleted_since_compaction_ ABSL_GUARDED_BY(write_mu_) = 0;

  // Id maps and attributes. Writers hold write_mu_ and then meta_mu_.
  mutable absl::Mutex meta_mu_;
  NameTable names_ ABSL_GUARDED_BY(meta_mu_);
  // Documents with attributes only (most have none).
  absl::flat_hash_map<uint64_t, Attributes> attrs_ ABSL_GUARDED_BY(meta_mu_);
  // Attribute indexes over the live documents, and the live internal ids.
  AttributeIndex attr_index_ ABSL_GUARDED_BY(meta_mu_);
  Roaring live_ ABSL_GUARDED_BY(meta_mu_);

  // Held shared by every search, from its scan to naming its hits; a
  // writer that gets it exclusively (TryLock, never waiting) knows that no
  // search still holds an id freed before (see free_iids_).
  mutable absl::Mutex scan_mu_;

  // Every vector (normalised for cosine) in half precision: exact search,
  // re-ranking and training samples. Get() reads the floats from the store.
  index::FlatIndex flat_;
  index::FlatVectorSource vector_source_;  // reads flat_

  mutable absl::Mutex index_mu_;
  std::shared_ptr<index::IvfPqIndex> ivf_ ABSL_GUARDED_BY(index_mu_);
  uint32_t generation_ ABSL_GUARDED_BY(index_mu_) = 0;
  // The last full training's generation and each list's epoch (see
  // records::QuantizerRecord).
  uint32_t base_generation_ ABSL_GUARDED_BY(index_mu_) = 0;
  std::vector<uint32_t> list_epochs_ ABSL_GUARDED_BY(index_mu_);
  // List sizes right after the last training or rebalance (or at open):
  // what a list's growth is measured against.
  std::vector<size_t> settled_sizes_ ABSL_GUARDED_BY(index_mu_);
  // Writes since the last look at the list sizes.
  std::atomic<uint64_t> writes_since_check_{0};

  // Training lifecycle.
  mutable absl::Mutex train_mu_;
  IndexConfig requested_ ABSL_GUARDED_BY(train_mu_);
  MaintenanceState maintenance_ ABSL_GUARDED_BY(train_mu_);
  std::string last_reason_ ABSL_GUARDED_BY(train_mu_);
  // A training requested (with overrides) while another ran.
  std::optional<IndexConfig> queued_ ABSL_GUARDED_BY(train_mu_);
  std::string queued_reason_ ABSL_GUARDED_BY(train_mu_);
  bool training_ ABSL_GUARDED_BY(train_mu_) = false;
  double progress_ ABSL_GUARDED_BY(train_mu_) = 0;
  std::string last_error_ ABSL_GUARDED_BY(train_mu_);
  double last_training_seconds_ ABSL_GUARDED_BY(train_mu_) = 0;
  // Documents the tuned defaults were measured on (0 = not measured since
  // open); the defaults are measured again when the collection grew
  // kRetuneGrowth times past it.
  uint64_t tuned_count_ ABSL_GUARDED_BY(train_mu_) = 0;
  // The documents of the last full training's snapshot, and those of its
  // sample, which its quantizers were fitted to (not kept across restarts).
  // The defaults measured again after a rebalance or growth take their
  // queries among the others: a vector the quantizers were fitted to reads
  // a higher recall than a new one (0.014 higher at 768 dimensions in
  // stream_bench).
  Roaring trained_snapshot_ ABSL_GUARDED_BY(train_mu_);
  Roaring trained_on_ ABSL_GUARDED_BY(train_mu_);
  // Set when the defaults measured after a rebalance (or growth) fall short
  // of the target: the next training's reason.
  std::string retrain_reason_ ABSL_GUARDED_BY(train_mu_);
  // Count at the last failed automatic training (retried at twice this).
  uint64_t auto_failed_at_ ABSL_GUARDED_BY(train_mu_) = 0;
  std::thread train_thread_ ABSL_GUARDED_BY(train_mu_);
  std::atomic<bool> cancel_{false};
};

}  // namespace quiver::engine

#endif  // QUIVER_SERVER_ENGINE_COLLECTION_H_
