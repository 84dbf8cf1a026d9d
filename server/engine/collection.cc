#include "server/engine/collection.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/status.h"
#include "index/metric.h"
#include "server/engine/collection_internal.h"
#include "server/engine/records.h"
#include "server/engine/validate.h"

namespace quiver::engine {
using internal_collection::kEncodeChunk;
using internal_collection::kRecoverChunk;

Collection::Collection(storage::Store* store, storage::CollectionId cid,
                       CollectionConfig config, MaintenanceState maintenance,
                       const CollectionOptions& options)
    : store_(store),
      cid_(cid),
      config_(std::move(config)),
      options_(options),
      // Half precision: half the RAM of floats, and recall@10 after
      // re-ranking within 0.001 of float vectors on SIFT and GloVe
      // (ann_bench's fp16 rows). Full precision stays in the store.
      flat_(config_.metric, config_.dimension, index::FlatEncoding::kFloat16),
      vector_source_(&flat_) {
  absl::MutexLock lock(&train_mu_);
  requested_ = config_.index;
  maintenance_ = maintenance;
}

Collection::~Collection() { Stop(); }

absl::StatusOr<std::unique_ptr<Collection>> Collection::Open(
    storage::Store* store, const storage::CollectionMeta& meta,
    const CollectionOptions& options) {
  absl::StatusOr<records::SchemaRecord> schema =
      records::DecodeSchema(meta.schema);
  if (!schema.ok()) {
    return absl::DataLossError(absl::StrFormat("collection '%s': %s", meta.name,
                                               schema.status().message()));
  }
  CollectionConfig& config = schema->config;
  if (config.dimension != meta.dimension) {
    return absl::DataLossError(absl::StrFormat(
        "collection '%s': schema dimension %d != stored dimension %d",
        meta.name, config.dimension, meta.dimension));
  }
  config.name = meta.name;
  std::unique_ptr<Collection> c(new Collection(
      store, meta.id, std::move(config), schema->maintenance, options));
  QUIVER_RETURN_IF_ERROR(c->Recover());
  {
    // Defaults measured before the restart: measured again after growth
    // from here.
    const uint64_t n = c->count();
    absl::MutexLock lock(&c->train_mu_);
    if (c->maintenance_.tuned_nprobe != 0) c->tuned_count_ = n;
  }
  // A schema of an older format (or an older field set) is rewritten in the
  // current one (later, when the store is read-only).
  if (records::EncodeSchema(*schema) != meta.schema && !store->read_only()) {
    QUIVER_RETURN_IF_ERROR(c->PersistSchema());
  }
  return c;
}

absl::Status Collection::Recover() {
  const absl::Time start = absl::Now();
  const size_t dim = config_.dimension;
  QUIVER_ASSIGN_OR_RETURN(const uint64_t next, store_->NextInternalId(cid_));
  {
    absl::MutexLock w(&write_mu_);
    next_iid_ = next;
  }
  std::vector<uint64_t> free;
  {
    absl::MutexLock m(&meta_mu_);
    names_.Clear();
    names_.Grow(next);
    QUIVER_RETURN_IF_ERROR(store_->ForEachId(
        cid_, [&](uint64_t iid, std::string_view ext) -> absl::Status {
          meta_mu_.AssertHeld();  // held by the caller, invisible in a lambda
          if (iid > kMaxInternalId) {
            return absl::DataLossError(absl::StrFormat(
                "collection '%s': internal id %d is out of range", config_.name,
                iid));
          }
          if (!names_.Insert(iid, ext)) {
            return absl::DataLossError(absl::StrFormat(
                "collection '%s': document '%s' is stored under internal ids "
                "%d and %d",
                config_.name, ext, names_.Find(ext).value_or(iid), iid));
          }
          live_.add(static_cast<uint32_t>(iid));
          return absl::OkStatus();
        }));
    QUIVER_RETURN_IF_ERROR(store_->ForEachAttributes(
        cid_, [&](uint64_t iid, std::string_view bytes) -> absl::Status {
          meta_mu_.AssertHeld();
          if (!names_.Contains(iid)) {
            return absl::OkStatus();  // no document: ignore
          }
          absl::StatusOr<Attributes> attrs = records::DecodeAttributes(bytes);
          if (!attrs.ok()) {
            return absl::DataLossError(
                absl::StrFormat("collection '%s', internal id %d: %s",
                                config_.name, iid, attrs.status().message()));
          }
          attr_index_.Add(static_cast<uint32_t>(iid), *attrs);
          if (!attrs->empty()) attrs_[iid] = std::move(*attrs);
          return absl::OkStatus();
        }));
    // The unused ids below the high-water mark are free (the highest
    // taken last).
    for (uint64_t iid = names_.slots(); iid-- > 0;) {
      if (!names_.Contains(iid)) free.push_back(iid);
    }
  }
  {
    absl::MutexLock w(&write_mu_);
    free_iids_ = std::move(free);
  }
  std::vector<uint64_t> ids;
  std::vector<float> buf;
  ids.reserve(kRecoverChunk);
  buf.reserve(kRecoverChunk * dim);
  QUIVER_RETURN_IF_ERROR(store_->ForEachVector(
      cid_, [&](uint64_t iid, absl::Span<const float> v) -> absl::Status {
        if (v.size() != dim) {
          return absl::DataLossError(absl::StrFormat(
              "collection '%s': vector of internal id %d has %d values, "
              "expected %d",
              config_.name, iid, v.size(), dim));
        }
        ids.push_back(iid);
        buf.insert(buf.end(), v.begin(), v.end());
        if (ids.size() == kRecoverChunk) {
          flat_.Add(ids.data(), buf.data(), ids.size());
          ids.clear();
          buf.clear();
        }
        return absl::OkStatus();
      }));
  if (!ids.empty()) flat_.Add(ids.data(), buf.data(), ids.size());

  size_t reencoded = 0;
  absl::StatusOr<std::string> blob = store_->GetQuantizer(cid_);
  if (blob.ok()) {
    absl::StatusOr<records::QuantizerRecord> record =
        records::DecodeQuantizer(*blob);
    if (!record.ok()) {
      return absl::DataLossError(absl::StrFormat(
          "collection '%s': %s", config_.name, record.status().message()));
    }
    const uint32_t generation = record->generation;
    QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<index::IvfPqIndex> loaded,
                            index::IvfPqIndex::Load(record->blob));
    std::shared_ptr<index::IvfPqIndex> ivf = std::move(loaded);
    if (ivf->params().dim != dim || ivf->params().metric != config_.metric) {
      return absl::DataLossError(absl::StrFormat(
          "collection '%s': quantizer has dim %d / metric %s, collection has "
          "dim %d / metric %s",
          config_.name, ivf->params().dim,
          index::MetricName(ivf->params().metric), dim,
          index::MetricName(config_.metric)));
    }
    if (!record->list_epochs.empty() &&
        record->list_epochs.size() != ivf->params().nlist) {
      return absl::DataLossError(absl::StrFormat(
          "collection '%s': quantizer record has %d list epochs for %d lists",
          config_.name, record->list_epochs.size(), ivf->params().nlist));
    }
    const size_t code_size = ivf->code_size();
    QUIVER_RETURN_IF_ERROR(store_->ForEachCode(
        cid_,
        [&](uint64_t iid, uint32_t list,
            std::string_view code) -> absl::Status {
          // A stale code (another generation, a torn record) is re-encoded
          // below.
          absl::StatusOr<records::CodeRecord> r = records::DecodeCode(code);
          if (r.ok() && r->code.size() == code_size &&
              list < ivf->params().nlist &&
              records::CodeIsCurrent(*record, r->generation, list)) {
            ivf->AddEncoded(iid, list,
                            reinterpret_cast<const uint8_t*>(r->code.data()));
          }
          return absl::OkStatus();
        }));
    // Documents without a code of this generation (a crash while a training
    // persisted its codes): encode them now and store the codes.
    std::vector<uint64_t> missing;
    for (uint64_t iid : LiveIds()) {
      if (!ivf->Contains(iid)) missing.push_back(iid);
    }
    std::vector<float> x(dim);
    std::vector<uint8_t> code(code_size);
    for (size_t off = 0; off < missing.size(); off += kEncodeChunk) {
      storage::DocumentBatch batch(cid_);
      const size_t end = std::min(missing.size(), off + kEncodeChunk);
      for (size_t i = off; i < end; ++i) {
        if (!flat_.GetVector(missing[i], x.data())) continue;
        uint32_t list = 0;
        ivf->Encode(x.data(), 1, &list, code.data());
        ivf->AddEncoded(missing[i], list, code.data());
        batch.PutCode(missing[i], list,
                      records::EncodeCode(generation, code.data(), code_size));
        ++reencoded;
      }
      // Read-only store (full disk): the codes live in memory only.
      if (!batch.empty() && !store_->read_only()) {
        QUIVER_RETURN_IF_ERROR(store_->Write(batch));
      }
    }
    absl::MutexLock i(&index_mu_);
    settled_sizes_ = ivf->list_sizes();
    list_epochs_ = record->list_epochs.empty()
                       ? std::vector<uint32_t>(ivf->params().nlist, generation)
                       : record->list_epochs;
    base_generation_ = record->base_generation;
    ivf_ = std::move(ivf);
    generation_ = generation;
  } else if (!absl::IsNotFound(blob.status())) {
    return blob.status();
  }
  const IndexSnapshot snap = CurrentIndex();
  QUIVER_LOG(INFO)
      << "collection '" << config_.name << "': " << count() << " documents, "
      << (snap.ivf ? absl::StrFormat("trained (generation %d, nlist %d)",
                                     snap.generation, snap.ivf->params().nlist)
                   : std::string("untrained"))
      << (reencoded ? absl::StrFormat(", %d codes re-encoded", reencoded)
                    : std::string())
      << "; rebuilt in " << absl::FormatDuration(absl::Now() - start);
  if (snap.ivf) {
    absl::MutexLock lock(&train_mu_);
    // Written before maintenance was persisted: count the index as trained
    // on what it holds.
    if (maintenance_.trained_count == 0) {
      maintenance_.trained_count = snap.ivf->size();
    }
  }
  // A training interrupted by a crash (or a threshold reached before it)
  // starts again.
  MaybeAutoTrain(count());
  return absl::OkStatus();
}

