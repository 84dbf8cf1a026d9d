#include "index/faiss_interop.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_io.h>

#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <vector>

#include "absl/strings/str_format.h"

namespace quiver::index {
namespace {

absl::Status Export(const IvfPqIndex& index, const std::string& path) {
  const IvfPqParams& p = index.params();
  const faiss::MetricType metric =
      p.metric == Metric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
  std::unique_ptr<faiss::IndexFlat> quantizer;
  if (metric == faiss::METRIC_L2) {
    quantizer = std::make_unique<faiss::IndexFlatL2>(p.dim);
  } else {
    quantizer = std::make_unique<faiss::IndexFlatIP>(p.dim);
  }
  quantizer->add(p.nlist, index.coarse_centroids().data());
  faiss::IndexIVFPQ ivf(quantizer.get(), p.dim, p.nlist, p.m, p.nbits, metric);
  ivf.own_fields = true;
  quantizer.release();  // owned by ivf from here
  ivf.by_residual = true;
  const std::vector<float>& codebooks = index.pq_codebooks();
  if (ivf.pq.centroids.size() != codebooks.size() ||
      ivf.pq.code_size != index.code_size()) {
    return absl::InternalError(absl::StrFormat(
        "FAISS ProductQuantizer(d=%d, M=%d, nbits=%d) expects %d centroid "
        "floats and %d-byte codes; Quiver has %d and %d",
        p.dim, p.m, p.nbits, ivf.pq.centroids.size(), ivf.pq.code_size,
        codebooks.size(), index.code_size()));
  }
  ivf.pq.centroids = codebooks;
  ivf.is_trained = true;
  ivf.precompute_table();
  std::vector<uint64_t> ids;
  std::vector<uint8_t> codes;
  std::vector<faiss::Index::idx_t> faiss_ids;
  size_t total = 0;
  for (uint32_t l = 0; l < p.nlist; ++l) {
    index.GetList(l, &ids, &codes);
    if (ids.empty()) continue;
    faiss_ids.resize(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] > static_cast<uint64_t>(
                       std::numeric_limits<faiss::Index::idx_t>::max())) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "id %d does not fit FAISS's signed 64-bit ids", ids[i]));
      }
      faiss_ids[i] = static_cast<faiss::Index::idx_t>(ids[i]);
    }
    ivf.invlists->add_entries(l, ids.size(), faiss_ids.data(), codes.data());
    total += ids.size();
  }
  ivf.ntotal = static_cast<faiss::Index::idx_t>(total);
  faiss::write_index(&ivf, path.c_str());
  return absl::OkStatus();
}

}  // namespace

absl::Status ExportToFaiss(const IvfPqIndex& index, const std::string& path) {
  try {
    return Export(index, path);
  } catch (const faiss::FaissException& e) {
    return absl::InternalError(
        absl::StrFormat("FAISS export to '%s' failed: %s", path, e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrFormat("FAISS export to '%s' failed: %s", path, e.what()));
  }
}

}  // namespace quiver::index
