// Quiver's durable store: a small API over RocksDB. Values are bytes; the
// store knows nothing of gRPC or of the index (the server moves bytes between
// them).
//
//   QUIVER_ASSIGN_OR_RETURN(auto store, Store::Open({.path = dir}));
//   QUIVER_ASSIGN_OR_RETURN(CollectionId cid,
//                           store->CreateCollection("docs", 128,
//                           schema_bytes));
//   DocumentBatch batch(cid);
//   batch.Put({.external_id = "a", .internal_id = 0, .vector = v});
//   QUIVER_RETURN_IF_ERROR(store->Write(batch));   // atomic, durable
//
// Layout (column families; integers in keys are big-endian so that keys of
// one collection sort by internal id):
//   "collections"  name                      -> CollectionMeta (encoded)
//   "quantizers"   cid                       -> trained-index blob (opaque)
//   "vectors"      cid | iid                 -> dimension float32 values
//   "codes"        cid | iid                 -> u32 list id | code bytes
//   "ids"          cid | 'e' | external id   -> iid
//                  cid | 'i' | iid           -> external id
//   "attributes"   cid | iid                 -> attribute bytes (opaque)
//
// Durability: every Write() is ONE RocksDB WriteBatch with the write-ahead
// log on, so a batch is all-or-nothing. With StoreOptions::sync = false a
// Write() that returned OK survives a crash of the process (the WAL is in the
// OS page cache) but not necessarily a crash of the machine or power loss;
// with sync = true the WAL is fsync'ed before Write() returns, and the batch
// survives both.
//
// Disk space: a write that adds data (documents, codes, quantizers, a new
// collection) is refused with RESOURCE_EXHAUSTED, naming the free space,
// when the data directory's filesystem would keep less than a reserve
// (StoreOptions::disk_reserve_bytes) plus room to flush the memtables;
// reads, deletes and drops go on. RocksDB's info log goes to Quiver's log,
// not to a file in the store (RocksDB's file logger aborts the process on
// a full disk). A store whose disk is too full to open normally (RocksDB
// must write to recover) opens read-only: reads work and every write gets
// RESOURCE_EXHAUSTED until the process restarts with space freed.
//
// Errors: RocksDB's codes map to absl codes: NotFound -> NOT_FOUND,
// Corruption -> DATA_LOSS, IOError -> UNAVAILABLE, NoSpace ->
// RESOURCE_EXHAUSTED, others -> INTERNAL. Corrupt records (a value of the
// wrong size) are reported as DATA_LOSS, never crashed on.
//
// Thread safety: a Store is safe for concurrent use from many threads without
// external synchronisation. Callers that need read-modify-write consistency
// for one collection (e.g. "look up the iid of an external id, then write")
// must serialise those writers themselves.
#ifndef QUIVER_STORAGE_STORE_H_
#define QUIVER_STORAGE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace quiver::storage {

// Numeric id of a collection, assigned by the store at creation, never reused.
using CollectionId = uint32_t;

struct StoreOptions {
  // Directory of the RocksDB database. Created if missing.
  std::string path;
  // fsync the write-ahead log on every Write() (see "Durability" above).
  bool sync = false;
  // Size of RocksDB's block cache in bytes.
  size_t block_cache_bytes = 64u << 20;
  // Free space (bytes) that writes adding data leave on the data directory's
  // filesystem (see "Disk space" above); -1 = 5% of the filesystem, at most
  // 2 GiB.
  int64_t disk_reserve_bytes = -1;
};

// What the store keeps about a collection.
struct CollectionMeta {
  std::string name;
  CollectionId id = 0;
  uint32_t dimension = 0;
  // Opaque schema bytes owned by the caller (the server stores its
  // CollectionInfo/IndexParams there).
  std::string schema;
};

