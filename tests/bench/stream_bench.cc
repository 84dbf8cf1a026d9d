// stream_bench: does a collection that maintains itself under a stream of
// writes serve as well as one built fresh from the same documents?
//
// It starts the real quiverd as a child process on a fresh temporary data
// directory, creates a collection with defaults (name, dimension, metric
// only) and streams --n vectors through the client library's Upsert stream
// in batches of 1000. About 10% of the upserted documents are updates (an
// existing, live id re-upserted with a new vector), and after each batch 10%
// as many live ids are deleted (Delete RPC; only ids whose last write is
// acknowledged, so the delete cannot overtake it). At each checkpoint (a
// count of vectors streamed) it pauses the stream, waits until the
// collection is not TRAINING and measures through gRPC, with held-out
// queries of the same distribution (never stored):
//   - recall@10 at the collection's defaults (nprobe = 0, rerank = 0) against
//     the exact top 10 of the LIVE set (brute force in this process),
//   - QPS and p50/p99 latency, one query per request on one client thread,
//     and QPS with 100 queries per request,
//   - memory_bytes (GetCollection) and quiverd's VmRSS, the ingest rate of
//     the segment since the previous checkpoint,
//   - nlist, train_generation, the default nprobe / rerank, measured_recall
//     and last_training_reason;
// and the same for a FRESH collection (defaults; the live set upserted, then
// an explicit Train once any automatic training has finished, unless that
// training covered the whole live set; READY),
// measured with the same queries and dropped. Streamed and fresh passes
// alternate (S F S F, best of two) so that load from other processes hits
// both alike.
//
// --swap_probe: after the last checkpoint, searches continuously (one client
// thread, one query per request) for a few seconds of steady state, then
// through an explicit re-training of the streamed collection and its swap,
// and compares the latency percentiles; every non-OK search is a failure.
// A checkpoint that finds the collection TRAINING is probed the same way
// while it waits.
//
//   stream_bench --data=synthetic --n=100000 --dim=96
//   --checkpoints=10k,30k,100k stream_bench --data=siftsmall
//   (../shared/data/siftsmall) stream_bench --data=/path/to/dir   (with
//   *base.fvecs [, *query.fvecs])
#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "common/status.h"
#include "index/flat_index.h"
#include "index/metric.h"
#include "tests/bench/quiverd_child.h"
#include "tests/bench/synthetic.h"
#include "tests/bench/vecs_io.h"

#ifndef QUIVER_BENCH_QUIVERD_PATH
#define QUIVER_BENCH_QUIVERD_PATH "quiverd"
#endif
#ifndef QUIVER_BENCH_SHARED_DATA
#define QUIVER_BENCH_SHARED_DATA "../shared/data"
#endif

ABSL_FLAG(std::string, data, "synthetic",
          "synthetic | siftsmall | sift20k | a directory with *base.fvecs "
          "(and optionally *query.fvecs)");
ABSL_FLAG(std::string, data_root, QUIVER_BENCH_SHARED_DATA,
          "where siftsmall / sift20k live");
ABSL_FLAG(uint64_t, n, 0,
          "vectors to stream (0 = 100000 for synthetic, every base vector "
          "not held out as a query for files)");
ABSL_FLAG(uint32_t, dim, 96, "synthetic: dimension");
ABSL_FLAG(uint64_t, seed, 1, "synthetic data and the update/delete choices");
ABSL_FLAG(uint32_t, clusters, 0,
          "synthetic: mixture components (0 = n/1000, clamped to 16..1000)");
ABSL_FLAG(std::string, metric, "l2", "l2 | ip | cosine");
ABSL_FLAG(uint64_t, skew_after, 0,
          "synthetic: vectors after this many come only from the regions "
          "around --skew_anchors of the first ones (writes crowding into a "
          "few regions; 0 = no skew)");
ABSL_FLAG(uint32_t, skew_anchors, 4,
          "synthetic: regions of the skewed part (the nearest 1/10 of a "
          "pool ten times its size, by distance to the closest anchor)");
ABSL_FLAG(std::vector<std::string>, checkpoints,
          std::vector<std::string>({"10k", "30k", "100k", "300k", "1M"}),
          "vectors streamed at which to measure (those <= n; n itself is "
          "added when a listed checkpoint exceeds it)");
ABSL_FLAG(uint32_t, queries, 300,
          "held-out queries (files: the query file, topped up with base "
          "vectors that are then not streamed)");
ABSL_FLAG(uint32_t, batch, 1000, "documents per Upsert batch");
ABSL_FLAG(uint32_t, in_flight, 4, "Upsert batches in flight");
ABSL_FLAG(double, update_fraction, 0.1,
          "fraction of upserted documents that re-upsert a live id");
ABSL_FLAG(double, delete_fraction, 0.1,
          "live ids deleted after each batch, as a fraction of the batch");
ABSL_FLAG(uint32_t, search_batch, 100, "queries per batched search request");
ABSL_FLAG(uint32_t, min_queries, 1000,
          "each timed pass repeats the query set up to at least this many");
ABSL_FLAG(bool, fresh, true, "also build and measure a fresh collection");
ABSL_FLAG(bool, swap_probe, false,
          "measure search latency through a re-training and its swap");
ABSL_FLAG(double, probe_steady_s, 5, "swap probe: seconds of steady state");
ABSL_FLAG(double, probe_timeline_ms, 0,
          "swap probe: if > 0, also print the latency of the searches through "
          "the training in buckets of this many ms (UTC times, to read beside "
          "quiverd's log)");
ABSL_FLAG(bool, delete_half, false,
          "after the last checkpoint, delete half of the live set at random "
          "and measure again once the server is idle (its retraining and "
          "compaction done): RAM per live document beside a fresh build");
ABSL_FLAG(double, train_timeout_s, 1800, "longest wait for one training");
ABSL_FLAG(std::string, quiverd, QUIVER_BENCH_QUIVERD_PATH, "quiverd binary");
ABSL_FLAG(std::string, csv, "", "optional CSV output path");
ABSL_FLAG(std::string, server_log, "",
          "keep quiverd's log here (default: a temporary file, deleted)");

namespace quiver::bench {
namespace {

namespace v1 = ::quiver::v1;

constexpr char kStreamed[] = "streamed";
constexpr char kFresh[] = "fresh";
constexpr size_t kK = 10;

double Now() { return absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()); }

// The resident set size (VmRSS) of process `pid`, 0 if unknown.
uint64_t RssBytes(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "VmRSS:")) {
      uint64_t kb = 0;
      std::string v(absl::StripAsciiWhitespace(line.substr(6)));
      if (absl::EndsWith(v, "kB")) v = v.substr(0, v.size() - 2);
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(v), &kb)) {
        return kb * 1024;
      }
    }
  }
  return 0;
}

