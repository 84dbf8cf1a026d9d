// Helpers shared by the engine tests.
#ifndef QUIVER_TESTS_ENGINE_ENGINE_TESTING_H_
#define QUIVER_TESTS_ENGINE_ENGINE_TESTING_H_

#include <cstdint>
#include <string>

#include "index/metric.h"
#include "server/engine/config.h"

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

}  // namespace quiver::engine

#endif  // QUIVER_TESTS_ENGINE_ENGINE_TESTING_H_
