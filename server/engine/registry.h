// The collection registry: opens the Store, rebuilds every collection's
// in-memory state from it on start, and creates / finds / drops collections.
//
//   QUIVER_ASSIGN_OR_RETURN(auto registry,
//                           CollectionRegistry::Open({.store = {.path =
//                           dir}}));
//   QUIVER_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c,
//                           registry->Get("docs"));
//
// Thread safety: all methods are safe to call concurrently. Collections are
// handed out as shared_ptr, so a request may finish on a collection dropped
// meanwhile (its writes then fail with NOT_FOUND).
#ifndef QUIVER_SERVER_ENGINE_REGISTRY_H_
#define QUIVER_SERVER_ENGINE_REGISTRY_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/engine/collection.h"
#include "server/engine/config.h"
#include "storage/store.h"

namespace quiver::engine {

struct RegistryOptions {
  storage::StoreOptions store;
  CollectionOptions collection;
};

class CollectionRegistry {
 public:
  // Opens the store at options.store.path and recovers every collection.
  // Store errors as-is (UNAVAILABLE when another process holds the store).
  static absl::StatusOr<std::unique_ptr<CollectionRegistry>> Open(
      const RegistryOptions& options);

  ~CollectionRegistry();
  CollectionRegistry(const CollectionRegistry&) = delete;
  CollectionRegistry& operator=(const CollectionRegistry&) = delete;

  // Creates an empty collection (config validated here). INVALID_ARGUMENT,
  // ALREADY_EXISTS.
  absl::StatusOr<std::shared_ptr<Collection>> Create(
      const CollectionConfig& config);
  // NOT_FOUND (naming the collection) if unknown.
  absl::StatusOr<std::shared_ptr<Collection>> Get(std::string_view name) const;
  // Every collection, sorted by name.
  std::vector<std::shared_ptr<Collection>> List() const;
  // Stops the collection's training, deletes all its keys. NOT_FOUND.
  absl::Status Drop(std::string_view name);
  // True when the store was opened read-only (the disk was full at start).
  bool read_only() const { return store_->read_only(); }
  // RocksDB checkpoint of the whole store into `directory` (must not exist).
  absl::Status Backup(const std::string& directory);
  uint64_t DiskBytes() const;

  // Stops every training (joins the threads; no new one starts) and flushes
  // the store's memtables. Idempotent. Call after the RPC server stopped.
  absl::Status Shutdown();

 private:
  explicit CollectionRegistry(std::unique_ptr<storage::Store> store,
                              const RegistryOptions& options);

  std::unique_ptr<storage::Store> store_;
  const RegistryOptions options_;
  // Serialises Create/Drop (store + map changes).
  absl::Mutex ddl_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Collection>, std::less<>> collections_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace quiver::engine

#endif  // QUIVER_SERVER_ENGINE_REGISTRY_H_