// The vectors to stream (row i = the i-th vector streamed) and the queries.
struct Data {
  std::string name;
  size_t n = 0, dim = 0, nq = 0;
  std::vector<float> rows;     // n * dim
  std::vector<float> queries;  // nq * dim
};

absl::StatusOr<std::string> FindFile(const std::string& dir,
                                     const std::string& suffix) {
  std::error_code ec;
  std::vector<std::string> found;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (absl::EndsWith(name, suffix)) found.push_back(e.path().string());
  }
  if (ec) {
    return absl::NotFoundError(
        absl::StrFormat("cannot list %s: %s", dir, ec.message()));
  }
  std::sort(found.begin(), found.end());
  if (found.empty()) {
    return absl::NotFoundError(absl::StrFormat("no *%s in %s", suffix, dir));
  }
  return found[0];
}

// OK with d->n == 0 when siftsmall / sift20k is absent (the caller skips);
// NOT_FOUND for a directory given by path that does not exist.
absl::Status LoadData(Data* d) {
  const std::string data = absl::GetFlag(FLAGS_data);
  const size_t want_q = absl::GetFlag(FLAGS_queries);
  if (want_q == 0) return absl::InvalidArgumentError("--queries must be > 0");
  if (data == "synthetic") {
    size_t n = absl::GetFlag(FLAGS_n);
    if (n == 0) n = 100000;
    d->dim = absl::GetFlag(FLAGS_dim);
    size_t clusters = absl::GetFlag(FLAGS_clusters);
    if (clusters == 0) clusters = std::clamp<size_t>(n / 1000, 16, 1000);
    const uint64_t seed = absl::GetFlag(FLAGS_seed);
    SyntheticMixture mix(d->dim, clusters, seed);
    d->name = absl::StrFormat("synthetic(n=%d,dim=%d,clusters=%d,seed=%d)", n,
                              d->dim, clusters, seed);
    d->n = n;
    d->nq = want_q;
    d->rows = mix.Generate(kBaseStream, 0, n);
    d->queries = mix.Generate(kQueryStream, 0, want_q);
    const size_t skew = absl::GetFlag(FLAGS_skew_after);
    const size_t anchors = absl::GetFlag(FLAGS_skew_anchors);
    if (skew > 0 && skew < n && anchors > 0 && anchors <= skew) {
      // The rest of the stream: the tenth of a pool 10x its size nearest
      // to one of the first `anchors` vectors.
      const size_t rest = n - skew, dim = d->dim;
      const std::vector<float> pool = mix.Generate(kBaseStream, n, 10 * rest);
      std::vector<std::pair<float, size_t>> near(10 * rest);
      for (size_t i = 0; i < near.size(); ++i) {
        float best = std::numeric_limits<float>::max();
        for (size_t a = 0; a < anchors; ++a) {
          float dist = 0;
          for (size_t t = 0; t < dim; ++t) {
            const float diff = pool[i * dim + t] - d->rows[a * dim + t];
            dist += diff * diff;
          }
          best = std::min(best, dist);
        }
        near[i] = {best, i};
      }
      std::nth_element(near.begin(), near.begin() + rest, near.end());
      for (size_t j = 0; j < rest; ++j) {
        std::copy_n(&pool[near[j].second * dim], dim,
                    &d->rows[(skew + j) * dim]);
      }
      d->name +=
          absl::StrFormat(" skewed after %d into %d regions", skew, anchors);
    }
    return absl::OkStatus();
  }
  std::string dir = data;
  if (data == "siftsmall" || data == "sift20k") {
    dir = absl::GetFlag(FLAGS_data_root) + "/" + data;
  }
  if (!std::filesystem::is_directory(dir)) {
    if (dir == data) {
      return absl::NotFoundError(
          absl::StrFormat("--data=%s: no such directory", data));
    }
    std::printf(
        "stream_bench: data set '%s' not found (no directory %s); "
        "skipped\n",
        data.c_str(), dir.c_str());
    return absl::OkStatus();
  }
  QUIVER_ASSIGN_OR_RETURN(const std::string base_path,
                          FindFile(dir, "base.fvecs"));
  QUIVER_ASSIGN_OR_RETURN(VecsMatrix<float> base, ReadFloatVecs(base_path));
  VecsMatrix<float> q;
  absl::StatusOr<std::string> query_path = FindFile(dir, "query.fvecs");
  if (query_path.ok()) {
    QUIVER_ASSIGN_OR_RETURN(q, ReadFloatVecs(*query_path, want_q));
    if (q.dim != base.dim) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s has dimension %d, %s %d", *query_path, q.dim,
                          base_path, base.dim));
    }
  }
  d->dim = base.dim;
  d->queries = std::move(q.data);
  d->nq = q.rows;
  // Top up the queries with base vectors from the end, never streamed.
  size_t held = 0;
  if (d->nq < want_q) {
    held = std::min(want_q - d->nq, base.rows / 2);
    const size_t first = base.rows - held;
    d->queries.insert(d->queries.end(), base.data.begin() + first * d->dim,
                      base.data.end());
    d->nq += held;
  }
  size_t n = base.rows - held;
  const size_t flag_n = absl::GetFlag(FLAGS_n);
  if (flag_n != 0) {
    if (flag_n > n) {
      std::printf("note: --n=%zu but only %zu base vectors are available\n",
                  flag_n, n);
    }
    n = std::min(n, flag_n);
  }
  d->n = n;
  base.data.resize(n * d->dim);
  d->rows = std::move(base.data);
  d->name = absl::StrFormat(
      "%s (%d x %d; %d queries: %d from %s, %d held-out "
      "base vectors)",
      base_path, d->n, d->dim, d->nq, d->nq - held,
      query_path.ok() ? *query_path : "-", held);
  return absl::OkStatus();
}

absl::StatusOr<size_t> ParseCount(std::string s) {
  s = std::string(absl::StripAsciiWhitespace(s));
  double mult = 1;
  if (!s.empty() && (s.back() == 'k' || s.back() == 'K')) {
    mult = 1e3;
    s.pop_back();
  } else if (!s.empty() && (s.back() == 'm' || s.back() == 'M')) {
    mult = 1e6;
    s.pop_back();
  }
  double v = 0;
  if (!absl::SimpleAtod(s, &v) || v <= 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("bad checkpoint '%s'", s));
  }
  return static_cast<size_t>(std::llround(v * mult));
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * v.size()));
  return v[i];
}

