// A product quantizer: splits a dim-vector into m sub-vectors of dsub =
// dim / m floats and codes each with the nearest of ksub = 2^nbits
// centroids of its sub-space (nbits 8 or 4). Codebooks are trained with
// Quiver's k-means, one sub-space at a time.
//
//   ProductQuantizer pq(128, 16, 8);
//   QUIVER_RETURN_IF_ERROR(pq.Train(x, n, /*niter=*/20, /*seed=*/1, 0));
//   std::vector<uint8_t> codes(n * pq.code_size());
//   pq.Encode(x, n, codes.data());
//
// Code format: 8-bit: m bytes, byte j = sub-code j. 4-bit: ceil(m / 2)
// bytes, sub-code 2t in the low nibble of byte t and 2t + 1 in the high
// nibble (0 when m is odd); the same bit order as FAISS's PQEncoderGeneric.
//
// Thread safety: const methods may run concurrently; Train() and
// SetCodebooks() need exclusive access.
#ifndef QUIVER_INDEX_PQ_PRODUCT_QUANTIZER_H_
#define QUIVER_INDEX_PQ_PRODUCT_QUANTIZER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace quiver::index::pq {

class ProductQuantizer {
 public:
  // REQUIRES: m >= 1, dim % m == 0, nbits in {4, 8}.
  ProductQuantizer(size_t dim, size_t m, size_t nbits);

  size_t dim() const { return dim_; }
  size_t m() const { return m_; }
  size_t nbits() const { return nbits_; }
  size_t ksub() const { return ksub_; }
  size_t dsub() const { return dsub_; }
  // Bytes per code: m (8-bit) or ceil(m / 2) (4-bit).
  size_t code_size() const { return code_size_; }

  // Trains the codebooks on x (n * dim floats). INVALID_ARGUMENT if
  // n < ksub; k-means errors are passed on.
  absl::Status Train(const float* x, size_t n, int niter, uint64_t seed,
                     int threads);

  // Installs trained codebooks (m * ksub * dsub floats, layout (m, ksub,
  // dsub)). INVALID_ARGUMENT on a size mismatch or a non-finite value.
  absl::Status SetCodebooks(std::vector<float> codebooks);

  // Layout (m, ksub, dsub), as FAISS's ProductQuantizer::centroids.
  const std::vector<float>& codebooks() const { return codebooks_; }
  // Transposed, layout (m, dsub, ksub): what the LUT kernels read.
  const std::vector<float>& codebooks_t() const { return codebooks_t_; }
  // Centroid of sub-quantizer j, code c: dsub floats.
  const float* centroid(size_t j, size_t c) const {
    return codebooks_.data() + (j * ksub_ + c) * dsub_;
  }

  // Codes n vectors: sub-code j is the nearest centroid (squared L2, the
  // first on ties) of sub-vector j, with the fused codebook_l2_argmin
  // kernel. x: n * dim floats; codes: n * code_size() bytes.
  void Encode(const float* x, size_t n, uint8_t* codes) const;
  // Reconstructs n vectors from their codes. x: n * dim floats.
  void Decode(const uint8_t* codes, size_t n, float* x) const;

  // ADC tables of a query q (dim floats): table[j * ksub + c] =
  // <q_j, centroid(j, c)> (IP) or ||q_j - centroid(j, c)||^2 (L2).
  void ComputeIpTable(const float* q, float* table) const;
  void ComputeL2Table(const float* q, float* table) const;

  // Sub-code j of one code (code_size() bytes).
  uint32_t SubCode(const uint8_t* code, size_t j) const {
    if (nbits_ == 8) return code[j];
    return (code[j >> 1] >> ((j & 1) * 4)) & 15;
  }

 private:
  void Transpose();

  size_t dim_, m_, nbits_, ksub_, dsub_, code_size_;
  std::vector<float> codebooks_;    // (m, ksub, dsub)
  std::vector<float> codebooks_t_;  // (m, dsub, ksub)
};

}  // namespace quiver::index::pq

#endif  // QUIVER_INDEX_PQ_PRODUCT_QUANTIZER_H_
