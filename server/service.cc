#include "server/service.h"

#include <exception>
#include <filesystem>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "common/log.h"
#include "common/status.h"
#include "server/convert.h"
#include "server/engine/validate.h"
#include "server/parse_errors.h"
#include "server/validate.h"

namespace quiver::server {
namespace {

// Runs a handler body (returning absl::Status or absl::StatusOr); exceptions
// from gRPC/protobuf/allocation become statuses and never cross into gRPC.
template <typename Fn>
auto Catching(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        "out of memory while handling the request");
  } catch (const std::exception& e) {
    QUIVER_LOG(ERROR) << "exception in handler: " << e.what();
    return absl::InternalError(std::string("internal error: ") + e.what());
  }
}

// The same, converted for gRPC.
template <typename Fn>
grpc::Status Guard(Fn&& fn) {
  return ToGrpcStatus(Catching(std::forward<Fn>(fn)));
}

}  // namespace

QuiverService::QuiverService(CollectionRegistry* registry, Metrics* metrics,
                             ApiKeyAuth auth, ServiceOptions options)
    : registry_(registry),
      metrics_(metrics),
      auth_(std::move(auth)),
      backup_dir_(std::move(options.backup_dir)),
      max_reply_bytes_(options.max_reply_bytes),
      reply_budget_(options.reply_budget),
      streams_(
          options.streams,
          [this](grpc::CallbackServerContext* context) {
            return auth_.Check(*context);
          },
          [this](ParsedBatch& batch,
                 const UpsertStreams::BeforeWrite& before_write) {
            return Catching([&] { return UpsertBatch(batch, before_write); });
          },
          [this](const grpc::Status& status, absl::Duration elapsed) {
            if (metrics_ != nullptr) {
              metrics_->ObserveRpc("Upsert", status.error_code(),
                                   absl::ToDoubleSeconds(elapsed));
            }
          }) {}

template <typename Fn>
grpc::Status QuiverService::Handle(std::string_view method,
                                   grpc::ServerContext* context, Fn&& body) {
  RpcTimer timer(metrics_, method);
  inflight_.fetch_add(1);
  grpc::Status status;
  if (draining_.load()) {
    status =
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down");
  } else {
    status = Guard([&]() -> absl::Status {
      QUIVER_RETURN_IF_ERROR(auth_.Check(*context));
      return body();
    });
  }
  inflight_.fetch_sub(1);
  return timer.Finish(std::move(status));
}

void QuiverService::FillInfo(const Collection& collection,
                             v1::CollectionInfo* info) const {
  const CollectionStatus st = collection.Status();
  info->set_name(st.config.name);
  info->set_dimension(st.config.dimension);
  info->set_metric(server::ToProto(st.config.metric));
  server::ToProto(st.config.index, info->mutable_index());
  info->set_count(st.count);
  info->set_state(ToProto(st.state));
  if (st.state != TrainState::kUntrained && st.train_generation > 0) {
    info->set_list_min(st.lists.min);
    info->set_list_max(st.lists.max);
    info->set_list_mean(st.lists.mean);
  }
  info->set_memory_bytes(st.memory_bytes);
  info->set_disk_bytes(registry_->DiskBytes());
  info->set_training_progress(st.training_progress);
  info->set_train_generation(st.train_generation);
  info->set_last_error(st.last_error);
  info->set_kernel(SimdKernelName());
  info->set_measured_recall(st.maintenance.measured_recall);
  info->set_trained_count(st.maintenance.trained_count);
  info->set_last_training_reason(st.last_training_reason);
  const engine::ShardPlacement& p = st.config.placement;
  if (p.shard_count > 0) {
    v1::ShardPlacement* out = info->mutable_placement();
    out->set_shard(p.shard);
    out->set_shard_count(p.shard_count);
    for (const std::string& node : p.nodes) out->add_nodes(node);
  }
  info->set_shards(p.shard_count > 0 ? p.shard_count : 1);
  if (st.count > 0) {
    info->set_bytes_per_vector(static_cast<double>(st.memory_bytes) /
                               static_cast<double>(st.count));
  }
}

