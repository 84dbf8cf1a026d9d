#include "index/ivf/inverted_lists.h"

#include <algorithm>
#include <cstring>

#include "common/status.h"
#include "index/kernels/kernels.h"

namespace quiver::index::ivf {
namespace {

constexpr size_t kBlock = kernels::kFastScanBlock;
constexpr size_t kMaxPairs = 128;  // 4-bit codes have m <= 256

// Makes room for `needed` elements, growing by 1/16 (at least `min_grow`)
// and rounding the capacity up to a multiple of `unit`.
template <typename T>
void Reserve(std::vector<T>* v, size_t needed, size_t min_grow, size_t unit) {
  if (needed <= v->capacity()) return;
  const size_t cap = v->capacity();
  size_t want = std::max(needed, cap + std::max(cap / 16, min_grow));
  want = (want + unit - 1) / unit * unit;
  v->reserve(want);
}

// Gives memory back when more than 1/11 of the capacity (and more than
// `min_slack` elements) is unused.
template <typename T>
void MaybeShrink(std::vector<T>* v, size_t min_slack) {
  const size_t slack = v->capacity() - v->size();
  if (slack > min_slack && slack > v->capacity() / 11) v->shrink_to_fit();
}

}  // namespace

InvertedLists::InvertedLists(size_t nlist, size_t code_size, CodeLayout layout)
    : nlist_(nlist),
      code_size_(code_size),
      layout_(layout),
      lists_(new InvertedList[nlist]) {}

void InvertedLists::PutBlockCode(const uint8_t* code, size_t npairs,
                                 uint8_t* block, size_t slot) {
  const size_t byte = slot & 15;
  const int shift = slot < 16 ? 0 : 4;
  const uint8_t keep = slot < 16 ? 0xf0 : 0x0f;
  for (size_t t = 0; t < npairs; ++t) {
    uint8_t* p = block + t * 32;
    const uint8_t a = code[t] & 15, b = code[t] >> 4;
    p[byte] = static_cast<uint8_t>((p[byte] & keep) | (a << shift));
    p[16 + byte] = static_cast<uint8_t>((p[16 + byte] & keep) | (b << shift));
  }
}

void InvertedLists::GetBlockCode(const uint8_t* block, size_t npairs,
                                 size_t slot, uint8_t* code) {
  const size_t byte = slot & 15;
  const int shift = slot < 16 ? 0 : 4;
  for (size_t t = 0; t < npairs; ++t) {
    const uint8_t* p = block + t * 32;
    const uint8_t a = (p[byte] >> shift) & 15;
    const uint8_t b = (p[16 + byte] >> shift) & 15;
    code[t] = static_cast<uint8_t>(a | (b << 4));
  }
}

void InvertedLists::Append(size_t l, const uint64_t* ids, const uint8_t* codes,
                           size_t n) {
  QUIVER_CHECK(l < nlist_);
  if (n == 0) return;
  InvertedList& list = lists_[l];
  absl::MutexLock lock(&list.mu);
  const size_t old = list.ids.size();
  Reserve(&list.ids, old + n, 8, 1);
  list.ids.insert(list.ids.end(), ids, ids + n);
  if (layout_ == CodeLayout::kFlat) {
    Reserve(&list.codes, (old + n) * code_size_, 8 * code_size_, code_size_);
    list.codes.insert(list.codes.end(), codes, codes + n * code_size_);
    return;
  }
  const size_t block_bytes = kBlock * code_size_;
  const size_t nblocks = (old + n + kBlock - 1) / kBlock;
  Reserve(&list.codes, nblocks * block_bytes, block_bytes, block_bytes);
  list.codes.resize(nblocks * block_bytes, 0);
  for (size_t i = 0; i < n; ++i) {
    const size_t pos = old + i;
    PutBlockCode(codes + i * code_size_, code_size_,
                 list.codes.data() + (pos / kBlock) * block_bytes,
                 pos % kBlock);
  }
}

bool InvertedLists::Remove(size_t l, uint64_t id) {
  QUIVER_CHECK(l < nlist_);
  InvertedList& list = lists_[l];
  absl::MutexLock lock(&list.mu);
  auto it = std::find(list.ids.begin(), list.ids.end(), id);
  if (it == list.ids.end()) return false;
  const size_t pos = static_cast<size_t>(it - list.ids.begin());
  const size_t last = list.ids.size() - 1;
  list.ids[pos] = list.ids[last];
  list.ids.pop_back();
  MaybeShrink(&list.ids, 8);
  if (layout_ == CodeLayout::kFlat) {
    if (pos != last) {
      std::memcpy(list.codes.data() + pos * code_size_,
                  list.codes.data() + last * code_size_, code_size_);
    }
    list.codes.resize(last * code_size_);
    MaybeShrink(&list.codes, 8 * code_size_);
    return true;
  }
  const size_t block_bytes = kBlock * code_size_;
  QUIVER_CHECK(code_size_ <= kMaxPairs);
  uint8_t tmp[kMaxPairs];
  uint8_t* blocks = list.codes.data();
  GetBlockCode(blocks + (last / kBlock) * block_bytes, code_size_,
               last % kBlock, tmp);
  if (pos != last) {
    PutBlockCode(tmp, code_size_, blocks + (pos / kBlock) * block_bytes,
                 pos % kBlock);
  }
  // Zero the freed slot so that padding codes stay 0.
  std::memset(tmp, 0, code_size_);
  PutBlockCode(tmp, code_size_, blocks + (last / kBlock) * block_bytes,
               last % kBlock);
  list.codes.resize((last + kBlock - 1) / kBlock * block_bytes);
  MaybeShrink(&list.codes, block_bytes);
  return true;
}

void InvertedLists::Get(size_t l, std::vector<uint64_t>* ids,
                        std::vector<uint8_t>* codes) const {
  QUIVER_CHECK(l < nlist_);
  const InvertedList& list = lists_[l];
  absl::ReaderMutexLock lock(&list.mu);
  const size_t n = list.ids.size();
  if (ids != nullptr) *ids = list.ids;
  if (codes == nullptr) return;
  if (layout_ == CodeLayout::kFlat) {
    *codes = list.codes;
    return;
  }
  codes->resize(n * code_size_);
  const size_t block_bytes = kBlock * code_size_;
  for (size_t i = 0; i < n; ++i) {
    GetBlockCode(list.codes.data() + (i / kBlock) * block_bytes, code_size_,
                 i % kBlock, codes->data() + i * code_size_);
  }
}

size_t InvertedLists::ListSize(size_t l) const {
  const InvertedList& list = lists_[l];
  absl::ReaderMutexLock lock(&list.mu);
  return list.ids.size();
}

size_t InvertedLists::MemoryBytes() const {
  size_t bytes = nlist_ * sizeof(InvertedList);
  for (size_t l = 0; l < nlist_; ++l) {
    const InvertedList& list = lists_[l];
    absl::ReaderMutexLock lock(&list.mu);
    bytes += list.ids.capacity() * sizeof(uint64_t) + list.codes.capacity();
  }
  return bytes;
}

}  // namespace quiver::index::ivf