// The documents the stream has written: which data row holds each id's
// current vector, which ids are live, and the last batch that wrote each.
struct LiveSet {
  std::vector<uint32_t> row_of;     // id -> data row of its vector
  std::vector<int64_t> pos;         // id -> index in `live`, -1 if deleted
  std::vector<int64_t> last_batch;  // id -> batch id of its last upsert
  std::vector<uint32_t> live;       // live ids, any order

  uint32_t Insert(uint32_t row, int64_t batch) {
    const uint32_t id = static_cast<uint32_t>(row_of.size());
    row_of.push_back(row);
    pos.push_back(static_cast<int64_t>(live.size()));
    last_batch.push_back(batch);
    live.push_back(id);
    return id;
  }
  void Erase(uint32_t id) {
    const int64_t p = pos[id];
    const uint32_t moved = live.back();
    live[p] = moved;
    pos[moved] = p;
    live.pop_back();
    pos[id] = -1;
  }
};

struct Truth {
  std::vector<std::vector<std::string>> ids;  // per query, exact top kK
};

Truth ExactTruth(const Data& d, const LiveSet& s, index::Metric metric) {
  std::vector<float> x(s.live.size() * d.dim);
  for (size_t i = 0; i < s.live.size(); ++i) {
    const float* v = &d.rows[static_cast<size_t>(s.row_of[s.live[i]]) * d.dim];
    std::copy(v, v + d.dim, &x[i * d.dim]);
  }
  auto exact = index::FlatIndex::BruteForce(metric, x.data(), s.live.size(),
                                            d.queries.data(), d.nq, d.dim, kK);
  Truth t;
  t.ids.resize(d.nq);
  for (size_t q = 0; q < d.nq; ++q) {
    for (const index::Neighbor& nb : exact[q]) {
      t.ids[q].push_back(absl::StrCat(s.live[nb.id]));
    }
  }
  return t;
}

double Recall(const Truth& t, size_t q, const v1::QueryResult& r) {
  const std::vector<std::string>& gt = t.ids[q];
  if (gt.empty()) return 1;
  size_t hit = 0;
  for (int j = 0; j < r.hits_size() && j < static_cast<int>(kK); ++j) {
    if (std::find(gt.begin(), gt.end(), r.hits(j).id()) != gt.end()) ++hit;
  }
  return static_cast<double>(hit) / gt.size();
}

v1::SearchRequest MakeRequest(const Data& d, const std::string& collection,
                              size_t first, size_t count) {
  v1::SearchRequest req;
  req.set_collection(collection);
  req.set_k(kK);
  req.set_nprobe(0);  // the collection's defaults
  req.set_rerank(0);
  for (size_t i = first; i < first + count; ++i) {
    req.add_queries()->mutable_values()->Add(
        d.queries.begin() + i * d.dim, d.queries.begin() + (i + 1) * d.dim);
  }
  return req;
}

// Reads the streamed collection back through search: up to 2,000 live
// documents, each its own vector as the query (every list probed, rerank
// 8, k 1), must find themselves (a live id's current vector missing from
// the index, or a stale one, misses); up to 500 deleted ids' last vectors
// must not find their id; no answer may name a deleted id. Prints one line;
// an error only when the RPCs fail.
absl::Status VerifyReadBack(client::QuiverClient* cl, const Data& d,
                            const LiveSet& s, const std::string& collection) {
  std::vector<uint32_t> probes_live, probes_dead;
  const size_t stride = std::max<size_t>(1, s.live.size() / 2000);
  for (size_t i = 0; i < s.live.size(); i += stride) {
    probes_live.push_back(s.live[i]);
  }
  for (uint32_t id = 0; id < s.pos.size() && probes_dead.size() < 500; ++id) {
    if (s.pos[id] < 0) probes_dead.push_back(id);
  }
  size_t found = 0, missed = 0, dead_found = 0, dead_hits = 0;
  for (int kind = 0; kind < 2; ++kind) {
    const std::vector<uint32_t>& ids = kind == 0 ? probes_live : probes_dead;
    for (size_t first = 0; first < ids.size(); first += 100) {
      v1::SearchRequest req;
      req.set_collection(collection);
      req.set_k(1);
      req.set_nprobe(65536);  // the most allowed; clamped to nlist
      req.set_rerank(8);
      const size_t n = std::min<size_t>(100, ids.size() - first);
      for (size_t i = first; i < first + n; ++i) {
        const float* v = &d.rows[static_cast<size_t>(s.row_of[ids[i]]) * d.dim];
        req.add_queries()->mutable_values()->Add(v, v + d.dim);
      }
      QUIVER_ASSIGN_OR_RETURN(v1::SearchResponse resp, cl->Search(req));
      for (size_t i = 0; i < n; ++i) {
        const v1::QueryResult& r = resp.results(static_cast<int>(i));
        const std::string want = absl::StrCat(ids[first + i]);
        const bool self = r.hits_size() > 0 && r.hits(0).id() == want;
        if (kind == 0) {
          (self ? found : missed) += 1;
        } else if (self) {
          ++dead_found;
        }
        for (const v1::Hit& h : r.hits()) {
          uint32_t id = 0;
          if (absl::SimpleAtoi(h.id(), &id) && id < s.pos.size() &&
              s.pos[id] < 0) {
            ++dead_hits;
          }
        }
      }
    }
  }
  std::printf(
      "                   read back: %zu of %zu live documents found "
      "themselves (%zu missed); %zu of %zu deleted ids found; %zu answers "
      "named a deleted id\n",
      found, probes_live.size(), missed, dead_found, probes_dead.size(),
      dead_hits);
  return absl::OkStatus();
}

struct Search {
  double recall = 0, qps = 0, p50_ms = 0, p99_ms = 0, batch_qps = 0;
};