Collection::IndexSnapshot Collection::CurrentIndex() const {
  absl::MutexLock lock(&index_mu_);
  return IndexSnapshot{ivf_, generation_, base_generation_};
}

bool Collection::IsLive(uint64_t iid) const { return names_.Contains(iid); }

const Attributes& Collection::AttributesOf(uint64_t iid) const {
  static const Attributes* const kNone = new Attributes();
  auto it = attrs_.find(iid);
  return it == attrs_.end() ? *kNone : it->second;
}

std::vector<uint64_t> Collection::LiveIds() const {
  absl::ReaderMutexLock m(&meta_mu_);
  std::vector<uint64_t> ids;
  ids.reserve(names_.size());
  for (uint64_t iid = 0; iid < names_.slots(); ++iid) {
    if (names_.Contains(iid)) ids.push_back(iid);
  }
  return ids;
}

uint64_t Collection::count() const {
  absl::ReaderMutexLock m(&meta_mu_);
  return names_.size();
}

uint32_t Collection::nlist() const {
  const IndexSnapshot snap = CurrentIndex();
  return snap.ivf ? snap.ivf->params().nlist : 0;
}

absl::StatusOr<uint64_t> Collection::Upsert(
    std::vector<DocumentInput> docs,
    const std::function<absl::Status()>& before_write) {
  const size_t dim = config_.dimension;
  const uint64_t written = docs.size();
  for (size_t i = 0; i < docs.size(); ++i) {
    absl::Status s = ValidateDocumentId(docs[i].id);
    if (s.ok()) {
      s = ValidateVector(docs[i].vector.data(), docs[i].vector.size(),
                         config_.dimension, config_.metric, "vector");
    }
    if (s.ok()) s = ValidateAttributes(docs[i].attributes);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("document %d: %s", i, s.message()));
    }
  }
  // Outside the writer lock (writers of other batches go on meanwhile):
  // duplicates, normalisation and the encoding with the current index.
  // Duplicate ids in one batch: keep the last occurrence.
  std::vector<size_t> keep;
  {
    absl::flat_hash_map<std::string_view, size_t> last;
    last.reserve(docs.size());
    for (size_t i = 0; i < docs.size(); ++i) last[docs[i].id] = i;
    keep.reserve(last.size());
    for (size_t i = 0; i < docs.size(); ++i) {
      if (last.size() == docs.size() || last[docs[i].id] == i) {
        keep.push_back(i);
      }
    }
  }
  const size_t n = keep.size();
  std::vector<float> x(n * dim);
  for (size_t j = 0; j < n; ++j) {
    std::memcpy(&x[j * dim], docs[keep[j]].vector.data(), dim * sizeof(float));
  }
  if (config_.metric == index::Metric::kCosine) {
    index::NormalizeL2(x.data(), n, dim);
  }
  std::vector<uint32_t> lists;
  std::vector<uint8_t> codes;
  double error_sum = 0;
  IndexSnapshot snap = CurrentIndex();
  auto encode = [&] {
    if (!snap.ivf) return;
    lists.resize(n);
    codes.resize(n * snap.ivf->code_size());
    // On the caller's thread and as many more as the batch is worth (the
    // index's own thread count is the training's, which leaves a core
    // free).
    snap.ivf->Encode(x.data(), n, lists.data(), codes.data(), /*threads=*/0);
    error_sum = QuantizationError(*snap.ivf, x.data(), lists.data(), n) * n;
  };
  encode();
  if (before_write) QUIVER_RETURN_IF_ERROR(before_write());
  uint64_t count_after = 0;
  {
    absl::MutexLock w(&write_mu_);
    if (dropped_) {
      return absl::NotFoundError(
          absl::StrFormat("collection '%s' was dropped", config_.name));
    }
    // A training or split swapped its index in since: encode again (the
    // swap happens under this lock, so the index cannot change from here on).
    if (const IndexSnapshot now = CurrentIndex();
        now.ivf != snap.ivf || now.generation != snap.generation) {
      snap = now;
      encode();
    }
    const size_t code_size = snap.ivf ? snap.ivf->code_size() : 0;
    if (snap.ivf) {
      recent_error_sum_ += error_sum;
      recent_count_ += n;
    }
    // New documents take freed ids first (see free_iids_), then new ones.
    const uint64_t first_new = next_iid_;
    std::vector<uint64_t> iids(n);
    std::vector<bool> is_new(n);
    {
      absl::ReaderMutexLock m(&meta_mu_);
      for (size_t j = 0; j < n; ++j) {
        if (std::optional<uint64_t> iid = names_.Find(docs[keep[j]].id)) {
          iids[j] = *iid;
          continue;
        }
        is_new[j] = true;
        if (free_iids_.empty() && !freed_iids_.empty() && scan_mu_.TryLock()) {
          scan_mu_.Unlock();  // no search runs: the freed ids are free
          free_iids_.insert(free_iids_.end(), freed_iids_.rbegin(),
                            freed_iids_.rend());
          freed_iids_.clear();
        }
        if (free_iids_.empty()) {
          iids[j] = next_iid_++;
        } else {
          iids[j] = free_iids_.back();
          free_iids_.pop_back();
        }
      }
    }
    // Gives the ids taken back (the write failed).
    auto untake = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
      next_iid_ = first_new;
      for (size_t j = n; j-- > 0;) {
        if (is_new[j] && iids[j] < first_new) free_iids_.push_back(iids[j]);
      }
    };
    if (next_iid_ > kMaxInternalId + 1) {
      untake();
      return absl::ResourceExhaustedError(absl::StrFormat(
          "collection '%s' has used all %d internal ids; copy its documents "
          "into a new collection",
          config_.name, kMaxInternalId + 1));
    }
    storage::DocumentBatch batch(cid_);
    std::vector<Attributes> new_attrs(n);
    for (size_t j = 0; j < n; ++j) {
      DocumentInput& doc = docs[keep[j]];
      storage::DocumentRecord r;
      r.external_id = doc.id;
      r.internal_id = iids[j];
      r.vector = std::move(doc.vector);
      r.attributes = records::EncodeAttributes(doc.attributes);
      // Above the high-water mark nothing was ever written (a reused id
      // might keep records of its deleted document, so it is cleared).
      r.fresh = iids[j] >= first_new;
      if (snap.ivf) {
        r.list_id = lists[j];
        r.code = records::EncodeCode(snap.generation, &codes[j * code_size],
                                     code_size);
      }
      new_attrs[j] = std::move(doc.attributes);
      batch.Put(std::move(r));
    }
    if (absl::Status s = store_->Write(batch); !s.ok()) {
      untake();
      return s;
    }
    // Memory: names and attributes first, so that an id found by a
    // concurrent scan always resolves.
    {
      absl::MutexLock m(&meta_mu_);
      names_.Grow(next_iid_);
      for (size_t j = 0; j < n; ++j) {
        const uint64_t iid = iids[j];
        if (!is_new[j]) {
          attr_index_.Remove(static_cast<uint32_t>(iid), AttributesOf(iid));
        } else {
          names_.Insert(iid, docs[keep[j]].id);
          live_.add(static_cast<uint32_t>(iid));
        }
        attr_index_.Add(static_cast<uint32_t>(iid), new_attrs[j]);
        if (new_attrs[j].empty()) {
          attrs_.erase(iid);
        } else {
          attrs_[iid] = std::move(new_attrs[j]);
        }
      }
      count_after = names_.size();
    }
    flat_.Add(iids.data(), x.data(), n);
    if (snap.ivf) {
      for (size_t j = 0; j < n; ++j) {
        if (!is_new[j]) snap.ivf->Remove(iids[j]);
        snap.ivf->AddEncoded(iids[j], lists[j], &codes[j * code_size]);
      }
    }
    if (logging_) changed_.insert(changed_.end(), iids.begin(), iids.end());
  }
  writes_since_check_.fetch_add(written);
  MaybeAutoTrain(count_after);
  return written;
}

