#include "index/pq/product_quantizer.h"

#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "index/kernels/kernels.h"
#include "index/kmeans.h"

namespace quiver::index::pq {

ProductQuantizer::ProductQuantizer(size_t dim, size_t m, size_t nbits)
    : dim_(dim),
      m_(m),
      nbits_(nbits),
      ksub_(size_t{1} << nbits),
      dsub_(dim / m),
      code_size_(nbits == 8 ? m : (m + 1) / 2) {
  QUIVER_CHECK(m >= 1 && dim % m == 0 && (nbits == 4 || nbits == 8));
}

absl::Status ProductQuantizer::Train(const float* x, size_t n, int niter,
                                     uint64_t seed, int threads) {
  if (n < ksub_) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "product quantizer training needs at least %d vectors (2^%d "
        "centroids per sub-space), got %d",
        ksub_, nbits_, n));
  }
  std::vector<float> codebooks(m_ * ksub_ * dsub_);
  std::vector<float> sub(n * dsub_);
  for (size_t j = 0; j < m_; ++j) {
    for (size_t i = 0; i < n; ++i) {
      std::memcpy(sub.data() + i * dsub_, x + i * dim_ + j * dsub_,
                  dsub_ * sizeof(float));
    }
    KMeansParams kp;
    kp.k = ksub_;
    kp.niter = niter;
    kp.seed = seed + j;
    kp.threads = threads;
    QUIVER_ASSIGN_OR_RETURN(KMeansResult r, KMeans(sub.data(), n, dsub_, kp));
    if (r.centroids.size() != ksub_ * dsub_) {
      return absl::InternalError(absl::StrFormat(
          "k-means for sub-quantizer %d returned %d floats, expected %d", j,
          r.centroids.size(), ksub_ * dsub_));
    }
    std::memcpy(codebooks.data() + j * ksub_ * dsub_, r.centroids.data(),
                ksub_ * dsub_ * sizeof(float));
  }
  return SetCodebooks(std::move(codebooks));
}

absl::Status ProductQuantizer::SetCodebooks(std::vector<float> codebooks) {
  if (codebooks.size() != m_ * ksub_ * dsub_) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "PQ codebooks have %d floats, expected m * ksub * dsub = %d * %d * %d",
        codebooks.size(), m_, ksub_, dsub_));
  }
  for (size_t i = 0; i < codebooks.size(); ++i) {
    if (!std::isfinite(codebooks[i])) {
      return absl::InvalidArgumentError(
          absl::StrFormat("PQ codebook value %d is not finite", i));
    }
  }
  codebooks_ = std::move(codebooks);
  Transpose();
  return absl::OkStatus();
}

void ProductQuantizer::Transpose() {
  codebooks_t_.resize(codebooks_.size());
  for (size_t j = 0; j < m_; ++j) {
    for (size_t c = 0; c < ksub_; ++c) {
      for (size_t t = 0; t < dsub_; ++t) {
        codebooks_t_[(j * dsub_ + t) * ksub_ + c] =
            codebooks_[(j * ksub_ + c) * dsub_ + t];
      }
    }
  }
}

void ProductQuantizer::Encode(const float* x, size_t n, uint8_t* codes) const {
  const kernels::KernelTable& k = kernels::Kernels();
  if (nbits_ == 8) {
    // The sub-codes are the code bytes.
    for (size_t i = 0; i < n; ++i) {
      k.codebook_l2_argmin(x + i * dim_, codebooks_t_.data(), m_, dsub_, ksub_,
                           codes + i * code_size_);
    }
    return;
  }
  std::vector<uint8_t> best(m_);
  for (size_t i = 0; i < n; ++i) {
    k.codebook_l2_argmin(x + i * dim_, codebooks_t_.data(), m_, dsub_, ksub_,
                         best.data());
    uint8_t* code = codes + i * code_size_;
    std::memset(code, 0, code_size_);
    for (size_t j = 0; j < m_; ++j) {
      code[j >> 1] |= static_cast<uint8_t>(best[j] << ((j & 1) * 4));
    }
  }
}

void ProductQuantizer::Decode(const uint8_t* codes, size_t n, float* x) const {
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* code = codes + i * code_size_;
    for (size_t j = 0; j < m_; ++j) {
      std::memcpy(x + i * dim_ + j * dsub_, centroid(j, SubCode(code, j)),
                  dsub_ * sizeof(float));
    }
  }
}

void ProductQuantizer::ComputeIpTable(const float* q, float* table) const {
  kernels::Kernels().codebook_ip(q, codebooks_t_.data(), m_, dsub_, ksub_,
                                 table);
}

void ProductQuantizer::ComputeL2Table(const float* q, float* table) const {
  kernels::Kernels().codebook_l2(q, codebooks_t_.data(), m_, dsub_, ksub_,
                                 table);
}

}  // namespace quiver::index::pq
