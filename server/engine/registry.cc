#include "server/engine/registry.h"

#include <filesystem>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/status.h"
#include "server/engine/records.h"

namespace quiver::engine {

CollectionRegistry::CollectionRegistry(std::unique_ptr<storage::Store> store,
                                       const RegistryOptions& options)
    : store_(std::move(store)), options_(options) {}

CollectionRegistry::~CollectionRegistry() { Shutdown().IgnoreError(); }

absl::StatusOr<std::unique_ptr<CollectionRegistry>> CollectionRegistry::Open(
    const RegistryOptions& options) {
  const absl::Time start = absl::Now();
  QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<storage::Store> store,
                          storage::Store::Open(options.store));
  std::unique_ptr<CollectionRegistry> registry(
      new CollectionRegistry(std::move(store), options));
  QUIVER_ASSIGN_OR_RETURN(std::vector<storage::CollectionMeta> metas,
                          registry->store_->ListCollections());
  uint64_t docs = 0;
  for (const storage::CollectionMeta& meta : metas) {
    QUIVER_ASSIGN_OR_RETURN(
        std::unique_ptr<Collection> c,
        Collection::Open(registry->store_.get(), meta, options.collection));
    docs += c->count();
    absl::MutexLock lock(&registry->mu_);
    registry->collections_.emplace(meta.name, std::move(c));
  }
  QUIVER_LOG(INFO) << "store " << options.store.path << ": " << metas.size()
                   << " collections, " << docs << " documents recovered in "
                   << absl::FormatDuration(absl::Now() - start);
  return registry;
}

absl::StatusOr<std::shared_ptr<Collection>> CollectionRegistry::Create(
    const CollectionConfig& config) {
  QUIVER_RETURN_IF_ERROR(ValidateCollectionConfig(config));
  absl::MutexLock ddl(&ddl_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (collections_.count(config.name) != 0) {
      return absl::AlreadyExistsError(
          absl::StrFormat("collection '%s' already exists", config.name));
    }
  }
  records::SchemaRecord record;
  record.config = config;
  const std::string schema = records::EncodeSchema(record);
  QUIVER_RETURN_IF_ERROR(
      store_->CreateCollection(config.name, config.dimension, schema).status());
  QUIVER_ASSIGN_OR_RETURN(storage::CollectionMeta meta,
                          store_->GetCollection(config.name));
  QUIVER_ASSIGN_OR_RETURN(
      std::unique_ptr<Collection> c,
      Collection::Open(store_.get(), meta, options_.collection));
  std::shared_ptr<Collection> shared = std::move(c);
  absl::MutexLock lock(&mu_);
  collections_.emplace(config.name, shared);
  QUIVER_LOG(INFO) << "created collection '" << config.name << "' (dimension "
                   << config.dimension << ", "
                   << index::MetricName(config.metric) << ")";
  return shared;
}

absl::StatusOr<std::shared_ptr<Collection>> CollectionRegistry::Get(
    std::string_view name) const {
  absl::MutexLock lock(&mu_);
  auto it = collections_.find(name);
  if (it == collections_.end()) {
    return absl::NotFoundError(
        absl::StrFormat("collection '%s' not found", name));
  }
  return it->second;
}

std::vector<std::shared_ptr<Collection>> CollectionRegistry::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<Collection>> out;
  out.reserve(collections_.size());
  for (const auto& [name, c] : collections_) out.push_back(c);
  return out;
}

absl::Status CollectionRegistry::Drop(std::string_view name) {
  absl::MutexLock ddl(&ddl_mu_);
  QUIVER_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Get(name));
  QUIVER_RETURN_IF_ERROR(c->Drop([&] { return store_->DropCollection(name); }));
  absl::MutexLock lock(&mu_);
  collections_.erase(collections_.find(name));
  QUIVER_LOG(INFO) << "dropped collection '" << name << "'";
  return absl::OkStatus();
}

absl::Status CollectionRegistry::Backup(const std::string& directory) {
  if (directory.empty()) {
    return absl::InvalidArgumentError("backup directory is empty");
  }
  std::error_code ec;
  if (std::filesystem::exists(directory, ec)) {
    return absl::AlreadyExistsError(
        absl::StrFormat("backup directory '%s' already exists", directory));
  }
  const absl::Time start = absl::Now();
  QUIVER_RETURN_IF_ERROR(store_->Checkpoint(directory));
  QUIVER_LOG(INFO) << "backup written to " << directory << " in "
                   << absl::FormatDuration(absl::Now() - start);
  return absl::OkStatus();
}

uint64_t CollectionRegistry::DiskBytes() const {
  return store_->ApproximateDiskBytes();
}

absl::Status CollectionRegistry::Shutdown() {
  for (const std::shared_ptr<Collection>& c : List()) c->Stop();
  return store_->Flush();
}

}  // namespace quiver::engine
