// Store: opening, collections, quantizers and operations. Documents are in
// store_documents.cc.
#include "storage/store.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "rocksdb/cache.h"
#include "rocksdb/convenience.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/sst_file_manager.h"
#include "rocksdb/table.h"
#include "rocksdb/transaction_log.h"
#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/write_batch.h"
#include "storage/disk.h"
#include "storage/keys.h"
#include "storage/records.h"
#include "storage/rocksdb_status.h"
#include "storage/store_impl.h"
#include "storage/strings.h"

namespace quiver::storage {
namespace {

// LZ4 where this RocksDB has it (cheap, good for ids and attributes), else
// Snappy, else none.
rocksdb::CompressionType LightCompression() {
  const std::vector<rocksdb::CompressionType> supported =
      rocksdb::GetSupportedCompressions();
  for (rocksdb::CompressionType c :
       {rocksdb::kLZ4Compression, rocksdb::kSnappyCompression}) {
    if (std::find(supported.begin(), supported.end(), c) != supported.end()) {
      return c;
    }
  }
  return rocksdb::kNoCompression;
}

// The prefix under which a family's keys are written in ascending order:
// cid (documents: cid | iid) or cid | 'i' (ids: cid | 'i' | iid). Only
// such whole keys are in its domain, so that a range deletion (its start
// key is a bare collection prefix) is inserted without a hint: RocksDB 7.8
// keeps one hint per prefix for both a memtable's point table and its
// range-deletion table, and a hint into one is invalid in the other.
class SequentialKeyPrefix : public rocksdb::SliceTransform {
 public:
  SequentialKeyPrefix(size_t prefix, char tag) : prefix_(prefix), tag_(tag) {}
  const char* Name() const override { return "quiver.SequentialKeyPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), prefix_);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return key.size() == prefix_ + 8 && (tag_ == 0 || key[prefix_ - 1] == tag_);
  }

 private:
  const size_t prefix_;
  const char tag_;
};

struct CfTuning {
  size_t write_buffer_bytes;
  bool bloom;
  bool compress;
  // Bytes of the key prefix under which keys are written in ascending order
  // (a collection's documents get increasing internal ids), and the tag
  // byte that ends it (0 = none); the memtable keeps its last insert
  // position per prefix and starts the next insert there instead of at the
  // top of the skip list. 0 = none.
  size_t sequential_prefix = 0;
  char sequential_tag = 0;
};

rocksdb::ColumnFamilyOptions MakeCfOptions(
    const std::shared_ptr<rocksdb::Cache>& cache, const CfTuning& tuning) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  // Index and filter blocks live in the (bounded) block cache too; L0's stay
  // pinned so that fresh data is fast to look up.
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  if (tuning.bloom) {
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  }
  rocksdb::ColumnFamilyOptions cf;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf.write_buffer_size = tuning.write_buffer_bytes;
  cf.max_write_buffer_number = 3;
  cf.level_compaction_dynamic_level_bytes = true;
  if (tuning.sequential_prefix != 0) {
    cf.memtable_insert_with_hint_prefix_extractor =
        std::make_shared<SequentialKeyPrefix>(tuning.sequential_prefix,
                                              tuning.sequential_tag);
  }
  // float32 vectors and PQ codes are nearly incompressible.
  cf.compression =
      tuning.compress ? LightCompression() : rocksdb::kNoCompression;
  return cf;
}

std::vector<rocksdb::ColumnFamilyDescriptor> MakeDescriptors(
    const StoreOptions& options) {
  const std::shared_ptr<rocksdb::Cache> cache =
      rocksdb::NewLRUCache(options.block_cache_bytes);
  constexpr size_t kMiB = size_t{1} << 20;
  std::vector<rocksdb::ColumnFamilyDescriptor> d(kNumCfs);
  d[kDefaultCf] = {rocksdb::kDefaultColumnFamilyName,
                   MakeCfOptions(cache, {4 * kMiB, true, true})};
  d[kCollectionsCfIndex] = {keys::kCollectionsCf,
                            MakeCfOptions(cache, {4 * kMiB, true, true})};
  d[kQuantizersCfIndex] = {keys::kQuantizersCf,
                           MakeCfOptions(cache, {16 * kMiB, false, false})};
  d[kVectorsCfIndex] = {keys::kVectorsCf,
                        MakeCfOptions(cache, {128 * kMiB, true, false, 4})};
  d[kCodesCfIndex] = {keys::kCodesCf,
                      MakeCfOptions(cache, {32 * kMiB, true, false, 4})};
  // cid | 'i' | iid ascends; cid | 'e' | external id need not.
  d[kIdsCfIndex] = {keys::kIdsCf,
                    MakeCfOptions(cache, {64 * kMiB, true, true, 5, 'i'})};
  d[kAttributesCfIndex] = {keys::kAttributesCf,
                           MakeCfOptions(cache, {32 * kMiB, true, true, 4})};
  return d;
}

rocksdb::DBOptions MakeDbOptions() {
  rocksdb::DBOptions o;
  // See disk.h: no LOG file; RocksDB resumes by itself after a NoSpace
  // error once space is back (the SstFileManager polls for it).
  o.info_log = std::make_shared<ForwardingLogger>();
  o.sst_file_manager.reset(rocksdb::NewSstFileManager(rocksdb::Env::Default()));
  o.create_if_missing = true;
  o.create_missing_column_families = true;
  const int cores =
      std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 2, 8);
  o.IncreaseParallelism(cores);
  o.max_background_jobs = std::max(2, cores / 2);
  // Insert hints (CfTuning::sequential_prefix) work only for one memtable
  // writer at a time; writers of one collection are serialised anyway.
  o.allow_concurrent_memtable_write = false;
  // Several families share one WAL: bound it so that rarely written families
  // get flushed and old log files can go.
  o.max_total_wal_size = 512u << 20;
  o.keep_log_file_num = 4;
  o.max_log_file_size = 16u << 20;
  return o;
}

}  // namespace

