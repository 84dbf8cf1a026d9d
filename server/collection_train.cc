// Training lifecycle of a Collection (see collection.h): start, sample,
// train, encode, persist, replay the writes made meanwhile, swap.
#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/status.h"
#include "server/collection.h"
#include "server/collection_internal.h"

namespace quiver::server {

using internal_collection::Cleanup;
using internal_collection::kEncodeChunk;
using internal_collection::PackCode;
using internal_collection::PackQuantizer;

absl::Status Collection::StartTraining(
    const std::optional<IndexConfig>& overrides) {
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
    if (training_) return absl::OkStatus();
    if (cancel_.load()) {
      return absl::UnavailableError(absl::StrFormat(
          "collection '%s' is shutting down or dropped", config_.name));
    }
    previous = std::move(train_thread_);
    training_ = true;
    progress_ = 0;
    uint32_t generation;
    {
      absl::MutexLock i(&index_mu_);
      generation = generation_ + 1;
    }
    train_thread_ = std::thread(&Collection::TrainMain, this, std::move(config),
                                generation);
  }
  if (previous.joinable()) previous.join();
  return absl::OkStatus();
}

void Collection::MaybeAutoTrain(uint64_t count) {
  if (CurrentIndex().ivf) return;
  {
    absl::MutexLock lock(&train_mu_);
    if (training_ || count < AutoTrainThreshold(requested_)) return;
    if (auto_failed_at_ != 0 && count < 2 * auto_failed_at_) return;
  }
  QUIVER_LOG(INFO) << "collection '" << config_.name << "' reached " << count
                   << " documents: automatic training";
  absl::Status s = StartTraining(std::nullopt);
  if (!s.ok()) {
    QUIVER_LOG(WARNING) << "collection '" << config_.name
                        << "': automatic training not started: " << s;
    absl::MutexLock lock(&train_mu_);
    auto_failed_at_ = count;
    last_error_ = std::string(s.message());
  }
}

void Collection::SetProgress(double p) {
  absl::MutexLock lock(&train_mu_);
  progress_ = p;
}

void Collection::TrainMain(CollectionConfig config, uint32_t generation) {
  const absl::Time start = absl::Now();
  QUIVER_LOG(INFO) << "collection '" << config_.name
                   << "': training generation " << generation << " started";
  const absl::Status s = RunTraining(config, generation);
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
  absl::MutexLock lock(&train_mu_);
  training_ = false;
  last_training_seconds_ = seconds;
  if (s.ok()) {
    requested_ = config.index;
    last_error_.clear();
    progress_ = 1;
  } else {
    last_error_ = s.ToString();
    auto_failed_at_ = std::max<uint64_t>(1, n);
  }
}