grpc::Status QuiverService::CreateCollection(
    grpc::ServerContext* context, const v1::CreateCollectionRequest* request,
    v1::CollectionInfo* response) {
  return Handle("CreateCollection", context, [&]() -> absl::Status {
    QUIVER_ASSIGN_OR_RETURN(engine::CollectionConfig config,
                            FromProto(*request));
    QUIVER_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c,
                            registry_->Create(config));
    FillInfo(*c, response);
    return absl::OkStatus();
  });
}

grpc::Status QuiverService::GetCollection(
    grpc::ServerContext* context, const v1::GetCollectionRequest* request,
    v1::CollectionInfo* response) {
  return Handle("GetCollection", context, [&]() -> absl::Status {
    QUIVER_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c,
                            registry_->Get(request->name()));
    FillInfo(*c, response);
    return absl::OkStatus();
  });
}

grpc::Status QuiverService::ListCollections(
    grpc::ServerContext* context, const v1::ListCollectionsRequest* /*request*/,
    v1::ListCollectionsResponse* response) {
  return Handle("ListCollections", context, [&]() -> absl::Status {
    for (const std::shared_ptr<Collection>& c : registry_->List()) {
      FillInfo(*c, response->add_collections());
    }
    return absl::OkStatus();
  });
}

grpc::Status QuiverService::DropCollection(
    grpc::ServerContext* context, const v1::DropCollectionRequest* request,
    v1::DropCollectionResponse* response) {
  return Handle("DropCollection", context, [&]() -> absl::Status {
    QUIVER_RETURN_IF_ERROR(registry_->Drop(request->name()));
    response->set_dropped(true);
    return absl::OkStatus();
  });
}

std::vector<
    std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
QuiverService::Interceptors() {
  auto out = reply_budget_.Interceptors();
  out.push_back(NewParseErrorInterceptorFactory());
  return out;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
QuiverService::Upsert(grpc::CallbackServerContext* context) {
  return streams_.Open(context);
}

absl::StatusOr<v1::UpsertResponse> QuiverService::UpsertBatch(
    ParsedBatch& batch, const UpsertStreams::BeforeWrite& before_write) {
  v1::UpsertRequest& request = batch.request;
  const size_t n = request.documents_size();
  if (n > engine::kMaxDocumentsPerUpsert) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "batch %d has %d documents; the limit is %d per UpsertRequest",
        request.batch_id(), n, engine::kMaxDocumentsPerUpsert));
  }
  // Looked up per batch (a map lookup): a collection dropped and created
  // again under the same name mid-stream gets the new one.
  QUIVER_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c,
                          registry_->Get(request.collection()));
  const uint32_t dim = c->config().dimension;
  const index::Metric metric = c->config().metric;
  v1::UpsertResponse response;
  response.set_batch_id(request.batch_id());
  size_t next_malformed = 0;
  std::vector<DocumentInput> docs;
  docs.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (next_malformed < batch.malformed.size() &&
        batch.malformed[next_malformed] == i) {
      ++next_malformed;
      v1::RecordError* e = response.add_errors();
      e->set_position(i);
      e->set_reason(
          "the document could not be parsed: its id or an attribute is not "
          "valid UTF-8 (proto3 strings must be)");
      continue;
    }
    v1::Document* d = request.mutable_documents(i);
    if (absl::Status s = ValidateDocument(*d, dim, metric); !s.ok()) {
      v1::RecordError* e = response.add_errors();
      e->set_position(i);
      if (ValidateDocumentId(d->id()).ok()) e->set_id(d->id());
      e->set_reason(std::string(s.message()));
      continue;
    }
    absl::StatusOr<engine::Attributes> attrs = AttributesFromProto(*d);
    absl::Status s =
        attrs.ok() ? engine::ValidateAttributes(*attrs) : attrs.status();
    if (!s.ok()) {
      v1::RecordError* e = response.add_errors();
      e->set_position(i);
      e->set_id(d->id());
      e->set_reason(std::string(s.message()));
      continue;
    }
    DocumentInput doc;
    doc.id = std::move(*d->mutable_id());
    doc.vector.assign(d->vector().begin(), d->vector().end());
    doc.attributes = std::move(*attrs);
    docs.push_back(std::move(doc));
  }
  if (!docs.empty()) {
    QUIVER_ASSIGN_OR_RETURN(const uint64_t written,
                            c->Upsert(std::move(docs), before_write));
    response.set_upserted(written);
  }
  return response;
}