absl::StatusOr<uint64_t> ReadHighWater(const StoreState& state,
                                       CollectionId cid) {
  std::string value;
  const rocksdb::Status s =
      state.db->Get(rocksdb::ReadOptions(), state.cf[kDefaultCf],
                    keys::HighWaterKey(cid), &value);
  if (s.IsNotFound()) return 0;
  const std::string what =
      absl::StrCat("next internal id of collection id ", cid);
  QUIVER_RETURN_IF_ERROR(FromRocksDb(s, what));
  return records::DecodeU64(value, what);
}

namespace {

std::string Quote(std::string_view name) {
  return absl::StrCat("'", Sv(name), "'");
}

}  // namespace

StoreState::~StoreState() {
  if (db == nullptr) return;
  for (rocksdb::ColumnFamilyHandle* h : cf) {
    if (h != nullptr) {
      const rocksdb::Status s = db->DestroyColumnFamilyHandle(h);
      if (!s.ok()) {
        QUIVER_LOG(WARNING) << "closing store: " << s.ToString();
      }
    }
  }
  const rocksdb::Status s = db->Close();
  if (!s.ok()) {
    QUIVER_LOG(WARNING) << "closing store " << options.path << ": "
                        << s.ToString();
  }
}

absl::StatusOr<CachedCollection> StoreState::Lookup(CollectionId cid) const {
  absl::ReaderMutexLock lock(&mu);
  return LookupLocked(cid);
}

