// Keeps the `capacity` best (smallest distance) candidates of a scan; ties
// are broken by the smaller id, so the result does not depend on the order
// of the candidates.
//
//   TopK top;  top.Reset(10);
//   for (...) if (d <= top.threshold()) top.Push(d, id);
//   top.SortInto(&out);  // best first
//
// A reservoir, not a heap: candidates are appended to a buffer of 2 x
// capacity; when it fills, Prune keeps the 1-1.25 x capacity nearest and
// the threshold drops to a distance at or above the worst kept; Finalize
// selects the best `capacity` exactly, by the same bisection. Amortised O(1)
// per candidate (a heap costs O(log capacity)), which matters with re-ranking
// (capacity k x rerank) and fast-scan. Prune bisects on the distances with
// branch-free counts: nth_element's mispredicted compares took a third of a
// re-ranked glove-50 search (ann_bench: +35% QPS at nprobe 8, rerank 8).
//
// Thread safety: none (one per query, reused across queries without
// allocating once grown).
#ifndef QUIVER_INDEX_IVF_TOPK_H_
#define QUIVER_INDEX_IVF_TOPK_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
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
    if (size_ == buffer_.size()) Prune();
  }

  // Reduces to the best `capacity` candidates (unordered) and returns them.
  const Neighbor* Finalize(size_t* n) {
    if (size_ > capacity_) Select();
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

  // Exactly the best `capacity_` (Closer order, ties by id).
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

  // Order-preserving unsigned key of a distance (-0 and +0 alike; no NaN
  // reaches the buffer), and back.
  static uint32_t Key(float d) {
    uint32_t b;
    d += 0.0f;
    std::memcpy(&b, &d, 4);
    return (b & 0x80000000u) != 0 ? ~b : b | 0x80000000u;
  }
  static float Unkey(uint32_t u) {
    const uint32_t b = (u & 0x80000000u) != 0 ? u & 0x7fffffffu : ~u;
    float d;
    std::memcpy(&d, &b, 4);
    return d;
  }

  // Fills keys_ with the buffer's keys and bisects them for a v with at
  // least capacity_ (> 0) keys <= v: the smallest such v, unless one with
  // at most `most` keys <= it is met first. Sets *v and returns the count.
  size_t Bisect(size_t most, uint32_t* v) {
    const size_t n = size_;
    keys_.resize(n);
    uint32_t lo = ~uint32_t{0}, hi = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t u = Key(buffer_[i].distance);
      keys_[i] = u;
      lo = std::min(lo, u);
      hi = std::max(hi, u);
    }
    const uint32_t* keys = keys_.data();
    // Invariant: count keys <= hi, count >= capacity_.
    size_t count = n;
    while (lo < hi) {
      const uint32_t mid = lo + (hi - lo) / 2;
      size_t c = 0;
      for (size_t i = 0; i < n; ++i) c += keys[i] <= mid;
      if (c < capacity_) {
        lo = mid + 1;
      } else {
        hi = mid;
        count = c;
        if (c <= most) break;
      }
    }
    *v = hi;
    return count;
  }

  // Keeps the entries whose key is <= v, in place.
  void KeepAtMost(uint32_t v) {
    size_t kept = 0;
    for (size_t i = 0; i < size_; ++i) {
      buffer_[kept] = buffer_[i];  // kept <= i: in place
      kept += keys_[i] <= v;
    }
    size_ = kept;
  }

  // Makes room when the buffer is full: keeps every entry at or below a
  // distance v such that between capacity_ and 5/4 capacity_ entries are
  // (found by bisecting the keys with branch-free counts, which costs a
  // fraction of nth_element's mispredicted branches), and lowers the
  // threshold to v. Every one of the best capacity_ is kept; Finalize
  // selects them exactly. Many ties at v: Shrink.
  void Prune() {
    if (capacity_ == 0) {
      size_ = 0;
      return;
    }
    uint32_t v = 0;
    if (Bisect(capacity_ + capacity_ / 4, &v) > capacity_ + capacity_ / 4) {
      Shrink();
      return;
    }
    KeepAtMost(v);
    threshold_ = Unkey(v);
  }

  // Exactly the best capacity_ (< size_): the entries at or below the
  // smallest v with at least capacity_ of them; ties at v beyond capacity_
  // go to Shrink, which orders them by id.
  void Select() {
    if (capacity_ == 0) {
      size_ = 0;
      return;
    }
    uint32_t v = 0;
    const size_t count = Bisect(capacity_, &v);
    KeepAtMost(v);
    threshold_ = Unkey(v);
    if (count > capacity_) Shrink();
  }

  size_t capacity_ = 0;
  size_t size_ = 0;
  float threshold_ = 0;
  std::vector<Neighbor> buffer_;
  std::vector<uint32_t> keys_;  // Prune's scratch
};

}  // namespace quiver::index::ivf

#endif  // QUIVER_INDEX_IVF_TOPK_H_