grpc::Status QuiverService::Get(grpc::ServerContext* context,
                                const v1::GetRequest* request,
                                v1::GetResponse* response) {
  return Handle("Get", context, [&]() -> absl::Status {
    QUIVER_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c,
                            registry_->Get(request->collection()));
    QUIVER_RETURN_IF_ERROR(ValidateIds(request->ids()));
    // Per document at least its vector (4 bytes a value) and an id on the
    // wire; in memory twice the vector (message and bytes) plus ~1 KiB.
    const size_t n = request->ids_size();
    const size_t vector_bytes =
        request->include_vectors() ? 4 * size_t{c->config().dimension} + 3 : 0;
    QUIVER_RETURN_IF_ERROR(ReserveReply(context, "Get", n * (vector_bytes + 4),
                                        n * (2 * vector_bytes + 1024),
                                        "ask for fewer ids per call"));
    const std::vector<std::string> ids(request->ids().begin(),
                                       request->ids().end());
    QUIVER_ASSIGN_OR_RETURN(std::vector<StoredDocument> docs,
                            c->Get(ids, request->include_vectors()));
    for (StoredDocument& doc : docs) {
      v1::Document* d = response->add_documents();
      d->set_id(std::move(doc.id));
      d->mutable_vector()->Add(doc.vector.begin(), doc.vector.end());
      ToProto(doc.attributes, d->mutable_attributes(),
              d->mutable_typed_attributes());
    }
    return CheckReplySize("Get", response->ByteSizeLong());
  });
}

grpc::Status QuiverService::Delete(grpc::ServerContext* context,
                                   const v1::DeleteRequest* request,
                                   v1::DeleteResponse* response) {
  return Handle("Delete", context, [&]() -> absl::Status {
    QUIVER_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c,
                            registry_->Get(request->collection()));
    QUIVER_RETURN_IF_ERROR(ValidateIds(request->ids()));
    const std::vector<std::string> ids(request->ids().begin(),
                                       request->ids().end());
    QUIVER_ASSIGN_OR_RETURN(const uint64_t deleted, c->Delete(ids));
    response->set_deleted(deleted);
    return absl::OkStatus();
  });
}

grpc::Status QuiverService::Search(grpc::ServerContext* context,
                                   const v1::SearchRequest* request,
                                   v1::SearchResponse* response) {
  return Handle("Search", context, [&]() -> absl::Status {
    return DoSearch(context, *request, response);
  });
}

absl::Status QuiverService::ReserveReply(grpc::ServerContext* context,
                                         std::string_view method,
                                         size_t lower_bound, size_t estimate,
                                         std::string_view advice) {
  if (lower_bound > max_reply_bytes_) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: the reply would be at least %.1f MiB, over the server's message "
        "limit of %.1f MiB (--max_message_mb); %s",
        method, static_cast<double>(lower_bound) / (1 << 20),
        static_cast<double>(max_reply_bytes_) / (1 << 20), advice));
  }
  return reply_budget_.Reserve(context, estimate, method);
}

absl::Status QuiverService::CheckReplySize(std::string_view method,
                                           size_t bytes) const {
  if (bytes <= max_reply_bytes_) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrFormat(
      "%s: the reply is %.1f MiB, over the server's message limit of %.1f "
      "MiB (--max_message_mb); ask for less per call",
      method, static_cast<double>(bytes) / (1 << 20),
      static_cast<double>(max_reply_bytes_) / (1 << 20)));
}