absl::StatusOr<CachedCollection> StoreState::LookupLocked(
    CollectionId cid) const {
  auto it = collections.find(cid);
  if (it == collections.end()) {
    return absl::NotFoundError(absl::StrCat("unknown collection id ", cid));
  }
  return it->second;
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

absl::StatusOr<std::unique_ptr<Store>> Store::Open(
    const StoreOptions& options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("StoreOptions.path is empty");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.path, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat(
        "cannot create store directory ", options.path, ": ", ec.message()));
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->write_options.sync = options.sync;
  impl->write_options.disableWAL = false;

  const std::vector<rocksdb::ColumnFamilyDescriptor> descriptors =
      MakeDescriptors(options);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw_db = nullptr;
  rocksdb::Status open_status = rocksdb::DB::Open(
      MakeDbOptions(), options.path, descriptors, &handles, &raw_db);
  if (open_status.IsNoSpace()) {
    // Recovery must write (flush the replayed log, a new manifest); a
    // read-only open replays the log in memory only.
    SpaceReport space;
    const bool known = StatFilesystem(options.path, &space).ok();
    QUIVER_LOG(ERROR)
        << "store " << options.path << ": the disk is full ("
        << (known ? FormatBytes(space.free_bytes) + " free"
                  : "free space "
                    "unknown")
        << "; " << open_status.ToString()
        << "). Opening it READ-ONLY: searches and gets work, every write is "
           "refused until space is freed and quiverd is restarted";
    handles.clear();
    open_status = rocksdb::DB::OpenForReadOnly(MakeDbOptions(), options.path,
                                               descriptors, &handles, &raw_db);
    impl->read_only = open_status.ok();
  }
  if (!open_status.ok()) {
    return FromRocksDb(open_status,
                       absl::StrCat("opening store ", options.path));
  }
  impl->db.reset(raw_db);
  QUIVER_CHECK(handles.size() == kNumCfs);
  std::copy(handles.begin(), handles.end(), impl->cf.begin());
  rocksdb::DB* db = impl->db.get();

  // Format version: written on creation, checked afterwards.
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), impl->cf[kDefaultCf],
                              keys::kFormatVersionKey, &value);
  if (s.IsNotFound() && !impl->read_only) {
    s = db->Put(impl->write_options, impl->cf[kDefaultCf],
                keys::kFormatVersionKey,
                records::EncodeU32(records::kFormatVersion));
    QUIVER_RETURN_IF_ERROR(FromRocksDb(s, "writing the format version"));
  } else {
    QUIVER_RETURN_IF_ERROR(FromRocksDb(s, "reading the format version"));
    QUIVER_ASSIGN_OR_RETURN(uint32_t version,
                            records::DecodeU32(value, "format version"));
    if (version != records::kFormatVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("store ", options.path, " has format version ", version,
                       "; this build reads version ", records::kFormatVersion));
    }
  }

  // The collection id counter, and the cache of collections.
  CollectionId next_id = keys::kFirstCollectionId;
  s = db->Get(rocksdb::ReadOptions(), impl->cf[kDefaultCf],
              keys::kNextCollectionIdKey, &value);
  if (!s.IsNotFound()) {
    QUIVER_RETURN_IF_ERROR(FromRocksDb(s, "reading the collection counter"));
    QUIVER_ASSIGN_OR_RETURN(next_id,
                            records::DecodeU32(value, "collection counter"));
  }
  absl::flat_hash_map<CollectionId, CachedCollection> collections;
  StoreState* state = impl.get();
  QUIVER_RETURN_IF_ERROR(impl->Scan(
      kCollectionsCfIndex, "", "", "loading collections",
      [&](std::string_view name, std::string_view v) -> absl::Status {
        absl::StatusOr<CollectionMeta> meta =
            records::DecodeCollectionMeta(name, v);
        if (!meta.ok()) {
          // Reported again (DATA_LOSS) by GetCollection/ListCollections.
          QUIVER_LOG(ERROR) << options.path << ": " << meta.status();
          return absl::OkStatus();
        }
        next_id = std::max(next_id, meta->id + 1);
        auto high_water = std::make_shared<HighWater>();
        absl::StatusOr<uint64_t> mark = ReadHighWater(*state, meta->id);
        if (mark.ok()) {
          absl::MutexLock lock(&high_water->mu);
          high_water->value = *mark;
        } else {
          // Reported again (DATA_LOSS) by NextInternalId() until a batch
          // rewrites the mark.
          QUIVER_LOG(ERROR) << options.path << ": " << mark.status();
        }
        collections[meta->id] = {meta->name, meta->dimension,
                                 std::move(high_water)};
        return absl::OkStatus();
      }));
  {
    absl::MutexLock lock(&impl->mu);
    impl->collections = std::move(collections);
    impl->next_collection_id = next_id;
  }
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

absl::StatusOr<CollectionId> Store::CreateCollection(std::string_view name,
                                                     uint32_t dimension,
                                                     std::string_view schema) {
  if (name.empty()) {
    return absl::InvalidArgumentError("collection name is empty");
  }
  if (dimension == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("collection ", Quote(name), ": dimension is 0"));
  }
  Impl& impl = *impl_;
  QUIVER_RETURN_IF_ERROR(impl.CheckWritable(
      true, absl::StrCat("creating collection ", Quote(name))));
  absl::MutexLock lock(&impl.mu);
  std::string existing;
  const rocksdb::Status s = impl.db->Get(
      rocksdb::ReadOptions(), impl.cf[kCollectionsCfIndex], name, &existing);
  if (s.ok()) {
    return absl::AlreadyExistsError(
        absl::StrCat("collection ", Quote(name), " already exists"));
  }
  if (!s.IsNotFound()) {
    return FromRocksDb(s, absl::StrCat("reading collection ", Quote(name)));
  }
  if (impl.next_collection_id > keys::kMaxCollectionId) {
    return absl::ResourceExhaustedError(
        "no collection ids left (2^32 - 2 collections were created)");
  }
  CollectionMeta meta;
  meta.name = std::string(name);
  meta.id = impl.next_collection_id;
  meta.dimension = dimension;
  meta.schema = std::string(schema);
  rocksdb::WriteBatch batch;
  rocksdb::Status ws = batch.Put(impl.cf[kCollectionsCfIndex], name,
                                 records::EncodeCollectionMeta(meta));
  if (ws.ok()) {
    ws = batch.Put(impl.cf[kDefaultCf], keys::kNextCollectionIdKey,
                   records::EncodeU32(meta.id + 1));
  }
  if (ws.ok()) ws = impl.db->Write(impl.write_options, &batch);
  QUIVER_RETURN_IF_ERROR(
      FromRocksDb(ws, absl::StrCat("creating collection ", Quote(name))));
  impl.next_collection_id = meta.id + 1;
  impl.collections[meta.id] = {meta.name, dimension,
                               std::make_shared<HighWater>()};
  return meta.id;
}

