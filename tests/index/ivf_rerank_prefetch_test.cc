// Re-ranking announces its candidates: IvfPqIndex::Search calls
// VectorSource::Prefetch once per query with exactly the ids it then reads
// with GetVector (k * rerank of them when the lists hold that many), and a
// source without Prefetch (the default no-op) gives the same results.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "index/ivf_pq_index.h"
#include "tests/testing/data.h"
#include "tests/testing/testing.h"

namespace quiver::index {
namespace {

// Vectors from a matrix (ids = rows); records Prefetch and GetVector calls.
class RecordingSource final : public VectorSource {
 public:
  RecordingSource(const float* x, size_t n, size_t dim, bool prefetch)
      : x_(x), n_(n), dim_(dim), prefetch_(prefetch) {}
  bool GetVector(uint64_t id, float* out) const override {
    got.push_back(id);
    if (id >= n_) return false;
    std::memcpy(out, x_ + id * dim_, dim_ * sizeof(float));
    return true;
  }
  void Prefetch(const uint64_t* ids, size_t n) const override {
    if (!prefetch_) return VectorSource::Prefetch(ids, n);
    ++prefetch_calls;
    prefetched.assign(ids, ids + n);
  }
  mutable std::vector<uint64_t> got, prefetched;
  mutable int prefetch_calls = 0;

 private:
  const float* x_;
  size_t n_, dim_;
  bool prefetch_;
};

TEST(RerankPrefetchTest, PrefetchNamesExactlyTheIdsRead) {
  const size_t dim = 16, n = 3000;
  const std::vector<float> x = ::quiver::testing::Clustered(n, dim, 20, 3);
  for (uint32_t nbits : {8u, 4u}) {
    IvfPqParams p;
    p.dim = dim;
    p.nlist = 32;
    p.m = 4;
    p.nbits = nbits;
    p.niter = 6;
    auto trained = IvfPqIndex::Train(p, x.data(), n);
    QUIVER_ASSERT_OK(trained);
    IvfPqIndex& index = **trained;
    std::vector<uint64_t> ids(n);
    for (size_t i = 0; i < n; ++i) ids[i] = i;
    index.Add(ids.data(), x.data(), n);

    RecordingSource with(x.data(), n, dim, true);
    RecordingSource without(x.data(), n, dim, false);
    SearchParams sp;
    sp.k = 10;
    sp.nprobe = 4;
    sp.rerank = 4;
    for (size_t q = 0; q < 20; ++q) {
      const float* query = x.data() + (q * 97) * dim;
      with.got.clear();
      with.prefetch_calls = 0;
      sp.vectors = &with;
      const std::vector<Neighbor> a = index.Search(query, sp);
      sp.vectors = &without;
      const std::vector<Neighbor> b = index.Search(query, sp);
      ASSERT_EQ(with.prefetch_calls, 1) << "nbits " << nbits << " query " << q;
      EXPECT_EQ(with.prefetched, with.got) << "nbits " << nbits;
      EXPECT_EQ(with.got.size(), sp.k * sp.rerank) << "nbits " << nbits;
      ASSERT_EQ(a.size(), b.size());
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].id, b[i].id);
        EXPECT_EQ(a[i].distance, b[i].distance);
      }
    }
  }
}

}  // namespace
}  // namespace quiver::index
