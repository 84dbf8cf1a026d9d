// Store: document batches, lookups and iteration.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "rocksdb/write_batch.h"
#include "storage/keys.h"
#include "storage/records.h"
#include "storage/rocksdb_status.h"
#include "storage/store.h"
#include "storage/store_impl.h"
#include "storage/strings.h"

namespace quiver::storage {
namespace {

// An external id for messages: escaped, and cut after 64 bytes.
std::string ShowId(std::string_view id) {
  constexpr size_t kShown = 64;
  if (id.size() <= kShown)
    return absl::StrCat("\"", absl::CHexEscape(Sv(id)), "\"");
  return absl::StrCat("\"", absl::CHexEscape(Sv(id.substr(0, kShown))),
                      "\"... (", id.size(), " bytes)");
}

std::string WhereInBatch(const CachedCollection& c, CollectionId cid) {
  return absl::StrCat("batch for collection '", c.name, "' (id ", cid, ")");
}

// Checks every put of a batch; see Store::Write().
absl::Status ValidatePuts(const CachedCollection& c, CollectionId cid,
                          absl::Span<const DocumentRecord> puts) {
  for (size_t i = 0; i < puts.size(); ++i) {
    const DocumentRecord& r = puts[i];
    auto bad = [&](std::string_view problem) {
      return absl::InvalidArgumentError(
          absl::StrCat(WhereInBatch(c, cid), ": document ", i, " (id ",
                       ShowId(r.external_id), "): ", Sv(problem)));
    };
    if (r.external_id.empty()) return bad("empty external id");
    if (r.external_id.size() > kMaxExternalIdBytes) {
      return bad(absl::StrCat("external id has ", r.external_id.size(),
                              " bytes, at most ", kMaxExternalIdBytes,
                              " are allowed"));
    }
    if (r.internal_id == std::numeric_limits<uint64_t>::max()) {
      return bad("internal id 2^64-1 is reserved");
    }
    if (r.vector.size() != c.dimension) {
      return bad(absl::StrCat("vector has ", r.vector.size(),
                              " values, the collection's dimension is ",
                              c.dimension));
    }
    for (size_t j = 0; j < r.vector.size(); ++j) {
      if (!std::isfinite(r.vector[j])) {
        return bad(absl::StrCat("vector[", j, "] is ",
                                std::isnan(r.vector[j]) ? "NaN" : "infinite",
                                "; values must be finite"));
      }
    }
    if (!r.list_id.has_value() && !r.code.empty()) {
      return bad("code bytes given without a list id");
    }
  }
  if (puts.size() < 2) return absl::OkStatus();
  // One external id, one internal id: two puts may not map them differently
  // (the same pair twice is fine; the last one wins).
  absl::flat_hash_map<std::string_view, size_t> by_external;
  absl::flat_hash_map<uint64_t, size_t> by_internal;
  by_external.reserve(puts.size());
  by_internal.reserve(puts.size());
  for (size_t i = 0; i < puts.size(); ++i) {
    const DocumentRecord& r = puts[i];
    auto [e, e_new] = by_external.try_emplace(r.external_id, i);
    if (!e_new && puts[e->second].internal_id != r.internal_id) {
      return absl::InvalidArgumentError(absl::StrCat(
          WhereInBatch(c, cid), ": documents ", e->second, " and ", i,
          " both have id ", ShowId(r.external_id), " but internal ids ",
          puts[e->second].internal_id, " and ", r.internal_id));
    }
    auto [n, n_new] = by_internal.try_emplace(r.internal_id, i);
    if (!n_new && puts[n->second].external_id != r.external_id) {
      return absl::InvalidArgumentError(absl::StrCat(
          WhereInBatch(c, cid), ": documents ", n->second, " and ", i,
          " both have internal id ", r.internal_id, " but ids ",
          ShowId(puts[n->second].external_id), " and ", ShowId(r.external_id)));
    }
  }
  return absl::OkStatus();
}

// Validates a batch of collection `c` and appends its mutations to `wb`:
// deletions first, then puts, then code updates (so that "delete the old
// internal id of an external id, put the new one" works within one batch).
// `deletes` and `codes` are DocumentBatch's private record vectors (a
// template so that their private type names need not be spelled here).
// *high_water: one past the largest internal id put, 0 if none.
// REQUIRES: impl.mu held (shared).
template <typename Deletions, typename CodeUpdates>
absl::Status AppendBatch(const StoreState& impl, CollectionId cid,
                         const CachedCollection& c,
                         absl::Span<const DocumentRecord> puts,
                         const Deletions& deletes, const CodeUpdates& codes,
                         rocksdb::WriteBatch* wb, uint64_t* high_water) {
  QUIVER_RETURN_IF_ERROR(ValidatePuts(c, cid, puts));

  rocksdb::ColumnFamilyHandle* vectors = impl.handle(kVectorsCfIndex);
  rocksdb::ColumnFamilyHandle* codes_cf = impl.handle(kCodesCfIndex);
  rocksdb::ColumnFamilyHandle* ids = impl.handle(kIdsCfIndex);
  rocksdb::ColumnFamilyHandle* attributes = impl.handle(kAttributesCfIndex);
  std::string key;
  std::string value;
  rocksdb::Status s;
  auto doc_key = [&](uint64_t iid) -> const std::string& {
    key.clear();
    keys::AppendDocKey(&key, cid, iid);
    return key;
  };

  for (const auto& d : deletes) {
    std::string external_id = d.external_id;
    if (external_id.empty()) {
      // Not given: the mapping knows it (if the document exists).
      s = impl.db->Get(rocksdb::ReadOptions(), ids,
                       keys::InternalIdKey(cid, d.internal_id), &external_id);
      if (!s.ok() && !s.IsNotFound()) {
        return FromRocksDb(
            s, absl::StrCat(WhereInBatch(c, cid), ": looking up internal id ",
                            d.internal_id));
      }
    }
    if (s = wb->Delete(vectors, doc_key(d.internal_id)); !s.ok()) break;
    if (s = wb->Delete(codes_cf, key); !s.ok()) break;
    if (s = wb->Delete(attributes, key); !s.ok()) break;
    if (s = wb->Delete(ids, keys::InternalIdKey(cid, d.internal_id)); !s.ok()) {
      break;
    }
    if (!external_id.empty()) {
      if (s = wb->Delete(ids, keys::ExternalIdKey(cid, external_id)); !s.ok()) {
        break;
      }
    }
  }

  // The puts go family by family, each in key order: the memtables insert
  // in order from where the previous insert ended (the sequential-prefix
  // hints for internal ids, the skip list's last position for external ids)
  // instead of searching from the top for every key. A stable order, so that
  // the same document put twice keeps its last put last.
  std::vector<uint32_t> by_iid(puts.size());
  std::iota(by_iid.begin(), by_iid.end(), 0u);
  std::stable_sort(by_iid.begin(), by_iid.end(), [&](uint32_t a, uint32_t b) {
    return puts[a].internal_id < puts[b].internal_id;
  });
  *high_water = puts.empty() ? 0 : puts[by_iid.back()].internal_id + 1;
  for (size_t i = 0; s.ok() && i < puts.size(); ++i) {
    const DocumentRecord& r = puts[by_iid[i]];
    const rocksdb::Slice vector_bytes(
        reinterpret_cast<const char*>(r.vector.data()),
        r.vector.size() * sizeof(float));
    s = wb->Put(vectors, doc_key(r.internal_id), vector_bytes);
  }
  for (size_t i = 0; s.ok() && i < puts.size(); ++i) {
    const DocumentRecord& r = puts[by_iid[i]];
    if (!r.attributes.empty()) {
      s = wb->Put(attributes, doc_key(r.internal_id), r.attributes);
    } else if (!r.fresh) {
      s = wb->Delete(attributes, doc_key(r.internal_id));
    }
  }
  for (size_t i = 0; s.ok() && i < puts.size(); ++i) {
    const DocumentRecord& r = puts[by_iid[i]];
    if (r.list_id.has_value()) {
      value.clear();
      records::AppendCodeValue(&value, *r.list_id, r.code);
      s = wb->Put(codes_cf, doc_key(r.internal_id), value);
    } else if (!r.fresh) {
      // A stale code of a replaced vector.
      s = wb->Delete(codes_cf, doc_key(r.internal_id));
    }
  }
  for (size_t i = 0; s.ok() && i < puts.size(); ++i) {
    const DocumentRecord& r = puts[by_iid[i]];
    key.clear();
    keys::AppendInternalIdKey(&key, cid, r.internal_id);
    s = wb->Put(ids, key, r.external_id);
  }
  std::vector<uint32_t>& by_external = by_iid;
  std::stable_sort(by_external.begin(), by_external.end(),
                   [&](uint32_t a, uint32_t b) {
                     return puts[a].external_id < puts[b].external_id;
                   });
  for (size_t i = 0; s.ok() && i < puts.size(); ++i) {
    const DocumentRecord& r = puts[by_external[i]];
    key.clear();
    keys::AppendExternalIdKey(&key, cid, r.external_id);
    s = wb->Put(ids, key, records::EncodeU64(r.internal_id));
  }

  for (const auto& u : codes) {
    if (!s.ok()) break;
    value.clear();
    records::AppendCodeValue(&value, u.list_id, u.code);
    s = wb->Put(codes_cf, doc_key(u.internal_id), value);
  }

  return FromRocksDb(s, absl::StrCat(WhereInBatch(c, cid), ": building"));
}

// Writes `wb`, adding the collection's new high-water mark to it if
// `high_water` raises the mark. REQUIRES: impl.mu held (shared).
absl::Status Commit(const StoreState& impl, CollectionId cid,
                    const CachedCollection& c, uint64_t high_water,
                    rocksdb::WriteBatch* wb, std::string_view what) {
  if (high_water > 0) {
    HighWater& mark = *c.high_water;
    absl::MutexLock lock(&mark.mu);
    if (high_water > mark.value) {
      rocksdb::Status s =
          wb->Put(impl.handle(kDefaultCf), keys::HighWaterKey(cid),
                  records::EncodeU64(high_water));
      if (s.ok()) s = impl.db->Write(impl.write_options, wb);
      QUIVER_RETURN_IF_ERROR(FromRocksDb(s, what));
      mark.value = high_water;
      return absl::OkStatus();
    }
  }
  return FromRocksDb(impl.db->Write(impl.write_options, wb), what);
}

std::string DocWhat(std::string_view what, CollectionId cid, uint64_t iid) {
  return absl::StrCat(Sv(what), " of document ", iid, " of collection id ",
                      cid);
}

}  // namespace

absl::Status Store::Write(const DocumentBatch& batch) {
  if (batch.empty()) return absl::OkStatus();
  Impl& impl = *impl_;
  QUIVER_RETURN_IF_ERROR(impl.CheckWritable(
      !batch.puts_.empty() || !batch.codes_.empty(),
      absl::StrCat("writing a batch of ", batch.size(),
                   " mutations to collection id ", batch.cid_)));
  absl::ReaderMutexLock lock(&impl.mu);
  QUIVER_ASSIGN_OR_RETURN(const CachedCollection c,
                          impl.LookupLocked(batch.cid_));
  rocksdb::WriteBatch wb;
  uint64_t high_water = 0;
  QUIVER_RETURN_IF_ERROR(AppendBatch(impl, batch.cid_, c, batch.puts_,
                                     batch.deletes_, batch.codes_, &wb,
                                     &high_water));
  return Commit(impl, batch.cid_, c, high_water, &wb,
                absl::StrCat("writing a batch of ", batch.size(),
                             " mutations to collection id ", batch.cid_));
}

absl::Status Store::PutQuantizerAndCodes(CollectionId cid,
                                         std::string_view blob,
                                         const DocumentBatch& codes) {
  if (codes.cid_ != cid) {
    return absl::InvalidArgumentError(
        absl::StrCat("PutQuantizerAndCodes: the batch is for collection id ",
                     codes.cid_, ", not ", cid));
  }
  Impl& impl = *impl_;
  QUIVER_RETURN_IF_ERROR(impl.CheckWritable(
      true, absl::StrCat("writing the quantizer and ", codes.size(),
                         " codes of collection id ", cid)));
  absl::ReaderMutexLock lock(&impl.mu);
  QUIVER_ASSIGN_OR_RETURN(const CachedCollection c, impl.LookupLocked(cid));
  rocksdb::WriteBatch wb;
  QUIVER_RETURN_IF_ERROR(FromRocksDb(
      wb.Put(impl.cf[kQuantizersCfIndex], keys::QuantizerKey(cid), blob),
      "building the quantizer write"));
  uint64_t high_water = 0;
  QUIVER_RETURN_IF_ERROR(AppendBatch(impl, cid, c, codes.puts_, codes.deletes_,
                                     codes.codes_, &wb, &high_water));
  return Commit(impl, cid, c, high_water, &wb,
                absl::StrCat("writing the quantizer and ", codes.size(),
                             " codes of collection id ", cid));
}

absl::StatusOr<std::optional<uint64_t>> Store::LookupInternalId(
    CollectionId cid, std::string_view external_id) const {
  QUIVER_RETURN_IF_ERROR(impl_->Lookup(cid).status());
  rocksdb::PinnableSlice value;
  const rocksdb::Status s =
      impl_->db->Get(rocksdb::ReadOptions(), impl_->cf[kIdsCfIndex],
                     keys::ExternalIdKey(cid, external_id), &value);
  if (s.IsNotFound()) return std::nullopt;
  const std::string what = absl::StrCat("internal id of ", ShowId(external_id),
                                        " in collection id ", cid);
  QUIVER_RETURN_IF_ERROR(FromRocksDb(s, what));
  QUIVER_ASSIGN_OR_RETURN(uint64_t iid,
                          records::DecodeU64(value.ToStringView(), what));
  return iid;
}

absl::StatusOr<DocumentRecord> Store::GetDocument(CollectionId cid,
                                                  uint64_t internal_id) const {
  QUIVER_ASSIGN_OR_RETURN(const CachedCollection c, impl_->Lookup(cid));
  ScopedSnapshot snapshot(impl_->db.get());
  rocksdb::ReadOptions read_options;
  read_options.snapshot = snapshot.get();
  const std::string doc_key = keys::DocKey(cid, internal_id);
  const std::string id_key = keys::InternalIdKey(cid, internal_id);
  const std::vector<rocksdb::ColumnFamilyHandle*> cfs = {
      impl_->cf[kVectorsCfIndex], impl_->cf[kIdsCfIndex],
      impl_->cf[kAttributesCfIndex], impl_->cf[kCodesCfIndex]};
  const std::vector<rocksdb::Slice> keys = {doc_key, id_key, doc_key, doc_key};
  std::vector<std::string> values;
  const std::vector<rocksdb::Status> st =
      impl_->db->MultiGet(read_options, cfs, keys, &values);
  if (st[0].IsNotFound()) {
    return absl::NotFoundError(absl::StrCat("document ", internal_id,
                                            " not found in collection '",
                                            c.name, "' (id ", cid, ")"));
  }
  const char* const kWhat[] = {"vector", "external id", "attributes", "code"};
  for (size_t i = 0; i < st.size(); ++i) {
    if (!st[i].ok() && !st[i].IsNotFound()) {
      return FromRocksDb(
          st[i], absl::StrCat("reading ", DocWhat(kWhat[i], cid, internal_id)));
    }
  }
  if (st[1].IsNotFound()) {
    return absl::DataLossError(
        absl::StrCat(DocWhat("external id", cid, internal_id),
                     " is missing although its vector exists"));
  }
  DocumentRecord doc;
  doc.internal_id = internal_id;
  doc.external_id = std::move(values[1]);
  doc.vector.resize(c.dimension);
  QUIVER_RETURN_IF_ERROR(
      records::DecodeVector(values[0], absl::MakeSpan(doc.vector),
                            DocWhat("vector", cid, internal_id)));
  if (st[2].ok()) doc.attributes = std::move(values[2]);
  if (st[3].ok()) {
    uint32_t list_id = 0;
    std::string_view code;
    QUIVER_RETURN_IF_ERROR(records::DecodeCodeValue(
        values[3], &list_id, &code, DocWhat("code", cid, internal_id)));
    doc.list_id = list_id;
    doc.code = std::string(code);
  }
  return doc;
}

absl::Status Store::GetVector(CollectionId cid, uint64_t internal_id,
                              absl::Span<float> out) const {
  QUIVER_ASSIGN_OR_RETURN(const CachedCollection c, impl_->Lookup(cid));
  if (out.size() != c.dimension) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GetVector: output has room for ", out.size(), " values, collection '",
        c.name, "' has dimension ", c.dimension));
  }
  rocksdb::PinnableSlice value;
  const rocksdb::Status s =
      impl_->db->Get(rocksdb::ReadOptions(), impl_->cf[kVectorsCfIndex],
                     keys::DocKey(cid, internal_id), &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(absl::StrCat("document ", internal_id,
                                            " not found in collection '",
                                            c.name, "' (id ", cid, ")"));
  }
  const std::string what = DocWhat("vector", cid, internal_id);
  QUIVER_RETURN_IF_ERROR(FromRocksDb(s, what));
  return records::DecodeVector(value.ToStringView(), out, what);
}