// One timed pass: every query alone (repeated to --min_queries), then in
// requests of --search_batch.
absl::StatusOr<Search> MeasurePass(client::QuiverClient* cl, const Data& d,
                                   const std::string& collection,
                                   const Truth& truth) {
  const size_t min_q = absl::GetFlag(FLAGS_min_queries);
  const size_t reps = std::max<size_t>(1, (min_q + d.nq - 1) / d.nq);
  std::vector<v1::SearchRequest> single;
  single.reserve(d.nq);
  for (size_t i = 0; i < d.nq; ++i) {
    single.push_back(MakeRequest(d, collection, i, 1));
  }
  for (size_t i = 0; i < std::min<size_t>(d.nq, 20); ++i) {
    QUIVER_RETURN_IF_ERROR(cl->Search(single[i]).status());
  }
  Search out;
  std::vector<double> lat;
  lat.reserve(reps * d.nq);
  const double t0 = Now();
  for (size_t r = 0; r < reps; ++r) {
    for (size_t i = 0; i < d.nq; ++i) {
      const double s = Now();
      absl::StatusOr<v1::SearchResponse> resp = cl->Search(single[i]);
      lat.push_back(Now() - s);
      if (!resp.ok()) {
        return absl::Status(resp.status().code(),
                            absl::StrCat("search on '", collection,
                                         "': ", resp.status().message()));
      }
      if (r == 0) out.recall += Recall(truth, i, resp->results(0));
    }
  }
  out.qps = lat.size() / (Now() - t0);
  out.recall /= d.nq;
  out.p50_ms = 1e3 * Percentile(lat, 0.50);
  out.p99_ms = 1e3 * Percentile(lat, 0.99);
  const size_t b = absl::GetFlag(FLAGS_search_batch);
  std::vector<v1::SearchRequest> batches;
  for (size_t i = 0; i < d.nq; i += b) {
    batches.push_back(MakeRequest(d, collection, i, std::min(b, d.nq - i)));
  }
  QUIVER_RETURN_IF_ERROR(cl->Search(batches[0]).status());
  const double t1 = Now();
  for (size_t r = 0; r < reps; ++r) {
    for (const v1::SearchRequest& req : batches) {
      QUIVER_RETURN_IF_ERROR(cl->Search(req).status());
    }
  }
  out.batch_qps = reps * d.nq / (Now() - t1);
  return out;
}

// Best of several passes (recall is the same in each).
void Merge(const Search& pass, bool first, Search* best) {
  if (first || pass.qps > best->qps) {
    best->qps = pass.qps;
    best->p50_ms = pass.p50_ms;
    best->p99_ms = pass.p99_ms;
  }
  if (first || pass.batch_qps > best->batch_qps) {
    best->batch_qps = pass.batch_qps;
  }
  best->recall = pass.recall;
}

const char* StateName(v1::CollectionState s) {
  switch (s) {
    case v1::COLLECTION_STATE_UNTRAINED:
      return "UNTRAINED";
    case v1::COLLECTION_STATE_TRAINING:
      return "TRAINING";
    case v1::COLLECTION_STATE_READY:
      return "READY";
    default:
      return "?";
  }
}

// Latency of continuous single-query searches while `until` is false.
struct ProbeStats {
  size_t searches = 0, failures = 0, short_results = 0;
  double seconds = 0, p50_ms = 0, p99_ms = 0, max_ms = 0, recall = 0;
  std::string first_failure;
};

class Prober {
 public:
  Prober(client::QuiverClient* cl, const Data& d, const Truth& truth)
      : cl_(cl), d_(d), truth_(truth) {
    for (size_t i = 0; i < d.nq; ++i) {
      requests_.push_back(MakeRequest(d, kStreamed, i, 1));
    }
  }
  void Start() {
    stop_ = false;
    stats_ = ProbeStats();
    lat_.clear();
    at_.clear();
    recall_sum_ = 0;
    thread_ = std::thread([this] { Loop(); });
  }
  ProbeStats Stop() {
    stop_ = true;
    thread_.join();
    stats_.p50_ms = 1e3 * Percentile(lat_, 0.50);
    stats_.p99_ms = 1e3 * Percentile(lat_, 0.99);
    stats_.max_ms = lat_.empty() ? 0 : 1e3 * Percentile(lat_, 1.0);
    const size_t ok = stats_.searches - stats_.failures;
    stats_.recall = ok ? recall_sum_ / ok : 0;
    return stats_;
  }
  // The last Start..Stop's searches in buckets of `ms`: start time (UTC),
  // searches, p50, p99 and max latency.
  void PrintTimeline(double ms) const {
    if (ms <= 0 || at_.empty()) return;
    const double w = ms / 1e3;
    for (size_t i = 0; i < at_.size();) {
      const double b = at_[i] - std::fmod(at_[i], w);
      std::vector<double> lat;
      for (; i < at_.size() && at_[i] < b + w; ++i) lat.push_back(lat_[i]);
      const absl::Time t = absl::FromUnixMicros(static_cast<int64_t>(b * 1e6));
      std::printf(
          "    %s %5zu searches  p50 %7.3f  p99 %7.3f  max %8.3f ms\n",
          absl::FormatTime("%H:%M:%E3S", t, absl::UTCTimeZone()).c_str(),
          lat.size(), 1e3 * Percentile(lat, 0.5), 1e3 * Percentile(lat, 0.99),
          1e3 * Percentile(lat, 1.0));
    }
  }

 private:
  void Loop() {
    const double t0 = Now();
    for (size_t i = 0; !stop_; i = (i + 1) % d_.nq) {
      const double s = Now();
      absl::StatusOr<v1::SearchResponse> resp = cl_->Search(requests_[i]);
      lat_.push_back(Now() - s);
      at_.push_back(s);
      ++stats_.searches;
      if (!resp.ok()) {
        if (stats_.failures++ == 0) {
          stats_.first_failure = resp.status().ToString();
        }
        continue;
      }
      if (resp->results_size() != 1 ||
          resp->results(0).hits_size() < static_cast<int>(kK)) {
        ++stats_.short_results;
      }
      if (resp->results_size() == 1) {
        recall_sum_ += Recall(truth_, i, resp->results(0));
      }
    }
    stats_.seconds = Now() - t0;
  }

  client::QuiverClient* cl_;
  const Data& d_;
  const Truth& truth_;
  std::vector<v1::SearchRequest> requests_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  ProbeStats stats_;
  std::vector<double> lat_;
  std::vector<double> at_;  // start of each search, Unix seconds
  double recall_sum_ = 0;
};

void PrintProbe(const char* label, const ProbeStats& p) {
  std::printf(
      "  %-22s %6zu searches in %6.2f s (%6.0f qps)  p50 %7.3f ms  p99 %7.3f "
      "ms  max %8.3f ms  recall %.4f  failures %zu  short %zu%s%s\n",
      label, p.searches, p.seconds, p.seconds > 0 ? p.searches / p.seconds : 0,
      p.p50_ms, p.p99_ms, p.max_ms, p.recall, p.failures, p.short_results,
      p.failures ? "  first: " : "", p.first_failure.c_str());
}