absl::Status QuiverService::DoSearch(grpc::ServerContext* context,
                                     const v1::SearchRequest& request,
                                     v1::SearchResponse* response) {
  QUIVER_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c,
                          registry_->Get(request.collection()));
  const uint32_t dim = c->config().dimension;
  QUIVER_RETURN_IF_ERROR(
      ValidateSearchRequest(request, dim, c->config().metric));
  const size_t nq = request.queries_size();
  // On the wire a hit is at least a distance and a one-byte id (9 bytes).
  // In memory, until the client has read the reply, a hit costs about 280
  // bytes (measured: the engine's result, its Hit message, its bytes; more
  // with attributes).
  const size_t hits = nq * request.k();
  QUIVER_RETURN_IF_ERROR(
      ReserveReply(context, "Search", hits * 9,
                   hits * (request.include_attributes() ? 1024 : 288),
                   "ask for fewer queries per call or a smaller k"));
  std::vector<float> queries(nq * dim);
  for (size_t i = 0; i < nq; ++i) {
    const auto& v = request.queries(i).values();
    std::copy(v.begin(), v.end(), queries.begin() + i * dim);
  }
  SearchQuery query;
  query.queries = queries.data();
  query.nq = nq;
  query.k = request.k();
  query.nprobe = request.nprobe();
  query.rerank = request.rerank();
  query.filter = FromProto(request.filter());
  if (request.has_where()) {
    QUIVER_ASSIGN_OR_RETURN(query.where, FromProto(request.where()));
  }
  query.exact = request.exact();
  query.include_attributes = request.include_attributes();
  engine::SearchPlan plan;
  QUIVER_ASSIGN_OR_RETURN(std::vector<std::vector<SearchHit>> results,
                          c->Search(query, &plan));
  if (metrics_ != nullptr) metrics_->ObservePlan(plan.strategy);
  if (request.explain()) ToProto(plan, response->mutable_plan());
  for (std::vector<SearchHit>& hits : results) {
    v1::QueryResult* r = response->add_results();
    r->mutable_hits()->Reserve(hits.size());
    for (SearchHit& hit : hits) {
      v1::Hit* h = r->add_hits();
      h->set_id(std::move(hit.id));
      h->set_distance(hit.distance);
      ToProto(hit.attributes, h->mutable_attributes(),
              h->mutable_typed_attributes());
    }
  }
  return CheckReplySize("Search", response->ByteSizeLong());
}

grpc::Status QuiverService::Train(grpc::ServerContext* context,
                                  const v1::TrainRequest* request,
                                  v1::CollectionInfo* response) {
  return Handle("Train", context, [&]() -> absl::Status {
    QUIVER_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c,
                            registry_->Get(request->collection()));
    std::optional<engine::IndexConfig> overrides;
    if (request->has_overrides()) overrides = FromProto(request->overrides());
    QUIVER_RETURN_IF_ERROR(c->StartTraining(overrides));
    FillInfo(*c, response);
    return absl::OkStatus();
  });
}

grpc::Status QuiverService::Backup(grpc::ServerContext* context,
                                   const v1::BackupRequest* request,
                                   v1::BackupResponse* response) {
  return Handle("Backup", context, [&]() -> absl::Status {
    if (backup_dir_.empty()) {
      return absl::FailedPreconditionError(
          "backups over RPC are off on this server; start quiverd with "
          "--backup_dir DIR to allow them");
    }
    // A name inside --backup_dir, never a path: nothing outside that folder
    // can be written, and no message names a server path.
    const std::string& name = request->directory();
    if (absl::Status s = engine::ValidateCollectionName(name); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "backup name: %s",
          absl::StrReplaceAll(s.message(), {{"collection name", "name"}})));
    }
    if (name[0] == '.') {
      return absl::InvalidArgumentError("backup name must not start with '.'");
    }
    const std::string path = backup_dir_ + "/" + name;
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
      return absl::AlreadyExistsError(
          absl::StrFormat("backup '%s' already exists", name));
    }
    if (absl::Status s = registry_->Backup(path); !s.ok()) {
      QUIVER_LOG(WARNING) << "backup '" << name << "' failed: " << s;
      return absl::Status(
          s.code(), absl::StrFormat("backup '%s' failed (%s); see the "
                                    "server log",
                                    name, absl::StatusCodeToString(s.code())));
    }
    response->set_directory(name);
    return absl::OkStatus();
  });
}

}  // namespace quiver::server