// A document as written to the store.
struct DocumentRecord {
  std::string external_id;  // 1 .. 512 bytes
  uint64_t internal_id = 0;
  std::vector<float> vector;  // exactly `dimension` finite values
  std::string attributes;     // opaque bytes (may be empty)
  // The PQ code of the vector in a trained index, with its inverted list.
  // Absent while the collection is untrained.
  std::optional<uint32_t> list_id;
  std::string code;
  // The caller knows that no record of `internal_id` is stored (a new id,
  // or one whose document was deleted): Write() then skips clearing its
  // attributes and code, which it otherwise does for a put without them.
  // Wrong when set on a stored document: its stale attributes or code stay.
  bool fresh = false;
};

// Mutations of documents of ONE collection, applied atomically by
// Store::Write(). Validation happens in Write(), before anything is written.
// Within a batch, all Delete()s apply first, then all Put()s, then all
// PutCode()s, whatever the order of the calls.
class DocumentBatch {
 public:
  explicit DocumentBatch(CollectionId cid) : cid_(cid) {}

  // Inserts or replaces the document `record.internal_id` (vector, ids,
  // attributes and, if record.list_id is set, its code). The caller must
  // Delete() a previous internal id of the same external id in the same batch
  // if it changes (the server reuses the old internal id instead). Empty
  // attributes are not stored (ForEachAttributes() skips the document).
  void Put(DocumentRecord record) { puts_.push_back(std::move(record)); }
  // Removes every record of the document (vector, code, both id mappings,
  // attributes). An empty `external_id` is looked up from `internal_id`.
  void Delete(uint64_t internal_id, std::string external_id) {
    deletes_.push_back({internal_id, std::move(external_id)});
  }
  // Sets the code (list id + code bytes) of an existing document.
  void PutCode(uint64_t internal_id, uint32_t list_id, std::string code) {
    codes_.push_back({internal_id, list_id, std::move(code)});
  }

  CollectionId collection() const { return cid_; }
  bool empty() const {
    return puts_.empty() && deletes_.empty() && codes_.empty();
  }
  size_t size() const { return puts_.size() + deletes_.size() + codes_.size(); }

 private:
  friend class Store;
  struct Deletion {
    uint64_t internal_id;
    std::string external_id;
  };
  struct CodeUpdate {
    uint64_t internal_id;
    uint32_t list_id;
    std::string code;
  };
  CollectionId cid_;
  std::vector<DocumentRecord> puts_;
  std::vector<Deletion> deletes_;
  std::vector<CodeUpdate> codes_;
};

class Store {
 public:
  // Opens (creating if needed) the store at options.path; read-only when
  // the disk is too full to open it otherwise (see "Disk space" above).
  // Errors: UNAVAILABLE (I/O, lock held by another process), DATA_LOSS.
  static absl::StatusOr<std::unique_ptr<Store>> Open(
      const StoreOptions& options);

  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // ---- Collections -------------------------------------------------------
  // Creates a collection. ALREADY_EXISTS if `name` exists; INVALID_ARGUMENT
  // for an empty name or dimension 0.
  absl::StatusOr<CollectionId> CreateCollection(std::string_view name,
                                                uint32_t dimension,
                                                std::string_view schema);
  // Replaces the schema bytes of a collection. NOT_FOUND if unknown.
  absl::Status UpdateSchema(std::string_view name, std::string_view schema);
  // NOT_FOUND if unknown.
  absl::StatusOr<CollectionMeta> GetCollection(std::string_view name) const;
  // All collections, sorted by name.
  absl::StatusOr<std::vector<CollectionMeta>> ListCollections() const;
  // Removes the collection and every key of it (documents, codes, ids,
  // attributes, quantizers), atomically. Keys of other collections are
  // untouched. NOT_FOUND if unknown.
  absl::Status DropCollection(std::string_view name);