// Polls until `name` is not TRAINING (and, if min_generation > 0, has
// reached that generation). INTERNAL if a training failed.
absl::StatusOr<v1::CollectionInfo> WaitIdle(client::QuiverClient* cl,
                                            const std::string& name,
                                            uint64_t min_generation = 0) {
  const double deadline = Now() + absl::GetFlag(FLAGS_train_timeout_s);
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(v1::CollectionInfo info, cl->GetCollection(name));
    if (info.state() != v1::COLLECTION_STATE_TRAINING) {
      if (info.train_generation() >= min_generation) return info;
      if (!info.last_error().empty()) {
        return absl::InternalError(absl::StrFormat(
            "training of '%s' failed: %s", name, info.last_error()));
      }
    }
    if (Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrFormat("'%s' still training after %.0f s", name,
                          absl::GetFlag(FLAGS_train_timeout_s)));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

struct Side {
  bool present = false;
  v1::CollectionInfo info;
  Search search;
  uint64_t rss = 0;
  double ingest_vps = 0;  // streamed: the segment; fresh: the live set
  double wait_s = 0;      // streamed: paused until idle; fresh: Train -> READY
  double build_s = 0;     // fresh: upsert + trainings
};

struct Checkpoint {
  size_t streamed = 0, live = 0, updates = 0, deletes = 0;
  Side s, f;
};

v1::CreateCollectionRequest Defaults(const std::string& name, size_t dim,
                                     v1::Metric metric) {
  v1::CreateCollectionRequest c;
  c.set_name(name);
  c.set_dimension(static_cast<uint32_t>(dim));
  c.set_metric(metric);
  return c;
}

// Fresh collection: defaults, the live set upserted, any automatic training
// finished, then an explicit Train unless that training already covered the
// whole live set; READY.
absl::Status BuildFresh(client::QuiverClient* cl, const Data& d,
                        const LiveSet& s, v1::Metric metric, Side* f) {
  QUIVER_RETURN_IF_ERROR(
      cl->CreateCollection(Defaults(kFresh, d.dim, metric)).status());
  std::vector<v1::Document> docs(s.live.size());
  for (size_t i = 0; i < s.live.size(); ++i) {
    const uint32_t id = s.live[i];
    docs[i].set_id(absl::StrCat(id));
    const float* v = &d.rows[static_cast<size_t>(s.row_of[id]) * d.dim];
    docs[i].mutable_vector()->Add(v, v + d.dim);
  }
  const double t0 = Now();
  QUIVER_ASSIGN_OR_RETURN(client::UpsertResult up,
                          cl->Upsert(kFresh, docs, absl::GetFlag(FLAGS_batch),
                                     absl::GetFlag(FLAGS_in_flight)));
  const double t_up = Now() - t0;
  if (up.upserted != docs.size() || !up.errors.empty()) {
    return absl::InternalError(
        absl::StrFormat("fresh: %d of %d upserted, %d errors", up.upserted,
                        docs.size(), up.errors.size()));
  }
  f->ingest_vps = docs.size() / t_up;
  QUIVER_ASSIGN_OR_RETURN(v1::CollectionInfo info, WaitIdle(cl, kFresh));
  const double t1 = Now();
  if (info.state() == v1::COLLECTION_STATE_READY &&
      info.trained_count() == docs.size() && info.count() == docs.size()) {
    // An automatic training already built the index from the whole live
    // set: an explicit Train would build the same thing again.
    f->info = info;
  } else {
    QUIVER_RETURN_IF_ERROR(cl->Train(kFresh).status());
    QUIVER_ASSIGN_OR_RETURN(f->info,
                            WaitIdle(cl, kFresh, info.train_generation() + 1));
  }
  f->wait_s = Now() - t1;
  f->build_s = Now() - t0;
  if (f->info.state() != v1::COLLECTION_STATE_READY) {
    return absl::InternalError(
        absl::StrFormat("fresh collection is %s after Train (%s)",
                        StateName(f->info.state()), f->info.last_error()));
  }
  f->present = true;
  return absl::OkStatus();
}

std::string Mb(uint64_t bytes) {
  return absl::StrFormat("%.1f", bytes / 1048576.0);
}

void PrintHeader() {
  std::printf(
      "\n%8s %7s | %-9s %5s %3s %6s %6s %6s %7s %6s %6s %7s %7s %7s %8s "
      "%6s | %5s %6s %6s %6s %7s %6s %7s %7s %6s | %7s %6s %6s\n",
      "streamed", "live", "S:state", "nlist", "gen", "np/rr", "m_rec", "recall",
      "qps1", "p50ms", "p99ms", "qpsB", "memMB", "rssMB", "ingest/s", "wait_s",
      "F:nl", "np/rr", "m_rec", "recall", "qps1", "p99ms", "qpsB", "memMB",
      "train", "d_rec", "qpsR", "qpsBR");
}

void PrintRow(const Checkpoint& c) {
  const Side& s = c.s;
  const Side& f = c.f;
  std::printf(
      "%8zu %7zu | %-9s %5u %3" PRIu64
      " %6s %6.3f %6.4f %7.0f %6.3f %6.3f "
      "%7.0f %7s %7s %8.0f %6.1f",
      c.streamed, c.live, StateName(s.info.state()), s.info.index().nlist(),
      s.info.train_generation(),
      absl::StrFormat("%u/%u", s.info.index().nprobe(), s.info.index().rerank())
          .c_str(),
      s.info.measured_recall(), s.search.recall, s.search.qps, s.search.p50_ms,
      s.search.p99_ms, s.search.batch_qps, Mb(s.info.memory_bytes()).c_str(),
      Mb(s.rss).c_str(), s.ingest_vps, s.wait_s);
  if (f.present) {
    std::printf(
        " | %5u %6s %6.3f %6.4f %7.0f %6.3f %7.0f %7s %6.1f | %+7.4f %6.3f "
        "%6.3f\n",
        f.info.index().nlist(),
        absl::StrFormat("%u/%u", f.info.index().nprobe(),
                        f.info.index().rerank())
            .c_str(),
        f.info.measured_recall(), f.search.recall, f.search.qps,
        f.search.p99_ms, f.search.batch_qps, Mb(f.info.memory_bytes()).c_str(),
        f.wait_s, s.search.recall - f.search.recall,
        s.search.qps / f.search.qps, s.search.batch_qps / f.search.batch_qps);
  } else {
    std::printf(" | (no fresh build)\n");
  }
  std::printf("%18s streamed: trained on %" PRIu64
              ", last training: \"%s\"%s%s\n",
              "", s.info.trained_count(), s.info.last_training_reason().c_str(),
              s.info.last_error().empty() ? "" : "; last_error: ",
              s.info.last_error().c_str());
  std::fflush(stdout);
}

void WriteCsv(const std::string& path, const Data& d,
              const std::vector<Checkpoint>& cps) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "stream_bench: cannot write %s\n", path.c_str());
    return;
  }
  std::fprintf(f,
               "data,dim,queries,streamed,live,updates,deletes,"
               "s_state,s_nlist,s_generation,s_nprobe,s_rerank,"
               "s_measured_recall,s_recall,s_qps,s_p50_ms,s_p99_ms,"
               "s_batch_qps,s_memory_bytes,s_rss_bytes,s_ingest_vps,s_wait_s,"
               "s_trained_count,s_reason,f_nlist,f_generation,f_nprobe,"
               "f_rerank,f_measured_recall,f_recall,f_qps,f_p50_ms,f_p99_ms,"
               "f_batch_qps,f_memory_bytes,f_rss_bytes,f_ingest_vps,"
               "f_train_s,f_build_s,recall_diff,qps_ratio,batch_qps_ratio\n");
  for (const Checkpoint& c : cps) {
    const Side& s = c.s;
    const Side& r = c.f;
    std::string reason = s.info.last_training_reason();
    std::replace(reason.begin(), reason.end(), '"', '\'');
    std::fprintf(f,
                 "\"%s\",%zu,%zu,%zu,%zu,%zu,%zu,%s,%u,%" PRIu64
                 ",%u,%u,%.4f,%.4f,%.1f,%.4f,%.4f,%.1f,%" PRIu64 ",%" PRIu64
                 ",%.0f,%.2f,%" PRIu64 ",\"%s\"",
                 d.name.c_str(), d.dim, d.nq, c.streamed, c.live, c.updates,
                 c.deletes, StateName(s.info.state()), s.info.index().nlist(),
                 s.info.train_generation(), s.info.index().nprobe(),
                 s.info.index().rerank(), s.info.measured_recall(),
                 s.search.recall, s.search.qps, s.search.p50_ms,
                 s.search.p99_ms, s.search.batch_qps, s.info.memory_bytes(),
                 s.rss, s.ingest_vps, s.wait_s, s.info.trained_count(),
                 reason.c_str());
    if (r.present) {
      std::fprintf(
          f,
          ",%u,%" PRIu64 ",%u,%u,%.4f,%.4f,%.1f,%.4f,%.4f,%.1f,%" PRIu64
          ",%" PRIu64 ",%.0f,%.2f,%.2f,%.4f,%.4f,%.4f\n",
          r.info.index().nlist(), r.info.train_generation(),
          r.info.index().nprobe(), r.info.index().rerank(),
          r.info.measured_recall(), r.search.recall, r.search.qps,
          r.search.p50_ms, r.search.p99_ms, r.search.batch_qps,
          r.info.memory_bytes(), r.rss, r.ingest_vps, r.wait_s, r.build_s,
          s.search.recall - r.search.recall, s.search.qps / r.search.qps,
          s.search.batch_qps / r.search.batch_qps);
    } else {
      std::fprintf(f, ",,,,,,,,,,,,,,,,,,\n");
    }
  }
  std::fclose(f);
}

