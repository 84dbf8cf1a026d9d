// Collection configuration, the API limits, and the automatic choice of
// index parameters (nlist, pq_m, nprobe, ...) from a collection's size and
// dimension, with the rules that decide when an index is retrained. Pure
// functions over plain structs: no gRPC, no store.
//
//   CollectionConfig c{.name = "docs", .dimension = 128,
//                      .metric = index::Metric::kL2};
//   QUIVER_RETURN_IF_ERROR(ValidateCollectionConfig(c));
//   QUIVER_ASSIGN_OR_RETURN(index::IvfPqParams p,
//                           ResolveTrainParams(c, /*n=*/10000, /*threads=*/0));
//
// Thread safety: everything here is a pure function or a value type.
#ifndef QUIVER_SERVER_ENGINE_CONFIG_H_
#define QUIVER_SERVER_ENGINE_CONFIG_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/ivf_pq_index.h"
#include "index/metric.h"

namespace quiver::engine {

// ---- Limits (part of the API contract, see quiver.proto) -------------------
inline constexpr uint32_t kMaxDimension = 4096;
inline constexpr size_t kMaxCollectionNameBytes = 128;
inline constexpr size_t kMaxDocumentIdBytes = 512;
inline constexpr size_t kMaxAttributes = 64;
inline constexpr size_t kMaxAttributeKeyBytes = 128;
inline constexpr size_t kMaxAttributeValueBytes = 1024;
// Internal ids (one per stored document, kept by upserts of the same id and
// taken over by new documents once their document is deleted) fit the
// attribute bitmaps' 32 bits.
inline constexpr uint64_t kMaxInternalId = UINT32_MAX;
// Most tags in one tag-list attribute (each at most kMaxAttributeValueBytes).
inline constexpr size_t kMaxTags = 64;
inline constexpr size_t kMaxDocumentsPerUpsert = 10000;
inline constexpr size_t kMaxIdsPerRequest = 10000;
inline constexpr size_t kMaxQueriesPerSearch = 1024;
inline constexpr uint32_t kMaxK = 1024;
inline constexpr uint32_t kMaxNlist = 65536;
// Recall@10 a collection's defaults aim at when IndexParams.target_recall
// is 0.
inline constexpr double kDefaultTargetRecall = 0.95;
// Most sub-quantizers of 4-bit fast-scan codes.
inline constexpr uint32_t kMaxPqM4Bit = 256;
// Largest re-rank factor accepted (k * rerank candidates are re-scored).
inline constexpr uint32_t kMaxRerank = 64;
// Re-rank factor used when IndexParams.rerank is 0.
inline constexpr uint32_t kDefaultRerank = 4;

// Index parameters as requested; 0 means "automatic". Mirrors
// quiver.v1.IndexParams field by field (see quiver.proto for meanings).
struct IndexConfig {
  uint32_t nlist = 0;
  uint32_t pq_m = 0;
  uint32_t pq_bits = 0;  // 0 = automatic (see EffectiveBits)
  uint64_t train_size = 0;
  uint32_t nprobe = 0;
  uint32_t rerank = 0;
  bool balanced = false;
  uint64_t auto_train_threshold = 0;
  // Recall@10 the measured defaults aim at, in (0, 1]; 0 = 0.95.
  double target_recall = 0;
};

// The state of a collection's index maintenance, persisted with its schema:
// the defaults measured after the last training and the figures the
// retraining triggers compare against.
struct MaintenanceState {
  // Default nprobe / rerank chosen by measurement (0 = not measured).
  uint32_t tuned_nprobe = 0;
  uint32_t tuned_rerank = 0;
  // Recall@10 measured at those settings (stored vectors as queries, each
  // query's own document left out).
  double measured_recall = 0;
  // Training generation those figures belong to.
  uint32_t generation = 0;
  // Live documents when the last training took its snapshot.
  uint64_t trained_count = 0;
  // Mean squared distance of the collection's vectors to their coarse
  // centroids right after training (the drift trigger's baseline).
  double train_error = 0;
  // Why the training of the current index started.
  std::string reason;
};

// Which shard of a sharded collection this node holds (set by the router
// at creation; shard_count 0 = not sharded).
struct ShardPlacement {
  uint32_t shard = 0;
  uint32_t shard_count = 0;
  // The nodes of every shard, in shard order, as the router addressed them.
  std::vector<std::string> nodes;
};
// Most shards of one collection.
inline constexpr uint32_t kMaxShards = 1024;

// What a collection is, fixed at creation (index params may be overridden by
// a later Train).
struct CollectionConfig {
  std::string name;
  uint32_t dimension = 0;
  index::Metric metric = index::Metric::kL2;
  IndexConfig index;
  ShardPlacement placement;
};

// INVALID_ARGUMENT unless 1..128 bytes of [A-Za-z0-9_.-].
absl::Status ValidateCollectionName(std::string_view name);
// INVALID_ARGUMENT for pq_bits not in {0, 4, 8}, pq_m not dividing `dim`,
// nlist > 65536, nprobe > 65536, rerank > kMaxRerank, target_recall outside
// [0, 1]. (An nprobe above nlist is clamped when used, not rejected.)
absl::Status ValidateIndexConfig(const IndexConfig& index, uint32_t dim);
// shard < shard_count <= kMaxShards, and nodes empty or one per shard.
absl::Status ValidatePlacement(const ShardPlacement& placement);
// Name, dimension 1..4096, the index config and the placement.
absl::Status ValidateCollectionConfig(const CollectionConfig& config);

// Returns `base` with every non-zero field of `overrides` (and `balanced`)
// taken from `overrides`.
IndexConfig MergeOverrides(const IndexConfig& base,
                           const IndexConfig& overrides);

// Bits per PQ sub-code in use: pq_bits, or when automatic 4-bit fast-scan
// codes at every size (the automatic pq_m gives them as many bytes as 8-bit
// codes of half as many sub-quantizers; through quiverd at the measured
// defaults, recall@10 >= 0.95 at 1.3-2.6x the single-query QPS of 8-bit
// codes on SIFT, 96-d and 768-d data), or 8-bit ones for an explicit pq_m
// above kMaxPqM4Bit (more than fast-scan holds).
uint32_t EffectiveBits(const IndexConfig& index);
// About 4*sqrt(n) rounded to a power of two, clamped to [1, 65536] and to at
// most n / 39 (so that every list gets ~39 training points).
uint32_t AutoNlist(uint64_t n);
// dim/4 (8-bit) or min(dim/2, 256) (4-bit) lowered to the nearest divisor
// of dim.
uint32_t AutoPqM(uint32_t dim, uint32_t nbits);
// Default lists probed per query for a trained index with `nlist` lists:
// IndexParams.nprobe, else the measured one, else a rule of thumb; clamped
// to [1, nlist].
uint32_t DefaultNprobe(const IndexConfig& index, const MaintenanceState& m,
                       uint32_t nlist);
// Default re-rank factor: IndexParams.rerank, else the measured one, else
// kDefaultRerank.
uint32_t DefaultRerank(const IndexConfig& index, const MaintenanceState& m);
// target_recall, or kDefaultTargetRecall.
double TargetRecall(const IndexConfig& index);
// Vector count at which a collection first trains itself:
// auto_train_threshold, else 39 * max(2^EffectiveBits, nlist), and at least
// 1,000 when pq_bits is automatic. Codebooks and coarse centroids are never
// trained on fewer than ~39 points per centroid. Below the threshold
// searches are exact.
uint64_t AutoTrainThreshold(const IndexConfig& index);
// Fewest stored vectors an explicit training needs: max(2^bits, nlist).
uint64_t MinTrainVectors(const IndexConfig& index);

// Why a trained collection should retrain itself now, or "" if it should
// not: it grew to kRetrainGrowth times (or shrank to 1/kRetrainGrowth^2 of)
// its size at the last training while nlist is automatic, or grew at least
// kRetrainNlistGrowth times and past a size where AutoNlist is larger, or
// the vectors written since then are quantized kRetrainDrift times worse
// than the collection was right after the last training (measured over at
// least max(1000, 10% of the size)).
inline constexpr double kRetrainGrowth = 2.0;
inline constexpr double kRetrainNlistGrowth = 1.25;
inline constexpr double kRetrainDrift = 1.5;
// Half of the documents trained on deleted since also retrains (re-tunes
// the defaults, and the store compacts the collection's keys afterwards).
std::string RetrainReason(const IndexConfig& index, const MaintenanceState& m,
                          uint64_t count, uint64_t recent_count,
                          double recent_error, uint64_t recent_deleted = 0);

// Threads of a training when none are set: every core but one, so that a
// core stays free for searches and writes (a training at nice 10 on every
// core still delays them: search p99 read 3x steady through a training on
// 2 cores, 0.9x with one core left free, and the training took no longer).
// 1 on a single core.
int DefaultTrainThreads();

// The IvfPqParams of a training over n stored vectors, automatic values
// resolved (threads <= 0: DefaultTrainThreads()). FAILED_PRECONDITION when
// n < MinTrainVectors (naming both).
absl::StatusOr<index::IvfPqParams> ResolveTrainParams(
    const CollectionConfig& config, uint64_t n, int threads);
// Vectors sampled for training: train_size, or min(n, max(128 * nlist,
// 256 * 2^bits)); always within [min(n, max(nlist, 2^bits)), n].
inline constexpr uint32_t kTrainPointsPerList = 128;
uint64_t TrainSampleSize(const IndexConfig& index,
                         const index::IvfPqParams& params, uint64_t n);

}  // namespace quiver::engine

#endif  // QUIVER_SERVER_ENGINE_CONFIG_H_
