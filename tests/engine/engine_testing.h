// Helpers shared by the engine tests.
#ifndef QUIVER_TESTS_ENGINE_ENGINE_TESTING_H_
#define QUIVER_TESTS_ENGINE_ENGINE_TESTING_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "index/metric.h"
#include "server/engine/config.h"
#include "server/engine/registry.h"

namespace quiver::engine {

// A collection config with automatic index parameters.
inline CollectionConfig Config(const std::string& name, uint32_t dim,
                               index::Metric metric = index::Metric::kL2) {
  CollectionConfig c;
  c.name = name;
  c.dimension = dim;
  c.metric = metric;
  return c;
}

// A registry over a store at `path` with 2 training threads; null (and a
// test failure) if it does not open.
inline std::unique_ptr<CollectionRegistry> OpenRegistry(
    const std::string& path) {
  RegistryOptions ro;
  ro.store.path = path;
  ro.collection.train_threads = 2;
  absl::StatusOr<std::unique_ptr<CollectionRegistry>> r =
      CollectionRegistry::Open(ro);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? std::move(*r) : nullptr;
}

}  // namespace quiver::engine

#endif  // QUIVER_TESTS_ENGINE_ENGINE_TESTING_H_
