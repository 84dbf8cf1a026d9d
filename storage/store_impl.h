// Private to storage/: the state behind a Store (see store.h), shared by
// store.cc (opening, collections, quantizers, operations) and
// store_documents.cc (document batches, lookups, iteration).
//
// Thread safety: `db` is thread-safe. `mu` guards the collection cache; Write()
// holds it shared while validating and writing a batch, and collection
// creation and removal hold it exclusively, so that no batch can write keys of
// a collection that is being (or has been) dropped.
#ifndef QUIVER_STORAGE_STORE_IMPL_H_
#define QUIVER_STORAGE_STORE_IMPL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/db.h"
#include "rocksdb/iterator.h"
#include "rocksdb/snapshot.h"
#include "storage/rocksdb_status.h"
#include "storage/store.h"

namespace quiver::storage {

// Indices of the column families in StoreState::cf.
enum CfIndex : size_t {
  kDefaultCf = 0,
  kCollectionsCfIndex,
  kQuantizersCfIndex,
  kVectorsCfIndex,
  kCodesCfIndex,
  kIdsCfIndex,
  kAttributesCfIndex,
  kNumCfs,
};

// The persisted high-water mark of a collection (one past the largest
// internal id ever written; default family, keys::HighWaterKey). A batch that
// raises it writes the new mark in the same WriteBatch while holding `mu`, so
// marks reach RocksDB in increasing order even with concurrent writers.
struct HighWater {
  absl::Mutex mu;
  uint64_t value ABSL_GUARDED_BY(mu) = 0;  // as last written
};

// What Write() needs to know about a collection, cached from the
// "collections" family.
struct CachedCollection {
  std::string name;
  uint32_t dimension = 0;
  std::shared_ptr<HighWater> high_water;  // never null
};

// Everything behind a Store. Not nested in Store (Store::Impl is private
// there and merely derives from it) so that free helper functions can take
// it.
struct StoreState {
  StoreState() = default;
  ~StoreState();
  StoreState(const StoreState&) = delete;
  StoreState& operator=(const StoreState&) = delete;
  StoreState(StoreState&&) = delete;
  StoreState& operator=(StoreState&&) = delete;

  rocksdb::ColumnFamilyHandle* handle(CfIndex i) const { return cf[i]; }

  // The cached collection `cid`, or NOT_FOUND naming it.
  absl::StatusOr<CachedCollection> Lookup(CollectionId cid) const
      ABSL_LOCKS_EXCLUDED(mu);
  absl::StatusOr<CachedCollection> LookupLocked(CollectionId cid) const
      ABSL_SHARED_LOCKS_REQUIRED(mu);

  // Calls fn(key, value) for every key of family `i` in [lower, upper) (to
  // the end of the family if `upper` is empty), in key order, on a snapshot.
  // Stops at the first non-OK status of fn and returns it. `what` names the
  // scan in error messages.
  template <typename Fn>
  absl::Status Scan(CfIndex i, const std::string& lower,
                    const std::string& upper, std::string_view what,
                    const Fn& fn) const;

  // OK when a write may go ahead: RESOURCE_EXHAUSTED when the store is
  // read-only, or when `adds_data` and the disk is nearly full (disk.h).
  absl::Status CheckWritable(bool adds_data, std::string_view what) const;

  StoreOptions options;
  bool read_only = false;  // set once by Store::Open
  rocksdb::WriteOptions write_options;
  std::unique_ptr<rocksdb::DB> db;
  // Owned; destroyed (before `db`) by ~StoreState.
  std::array<rocksdb::ColumnFamilyHandle*, kNumCfs> cf{};

  mutable absl::Mutex mu;
  absl::flat_hash_map<CollectionId, CachedCollection> collections
      ABSL_GUARDED_BY(mu);
  CollectionId next_collection_id ABSL_GUARDED_BY(mu) = 1;
};

struct Store::Impl final : StoreState {};

// The persisted high-water mark of `cid`: 0 if absent, DATA_LOSS if corrupt.
absl::StatusOr<uint64_t> ReadHighWater(const StoreState& state,
                                       CollectionId cid);

// Releases a snapshot on destruction.
class ScopedSnapshot {
 public:
  explicit ScopedSnapshot(rocksdb::DB* db)
      : db_(db), snapshot_(db->GetSnapshot()) {}
  ~ScopedSnapshot() { db_->ReleaseSnapshot(snapshot_); }
  ScopedSnapshot(const ScopedSnapshot&) = delete;
  ScopedSnapshot& operator=(const ScopedSnapshot&) = delete;
  ScopedSnapshot(ScopedSnapshot&&) = delete;
  ScopedSnapshot& operator=(ScopedSnapshot&&) = delete;
  const rocksdb::Snapshot* get() const { return snapshot_; }

 private:
  rocksdb::DB* db_;
  const rocksdb::Snapshot* snapshot_;
};

template <typename Fn>
absl::Status StoreState::Scan(CfIndex i, const std::string& lower,
                              const std::string& upper, std::string_view what,
                              const Fn& fn) const {
  ScopedSnapshot snapshot(db.get());
  const rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read_options;
  read_options.snapshot = snapshot.get();
  if (!upper.empty()) read_options.iterate_upper_bound = &upper_slice;
  // Scans rebuild in-memory state once; keep them from evicting hot blocks.
  read_options.fill_cache = false;
  read_options.readahead_size = 2 << 20;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options, cf[i]));
  for (it->Seek(lower); it->Valid(); it->Next()) {
    const rocksdb::Slice key = it->key();
    const rocksdb::Slice value = it->value();
    absl::Status s = fn(std::string_view(key.data(), key.size()),
                        std::string_view(value.data(), value.size()));
    if (!s.ok()) return s;
  }
  return FromRocksDb(it->status(), what);
}

}  // namespace quiver::storage

#endif  // QUIVER_STORAGE_STORE_IMPL_H_