absl::StatusOr<uint64_t> Collection::Delete(absl::Span<const std::string> ids) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (absl::Status s = ValidateDocumentId(ids[i]); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("ids[%d]: %s", i, s.message()));
    }
  }
  QUIVER_ASSIGN_OR_RETURN(const uint64_t deleted, DeleteLocked(ids));
  if (deleted > 0) {
    writes_since_check_.fetch_add(deleted);
    MaybeAutoTrain(count());
  }
  return deleted;
}

absl::StatusOr<uint64_t> Collection::DeleteLocked(
    absl::Span<const std::string> ids) {
  absl::MutexLock w(&write_mu_);
  if (dropped_) {
    return absl::NotFoundError(
        absl::StrFormat("collection '%s' was dropped", config_.name));
  }
  std::vector<uint64_t> iids;
  storage::DocumentBatch batch(cid_);
  {
    absl::ReaderMutexLock m(&meta_mu_);
    absl::flat_hash_set<uint64_t> seen;
    for (const std::string& id : ids) {
      std::optional<uint64_t> iid = names_.Find(id);
      if (!iid || !seen.insert(*iid).second) continue;
      iids.push_back(*iid);
      batch.Delete(*iid, id);
    }
  }
  if (iids.empty()) return 0;
  QUIVER_RETURN_IF_ERROR(store_->Write(batch));
  // Memory: indexes first, names last (see Upsert).
  const IndexSnapshot snap = CurrentIndex();
  for (uint64_t iid : iids) {
    if (snap.ivf) snap.ivf->Remove(iid);
    flat_.Remove(iid);
  }
  {
    absl::MutexLock m(&meta_mu_);
    for (uint64_t iid : iids) {
      attr_index_.Remove(static_cast<uint32_t>(iid), AttributesOf(iid));
      live_.remove(static_cast<uint32_t>(iid));
      attrs_.erase(iid);
      names_.Erase(iid);
    }
  }
  freed_iids_.insert(freed_iids_.end(), iids.begin(), iids.end());
  if (logging_) changed_.insert(changed_.end(), iids.begin(), iids.end());
  recent_deleted_ += iids.size();
  deleted_since_compaction_ += iids.size();
  return iids.size();
}