absl::Status Collection::RunTraining(const CollectionConfig& config,
                                     uint32_t generation) {
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
  Cleanup stop_logging([this] {
    absl::MutexLock w(&write_mu_);
    logging_ = false;
    changed_.clear();
  });
  QUIVER_ASSIGN_OR_RETURN(
      const index::IvfPqParams params,
      ResolveTrainParams(config, ids.size(), options_.train_threads));
  const uint64_t sample_size =
      TrainSampleSize(config.index, params, ids.size());

  // Sample the training vectors (seeded by the generation).
  std::vector<uint64_t> sample = ids;
  std::mt19937_64 rng(0x9e3779b97f4a7c15ULL ^ generation);
  for (size_t i = 0; i < sample_size; ++i) {
    std::uniform_int_distribution<size_t> pick(i, sample.size() - 1);
    std::swap(sample[i], sample[pick(rng)]);
  }
  std::vector<float> x(sample_size * dim);
  size_t got = 0;
  for (size_t i = 0; i < sample_size; ++i) {
    if (flat_.GetVector(sample[i], &x[got * dim])) ++got;
  }
  SetProgress(0.1);
  if (cancel_.load()) return absl::CancelledError("training cancelled");
  QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<index::IvfPqIndex> trained,
                          index::IvfPqIndex::Train(params, x.data(), got));
  std::shared_ptr<index::IvfPqIndex> ivf = std::move(trained);
  x.clear();
  x.shrink_to_fit();
  SetProgress(0.5);

  // Encode everything, chunk by chunk; persist each chunk's codes.
  const size_t code_size = ivf->code_size();
  std::vector<float> xs;
  std::vector<uint64_t> chunk_ids;
  std::vector<uint32_t> lists;
  std::vector<uint8_t> codes;
  for (size_t off = 0; off < ids.size(); off += kEncodeChunk) {
    if (cancel_.load()) return absl::CancelledError("training cancelled");
    const size_t end = std::min(ids.size(), off + kEncodeChunk);
    xs.resize((end - off) * dim);
    chunk_ids.clear();
    for (size_t i = off; i < end; ++i) {
      if (flat_.GetVector(ids[i], &xs[chunk_ids.size() * dim])) {
        chunk_ids.push_back(ids[i]);
      }
    }
    const size_t n = chunk_ids.size();
    lists.resize(n);
    codes.resize(n * code_size);
    ivf->Encode(xs.data(), n, lists.data(), codes.data());
    for (size_t j = 0; j < n; ++j) {
      ivf->AddEncoded(chunk_ids[j], lists[j], &codes[j * code_size]);
    }
    {
      absl::MutexLock w(&write_mu_);
      if (dropped_) return absl::CancelledError("collection dropped");
      storage::DocumentBatch batch(cid_);
      {
        absl::ReaderMutexLock m(&meta_mu_);
        for (size_t j = 0; j < n; ++j) {
          if (!IsLive(chunk_ids[j])) continue;
          batch.PutCode(chunk_ids[j], lists[j],
                        PackCode(generation, &codes[j * code_size], code_size));
        }
      }
      if (!batch.empty()) QUIVER_RETURN_IF_ERROR(store_->Write(batch));
    }
    SetProgress(0.5 + 0.45 * static_cast<double>(end) / ids.size());
  }

  // Replay the writes made meanwhile, persist the quantizer, swap.
  {
    absl::MutexLock w(&write_mu_);
    if (dropped_) return absl::CancelledError("collection dropped");
    std::sort(changed_.begin(), changed_.end());
    changed_.erase(std::unique(changed_.begin(), changed_.end()),
                   changed_.end());
    storage::DocumentBatch batch(cid_);
    std::vector<float> v(dim);
    std::vector<uint8_t> code(code_size);
    size_t replayed = 0;
    for (uint64_t iid : changed_) {
      bool live;
      {
        absl::ReaderMutexLock m(&meta_mu_);
        live = IsLive(iid);
      }
      if (live && flat_.GetVector(iid, v.data())) {
        uint32_t list = 0;
        ivf->Encode(v.data(), 1, &list, code.data());
        ivf->Remove(iid);
        ivf->AddEncoded(iid, list, code.data());
        batch.PutCode(iid, list, PackCode(generation, code.data(), code_size));
      } else {
        ivf->Remove(iid);
      }
      ++replayed;
    }
    QUIVER_RETURN_IF_ERROR(store_->PutQuantizerAndCodes(
        cid_, PackQuantizer(generation, ivf->Serialize()), batch));
    {
      absl::MutexLock i(&index_mu_);
      ivf_ = ivf;
      generation_ = generation;
    }
    logging_ = false;
    changed_.clear();
    stop_logging.Dismiss();
    CollectionConfig schema = config_;
    schema.index = config.index;
    absl::Status s = store_->UpdateSchema(config_.name, EncodeSchema(schema));
    if (!s.ok()) {
      QUIVER_LOG(WARNING) << "collection '" << config_.name
                          << "': schema update after training failed: " << s;
    }
    QUIVER_LOG(INFO) << "collection '" << config_.name << "': trained nlist "
                     << params.nlist << " m " << params.m << " nbits "
                     << params.nbits << " on " << got << " of " << ids.size()
                     << " vectors; replayed " << replayed << " writes";
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

}  // namespace quiver::server
