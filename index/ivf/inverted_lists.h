// Inverted lists of an IVF index: per list, the uint64 ids and the PQ codes
// of its vectors, each in one contiguous array, guarded by the list's own
// reader/writer lock.
//
//   InvertedLists lists(nlist, code_size, CodeLayout::kFlat);
//   lists.Append(l, &id, code, 1);
//   {
//     absl::ReaderMutexLock lock(&lists.list(l).mu);
//     Scan(lists.list(l).ids, lists.list(l).codes);
//   }
//
// Code layouts: kFlat stores code_size bytes per vector, row-major (8-bit
// ADC scan). kBlocked4 stores 4-bit codes in fast-scan blocks of 32 vectors
// (kernels.h), npairs = code_size bytes per vector; the last block is
// padded with zero codes. Removal swaps the last vector into the hole.
//
// Arrays grow by 1/16 of their size (not 2x), so that capacity stays within
// ~7% of the size; they shrink when more than 1/11 is unused.
//
// Thread safety: Append/Remove/Get lock the list themselves (writer or
// reader). Callers scanning a list hold list(l).mu as a reader.
#ifndef QUIVER_INDEX_IVF_INVERTED_LISTS_H_
#define QUIVER_INDEX_IVF_INVERTED_LISTS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace quiver::index::ivf {

enum class CodeLayout { kFlat, kBlocked4 };

struct InvertedList {
  mutable absl::Mutex mu;
  std::vector<uint64_t> ids ABSL_GUARDED_BY(mu);
  // kFlat: ids.size() * code_size bytes; kBlocked4: ceil(ids.size() / 32)
  // blocks of 32 * code_size bytes.
  std::vector<uint8_t> codes ABSL_GUARDED_BY(mu);
};

class InvertedLists {
 public:
  InvertedLists(size_t nlist, size_t code_size, CodeLayout layout);
  InvertedLists(const InvertedLists&) = delete;
  InvertedLists& operator=(const InvertedLists&) = delete;

  size_t nlist() const { return nlist_; }
  size_t code_size() const { return code_size_; }
  CodeLayout layout() const { return layout_; }
  InvertedList& list(size_t l) { return lists_[l]; }
  const InvertedList& list(size_t l) const { return lists_[l]; }

  // Appends n entries to list l. codes: n * code_size bytes in the packed
  // code format (ProductQuantizer), whatever the layout.
  void Append(size_t l, const uint64_t* ids, const uint8_t* codes, size_t n);
  // Removes id from list l by moving the last entry into its place; false
  // if the list does not hold id.
  bool Remove(size_t l, uint64_t id);
  // Copies list l's ids and packed codes (code_size bytes each).
  void Get(size_t l, std::vector<uint64_t>* ids,
           std::vector<uint8_t>* codes) const;
  // Bytes held by the lists (capacity of ids and codes + per-list objects).
  size_t MemoryBytes() const;
  size_t ListSize(size_t l) const;

  // Packed code <-> fast-scan block slot (npairs bytes per code).
  static void PutBlockCode(const uint8_t* code, size_t npairs, uint8_t* block,
                           size_t slot);
  static void GetBlockCode(const uint8_t* block, size_t npairs, size_t slot,
                           uint8_t* code);

 private:
  size_t nlist_, code_size_;
  CodeLayout layout_;
  std::unique_ptr<InvertedList[]> lists_;
};

}  // namespace quiver::index::ivf

#endif  // QUIVER_INDEX_IVF_INVERTED_LISTS_H_
