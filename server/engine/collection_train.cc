// Training lifecycle of a Collection (see collection.h): the automatic
// triggers; start, sample, train, encode, persist, replay the writes made
// meanwhile, swap; then measure recall and tune the defaults.
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <random>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/log.h"
#include "common/status.h"
#include "index/flat_index.h"
#include "index/metric.h"
#include "server/engine/collection.h"
#include "server/engine/collection_internal.h"
#include "server/engine/records.h"
#include "server/engine/tuning.h"

namespace quiver::engine {

using internal_collection::Cleanup;
using internal_collection::kEncodeChunk;

namespace {

// How far above the target recall the tuning aims (see TuneDefaults).
constexpr double kTuneMargin = 0.02;

// A list is split when it holds more than kSplitGrowth times both its size
// right after the last training (or rebalance), scaled by how much the
// collection grew since, and the mean list size, and at least
// kMinSplitSize vectors; merged when it shrank below 1/kMergeShrink of that
// scaled size and 1/(2 kMergeShrink) of the mean.
constexpr double kSplitGrowth = 2.0;
constexpr size_t kMinSplitSize = 128;
constexpr double kMergeShrink = 4.0;

// The defaults are measured again (without a training) when the
// collection grew this much since they were: at a fixed rerank, recall
// falls as the lists fill (stream_bench, 96-d: tuned at 198k to 0.9665 on
// stored vectors, 0.9517 on new queries at 240k, still under 1.3x).
constexpr double kRetuneGrowth = 1.15;

// `want` of `ids`, drawn at random (seeded).
std::vector<uint64_t> SampleIds(std::vector<uint64_t> ids, size_t want,
                                uint64_t seed) {
  std::mt19937_64 rng(0x9e3779b97f4a7c15ULL ^ seed);
  want = std::min(want, ids.size());
  for (size_t i = 0; i < want; ++i) {
    std::uniform_int_distribution<size_t> pick(i, ids.size() - 1);
    std::swap(ids[i], ids[pick(rng)]);
  }
  ids.resize(want);
  return ids;
}

// Writes between two looks at the list sizes.
uint64_t RebalanceCheckInterval(uint64_t count) {
  return std::max<uint64_t>(1000, count / 64);
}

// Training runs beside searches and writes: lower its CPU priority (Linux
// nice values are per thread and inherited by the threads it starts).
void LowerThreadPriority() {
  const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(tid), 10);
}

}  // namespace

absl::Status Collection::StartTraining(
    const std::optional<IndexConfig>& overrides, std::string reason) {
  if (store_->read_only()) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "collection '%s' cannot be trained: the store was opened read-only "
        "because the disk was full when quiverd started",
        config_.name));
  }
  CollectionConfig config = config_;
  {
    absl::MutexLock lock(&train_mu_);
    config.index = overrides.has_value()
                       ? MergeOverrides(requested_, *overrides)
                       : requested_;
  }
  QUIVER_RETURN_IF_ERROR(ValidateIndexConfig(config.index, config.dimension));
  QUIVER_RETURN_IF_ERROR(
      ResolveTrainParams(config, count(), options_.train_threads).status());
  std::thread previous;
  {
    absl::MutexLock lock(&train_mu_);
    if (training_) {
      // Queued: runs with these overrides right after the current one
      // (a later request replaces an earlier queued one).
      if (overrides.has_value()) {
        queued_ = config.index;
        queued_reason_ = std::move(reason);
      }
      return absl::OkStatus();
    }
    if (cancel_.load()) {
      return absl::UnavailableError(absl::StrFormat(
          "collection '%s' is shutting down or dropped", config_.name));
    }
    previous = LaunchLocked(std::move(config), std::move(reason),
                            /*rebalance=*/false);
  }
  if (previous.joinable()) previous.join();
  return absl::OkStatus();
}

std::thread Collection::LaunchLocked(CollectionConfig config,
                                     std::string reason, bool rebalance) {
  std::thread previous = std::move(train_thread_);
  training_ = true;
  progress_ = 0;
  last_reason_ = std::move(reason);
  uint32_t generation;
  {
    absl::MutexLock i(&index_mu_);
    generation = generation_ + 1;
  }
  train_thread_ = std::thread(&Collection::TrainMain, this, std::move(config),
                              generation, rebalance);
  return previous;
}

void Collection::StartRebalance(std::string reason) {
  if (store_->read_only()) return;
  std::thread previous;
  {
    absl::MutexLock lock(&train_mu_);
    if (training_ || cancel_.load()) return;
    CollectionConfig config = config_;
    config.index = requested_;
    previous = LaunchLocked(std::move(config), std::move(reason),
                            /*rebalance=*/true);
  }
  if (previous.joinable()) previous.join();
}