absl::StatusOr<uint64_t> Store::CountDocuments(CollectionId cid) const {
  QUIVER_RETURN_IF_ERROR(impl_->Lookup(cid).status());
  uint64_t n = 0;
  QUIVER_RETURN_IF_ERROR(
      impl_->Scan(kIdsCfIndex, keys::IdsTagPrefix(cid, keys::kInternalTag),
                  keys::IdsTagUpperBound(cid, keys::kInternalTag),
                  absl::StrCat("counting documents of collection id ", cid),
                  [&](std::string_view, std::string_view) {
                    ++n;
                    return absl::OkStatus();
                  }));
  return n;
}

absl::StatusOr<uint64_t> Store::NextInternalId(CollectionId cid) const {
  QUIVER_RETURN_IF_ERROR(impl_->Lookup(cid).status());
  return ReadHighWater(*impl_, cid);
}

absl::Status Store::ForEachVector(CollectionId cid,
                                  const VectorVisitor& fn) const {
  QUIVER_ASSIGN_OR_RETURN(const CachedCollection c, impl_->Lookup(cid));
  std::vector<float> buffer(c.dimension);  // values may be unaligned
  return impl_->Scan(
      kVectorsCfIndex, keys::CollectionPrefix(cid),
      keys::CollectionUpperBound(cid),
      absl::StrCat("reading vectors of collection id ", cid),
      [&](std::string_view key, std::string_view value) -> absl::Status {
        if (key.size() != keys::kDocKeyBytes) {
          return absl::DataLossError(
              absl::StrCat("corrupt vector key of ", key.size(),
                           " bytes in collection id ", cid));
        }
        const uint64_t iid = keys::ReadBigEndian64(key.data() + 4);
        QUIVER_RETURN_IF_ERROR(records::DecodeVector(
            value, absl::MakeSpan(buffer), DocWhat("vector", cid, iid)));
        return fn(iid, buffer);
      });
}