absl::StatusOr<std::vector<StoredDocument>> Collection::Get(
    absl::Span<const std::string> ids, bool include_vectors) const {
  std::vector<StoredDocument> out;
  std::vector<uint64_t> iids;
  {
    absl::ReaderMutexLock m(&meta_mu_);
    for (const std::string& id : ids) {
      std::optional<uint64_t> iid = names_.Find(id);
      if (!iid) continue;
      StoredDocument doc;
      doc.id = id;
      doc.attributes = AttributesOf(*iid);
      out.push_back(std::move(doc));
      iids.push_back(*iid);
    }
  }
  if (!include_vectors) return out;
  // Vectors as stored (not normalised) come from the store.
  std::vector<StoredDocument> with_vectors;
  with_vectors.reserve(out.size());
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].vector.resize(config_.dimension);
    absl::Status s =
        store_->GetVector(cid_, iids[i], absl::MakeSpan(out[i].vector));
    if (absl::IsNotFound(s)) continue;  // deleted meanwhile
    QUIVER_RETURN_IF_ERROR(s);
    with_vectors.push_back(std::move(out[i]));
  }
  return with_vectors;
}

absl::Status Collection::EvaluateFilter(const Filter& filter, Roaring* matching,
                                        uint64_t* count) const {
  absl::ReaderMutexLock m(&meta_mu_);
  QUIVER_RETURN_IF_ERROR(attr_index_.CheckTypes(filter));
  *matching = attr_index_.Evaluate(filter, live_);
  *count = live_.cardinality();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::vector<SearchHit>>> Collection::Search(
    const SearchQuery& query, SearchPlan* plan) const {
  const size_t dim = config_.dimension;
  if (query.k < 1 || query.k > kMaxK) {
    return absl::InvalidArgumentError(
        absl::StrFormat("k is %d; it must be in 1..%d", query.k, kMaxK));
  }
  if (query.nq == 0 || query.queries == nullptr) {
    return absl::InvalidArgumentError("the request has no queries");
  }
  if (query.nq > kMaxQueriesPerSearch) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%d queries in one request; the limit is %d", query.nq,
                        kMaxQueriesPerSearch));
  }
  if (query.rerank > kMaxRerank) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "rerank is %d; it must be in 0..%d", query.rerank, kMaxRerank));
  }
  for (size_t i = 0; i < query.nq; ++i) {
    QUIVER_RETURN_IF_ERROR(ValidateVector(query.queries + i * dim, dim, dim,
                                          config_.metric,
                                          absl::StrFormat("query %d", i)));
  }
  if (absl::Status s = ValidateAttributes(query.filter); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("filter: %s", s.message()));
  }
  // From the first read of the ids to the last (see free_iids_).
  absl::ReaderMutexLock scan_lock(&scan_mu_);
  // The filter map's entries and `where`, as one expression.
  const bool filtered = !query.filter.empty() || query.where.has_value();
  Filter filter;
  if (filtered) {
    std::vector<Filter> parts;
    for (const auto& [k, v] : query.filter) parts.push_back(Filter::Eq(k, v));
    if (query.where) parts.push_back(*query.where);
    filter =
        parts.size() == 1 ? std::move(parts[0]) : Filter::And(std::move(parts));
    QUIVER_RETURN_IF_ERROR(ValidateFilter(filter));
  }
  Roaring matching;
  uint64_t count = 0;
  if (filtered) {
    QUIVER_RETURN_IF_ERROR(EvaluateFilter(filter, &matching, &count));
  } else {
    count = this->count();
  }
  const uint64_t nmatch = filtered ? matching.cardinality() : count;

  const IndexSnapshot snap = CurrentIndex();
  const float* q = query.queries;
  std::vector<float> normalized;
  if (config_.metric == index::Metric::kCosine) {
    normalized.assign(q, q + query.nq * dim);
    index::NormalizeL2(normalized.data(), query.nq, dim);
    q = normalized.data();
  }
  index::SearchParams sp;
  uint32_t nlist = 0;
  if (!query.exact && snap.ivf) {
    IndexConfig requested;
    MaintenanceState maintenance;
    {
      absl::MutexLock lock(&train_mu_);
      requested = requested_;
      maintenance = maintenance_;
    }
    // Tuned defaults belong to the training they were measured on (and
    // the splits and merges since).
    if (maintenance.generation < snap.base_generation ||
        maintenance.generation > snap.generation) {
      maintenance.tuned_nprobe = maintenance.tuned_rerank = 0;
    }
    nlist = snap.ivf->params().nlist;
    sp.k = query.k;
    sp.nprobe = query.nprobe != 0
                    ? std::min(query.nprobe, nlist)
                    : DefaultNprobe(requested, maintenance, nlist);
    sp.rerank = query.rerank != 0 ? query.rerank
                                  : DefaultRerank(requested, maintenance);
    sp.vectors = &vector_source_;
  }

  // The plan.
  enum class Strategy { kExact, kExactFiltered, kIvf, kIvfFiltered };
  Strategy strategy;
  std::string detail;
  if (!filtered) {
    strategy = (query.exact || !snap.ivf) ? Strategy::kExact : Strategy::kIvf;
  } else if (query.exact || !snap.ivf || nmatch == 0) {
    strategy = Strategy::kExactFiltered;
    detail = query.exact ? "exact search requested"
             : !snap.ivf ? "the collection has no index yet"
                         : "nothing matches";
  } else {
    // Rarer matches: more lists, so that the k nearest matching documents
    // are still among the candidates. The k nearest of a share s lie about
    // as far as the k / s nearest of all, and the defaults are measured
    // for k: x sqrt(1 / s). (x sqrt(0.5 / s), no widening at half, read
    // 0.9475 at 50% once the defaults were tuned in steps of 1.5x rather
    // than 2x and so no longer overshot the target.)
    const double selectivity =
        static_cast<double>(nmatch) /
        static_cast<double>(std::max<uint64_t>(count, 1));
    const size_t widened = static_cast<size_t>(
        std::ceil(static_cast<double>(sp.nprobe) *
                  std::sqrt(std::max(1.0, 1.0 / selectivity))));
    sp.nprobe = std::min<size_t>(nlist, std::max(sp.nprobe, widened));
    // Bytes each plan reads per query: the index reads the coarse
    // centroids, per probed list its codes and ids and the distance table it
    // builds (m * 2^nbits floats; on small lists that dominates), and the
    // rows it re-ranks.
    const index::IvfPqParams& ip = snap.ivf->params();
    const double mean_list =
        static_cast<double>(count) / static_cast<double>(nlist);
    const double row_bytes = static_cast<double>(dim) * sizeof(float);
    const double table_bytes = static_cast<double>(ip.m) *
                               static_cast<double>(size_t{1} << ip.nbits) *
                               sizeof(float);
    const double ivf_bytes =
        static_cast<double>(nlist) * row_bytes +
        static_cast<double>(sp.nprobe) *
            (mean_list *
                 static_cast<double>(snap.ivf->code_size() + sizeof(uint64_t)) +
             table_bytes) +
        static_cast<double>(sp.k * std::max<size_t>(sp.rerank, 1)) * row_bytes;
    const double exact_bytes = static_cast<double>(nmatch) * (row_bytes + 32);
    strategy = exact_bytes <= ivf_bytes ? Strategy::kExactFiltered
                                        : Strategy::kIvfFiltered;
    detail = absl::StrFormat(
        "selectivity %.4g%%: exact over the matches reads ~%.0f KiB, the "
        "index with nprobe %d ~%.0f KiB",
        100.0 * selectivity, exact_bytes / 1024, sp.nprobe, ivf_bytes / 1024);
  }
  uint32_t max_nprobe = 0;

  // Scans nq queries from `x` with the plan; results[i] for query i.
  auto scan = [&](const float* x, size_t nq, const Roaring& bits) {
    switch (strategy) {
      case Strategy::kExact:
        return flat_.Search(x, nq, query.k);
      case Strategy::kExactFiltered: {
        std::vector<uint32_t> ids32(bits.cardinality());
        bits.toUint32Array(ids32.data());
        const std::vector<uint64_t> ids(ids32.begin(), ids32.end());
        return flat_.SearchSubset(x, nq, query.k, ids.data(), ids.size());
      }
      case Strategy::kIvf: {
        max_nprobe = std::max<uint32_t>(max_nprobe, sp.nprobe);
        return snap.ivf->SearchBatch(x, nq, sp, /*threads=*/1);
      }
      case Strategy::kIvfFiltered:
        break;
    }
    RoaringFilter accept(&bits);
    index::SearchParams p = sp;
    p.filter = &accept;
    auto results = snap.ivf->SearchBatch(x, nq, p, /*threads=*/1);
    max_nprobe = std::max<uint32_t>(max_nprobe, p.nprobe);
    // Fewer than k hits while more match: probe more lists.
    const size_t want = std::min<uint64_t>(query.k, bits.cardinality());
    for (size_t i = 0; i < nq; ++i) {
      index::SearchParams wider = p;
      while (results[i].size() < want && wider.nprobe < nlist) {
        wider.nprobe = std::min<size_t>(nlist, wider.nprobe * 4);
        results[i] = snap.ivf->Search(x + i * dim, wider);
        max_nprobe = std::max<uint32_t>(max_nprobe, wider.nprobe);
      }
    }
    return results;
  };
  // Resolves ids; false if a hit was dropped because a concurrent write
  // deleted it or changed its attributes after the scan found it.
  auto resolve = [&](const std::vector<index::Neighbor>& found,
                     std::vector<SearchHit>* hits) {
    absl::ReaderMutexLock m(&meta_mu_);
    hits->clear();
    hits->reserve(found.size());
    for (const index::Neighbor& nb : found) {
      if (!IsLive(nb.id) ||
          (filtered && !Matches(filter, AttributesOf(nb.id)))) {
        continue;
      }
      SearchHit hit;
      hit.id = std::string(names_.Name(nb.id));
      hit.distance = nb.distance;
      if (query.include_attributes) hit.attributes = AttributesOf(nb.id);
      hits->push_back(std::move(hit));
    }
    return hits->size() == found.size();
  };

  const std::vector<std::vector<index::Neighbor>> results =
      scan(q, query.nq, matching);
  std::vector<std::vector<SearchHit>> out(results.size());
  for (size_t i = 0; i < results.size(); ++i) {
    // A query that lost hits to a concurrent write is scanned again (a few
    // times at most), so it still returns k hits when k exist.
    bool complete = resolve(results[i], &out[i]);
    for (int attempt = 0; !complete && attempt < 3; ++attempt) {
      if (filtered) {
        QUIVER_RETURN_IF_ERROR(EvaluateFilter(filter, &matching, &count));
      }
      const auto again = scan(q + i * dim, 1, matching);
      complete = resolve(again[0], &out[i]);
    }
  }
  if (plan != nullptr) {
    static constexpr const char* kNames[] = {"exact", "exact-filtered", "ivf",
                                             "ivf-filtered"};
    plan->strategy = kNames[static_cast<int>(strategy)];
    plan->matching = nmatch;
    plan->count = count;
    plan->nprobe = max_nprobe;
    plan->rerank =
        (strategy == Strategy::kIvf || strategy == Strategy::kIvfFiltered)
            ? static_cast<uint32_t>(sp.rerank)
            : 0;
    plan->detail = detail;
    if (plan->detail.empty()) {
      plan->detail = strategy == Strategy::kExact
                         ? (query.exact ? "exact search requested"
                                        : "the collection has no index yet")
                         : "no filter";
    }
  }
  return out;
}

