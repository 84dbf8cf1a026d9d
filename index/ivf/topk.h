// Keeps the `capacity` best (smallest distance) candidates of a scan; ties
// are broken by the smaller id, so the result does not depend on the order
// of the candidates.
//
//   TopK top;  top.Reset(10);
//   for (...) if (d <= top.threshold()) top.Push(d, id);
//   top.SortInto(&out);  // best first
//
// A reservoir, not a heap: candidates are appended to a buffer of 2 x
// capacity; when it fills, nth_element keeps the best `capacity` and the
// threshold drops to the worst kept distance. Amortised O(1) per candidate
// (a heap costs O(log capacity)), which matters with re-ranking (capacity
// k x rerank) and fast-scan.
//
// Thread safety: none (one per query, reused across queries without
// allocating once grown).
#ifndef QUIVER_INDEX_IVF_TOPK_H_
#define QUIVER_INDEX_IVF_TOPK_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "index/types.h"

namespace quiver::index::ivf {

class TopK {
 public:
  void Reset(size_t capacity) {
    capacity_ = capacity;
    size_ = 0;
    buffer_.resize(2 * std::max<size_t>(capacity, 1));
    threshold_ = capacity == 0 ? -std::numeric_limits<float>::infinity()
                               : std::numeric_limits<float>::infinity();
  }

  // Candidates with a distance above threshold() would be rejected (one
  // equal to it may still win on its id).
  float threshold() const { return threshold_; }

  // Adds (distance, id) if it may be among the best `capacity`.
  void Push(float distance, uint64_t id) {
    if (!(distance <= threshold_)) return;
    buffer_[size_++] = {id, distance};
    if (size_ == buffer_.size()) Shrink();
  }

  // Reduces to the best `capacity` candidates (unordered) and returns them.
  const Neighbor* Finalize(size_t* n) {
    if (size_ > capacity_) Shrink();
    *n = size_;
    return buffer_.data();
  }

  // The best candidates, best first, into *out (replacing its contents).
  void SortInto(std::vector<Neighbor>* out) {
    size_t n = 0;
    const Neighbor* items = Finalize(&n);
    out->assign(items, items + n);
    std::sort(out->begin(), out->end(), LessFn());
  }

 private:
  // Closer() as a functor, so that sort and nth_element inline it.
  struct LessFn {
    bool operator()(const Neighbor& a, const Neighbor& b) const {
      return Closer(a, b);
    }
  };

  void Shrink() {
    if (capacity_ == 0) {
      size_ = 0;
      return;
    }
    std::nth_element(buffer_.begin(), buffer_.begin() + (capacity_ - 1),
                     buffer_.begin() + size_, LessFn());
    size_ = capacity_;
    threshold_ = buffer_[capacity_ - 1].distance;
  }

  size_t capacity_ = 0;
  size_t size_ = 0;
  float threshold_ = 0;
  std::vector<Neighbor> buffer_;
};

}  // namespace quiver::index::ivf

#endif  // QUIVER_INDEX_IVF_TOPK_H_