absl::Status Store::ForEachCode(CollectionId cid, const CodeVisitor& fn) const {
  QUIVER_RETURN_IF_ERROR(impl_->Lookup(cid).status());
  return impl_->Scan(
      kCodesCfIndex, keys::CollectionPrefix(cid),
      keys::CollectionUpperBound(cid),
      absl::StrCat("reading codes of collection id ", cid),
      [&](std::string_view key, std::string_view value) -> absl::Status {
        if (key.size() != keys::kDocKeyBytes) {
          return absl::DataLossError(
              absl::StrCat("corrupt code key of ", key.size(),
                           " bytes in collection id ", cid));
        }
        const uint64_t iid = keys::ReadBigEndian64(key.data() + 4);
        uint32_t list_id = 0;
        std::string_view code;
        QUIVER_RETURN_IF_ERROR(records::DecodeCodeValue(
            value, &list_id, &code, DocWhat("code", cid, iid)));
        return fn(iid, list_id, code);
      });
}

absl::Status Store::ForEachId(CollectionId cid, const IdVisitor& fn) const {
  QUIVER_RETURN_IF_ERROR(impl_->Lookup(cid).status());
  return impl_->Scan(
      kIdsCfIndex, keys::IdsTagPrefix(cid, keys::kInternalTag),
      keys::IdsTagUpperBound(cid, keys::kInternalTag),
      absl::StrCat("reading ids of collection id ", cid),
      [&](std::string_view key, std::string_view value) -> absl::Status {
        if (key.size() != keys::kInternalIdKeyBytes) {
          return absl::DataLossError(
              absl::StrCat("corrupt id key of ", key.size(),
                           " bytes in collection id ", cid));
        }
        const uint64_t iid = keys::ReadBigEndian64(key.data() + 5);
        if (value.empty() || value.size() > kMaxExternalIdBytes) {
          return absl::DataLossError(
              absl::StrCat("corrupt ", DocWhat("external id", cid, iid), ": ",
                           value.size(), " bytes"));
        }
        return fn(iid, value);
      });
}

absl::Status Store::ForEachAttributes(CollectionId cid,
                                      const AttributeVisitor& fn) const {
  QUIVER_RETURN_IF_ERROR(impl_->Lookup(cid).status());
  return impl_->Scan(
      kAttributesCfIndex, keys::CollectionPrefix(cid),
      keys::CollectionUpperBound(cid),
      absl::StrCat("reading attributes of collection id ", cid),
      [&](std::string_view key, std::string_view value) -> absl::Status {
        if (key.size() != keys::kDocKeyBytes) {
          return absl::DataLossError(
              absl::StrCat("corrupt attributes key of ", key.size(),
                           " bytes in collection id ", cid));
        }
        return fn(keys::ReadBigEndian64(key.data() + 4), value);
      });
}

}  // namespace quiver::storage