absl::Status Collection::Drop(const std::function<absl::Status()>& on_stopped) {
  Stop();
  absl::MutexLock w(&write_mu_);
  if (dropped_) {
    return absl::NotFoundError(
        absl::StrFormat("collection '%s' was dropped", config_.name));
  }
  absl::Status s = on_stopped();
  if (s.ok()) {
    dropped_ = true;
  } else {
    cancel_.store(false);
  }
  return s;
}

CollectionStatus Collection::Status() const {
  CollectionStatus st;
  st.config = config_;
  bool training;
  {
    absl::MutexLock lock(&train_mu_);
    st.config.index = requested_;
    st.maintenance = maintenance_;
    st.last_training_reason =
        last_reason_.empty() ? maintenance_.reason : last_reason_;
    training = training_;
    st.training_progress = training_ ? progress_ : 0;
    st.last_error = last_error_;
    st.last_training_seconds = last_training_seconds_;
    // The last training's snapshot and sample (MeasurementQueries).
    st.memory_bytes =
        trained_snapshot_.getSizeInBytes() + trained_on_.getSizeInBytes();
  }
  const IndexSnapshot snap = CurrentIndex();
  st.count = count();
  st.train_generation = snap.generation;
  st.state = training   ? TrainState::kTraining
             : snap.ivf ? TrainState::kReady
                        : TrainState::kUntrained;
  st.memory_bytes += flat_.memory_bytes();
  {
    absl::ReaderMutexLock m(&meta_mu_);
    // Names, and attributes roughly (their values live on the heap and are
    // not counted): the hash map's entries (id and attributes, a control
    // byte each).
    st.memory_bytes +=
        names_.memory_bytes() +
        attrs_.capacity() * (sizeof(uint64_t) + sizeof(Attributes) + 1);
    // The attribute indexes and the live bitmap.
    st.memory_bytes += attr_index_.memory_bytes() + live_.getSizeInBytes();
  }
  st.config.index.auto_train_threshold = AutoTrainThreshold(st.config.index);
  if (snap.ivf) {
    const index::IvfPqParams& p = snap.ivf->params();
    IndexConfig& in_use = st.config.index;
    MaintenanceState m = st.maintenance;
    if (m.generation < snap.base_generation || m.generation > snap.generation) {
      m.tuned_nprobe = m.tuned_rerank = 0;
    }
    in_use.nprobe = DefaultNprobe(in_use, m, p.nlist);
    in_use.rerank = DefaultRerank(in_use, m);
    in_use.target_recall = TargetRecall(in_use);
    in_use.nlist = p.nlist;
    in_use.pq_m = p.m;
    in_use.pq_bits = p.nbits;
    in_use.balanced = p.balanced;
    st.lists = snap.ivf->list_stats();
    st.memory_bytes += snap.ivf->memory_bytes();
  }
  return st;
}

}  // namespace quiver::engine
