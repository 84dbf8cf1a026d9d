#include "server/router/shard_map.h"

#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace quiver::router {
namespace {

bool ParseUint(std::string_view s, uint32_t* out) {
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

// Appends `entry` with its {a..b} range expanded.
absl::Status ExpandEntry(std::string_view entry,
                         std::vector<std::string>* out) {
  const size_t open = entry.find('{');
  if (open == std::string_view::npos) {
    out->emplace_back(entry);
    return absl::OkStatus();
  }
  const size_t close = entry.find('}', open);
  const size_t dots = entry.find("..", open);
  uint32_t lo = 0, hi = 0;
  if (close == std::string_view::npos || dots == std::string_view::npos ||
      dots > close ||
      !ParseUint(entry.substr(open + 1, dots - open - 1), &lo) ||
      !ParseUint(entry.substr(dots + 2, close - dots - 2), &hi) || lo > hi ||
      hi - lo >= 1024 || entry.find('{', close) != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--shards entry '%s': a range is written {FIRST..LAST}, e.g. "
        "quiver-{0..2}.quiver:50051 (one range, at most 1024 nodes)",
        entry));
  }
  for (uint32_t i = lo; i <= hi; ++i) {
    out->push_back(absl::StrCat(std::string(entry.substr(0, open)), i,
                                std::string(entry.substr(close + 1))));
  }
  return absl::OkStatus();
}

int StateRank(v1::CollectionState s) {
  switch (s) {
    case v1::COLLECTION_STATE_UNTRAINED:
      return 0;
    case v1::COLLECTION_STATE_TRAINING:
      return 1;
    case v1::COLLECTION_STATE_READY:
      return 2;
    default:
      return -1;
  }
}

}  // namespace

uint64_t IdHash(std::string_view id) { return XXH64(id.data(), id.size(), 0); }

absl::StatusOr<std::vector<std::string>> ExpandNodes(std::string_view spec) {
  std::vector<std::string> nodes;
  const absl::string_view all(spec.data(), spec.size());
  for (absl::string_view e : absl::StrSplit(all, ',', absl::SkipEmpty())) {
    e = absl::StripAsciiWhitespace(e);
    if (e.empty()) continue;
    const std::string entry(e);
    if (absl::Status s = ExpandEntry(entry, &nodes); !s.ok()) return s;
  }
  if (nodes.empty()) {
    return absl::InvalidArgumentError(
        "--shards is empty: give host:port,host:port,... or "
        "name-{0..N}.service:port");
  }
  absl::flat_hash_set<std::string> seen;
  for (const std::string& node : nodes) {
    const size_t colon = node.rfind(':');
    uint32_t port = 0;
    if (colon == std::string::npos || colon == 0 ||
        !ParseUint(std::string_view(node).substr(colon + 1), &port) ||
        port == 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--shards node '%s' is not host:port (port 1..65535)", node));
    }
    if (!seen.insert(node).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--shards names node '%s' twice", node));
    }
  }
  return nodes;
}

uint32_t FirstNode(std::string_view collection, uint32_t shard_count,
                   uint32_t node_count) {
  if (node_count == 0 || shard_count >= node_count) return 0;
  return static_cast<uint32_t>(IdHash(collection) % node_count);
}

v1::SearchResponse MergeSearch(std::vector<v1::SearchResponse>& shards,
                               uint32_t k) {
  v1::SearchResponse out;
  if (shards.empty()) return out;
  const int nq = shards[0].results_size();
  std::vector<v1::Hit*> hits;
  for (int q = 0; q < nq; ++q) {
    hits.clear();
    for (v1::SearchResponse& s : shards) {
      if (q >= s.results_size()) continue;
      for (v1::Hit& h : *s.mutable_results(q)->mutable_hits()) {
        hits.push_back(&h);
      }
    }
    const size_t keep = std::min<size_t>(k, hits.size());
    auto better = [](const v1::Hit* a, const v1::Hit* b) {
      if (a->distance() != b->distance()) return a->distance() < b->distance();
      return a->id() < b->id();
    };
    std::partial_sort(hits.begin(), hits.begin() + keep, hits.end(), better);
    v1::QueryResult* r = out.add_results();
    r->mutable_hits()->Reserve(static_cast<int>(keep));
    for (size_t i = 0; i < keep; ++i) *r->add_hits() = std::move(*hits[i]);
  }
  // The plan: the first shard's, with counts summed over the shards.
  bool any_plan = false;
  for (const v1::SearchResponse& s : shards) {
    if (!s.has_plan()) continue;
    v1::SearchPlan* p = out.mutable_plan();
    if (!any_plan) {
      *p = s.plan();
      any_plan = true;
      continue;
    }
    p->set_matching(p->matching() + s.plan().matching());
    p->set_count(p->count() + s.plan().count());
    p->set_nprobe(std::max(p->nprobe(), s.plan().nprobe()));
    p->set_rerank(std::max(p->rerank(), s.plan().rerank()));
  }
  if (any_plan && shards.size() > 1) {
    out.mutable_plan()->set_detail(
        absl::StrCat(out.plan().detail(), " (first of ", shards.size(),
                     " shards shown; matching and count summed)"));
  }
  return out;
}

v1::CollectionInfo AggregateInfo(
    const std::vector<v1::CollectionInfo>& shards) {
  std::vector<const v1::CollectionInfo*> sorted;
  for (const v1::CollectionInfo& s : shards) sorted.push_back(&s);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) {
    return a->placement().shard() < b->placement().shard();
  });
  v1::CollectionInfo out = *sorted[0];
  if (sorted.size() == 1) {
    out.set_shards(std::max<uint32_t>(1, out.placement().shard_count()));
    return out;
  }
  double mean_sum = out.list_mean();
  for (size_t i = 1; i < sorted.size(); ++i) {
    const v1::CollectionInfo& s = *sorted[i];
    out.set_count(out.count() + s.count());
    out.set_memory_bytes(out.memory_bytes() + s.memory_bytes());
    out.set_disk_bytes(out.disk_bytes() + s.disk_bytes());
    out.set_trained_count(out.trained_count() + s.trained_count());
    if (StateRank(s.state()) < StateRank(out.state())) {
      out.set_state(s.state());
    }
    out.set_list_min(std::min(out.list_min(), s.list_min()));
    out.set_list_max(std::max(out.list_max(), s.list_max()));
    mean_sum += s.list_mean();
    out.set_training_progress(
        std::min(out.training_progress(), s.training_progress()));
    out.set_train_generation(
        std::min(out.train_generation(), s.train_generation()));
    out.set_measured_recall(
        std::min(out.measured_recall(), s.measured_recall()));
    if (out.last_error().empty() && !s.last_error().empty()) {
      out.set_last_error(
          absl::StrCat("shard ", s.placement().shard(), ": ", s.last_error()));
    }
  }
  out.set_list_mean(mean_sum / static_cast<double>(sorted.size()));
  out.set_shards(static_cast<uint32_t>(sorted.size()));
  out.set_bytes_per_vector(out.count() > 0
                               ? static_cast<double>(out.memory_bytes()) /
                                     static_cast<double>(out.count())
                               : 0.0);
  // The layout as a whole: shard_count and every node; `shard` is 0.
  out.mutable_placement()->set_shard(0);
  return out;
}

}  // namespace quiver::router