index::RebalanceOptions Collection::PlanRebalance() const {
  index::RebalanceOptions o;
  {
    absl::MutexLock lock(&train_mu_);
    if (requested_.nlist != 0) return o;  // the user fixed nlist
  }
  std::shared_ptr<index::IvfPqIndex> ivf;
  std::vector<size_t> settled;
  {
    absl::MutexLock i(&index_mu_);
    ivf = ivf_;
    settled = settled_sizes_;
    o.seed = generation_;
  }
  if (!ivf) return o;
  const std::vector<size_t> sizes = ivf->list_sizes();
  if (sizes.size() != settled.size()) return o;
  size_t total = 0, settled_total = 0;
  for (size_t n : sizes) total += n;
  for (size_t n : settled) settled_total += n;
  const double mean = static_cast<double>(total) / sizes.size();
  // A list's growth counts relative to the collection's: growing with the
  // rest is what the next full training is for.
  const double growth =
      settled_total == 0
          ? 1.0
          : static_cast<double>(total) / static_cast<double>(settled_total);
  std::vector<uint32_t> split, merge;
  for (uint32_t l = 0; l < sizes.size(); ++l) {
    const double n = static_cast<double>(sizes[l]);
    const double expected = growth * static_cast<double>(settled[l]);
    if (sizes[l] >= kMinSplitSize && n > kSplitGrowth * expected &&
        n > kSplitGrowth * mean) {
      split.push_back(l);
    }
    if (sizes.size() > 1 && n * kMergeShrink < expected &&
        n * kMergeShrink * 2 < mean) {
      merge.push_back(l);
    }
  }
  // The largest (smallest) first, a bounded number per round.
  const size_t cap = std::max<size_t>(4, sizes.size() / 16);
  std::sort(split.begin(), split.end(),
            [&](uint32_t a, uint32_t b) { return sizes[a] > sizes[b]; });
  std::sort(merge.begin(), merge.end(),
            [&](uint32_t a, uint32_t b) { return sizes[a] < sizes[b]; });
  if (split.size() > cap) split.resize(cap);
  if (merge.size() > cap) merge.resize(cap);
  o.split = std::move(split);
  o.merge = std::move(merge);
  return o;
}

std::string Collection::RebalanceReasonNow() const {
  const index::RebalanceOptions o = PlanRebalance();
  if (o.split.empty() && o.merge.empty()) {
    const uint64_t n = count();
    absl::MutexLock lock(&train_mu_);
    if (tuned_count_ != 0 && n >= kRetuneGrowth * tuned_count_) {
      return absl::StrFormat(
          "grew from %d to %d documents since the defaults were measured",
          tuned_count_, n);
    }
    return "";
  }
  return absl::StrFormat(
      "%d lists grew past %gx their share and the mean, %d shrank below 1/%g",
      o.split.size(), kSplitGrowth, o.merge.size(), kMergeShrink);
}

std::string Collection::RetrainReasonNow(uint64_t count) const {
  uint64_t recent_count, recent_deleted;
  double recent_error_sum;
  {
    absl::MutexLock w(&write_mu_);
    recent_count = recent_count_;
    recent_error_sum = recent_error_sum_;
    recent_deleted = recent_deleted_;
  }
  absl::MutexLock lock(&train_mu_);
  if (auto_failed_at_ != 0 && count < 2 * auto_failed_at_) return "";
  if (!retrain_reason_.empty()) return retrain_reason_;
  return RetrainReason(requested_, maintenance_, count, recent_count,
                       recent_count == 0 ? 0 : recent_error_sum / recent_count,
                       recent_deleted);
}

void Collection::MaybeAutoTrain(uint64_t count) {
  std::string reason;
  if (!CurrentIndex().ivf) {
    absl::MutexLock lock(&train_mu_);
    if (training_ || count < AutoTrainThreshold(requested_)) return;
    if (auto_failed_at_ != 0 && count < 2 * auto_failed_at_) return;
    reason = absl::StrFormat("reached %d documents", count);
  } else {
    {
      absl::MutexLock lock(&train_mu_);
      if (training_) return;
    }
    reason = RetrainReasonNow(count);
    if (reason.empty()) {
      if (writes_since_check_.load() < RebalanceCheckInterval(count)) return;
      writes_since_check_.store(0);
      std::string why = RebalanceReasonNow();
      if (why.empty()) return;
      QUIVER_LOG(INFO) << "collection '" << config_.name
                       << "': automatic rebalance: " << why;
      StartRebalance(std::move(why));
      return;
    }
  }
  QUIVER_LOG(INFO) << "collection '" << config_.name
                   << "': automatic training: " << reason;
  absl::Status s = StartTraining(std::nullopt, reason);
  if (!s.ok()) {
    QUIVER_LOG(WARNING) << "collection '" << config_.name
                        << "': automatic training not started: " << s;
    absl::MutexLock lock(&train_mu_);
    auto_failed_at_ = count;
    last_error_ = std::string(s.message());
  }
}

