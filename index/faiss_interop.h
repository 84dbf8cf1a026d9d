// Export of a Quiver IVF-PQ index to a FAISS index file, so that FAISS
// tools (and Python's faiss.read_index) can search the same data. The only
// part of index/ that includes FAISS; built as its own library,
// quiver_faiss_interop, so that quiver_index never links FAISS.
//
//   QUIVER_RETURN_IF_ERROR(ExportToFaiss(*index, "/tmp/docs.faissindex"));
//   // python: faiss.read_index("/tmp/docs.faissindex").search(q, 10)
//
// The file holds a faiss::IndexIVFPQ (by_residual, IndexFlatL2 or
// IndexFlatIP coarse quantizer with our centroids, our PQ codebooks, and our
// inverted lists: codes and ids). Metrics: L2 -> METRIC_L2; inner product
// and cosine -> METRIC_INNER_PRODUCT (FAISS reports +<q, x>; for cosine the
// caller normalises queries). 8-bit and 4-bit codes both export (4-bit as
// IndexIVFPQ with nbits = 4, FAISS's generic decoder).
//
// Thread safety: ExportToFaiss reads the index like Search() does (one list
// lock at a time), so it may run concurrently with Add()/Remove(); the file
// then reflects each list at the moment it was copied.
#ifndef QUIVER_INDEX_FAISS_INTEROP_H_
#define QUIVER_INDEX_FAISS_INTEROP_H_

#include <string>

#include "absl/status/status.h"
#include "index/ivf_pq_index.h"

namespace quiver::index {

// Writes `index` to `path` as a FAISS IndexIVFPQ. INVALID_ARGUMENT if an id
// does not fit FAISS's int64 ids (>= 2^63); INTERNAL with FAISS's message
// if FAISS fails (e.g. the file cannot be written).
absl::Status ExportToFaiss(const IvfPqIndex& index, const std::string& path);

}  // namespace quiver::index

#endif  // QUIVER_INDEX_FAISS_INTEROP_H_