  // ---- Trained quantizers --------------------------------------------------
  // Stores the trained-index blob of a collection, together with (atomically)
  // the codes of its documents in `codes` (may be empty). Used when a
  // (re)training finishes.
  absl::Status PutQuantizer(CollectionId cid, std::string_view blob);
  absl::Status PutQuantizerAndCodes(CollectionId cid, std::string_view blob,
                                    const DocumentBatch& codes);
  // NOT_FOUND if the collection has never been trained.
  absl::StatusOr<std::string> GetQuantizer(CollectionId cid) const;

  // ---- Documents ------------------------------------------------------------
  // Applies the batch atomically (one RocksDB WriteBatch). Validates first:
  // INVALID_ARGUMENT (naming the record) for an empty or oversized external
  // id, a vector whose size is not the collection's dimension, or a NaN/Inf
  // value; also for code bytes without a list id, internal id 2^64-1
  // (reserved), and two puts that map one external id to two internal ids
  // (or the reverse); NOT_FOUND for an unknown collection. Nothing is written
  // unless everything is valid.
  absl::Status Write(const DocumentBatch& batch);

  // Internal id of an external id, or nullopt.
  absl::StatusOr<std::optional<uint64_t>> LookupInternalId(
      CollectionId cid, std::string_view external_id) const;
  // The whole document (vector, ids, attributes, code); NOT_FOUND if absent.
  absl::StatusOr<DocumentRecord> GetDocument(CollectionId cid,
                                             uint64_t internal_id) const;
  // Reads the vector of `internal_id` into out[0 .. dimension). NOT_FOUND.
  absl::Status GetVector(CollectionId cid, uint64_t internal_id,
                         absl::Span<float> out) const;
  // Number of documents of the collection (counted from the id mappings).
  absl::StatusOr<uint64_t> CountDocuments(CollectionId cid) const;
  // One past the largest internal id ever stored in the collection (0 if
  // none): where the server's id allocator resumes after a restart.
  absl::StatusOr<uint64_t> NextInternalId(CollectionId cid) const;

  // ---- Iteration (rebuilding in-memory state on open) ---------------------
  // Each callback may return a non-OK status to stop the iteration early;
  // that status is returned. Iteration sees a consistent snapshot.
  using VectorVisitor =
      std::function<absl::Status(uint64_t iid, absl::Span<const float> v)>;
  using CodeVisitor = std::function<absl::Status(uint64_t iid, uint32_t list_id,
                                                 std::string_view code)>;
  using IdVisitor =
      std::function<absl::Status(uint64_t iid, std::string_view external_id)>;
  using AttributeVisitor =
      std::function<absl::Status(uint64_t iid, std::string_view attributes)>;
  absl::Status ForEachVector(CollectionId cid, const VectorVisitor& fn) const;
  absl::Status ForEachCode(CollectionId cid, const CodeVisitor& fn) const;
  absl::Status ForEachId(CollectionId cid, const IdVisitor& fn) const;
  absl::Status ForEachAttributes(CollectionId cid,
                                 const AttributeVisitor& fn) const;

  // ---- Operations ----------------------------------------------------------
  // Writes a consistent checkpoint of the whole store into `directory`, which
  // must not exist. Opening that directory with Store::Open gives a full copy.
  absl::Status Checkpoint(const std::string& directory) const;
  // Flushes memtables to SST files (used at shutdown).
  absl::Status Flush();
  // Compacts every key range of the collection (all column families), so
  // that the space of deleted documents comes back now rather than at
  // RocksDB's next natural compaction. Blocks; safe beside reads and
  // writes. NOT_FOUND if unknown.
  absl::Status CompactCollection(CollectionId cid);
  // Approximate bytes on disk (live SST files + WAL).
  uint64_t ApproximateDiskBytes() const;
  // True when the store was opened read-only (a full disk at start).
  bool read_only() const;

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Maximum external id length in bytes.
inline constexpr size_t kMaxExternalIdBytes = 512;

}  // namespace quiver::storage

#endif  // QUIVER_STORAGE_STORE_H_