double Collection::QuantizationError(const index::IvfPqIndex& ivf,
                                     const float* x, const uint32_t* lists,
                                     size_t n) const {
  if (n == 0) return 0;
  const size_t dim = config_.dimension;
  const float* centroids = ivf.coarse_centroids().data();
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    sum += index::SquaredL2(
        x + i * dim, centroids + static_cast<size_t>(lists[i]) * dim, dim);
  }
  return sum / static_cast<double>(n);
}

absl::Status Collection::PersistSchema() {
  records::SchemaRecord record;
  record.config = config_;
  {
    absl::MutexLock lock(&train_mu_);
    record.config.index = requested_;
    record.maintenance = maintenance_;
  }
  return store_->UpdateSchema(config_.name, records::EncodeSchema(record));
}

void Collection::TuneDefaults(const index::IvfPqIndex& ivf,
                              const IndexConfig& config, uint32_t generation,
                              std::vector<uint64_t> sample,
                              const Roaring& population, bool after_rebalance) {
  constexpr size_t kK = 10;
  const size_t dim = config_.dimension;
  const size_t nq = sample.size();
  if (nq < 20) return;
  std::vector<float> q(nq * dim);
  size_t got = 0;
  for (size_t i = 0; i < nq; ++i) {
    if (flat_.GetVector(sample[i], &q[got * dim])) sample[got++] = sample[i];
  }
  sample.resize(got);
  q.resize(got * dim);
  if (got < 20) return;
  // Exact answers without the query's own document.
  // Both answers over the training's snapshot only: documents written
  // while the tuning runs (a bulk load goes on meanwhile) would make a
  // stale exact answer look like a miss.
  RoaringFilter snapshot(&population);
  const absl::Time truth_start = absl::Now();
  // All queries in one pass over the rows, each block of rows decoded once
  // and read under the flat index's reader lock only while it is copied:
  // writers go on (ingest into a trained collection measured 11.8k vectors/s
  // beside the blocks of 16 queries this replaces, each holding the lock
  // for a whole scan, each decoding every row again).
  const std::vector<std::vector<index::Neighbor>> truth =
      flat_.SearchYielding(q.data(), got, 2 * kK + 1, &snapshot, &cancel_);
  if (cancel_.load()) return;
  const double truth_seconds = absl::ToDoubleSeconds(absl::Now() - truth_start);
  if (options_.training_step_hook) {
    options_.training_step_hook("defaults: exact answers computed");
  }
  // Writes go on while the settings are measured. The documents deleted,
  // replaced, or new in a deleted one's internal id since the exact answers
  // (logged in changed_ since the swap, see RunTraining) are left out of
  // both answers, and each query's recall is taken at the depth both still
  // reach (up to 10): the recall on the collection without them. (Counted
  // as misses, a share of the collection deleted during the measurement
  // cost its answers that share of their neighbours: stream_bench at 768-d
  // read 0.878 at best.) The exact answers go 2k deep for that.
  // nullopt once the tuning is cancelled.
  auto measure = [&](uint32_t nprobe,
                     uint32_t rerank) -> std::optional<double> {
    index::SearchParams p;
    p.k = kK + 1;
    p.nprobe = nprobe;
    p.rerank = rerank;
    p.vectors = &vector_source_;
    p.filter = &snapshot;
    // In blocks, so that a drop (cancel_) need not wait for the whole
    // sample: a starved niced thread took minutes over one setting.
    constexpr size_t kBlock = 100;
    std::vector<std::vector<index::Neighbor>> found;
    found.reserve(got);
    for (size_t b = 0; b < got && !cancel_.load(); b += kBlock) {
      auto part = ivf.SearchBatch(q.data() + b * dim, std::min(kBlock, got - b),
                                  p, /*threads=*/1);
      for (auto& f : part) found.push_back(std::move(f));
    }
    if (found.size() < got) return std::nullopt;  // cancelled
    absl::flat_hash_set<uint64_t> changed;
    {
      absl::MutexLock w(&write_mu_);
      changed.insert(changed_.begin(), changed_.end());
    }
    // The first `depth` ids of `list` that are neither the query nor
    // changed.
    auto kept = [&](const std::vector<index::Neighbor>& list, uint64_t self) {
      std::vector<uint64_t> out;
      for (const index::Neighbor& nb : list) {
        if (out.size() == kK) break;
        if (nb.id != self && !changed.contains(nb.id)) out.push_back(nb.id);
      }
      return out;
    };
    size_t hits = 0, total = 0;
    for (size_t i = 0; i < got; ++i) {
      std::vector<uint64_t> want = kept(truth[i], sample[i]);
      std::vector<uint64_t> have = kept(found[i], sample[i]);
      const size_t depth = std::min(want.size(), have.size());
      want.resize(depth);
      for (size_t j = 0; j < depth; ++j) {
        hits += std::find(want.begin(), want.end(), have[j]) != want.end();
      }
      total += depth;
    }
    return total == 0 ? 1.0 : static_cast<double>(hits) / total;
  };
  // Aim above the target: stored vectors as queries (even leaving their own
  // document out) read higher than new queries, and the sample has its own
  // noise (about 0.002 at 1,000 queries x 10). On sift20k (stream_bench,
  // SIFT's own queries and held-out vectors) the defaults read 0.938 where
  // the tuning measured 0.965; with 0.02 the bench read 0.950-0.969.
  const double target = TargetRecall(config);
  const double aim = std::min(0.999, target + kTuneMargin);
  const uint32_t nlist = ivf.params().nlist;
  const size_t n = ivf.size();
  const double per_list = static_cast<double>(n) / std::max(1u, nlist);
  // Cost model in units of one PQ code scanned: a probed list costs its
  // codes, a re-ranked candidate a full-precision distance (~dim / m codes
  // and a cache miss).
  const double rerank_unit =
      static_cast<double>(dim) / std::max(1u, ivf.params().m) + 16;
  auto cost_of = [&](uint32_t nprobe, uint32_t rerank) {
    return nprobe * per_list + static_cast<double>(kK * rerank) * rerank_unit;
  };
  // Started from the defaults in force (measured again after growth they
  // barely move; after a training they are the previous index's).
  uint32_t start_nprobe;
  {
    absl::MutexLock lock(&train_mu_);
    start_nprobe = maintenance_.tuned_nprobe;
  }
  const absl::Time settings_start = absl::Now();
  const TuningResult tuned = FindCheapestSetting(
      NprobeLadder(nlist), kRerankLadder, aim, start_nprobe, cost_of, measure);
  if (tuned.cancelled || cancel_.load()) return;
  const TuningChoice best = tuned.best;
  const size_t measured = tuned.measured;
  const double settings_seconds =
      absl::ToDoubleSeconds(absl::Now() - settings_start);
  {
    absl::MutexLock lock(&train_mu_);
    maintenance_.tuned_nprobe = best.nprobe;
    maintenance_.tuned_rerank = best.rerank;
    maintenance_.measured_recall = best.recall;
    maintenance_.generation = generation;
    tuned_count_ = population.cardinality();
    // Splits (or growth) left the index short of the target at any
    // setting: the codebooks no longer fit; a full training is the
    // fallback (RetrainReasonNow).
    if (after_rebalance && best.recall < target) {
      retrain_reason_ = absl::StrFormat(
          "the index reaches recall@10 %.3f at best since its last training "
          "(target %.3f)",
          best.recall, target);
    }
  }
  QUIVER_LOG(INFO) << "collection '" << config_.name << "': generation "
                   << generation << " reaches recall@10 " << best.recall
                   << " (target " << target << ") at nprobe " << best.nprobe
                   << " / " << nlist << ", rerank " << best.rerank << " ("
                   << measured << " settings measured on " << got
                   << " stored vectors; exact answers "
                   << absl::StrFormat("%.1f", truth_seconds) << " s, settings "
                   << absl::StrFormat("%.1f", settings_seconds) << " s)";
}

