// Input checks of the engine on its own plain types. Every engine call that
// takes documents or queries runs them, so no caller (the RPC edge, a test,
// a future router) can store a vector of the wrong size, a NaN, or an
// oversized attribute by skipping its own validation. Each returns
// INVALID_ARGUMENT naming the field, the value and the limit.
//
// Thread safety: pure functions.
#ifndef QUIVER_SERVER_ENGINE_VALIDATE_H_
#define QUIVER_SERVER_ENGINE_VALIDATE_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "index/metric.h"
#include "server/engine/attributes.h"

namespace quiver::engine {

// 1..512 bytes, no NUL.
absl::Status ValidateDocumentId(std::string_view id);
// Exactly `dim` finite values whose squared norm is finite; non-zero for
// cosine. `what` names the vector in the message (e.g. "query 3").
absl::Status ValidateVector(const float* values, size_t size, uint32_t dim,
                            index::Metric metric, std::string_view what);
// At most 64 attributes, key 1..128 bytes, value <= 1024 bytes, keys
// sorted and unique (as Attributes always are).
absl::Status ValidateAttributes(const Attributes& attributes);

}  // namespace quiver::engine

#endif  // QUIVER_SERVER_ENGINE_VALIDATE_H_