absl::Status Store::UpdateSchema(std::string_view name,
                                 std::string_view schema) {
  Impl& impl = *impl_;
  QUIVER_RETURN_IF_ERROR(impl.CheckWritable(
      false, absl::StrCat("updating collection ", Quote(name))));
  absl::MutexLock lock(&impl.mu);
  QUIVER_ASSIGN_OR_RETURN(CollectionMeta meta, GetCollection(name));
  meta.schema = std::string(schema);
  const rocksdb::Status s =
      impl.db->Put(impl.write_options, impl.cf[kCollectionsCfIndex], name,
                   records::EncodeCollectionMeta(meta));
  return FromRocksDb(
      s, absl::StrCat("updating schema of collection ", Quote(name)));
}

absl::StatusOr<CollectionMeta> Store::GetCollection(
    std::string_view name) const {
  std::string value;
  const rocksdb::Status s = impl_->db->Get(
      rocksdb::ReadOptions(), impl_->cf[kCollectionsCfIndex], name, &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(
        absl::StrCat("collection ", Quote(name), " not found"));
  }
  QUIVER_RETURN_IF_ERROR(
      FromRocksDb(s, absl::StrCat("reading collection ", Quote(name))));
  return records::DecodeCollectionMeta(name, value);
}

absl::StatusOr<std::vector<CollectionMeta>> Store::ListCollections() const {
  std::vector<CollectionMeta> out;
  QUIVER_RETURN_IF_ERROR(impl_->Scan(
      kCollectionsCfIndex, "", "", "listing collections",
      [&](std::string_view name, std::string_view value) -> absl::Status {
        QUIVER_ASSIGN_OR_RETURN(CollectionMeta meta,
                                records::DecodeCollectionMeta(name, value));
        out.push_back(std::move(meta));
        return absl::OkStatus();
      }));
  return out;
}

absl::Status Store::DropCollection(std::string_view name) {
  Impl& impl = *impl_;
  QUIVER_RETURN_IF_ERROR(impl.CheckWritable(
      false, absl::StrCat("dropping collection ", Quote(name))));
  absl::MutexLock lock(&impl.mu);
  QUIVER_ASSIGN_OR_RETURN(const CollectionMeta meta, GetCollection(name));
  const std::string lower = keys::CollectionPrefix(meta.id);
  const std::string upper = keys::CollectionUpperBound(meta.id);
  rocksdb::WriteBatch batch;
  rocksdb::Status s = batch.Delete(impl.cf[kCollectionsCfIndex], name);
  for (CfIndex i : {kQuantizersCfIndex, kVectorsCfIndex, kCodesCfIndex,
                    kIdsCfIndex, kAttributesCfIndex}) {
    if (s.ok()) s = batch.DeleteRange(impl.cf[i], lower, upper);
  }
  if (s.ok())
    s = batch.Delete(impl.cf[kDefaultCf], keys::HighWaterKey(meta.id));
  if (s.ok()) s = impl.db->Write(impl.write_options, &batch);
  QUIVER_RETURN_IF_ERROR(
      FromRocksDb(s, absl::StrCat("dropping collection ", Quote(name))));
  impl.collections.erase(meta.id);
  return absl::OkStatus();
}