std::vector<uint64_t> Collection::MeasurementQueries(
    const std::vector<uint64_t>& ids, size_t want, uint64_t seed) const {
  std::vector<uint64_t> old_unfitted, old_fitted, written_since;
  {
    absl::MutexLock lock(&train_mu_);
    if (trained_snapshot_.isEmpty()) return SampleIds(ids, want, seed);
    for (uint64_t iid : ids) {
      const uint32_t i = static_cast<uint32_t>(iid);
      if (!trained_snapshot_.contains(i)) {
        written_since.push_back(iid);
      } else if (trained_on_.contains(i)) {
        old_fitted.push_back(iid);
      } else {
        old_unfitted.push_back(iid);
      }
    }
  }
  want = std::min(want, ids.size());
  const size_t old_total = old_fitted.size() + old_unfitted.size();
  const size_t from_old = static_cast<size_t>(
      std::llround(static_cast<double>(want) * static_cast<double>(old_total) /
                   static_cast<double>(std::max<size_t>(1, ids.size()))));
  std::vector<uint64_t> old = std::move(old_unfitted);
  if (old.size() < from_old) {  // too few: the fitted ones too
    old.insert(old.end(), old_fitted.begin(), old_fitted.end());
  }
  std::vector<uint64_t> out = SampleIds(std::move(old), from_old, seed);
  const std::vector<uint64_t> rest =
      SampleIds(std::move(written_since), want - out.size(), seed + 1);
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

void Collection::SetProgress(double p) {
  absl::MutexLock lock(&train_mu_);
  progress_ = p;
}

void Collection::TrainMain(CollectionConfig config, uint32_t generation,
                           bool rebalance) {
  LowerThreadPriority();
  // Writes that arrived while a training ran may call for the next one
  // (e.g. a bulk load that doubled the collection meanwhile): it runs here,
  // on the same thread, without going back to idle.
  for (;;) {
    const absl::Time start = absl::Now();
    QUIVER_LOG(INFO) << "collection '" << config_.name
                     << "': " << (rebalance ? "rebalance" : "training")
                     << " generation " << generation << " started";
    const absl::Status s = RunTraining(config, generation, rebalance);
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    if (s.ok()) {
      QUIVER_LOG(INFO) << "collection '" << config_.name
                       << "': training generation " << generation << " done in "
                       << seconds << " s";
    } else {
      QUIVER_LOG(WARNING) << "collection '" << config_.name
                          << "': training failed: " << s;
    }
    const uint64_t n = count();
    {
      absl::MutexLock lock(&train_mu_);
      last_training_seconds_ = seconds;
      if (s.ok()) {
        last_error_.clear();
        progress_ = 1;
      } else {
        last_error_ = s.ToString();
        auto_failed_at_ = std::max<uint64_t>(1, n);
      }
    }
    std::string next =
        s.ok() && !cancel_.load() ? RetrainReasonNow(n) : std::string();
    absl::MutexLock lock(&train_mu_);
    std::optional<IndexConfig> queued = std::move(queued_);
    queued_.reset();
    if (queued.has_value() && !cancel_.load()) next = queued_reason_;
    if (next.empty()) {
      training_ = false;
      return;
    }
    QUIVER_LOG(INFO) << "collection '" << config_.name
                     << "': next training: " << next;
    config.index = queued.has_value() ? *queued : requested_;
    rebalance = false;
    {
      absl::MutexLock i(&index_mu_);
      generation = std::max(generation, generation_) + 1;
    }
    last_reason_ = next;
    progress_ = 0;
  }
}

absl::Status Collection::RunTraining(const CollectionConfig& config,
                                     uint32_t generation, bool rebalance) {
  const size_t dim = config_.dimension;
  // Snapshot the ids to encode and start logging later writes.
  std::vector<uint64_t> ids;
  {
    absl::MutexLock w(&write_mu_);
    if (dropped_) return absl::CancelledError("collection dropped");
    logging_ = true;
    changed_.clear();
    ids = LiveIds();
  }
  // The same ids as a bitmap: what the measurement of the defaults
  // searches, and after a full training the snapshot MeasurementQueries
  // tells new documents by.
  Roaring population;
  for (uint64_t iid : ids) population.add(static_cast<uint32_t>(iid));
  population.runOptimize();
  Cleanup stop_logging([this] {
    absl::MutexLock w(&write_mu_);
    logging_ = false;
    changed_.clear();
  });
  // Encodes the live documents among `chunk` (sorted ids) into the new
  // index, appending their code records to `out`; ids no longer live leave
  // the index. Adds their quantization error to `error_sum`.
  std::shared_ptr<index::IvfPqIndex> ivf;
  struct NewCode {
    uint64_t iid;
    uint32_t list;
    std::string code;
  };
  std::vector<uint64_t> live_ids;
  std::vector<float> xs;
  std::vector<uint32_t> lists;
  std::vector<uint8_t> cs;
  auto encode = [&](absl::Span<const uint64_t> chunk, std::vector<NewCode>* out,
                    double* error_sum) {
    live_ids.clear();
    xs.resize(chunk.size() * dim);
    for (uint64_t iid : chunk) {
      bool live;
      {
        absl::ReaderMutexLock m(&meta_mu_);
        live = IsLive(iid);
      }
      if (live && flat_.GetVector(iid, &xs[live_ids.size() * dim])) {
        live_ids.push_back(iid);
      } else {
        ivf->Remove(iid);
      }
    }
    const size_t n = live_ids.size();
    const size_t code_size = ivf->code_size();
    lists.resize(n);
    cs.resize(n * code_size);
    ivf->Encode(xs.data(), n, lists.data(), cs.data());
    *error_sum += QuantizationError(*ivf, xs.data(), lists.data(), n) * n;
    for (size_t j = 0; j < n; ++j) {
      ivf->AddEncoded(live_ids[j], lists[j], &cs[j * code_size]);
      out->push_back(
          {live_ids[j], lists[j],
           records::EncodeCode(generation, &cs[j * code_size], code_size)});
    }
    return n;
  };
  // Under write_mu_: the codes of documents still live (one deleted
  // meanwhile gets none; it is in changed_ and leaves the index when the
  // writes are replayed).
  auto to_batch = [&](std::vector<NewCode>* codes) {
    storage::DocumentBatch batch(cid_);
    absl::ReaderMutexLock m(&meta_mu_);
    for (NewCode& c : *codes) {
      if (IsLive(c.iid)) batch.PutCode(c.iid, c.list, std::move(c.code));
    }
    return batch;
  };

  std::vector<uint64_t> tune_ids;
  double train_error = 0;
  double error_sum = 0;
  size_t got = 0;
  index::IvfPqParams params;
  // A rebalance: the lists' epochs after it, and its counts.
  std::vector<uint32_t> epochs;
  uint32_t base_generation = generation;
  size_t splits = 0, merges = 0, moved = 0;
  Roaring fitted;  // a full training's sample
  if (rebalance) {
    // Stored vectors measure the recall after a rebalance, those the last
    // training was not fitted to where it can (MeasurementQueries), as many
    // as after a training: with 300, a 96-d stream at 24k read 0.9707 at
    // its new defaults and 0.960 on new queries (the noise of 300 x 10
    // neighbours is as large as the margin over the target).
    const size_t rebalance_queries =
        std::min(options_.tune_queries, ids.size() / 5);
    std::shared_ptr<index::IvfPqIndex> old;
    std::vector<uint32_t> old_epochs;
    {
      absl::MutexLock i(&index_mu_);
      old = ivf_;
      old_epochs = list_epochs_;
      base_generation = base_generation_;
    }
    if (!old) return absl::FailedPreconditionError("collection not trained");
    QUIVER_ASSIGN_OR_RETURN(index::RebalanceResult r,
                            old->Rebalance(PlanRebalance(), vector_source_));
    if (r.index == nullptr) {
      // Nothing to split or merge: measure growth from here, and measure
      // the defaults again if the collection grew since they were.
      uint32_t current = 0;
      {
        absl::MutexLock i(&index_mu_);
        if (ivf_ != old) return absl::OkStatus();
        settled_sizes_ = old->list_sizes();
        current = generation_;
      }
      bool retune;
      {
        absl::MutexLock lock(&train_mu_);
        retune =
            tuned_count_ != 0 && ids.size() >= kRetuneGrowth * tuned_count_;
      }
      if (retune) {
        TuneDefaults(*old, config.index, current,
                     MeasurementQueries(ids, rebalance_queries, ids.size()),
                     population,
                     /*after_rebalance=*/true);
        if (absl::Status ps = PersistSchema(); !ps.ok()) {
          QUIVER_LOG(WARNING) << "collection '" << config_.name
                              << "': schema update after tuning failed: " << ps;
        }
      }
      return absl::OkStatus();
    }
    ivf = std::move(r.index);
    params = ivf->params();
    splits = r.splits;
    merges = r.merges;
    moved = r.moved_ids.size();
    epochs.resize(params.nlist);
    for (size_t l = 0; l < epochs.size(); ++l) {
      epochs[l] =
          r.renewed[l] || l >= old_epochs.size() ? generation : old_epochs[l];
    }
    SetProgress(0.5);
    // Persist the entries the rebalance wrote, in chunks.
    const size_t code_size = ivf->code_size();
    for (size_t off = 0; off < r.moved_ids.size(); off += kEncodeChunk) {
      if (cancel_.load()) return absl::CancelledError("training cancelled");
      const size_t end = std::min(r.moved_ids.size(), off + kEncodeChunk);
      std::vector<NewCode> codes;
      codes.reserve(end - off);
      for (size_t j = off; j < end; ++j) {
        codes.push_back(
            {r.moved_ids[j], r.moved_lists[j],
             records::EncodeCode(generation, &r.moved_codes[j * code_size],
                                 code_size)});
      }
      absl::MutexLock w(&write_mu_);
      if (dropped_) return absl::CancelledError("collection dropped");
      const storage::DocumentBatch batch = to_batch(&codes);
      if (!batch.empty()) QUIVER_RETURN_IF_ERROR(store_->Write(batch));
    }
    tune_ids = MeasurementQueries(ids, rebalance_queries, generation);
    if (options_.training_step_hook) {
      options_.training_step_hook("rebalance entries persisted");
    }
  } else {
    QUIVER_ASSIGN_OR_RETURN(
        params, ResolveTrainParams(config, ids.size(), options_.train_threads));
    const uint64_t sample_size =
        TrainSampleSize(config.index, params, ids.size());

    // Seeded by the generation: the queries that will measure recall after
    // the training (held out of the training sample, so that they stand for
    // new queries rather than points the quantizers were fitted to), then the
    // training sample.
    const size_t need =
        std::max<size_t>(params.nlist, size_t{1} << params.nbits);
    const size_t held_out =
        std::min({options_.tune_queries, ids.size() / 5,
                  ids.size() > need ? ids.size() - need : size_t{0}});
    const size_t train_n = std::min<size_t>(sample_size, ids.size() - held_out);
    const std::vector<uint64_t> sample =
        SampleIds(ids, held_out + train_n, generation);
    tune_ids.assign(sample.begin(), sample.begin() + held_out);
    for (size_t i = held_out; i < held_out + train_n; ++i) {
      fitted.add(static_cast<uint32_t>(sample[i]));
    }
    fitted.runOptimize();
    std::vector<float> x(train_n * dim);
    for (size_t i = held_out; i < held_out + train_n; ++i) {
      if (flat_.GetVector(sample[i], &x[got * dim])) ++got;
    }
    SetProgress(0.1);
    if (cancel_.load()) return absl::CancelledError("training cancelled");
    QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<index::IvfPqIndex> trained,
                            index::IvfPqIndex::Train(params, x.data(), got));
    ivf = std::move(trained);
    x.clear();
    x.shrink_to_fit();
    SetProgress(0.5);

    // Encode everything, chunk by chunk; persist each chunk's codes. The mean
    // quantization error of the collection right after training is the drift
    // trigger's baseline.
    error_sum = 0;
    size_t encoded = 0;
    for (size_t off = 0; off < ids.size(); off += kEncodeChunk) {
      if (cancel_.load()) return absl::CancelledError("training cancelled");
      const size_t end = std::min(ids.size(), off + kEncodeChunk);
      std::vector<NewCode> codes;
      encoded += encode(absl::MakeConstSpan(ids).subspan(off, end - off),
                        &codes, &error_sum);
      {
        absl::MutexLock w(&write_mu_);
        if (dropped_) return absl::CancelledError("collection dropped");
        const storage::DocumentBatch batch = to_batch(&codes);
        if (!batch.empty()) QUIVER_RETURN_IF_ERROR(store_->Write(batch));
      }
      SetProgress(0.5 + 0.45 * static_cast<double>(end) / ids.size());
    }
    train_error = encoded == 0 ? 0 : error_sum / encoded;
  }
  bool compact = false;
  // Replay the writes made meanwhile. Rounds outside the writer lock first
  // (a bulk load may have written far more than the training saw), each
  // taking the ids logged so far and re-encoding them in chunks; the final,
  // small round runs under the lock together with the swap.
  auto replay = [&](std::vector<uint64_t> changed,
                    std::vector<NewCode>* out) -> size_t {
    std::sort(changed.begin(), changed.end());
    changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
    double ignored = 0;
    for (size_t off = 0; off < changed.size(); off += kEncodeChunk) {
      const size_t len = std::min(kEncodeChunk, changed.size() - off);
      encode(absl::MakeConstSpan(changed).subspan(off, len), out, &ignored);
    }
    return changed.size();
  };
  size_t replayed = 0;
  for (int round = 0; round < 8; ++round) {
    std::vector<uint64_t> changed;
    {
      absl::MutexLock w(&write_mu_);
      if (dropped_) return absl::CancelledError("collection dropped");
      if (changed_.size() < 4096) break;
      changed.swap(changed_);
    }
    if (cancel_.load()) return absl::CancelledError("training cancelled");
    std::vector<NewCode> codes;
    replayed += replay(std::move(changed), &codes);
    absl::MutexLock w(&write_mu_);
    if (dropped_) return absl::CancelledError("collection dropped");
    const storage::DocumentBatch batch = to_batch(&codes);
    if (!batch.empty()) QUIVER_RETURN_IF_ERROR(store_->Write(batch));
  }
  // The last writes, the quantizer and the swap, under the writer lock.
  {
    absl::MutexLock w(&write_mu_);
    if (dropped_) return absl::CancelledError("collection dropped");
    std::vector<NewCode> codes;
    replayed += replay(std::move(changed_), &codes);
    changed_.clear();
    const storage::DocumentBatch batch = to_batch(&codes);
    const std::string blob = ivf->Serialize();
    records::QuantizerRecord q;
    q.generation = generation;
    q.base_generation = base_generation;
    q.list_epochs = epochs;  // empty after a full training: QVQ1
    if (epochs.empty()) epochs.assign(params.nlist, generation);
    q.blob = blob;
    QUIVER_RETURN_IF_ERROR(
        store_->PutQuantizerAndCodes(cid_, records::EncodeQuantizer(q), batch));
    {
      absl::MutexLock i(&index_mu_);
      ivf_ = ivf;
      generation_ = generation;
      base_generation_ = base_generation;
      list_epochs_ = std::move(epochs);
      settled_sizes_ = ivf->list_sizes();
    }
    // The log goes on until this function returns: TuneDefaults leaves
    // the documents written from here on out of its measurement.
    changed_.clear();
    if (!rebalance) {
      recent_count_ = 0;
      recent_error_sum_ = 0;
      recent_deleted_ = 0;
      compact = deleted_since_compaction_ * 4 >= ids.size();
    }
    if (compact) {
      deleted_since_compaction_ = 0;
      // The id hash map keeps its capacity after erases: shrink it too.
      absl::MutexLock m(&meta_mu_);
      names_.Shrink();
      attrs_.rehash(0);
    }
    // And the rows' room (Remove gives it back only once a third is
    // unused: after half a collection was deleted stream_bench read 1.26x
    // a fresh build's memory_bytes).
    if (compact) flat_.ShrinkToFit();
    {
      absl::MutexLock lock(&train_mu_);
      maintenance_.reason = last_reason_;
      if (!rebalance) {
        requested_ = config.index;
        maintenance_.trained_count = ids.size();
        trained_on_ = std::move(fitted);
        trained_snapshot_ = population;
        maintenance_.train_error = train_error;
        retrain_reason_.clear();
      }
    }
    if (rebalance) {
      QUIVER_LOG(INFO) << "collection '" << config_.name << "': split "
                       << splits << " and merged " << merges
                       << " lists (nlist now " << params.nlist << "), " << moved
                       << " entries written; replayed " << replayed
                       << " writes";
    } else {
      QUIVER_LOG(INFO) << "collection '" << config_.name << "': trained nlist "
                       << params.nlist << " m " << params.m << " nbits "
                       << params.nbits << " on " << got << " of " << ids.size()
                       << " vectors; replayed " << replayed << " writes";
    }
  }
  if (compact) {
    // Many deletes since the last compaction: give their disk space back
    // now (RocksDB would eventually, at its own pace).
    const absl::Time t = absl::Now();
    if (absl::Status cs = store_->CompactCollection(cid_); !cs.ok()) {
      QUIVER_LOG(WARNING) << "collection '" << config_.name
                          << "': compaction failed: " << cs;
    } else {
      QUIVER_LOG(INFO) << "collection '" << config_.name << "': compacted in "
                       << absl::FormatDuration(absl::Now() - t);
    }
  }
  SetProgress(0.97);
  if (options_.training_step_hook) options_.training_step_hook("swapped");
  if (!tune_ids.empty()) {
    TuneDefaults(*ivf, config.index, generation, std::move(tune_ids),
                 population, rebalance);
  }
  if (absl::Status s = PersistSchema(); !s.ok()) {
    QUIVER_LOG(WARNING) << "collection '" << config_.name
                        << "': schema update after training failed: " << s;
  }
  return absl::OkStatus();
}

void Collection::WaitForTraining() {
  std::thread t;
  {
    absl::MutexLock lock(&train_mu_);
    t = std::move(train_thread_);
  }
  if (t.joinable()) t.join();
}

void Collection::Stop() {
  cancel_.store(true);
  WaitForTraining();
}

}  // namespace quiver::engine