// Prints quiverd's log lines about trainings (start, reason, duration).
void PrintTrainingLog(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) {
    if (absl::StrContains(line, "automatic training") ||
        absl::StrContains(line, "done in") ||
        absl::StrContains(line, "started") ||
        absl::StrContains(line, "compacted in") ||
        absl::StrContains(line, "training failed") ||
        absl::StrContains(line, "reaches recall") ||
        absl::StrContains(line, "trained nlist")) {
      lines.push_back(line);
    }
  }
  if (lines.empty()) return;
  std::printf("\nquiverd log, trainings:\n");
  for (const std::string& l : lines) std::printf("  %s\n", l.c_str());
}

absl::Status Run() {
  const std::string metric_name = absl::GetFlag(FLAGS_metric);
  index::Metric metric;
  v1::Metric pmetric;
  if (metric_name == "l2") {
    metric = index::Metric::kL2;
    pmetric = v1::METRIC_L2;
  } else if (metric_name == "ip") {
    metric = index::Metric::kInnerProduct;
    pmetric = v1::METRIC_INNER_PRODUCT;
  } else if (metric_name == "cosine") {
    metric = index::Metric::kCosine;
    pmetric = v1::METRIC_COSINE;
  } else {
    return absl::InvalidArgumentError(
        absl::StrFormat("--metric=%s: expected l2, ip or cosine", metric_name));
  }
  const size_t batch = absl::GetFlag(FLAGS_batch);
  if (batch == 0) return absl::InvalidArgumentError("--batch must be > 0");
  Data d;
  QUIVER_RETURN_IF_ERROR(LoadData(&d));
  if (d.n == 0) return absl::OkStatus();  // data set absent: skipped

  std::vector<size_t> checkpoints;
  bool beyond = false;
  for (const std::string& c : absl::GetFlag(FLAGS_checkpoints)) {
    QUIVER_ASSIGN_OR_RETURN(size_t v, ParseCount(c));
    if (v <= d.n) {
      checkpoints.push_back(v);
    } else {
      beyond = true;
    }
  }
  if (beyond || checkpoints.empty()) checkpoints.push_back(d.n);
  std::sort(checkpoints.begin(), checkpoints.end());
  checkpoints.erase(std::unique(checkpoints.begin(), checkpoints.end()),
                    checkpoints.end());

  std::printf("data: %s, metric %s\n", d.name.c_str(), metric_name.c_str());
  std::printf(
      "stream: %zu vectors in Upsert batches of %zu (%u in flight), %.0f%% "
      "updates of live ids, deletes of %.0f%% of a batch after each; "
      "checkpoints %s\n",
      d.n, batch, absl::GetFlag(FLAGS_in_flight),
      100 * absl::GetFlag(FLAGS_update_fraction),
      100 * absl::GetFlag(FLAGS_delete_fraction),
      absl::StrJoin(checkpoints, ",").c_str());
  std::printf(
      "search: k=%zu at the collection defaults (nprobe=0, rerank=0); one "
      "client thread; single = 1 query/request, B = %u queries/request; best "
      "of 2 alternating passes of >= %u queries\n",
      kK, absl::GetFlag(FLAGS_search_batch), absl::GetFlag(FLAGS_min_queries));

  char tmpl[] = "/tmp/stream_bench.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  const std::string tmp = tmpl;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{tmp};
  std::string log_path = absl::GetFlag(FLAGS_server_log);
  if (log_path.empty()) log_path = tmp + "/quiverd.log";

  QuiverdChild daemon;
  QuiverdChildOptions qo;
  qo.binary = absl::GetFlag(FLAGS_quiverd);
  qo.data_dir = tmp + "/data";
  qo.log_path = log_path;
  if (const absl::Status s = daemon.Start(qo); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat(s.message(), "; log ", log_path));
  }
  client::ClientOptions co;
  co.address = daemon.address();
  co.timeout = absl::Seconds(300);
  co.max_receive_message_bytes = 256 << 20;
  QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<client::QuiverClient> cl,
                          client::QuiverClient::Connect(co));
  if (!cl->WaitForConnected(absl::Seconds(30))) {
    return absl::UnavailableError("could not connect to quiverd");
  }
  QUIVER_RETURN_IF_ERROR(
      cl->CreateCollection(Defaults(kStreamed, d.dim, pmetric)).status());

  const double update_fraction = absl::GetFlag(FLAGS_update_fraction);
  const double delete_fraction = absl::GetFlag(FLAGS_delete_fraction);
  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed) * 0x9e3779b97f4a7c15ULL + 7);
  std::uniform_real_distribution<double> coin(0, 1);
  LiveSet live;
  std::vector<Checkpoint> results;
  size_t streamed = 0, updates = 0, deletes = 0;
  int64_t batch_id = 0;
  bool header = false;
  const bool probe = absl::GetFlag(FLAGS_swap_probe);

  // The stream's counts now, as a checkpoint to measure.
  auto checkpoint_now = [&] {
    Checkpoint c;
    c.streamed = streamed;
    c.live = live.live.size();
    c.updates = updates;
    c.deletes = deletes;
    c.s.present = true;
    return c;
  };
  // Waits for the streamed collection to be idle and measures it (and a
  // fresh build of the same live set) at checkpoint `c`: a table row.
  auto measure_checkpoint = [&](Checkpoint& c) -> absl::Status {
    const Truth truth = ExactTruth(d, live, metric);

    // Pause: wait until the streamed collection is not training.
    const double tp = Now();
    QUIVER_ASSIGN_OR_RETURN(v1::CollectionInfo at_pause,
                            cl->GetCollection(kStreamed));
    if (probe && at_pause.state() == v1::COLLECTION_STATE_TRAINING) {
      Prober prober(cl.get(), d, truth);
      prober.Start();
      absl::StatusOr<v1::CollectionInfo> idle = WaitIdle(cl.get(), kStreamed);
      const ProbeStats p = prober.Stop();
      QUIVER_RETURN_IF_ERROR(idle.status());
      std::printf(
          "\ncheckpoint %zu: streamed collection TRAINING (\"%s\") at the "
          "pause; searched while it finished:\n",
          streamed, at_pause.last_training_reason().c_str());
      PrintProbe("during training+swap:", p);
    }
    QUIVER_ASSIGN_OR_RETURN(c.s.info, WaitIdle(cl.get(), kStreamed));
    c.s.wait_s = Now() - tp;
    if (c.s.info.count() != c.live) {
      return absl::InternalError(
          absl::StrFormat("server counts %d documents, the stream %d live",
                          c.s.info.count(), c.live));
    }
    c.s.rss = RssBytes(daemon.pid());

    if (absl::GetFlag(FLAGS_fresh)) {
      absl::Status fs = BuildFresh(cl.get(), d, live, pmetric, &c.f);
      if (!fs.ok()) {
        std::printf("checkpoint %zu: fresh build failed: %s\n", streamed,
                    fs.ToString().c_str());
        c.f.present = false;
      } else {
        c.f.rss = RssBytes(daemon.pid());
      }
    }
    for (int pass = 0; pass < 2; ++pass) {
      QUIVER_ASSIGN_OR_RETURN(Search s,
                              MeasurePass(cl.get(), d, kStreamed, truth));
      Merge(s, pass == 0, &c.s.search);
      if (c.f.present) {
        QUIVER_ASSIGN_OR_RETURN(Search f,
                                MeasurePass(cl.get(), d, kFresh, truth));
        Merge(f, pass == 0, &c.f.search);
      }
    }
    if (absl::GetFlag(FLAGS_fresh)) {
      absl::Status ds = cl->DropCollection(kFresh);
      if (!ds.ok() && !absl::IsNotFound(ds)) return ds;
    }
    if (!header) {
      PrintHeader();
      header = true;
    }
    PrintRow(c);
    QUIVER_RETURN_IF_ERROR(VerifyReadBack(cl.get(), d, live, kStreamed));
    results.push_back(c);
    return absl::OkStatus();
  };

  for (size_t cp : checkpoints) {
    // Stream up to the checkpoint.
    // Batches of earlier segments are all acknowledged (Finish).
    std::atomic<int64_t> acked_batch{batch_id - 1};
    std::atomic<uint64_t> acked{0}, rejected{0};
    QUIVER_ASSIGN_OR_RETURN(
        std::unique_ptr<client::UpsertStream> stream,
        cl->OpenUpsertStream(kStreamed, absl::GetFlag(FLAGS_in_flight),
                             [&](const v1::UpsertResponse& r) {
                               acked += r.upserted();
                               rejected += r.errors_size();
                               acked_batch = static_cast<int64_t>(r.batch_id());
                             }));
    // Deletes of live ids whose last write is acknowledged (batch <= done),
    // keeping the running total at delete_fraction of the vectors streamed
    // (acks lag behind, so a call may delete more than a batch's share).
    auto delete_some = [&](int64_t done) -> absl::Status {
      const size_t want =
          static_cast<size_t>(std::llround(delete_fraction * streamed));
      const size_t now = want > deletes ? want - deletes : 0;
      std::vector<std::string> victims;
      for (size_t tries = 0;
           victims.size() < now && tries < 8 * now && !live.live.empty();
           ++tries) {
        std::uniform_int_distribution<size_t> pick(0, live.live.size() - 1);
        const uint32_t id = live.live[pick(rng)];
        if (live.last_batch[id] > done) continue;
        live.Erase(id);
        victims.push_back(absl::StrCat(id));
      }
      if (victims.empty()) return absl::OkStatus();
      QUIVER_ASSIGN_OR_RETURN(uint64_t n_del, cl->Delete(kStreamed, victims));
      if (n_del != victims.size()) {
        return absl::InternalError(
            absl::StrFormat("Delete of %d live ids reported %d deleted",
                            victims.size(), n_del));
      }
      deletes += victims.size();
      return absl::OkStatus();
    };
    const size_t seg_first = streamed;
    size_t seg_sent = 0;
    const double t0 = Now();
    while (streamed < cp) {
      const size_t nb = std::min(batch, cp - streamed);
      v1::UpsertRequest req;
      req.set_batch_id(static_cast<uint64_t>(batch_id));
      for (size_t j = 0; j < nb; ++j, ++streamed) {
        const uint32_t row = static_cast<uint32_t>(streamed);
        uint32_t id;
        if (!live.live.empty() && coin(rng) < update_fraction) {
          std::uniform_int_distribution<size_t> pick(0, live.live.size() - 1);
          id = live.live[pick(rng)];
          live.row_of[id] = row;
          live.last_batch[id] = batch_id;
          ++updates;
        } else {
          id = live.Insert(row, batch_id);
        }
        v1::Document* doc = req.add_documents();
        doc->set_id(absl::StrCat(id));
        doc->mutable_vector()->Add(d.rows.begin() + row * d.dim,
                                   d.rows.begin() + (row + 1) * d.dim);
      }
      QUIVER_RETURN_IF_ERROR(stream->Send(req));
      seg_sent += nb;
      QUIVER_RETURN_IF_ERROR(delete_some(acked_batch.load()));
      ++batch_id;
    }
    QUIVER_RETURN_IF_ERROR(stream->Finish());
    QUIVER_RETURN_IF_ERROR(delete_some(batch_id - 1));  // catch up
    const double seg_s = Now() - t0;
    if (acked != seg_sent || rejected != 0) {
      return absl::InternalError(
          absl::StrFormat("stream: %d of %d upserted, %d rejected",
                          acked.load(), seg_sent, rejected.load()));
    }

    Checkpoint c = checkpoint_now();
    c.s.ingest_vps = (streamed - seg_first) / seg_s;
    QUIVER_RETURN_IF_ERROR(measure_checkpoint(c));
  }

  if (absl::GetFlag(FLAGS_delete_half) && !live.live.empty()) {
    const size_t want = live.live.size() / 2;
    std::vector<std::string> victims;
    victims.reserve(want);
    for (size_t i = 0; i < want; ++i) {
      std::uniform_int_distribution<size_t> pick(0, live.live.size() - 1);
      const uint32_t id = live.live[pick(rng)];
      live.Erase(id);
      victims.push_back(absl::StrCat(id));
    }
    const double t0 = Now();
    for (size_t off = 0; off < victims.size(); off += batch) {
      const std::vector<std::string> chunk(
          victims.begin() + off,
          victims.begin() + std::min(victims.size(), off + batch));
      QUIVER_ASSIGN_OR_RETURN(uint64_t n_del, cl->Delete(kStreamed, chunk));
      if (n_del != chunk.size()) {
        return absl::InternalError(absl::StrFormat(
            "Delete of %d live ids reported %d deleted", chunk.size(), n_del));
      }
    }
    deletes += want;
    std::printf(
        "\ndeleted %zu documents (half of the live set) in %.1f s; measured "
        "once the streamed collection is idle:\n",
        want, Now() - t0);
    header = false;
    Checkpoint c = checkpoint_now();
    QUIVER_RETURN_IF_ERROR(measure_checkpoint(c));
  }

  std::printf(
      "\nS = streamed collection, F = fresh collection (same live set, "
      "defaults, an explicit Train unless the automatic one covered the whole "
      "live set). np/rr = default nprobe/rerank, m_rec = "
      "server's measured_recall, recall = recall@10 of held-out queries vs "
      "exact top 10 of the live set, qps1/p50/p99 = 1 query/request, qpsB = "
      "%u queries/request, memMB = memory_bytes, rssMB = quiverd VmRSS "
      "(F: with both collections loaded), ingest/s = segment upsert rate "
      "(incl. deletes), wait_s = pause until not TRAINING, train = F's "
      "Train -> READY seconds (0 without one); d_rec = S-F recall, qpsR/qpsBR "
      "= S/F QPS.\n",
      absl::GetFlag(FLAGS_search_batch));

  if (probe && !results.empty()) {
    const Truth truth = ExactTruth(d, live, metric);
    Prober prober(cl.get(), d, truth);
    QUIVER_ASSIGN_OR_RETURN(v1::CollectionInfo before,
                            cl->GetCollection(kStreamed));
    prober.Start();
    absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_probe_steady_s)));
    const ProbeStats steady = prober.Stop();
    absl::Status ts = cl->Train(kStreamed).status();
    if (!ts.ok()) {
      std::printf("\nswap probe: Train failed: %s\n", ts.ToString().c_str());
    } else {
      const double t0 = Now();
      prober.Start();
      absl::StatusOr<v1::CollectionInfo> after =
          WaitIdle(cl.get(), kStreamed, before.train_generation() + 1);
      const double train_s = Now() - t0;
      absl::SleepFor(absl::Milliseconds(500));  // just after the swap
      const ProbeStats during = prober.Stop();
      QUIVER_RETURN_IF_ERROR(after.status());
      std::printf(
          "\nswap probe: explicit Train of the streamed collection (%zu "
          "live), generation %" PRIu64 " -> %" PRIu64
          ", %.1f s to READY (nlist %u -> %u, np/rr %u/%u -> %u/%u):\n",
          live.live.size(), before.train_generation(),
          after->train_generation(), train_s, before.index().nlist(),
          after->index().nlist(), before.index().nprobe(),
          before.index().rerank(), after->index().nprobe(),
          after->index().rerank());
      PrintProbe("steady:", steady);
      PrintProbe("during training+swap:", during);
      prober.PrintTimeline(absl::GetFlag(FLAGS_probe_timeline_ms));
      std::printf("  p99 during / steady = %.2f; failures %zu\n",
                  steady.p99_ms > 0 ? during.p99_ms / steady.p99_ms : 0,
                  steady.failures + during.failures);
    }
  }

  const std::string csv = absl::GetFlag(FLAGS_csv);
  if (!csv.empty()) WriteCsv(csv, d, results);
  cl.reset();
  const int st = daemon.Stop(SIGTERM);
  PrintTrainingLog(log_path);
  std::printf("quiverd stopped with SIGTERM (wait status 0x%x)\n", st);
  return absl::OkStatus();
}

}  // namespace
}  // namespace quiver::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Streamed (self-maintained) collection vs a fresh build of the same "
      "live set, through quiverd's gRPC API; see tests/bench/README.md");
  absl::ParseCommandLine(argc, argv);
  const absl::Status s = quiver::bench::Run();
  if (!s.ok()) {
    std::fprintf(stderr, "stream_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
