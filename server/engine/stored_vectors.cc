#include "server/engine/stored_vectors.h"

#include <algorithm>

#include "absl/types/span.h"
#include "common/log.h"

namespace quiver::engine {

bool StoredVectorSource::GetVector(uint64_t id, float* out) const {
  bool found = false;
  GetVectors(&id, 1, dim_, out, &found);
  return found;
}

void StoredVectorSource::GetVectors(const uint64_t* ids, size_t n, size_t dim,
                                    float* out, bool* found) const {
  const absl::Status s = store_->GetVectors(cid_, absl::MakeConstSpan(ids, n),
                                            absl::MakeSpan(out, n * dim),
                                            absl::MakeSpan(found, n));
  if (!s.ok()) {
    std::fill(found, found + n, false);
    QUIVER_LOG(WARNING) << "re-scoring from the store: " << s;
    return;
  }
  if (metric_ != index::Metric::kCosine) return;
  for (size_t i = 0; i < n; ++i) {
    if (found[i]) index::NormalizeL2(out + i * dim, 1, dim);
  }
}

}  // namespace quiver::engine