absl::Status Store::CompactCollection(CollectionId cid) {
  Impl& impl = *impl_;
  QUIVER_RETURN_IF_ERROR(impl.CheckWritable(
      false, absl::StrCat("compacting collection id ", cid)));
  {
    absl::ReaderMutexLock lock(&impl.mu);
    QUIVER_RETURN_IF_ERROR(impl.LookupLocked(cid).status());
  }
  const std::string lower = keys::CollectionPrefix(cid);
  const std::string upper = keys::CollectionUpperBound(cid);
  const rocksdb::Slice begin(lower), end(upper);
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction =
      rocksdb::BottommostLevelCompaction::kForceOptimized;
  for (CfIndex i : {kQuantizersCfIndex, kVectorsCfIndex, kCodesCfIndex,
                    kIdsCfIndex, kAttributesCfIndex}) {
    QUIVER_RETURN_IF_ERROR(
        FromRocksDb(impl.db->CompactRange(options, impl.cf[i], &begin, &end),
                    absl::StrCat("compacting collection ", cid)));
  }
  return absl::OkStatus();
}

absl::Status Store::PutQuantizer(CollectionId cid, std::string_view blob) {
  Impl& impl = *impl_;
  QUIVER_RETURN_IF_ERROR(impl.CheckWritable(
      true, absl::StrCat("writing the quantizer of collection id ", cid)));
  absl::ReaderMutexLock lock(&impl.mu);
  QUIVER_RETURN_IF_ERROR(impl.LookupLocked(cid).status());
  const rocksdb::Status s =
      impl.db->Put(impl.write_options, impl.cf[kQuantizersCfIndex],
                   keys::QuantizerKey(cid), blob);
  return FromRocksDb(
      s, absl::StrCat("writing the quantizer of collection id ", cid));
}

absl::StatusOr<std::string> Store::GetQuantizer(CollectionId cid) const {
  QUIVER_RETURN_IF_ERROR(impl_->Lookup(cid).status());
  std::string blob;
  const rocksdb::Status s =
      impl_->db->Get(rocksdb::ReadOptions(), impl_->cf[kQuantizersCfIndex],
                     keys::QuantizerKey(cid), &blob);
  if (s.IsNotFound()) {
    return absl::NotFoundError(
        absl::StrCat("collection id ", cid, " has no trained quantizer"));
  }
  QUIVER_RETURN_IF_ERROR(FromRocksDb(
      s, absl::StrCat("reading the quantizer of collection id ", cid)));
  return blob;
}

absl::Status Store::Checkpoint(const std::string& directory) const {
  std::error_code ec;
  const std::filesystem::path target = std::filesystem::absolute(directory, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint directory ", directory, ": ", ec.message()));
  }
  if (std::filesystem::exists(target, ec)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "checkpoint directory ", target.string(), " already exists"));
  }
  rocksdb::Checkpoint* raw = nullptr;
  QUIVER_RETURN_IF_ERROR(FromRocksDb(
      rocksdb::Checkpoint::Create(impl_->db.get(), &raw), "checkpoint"));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  return FromRocksDb(checkpoint->CreateCheckpoint(target.string()),
                     absl::StrCat("checkpoint into ", target.string()));
}

absl::Status Store::Flush() {
  if (impl_->read_only) return absl::OkStatus();
  rocksdb::FlushOptions flush_options;
  flush_options.wait = true;
  const std::vector<rocksdb::ColumnFamilyHandle*> handles(impl_->cf.begin(),
                                                          impl_->cf.end());
  return FromRocksDb(impl_->db->Flush(flush_options, handles),
                     absl::StrCat("flushing store ", impl_->options.path));
}

bool Store::read_only() const { return impl_->read_only; }

absl::Status StoreState::CheckWritable(bool adds_data,
                                       std::string_view what) const {
  if (read_only) {
    return absl::ResourceExhaustedError(absl::StrCat(
        Sv(what),
        ": refused, the store was opened read-only because the disk was "
        "full when quiverd started; free space and restart quiverd"));
  }
  if (!adds_data) return absl::OkStatus();
  return CheckFreeSpace(db.get(), options.path, options.disk_reserve_bytes,
                        what);
}

uint64_t Store::ApproximateDiskBytes() const {
  uint64_t sst_bytes = 0;
  if (!impl_->db->GetAggregatedIntProperty(
          rocksdb::DB::Properties::kLiveSstFilesSize, &sst_bytes)) {
    sst_bytes = 0;
  }
  // WAL files are summed with a directory listing rather than
  // DB::GetSortedWalFiles(), which disables file deletions and logs through
  // RocksDB's info log: too heavy for callers on small stacks (e.g. the
  // metrics HTTP threads).
  uint64_t wal_bytes = 0;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator(impl_->options.path, ec)) {
    if (entry.path().extension() != ".log") continue;
    std::error_code size_ec;
    const uintmax_t size = entry.file_size(size_ec);
    if (!size_ec) wal_bytes += size;
  }
  return sst_bytes + wal_bytes;
}

}  // namespace quiver::storage
