// filter_bench: filtered search with typed attributes, in-process and through
// gRPC, against FAISS IndexIVFPQ with an IDSelectorBatch of the same ids.
//
// For each data set (siftsmall, sift20k from --data_root; a seeded synthetic
// Gaussian mixture of --n x --dim) every document gets generated attributes:
//   cat    a string category with skewed frequencies: exactly 50%, 10%, 1%,
//          0.1% and 0.01% of the documents (at least one) hold "p50", "p10",
//          "p1", "p0.1", "p0.01"; the rest one of "o0".."o7" (Zipf),
//   price  a double, uniform in [0, 1000) in steps of 0.01,
//   tags   a tag list: "t0".."t7" held independently with probabilities
//          50%, 30%, 10%, 3%, 1%, 0.3%, 0.1%, 0.03% (absent when empty).
// The filters (text in the client's syntax, client/filter.h) are the
// category at each selectivity and mixed and / or / not / range / in
// expressions. Their matching documents come from the reference semantics
// (engine::Matches on each document), and the exact filtered top k from
// brute force over those documents only.
//
// Measured, one query per call on one thread, at the collection's defaults
// (nprobe = 0, rerank = 0), k = 10:
//   in-process  an engine CollectionRegistry on a temporary directory, a
//               collection with defaults, trained; Collection::Search with
//               SearchQuery.where; recall@10, QPS, short answers (fewer
//               than min(k, matching) hits), hits that do not match, and
//               the plan (strategy, nprobe). Also an unfiltered nprobe sweep
//               (for "the unfiltered QPS at the same recall") and, for
//               ivf-filtered plans, the unfiltered search at the plan's
//               nprobe (the cost of the filter itself).
//   gRPC        quiverd as a child process (127.0.0.1, free port), the
//               documents upserted through the client library, the same
//               queries with SearchRequest.where and explain = true; QPS on
//               the wall clock (client thread) and per server CPU second.
//   FAISS       IndexIVFPQ with the collection's nlist / pq_m / pq_bits,
//               trained on as many sampled vectors as the collection was,
//               searched with SearchParametersIVF{IDSelectorBatch of the
//               matching ids, nprobe}; an nprobe sweep reporting the
//               cheapest nprobe reaching --target_recall (else the best
//               recall), plain and with the k * rerank best re-scored
//               exactly (rerank = the collection's default).
// Speeds are reported, never asserted. See tests/bench/README.md.
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/impl/IDSelector.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/filter.h"
#include "common/status.h"
#include "index/flat_index.h"
#include "index/metric.h"
#include "server/convert.h"
#include "server/engine/attributes.h"
#include "server/engine/collection.h"
#include "server/engine/filter.h"
#include "server/engine/registry.h"
#include "tests/bench/bench_core.h"
#include "tests/bench/env_info.h"
#include "tests/bench/faiss_runner.h"
#include "tests/bench/quiverd_child.h"
#include "tests/bench/synthetic.h"
#include "tests/bench/vecs_io.h"

#ifndef QUIVER_BENCH_QUIVERD_PATH
#define QUIVER_BENCH_QUIVERD_PATH "quiverd"
#endif
#ifndef QUIVER_BENCH_SHARED_DATA
#define QUIVER_BENCH_SHARED_DATA "../shared/data"
#endif

ABSL_FLAG(std::vector<std::string>, datasets,
          std::vector<std::string>({"siftsmall", "sift20k", "synthetic"}),
          "data sets: siftsmall, sift20k (in --data_root), synthetic");
ABSL_FLAG(std::string, data_root, QUIVER_BENCH_SHARED_DATA,
          "where siftsmall / sift20k live");
ABSL_FLAG(uint64_t, n, 200000,
          "synthetic: vectors (1000000 for the full-size run)");
ABSL_FLAG(uint32_t, dim, 96, "synthetic: dimension");
ABSL_FLAG(uint32_t, clusters, 0,
          "synthetic: mixture components (0 = n/1000, clamped to 16..1000)");
ABSL_FLAG(uint64_t, seed, 1, "synthetic vectors and the attributes");
ABSL_FLAG(uint32_t, queries, 200,
          "queries (files: at most the query file's rows)");
ABSL_FLAG(uint32_t, k, 10, "neighbours per query (recall@k)");
ABSL_FLAG(std::vector<std::string>, filters, {},
          "only these filters, by name (default: all; see the table)");
ABSL_FLAG(bool, inprocess, true, "measure the engine in-process");
ABSL_FLAG(bool, grpc, true, "measure through quiverd's gRPC API");
ABSL_FLAG(bool, faiss, true, "measure FAISS IndexIVFPQ + IDSelectorBatch");
ABSL_FLAG(double, target_recall, 0.95,
          "FAISS sweeps: the cheapest nprobe reaching this recall@k");
ABSL_FLAG(double, min_time_s, 0.3,
          "each timed measurement repeats the queries for at least this long");
ABSL_FLAG(std::string, clock, "cpu",
          "in-process and FAISS timing: cpu (the searching thread's CPU "
          "time; for shared, busy machines) or wall");
ABSL_FLAG(int, train_threads, 2,
          "threads for trainings (engine, quiverd, FAISS)");
ABSL_FLAG(int, faiss_train_threads, 1,
          "threads for the FAISS training (OpenMP; on a busy machine one "
          "thread avoids OpenMP's spinning barriers)");
ABSL_FLAG(uint32_t, faiss_nlist, 0,
          "FAISS nlist (0 = the collection's; needed with --inprocess=false)");
ABSL_FLAG(uint32_t, faiss_m, 0, "FAISS pq m (0 = the collection's)");
ABSL_FLAG(uint32_t, faiss_nbits, 0, "FAISS pq bits (0 = the collection's)");
ABSL_FLAG(uint32_t, faiss_rerank, 0,
          "re-rank factor of the Fr rows (0 = the collection's default)");
ABSL_FLAG(std::string, quiverd, QUIVER_BENCH_QUIVERD_PATH, "quiverd binary");
ABSL_FLAG(std::string, tmp, "/tmp", "parent of the temporary data directories");
ABSL_FLAG(std::string, csv, "", "optional CSV output path");
ABSL_FLAG(std::string, server_log, "",
          "keep quiverd's log here (default: in the temporary directory)");

namespace quiver::bench {
namespace {

namespace v1 = ::quiver::v1;
using FaissIdx = faiss::Index::idx_t;

constexpr char kCollection[] = "filtered";

// ---- Data ------------------------------------------------------------------

struct Data {
  std::string name;   // siftsmall, sift20k, synthetic
  std::string about;  // where it came from
  size_t n = 0, dim = 0, nq = 0;
  std::vector<float> base;                // n * dim
  std::vector<float> queries;             // nq * dim
  std::vector<engine::Attributes> attrs;  // n
};

absl::StatusOr<std::string> FindFile(const std::string& dir,
                                     const std::string& suffix) {
  std::error_code ec;
  std::vector<std::string> found;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (absl::EndsWith(name, suffix)) found.push_back(e.path().string());
  }
  if (ec) return absl::NotFoundError(absl::StrCat("cannot list ", dir));
  std::sort(found.begin(), found.end());
  if (found.empty()) {
    return absl::NotFoundError(absl::StrFormat("no *%s in %s", suffix, dir));
  }
  return found[0];
}

// OK with d->n == 0 when a file data set is absent (skipped).
absl::Status LoadVectors(const std::string& name, Data* d) {
  d->name = name;
  const size_t want_q = absl::GetFlag(FLAGS_queries);
  if (name == "synthetic") {
    d->n = absl::GetFlag(FLAGS_n);
    d->dim = absl::GetFlag(FLAGS_dim);
    size_t clusters = absl::GetFlag(FLAGS_clusters);
    if (clusters == 0) clusters = std::clamp<size_t>(d->n / 1000, 16, 1000);
    const uint64_t seed = absl::GetFlag(FLAGS_seed);
    SyntheticMixture mix(d->dim, clusters, seed);
    d->base = mix.Generate(kBaseStream, 0, d->n);
    d->nq = want_q;
    d->queries = mix.Generate(kQueryStream, 0, d->nq);
    d->about = absl::StrFormat("synthetic n=%d dim=%d clusters=%d seed=%d",
                               d->n, d->dim, clusters, seed);
    return absl::OkStatus();
  }
  if (name != "siftsmall" && name != "sift20k") {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown data set '", name, "' (siftsmall, sift20k or synthetic)"));
  }
  const std::string dir = absl::GetFlag(FLAGS_data_root) + "/" + name;
  if (!std::filesystem::is_directory(dir)) {
    std::printf(
        "filter_bench: data set '%s' not found (no directory %s); "
        "skipped\n",
        name.c_str(), dir.c_str());
    return absl::OkStatus();
  }
  QUIVER_ASSIGN_OR_RETURN(const std::string base_path,
                          FindFile(dir, "base.fvecs"));
  QUIVER_ASSIGN_OR_RETURN(const std::string query_path,
                          FindFile(dir, "query.fvecs"));
  QUIVER_ASSIGN_OR_RETURN(VecsMatrix<float> base, ReadFloatVecs(base_path));
  QUIVER_ASSIGN_OR_RETURN(VecsMatrix<float> q,
                          ReadFloatVecs(query_path, want_q));
  if (q.dim != base.dim) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s has dimension %d, %s %d", query_path, q.dim, base_path, base.dim));
  }
  d->n = base.rows;
  d->dim = base.dim;
  d->base = std::move(base.data);
  d->nq = q.rows;
  d->queries = std::move(q.data);
  d->about = absl::StrFormat("%s (%d x %d), %d queries from %s", base_path,
                             d->n, d->dim, d->nq, query_path);
  return absl::OkStatus();
}

// The generated attributes (see the file comment).
void GenerateAttributes(Data* d) {
  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed) * 0x9e3779b97f4a7c15ULL + 17);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<std::string> cat(d->n);
  std::vector<uint32_t> perm(d->n);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  static const std::pair<const char*, double> kShares[] = {{"p50", 0.5},
                                                           {"p10", 0.1},
                                                           {"p1", 0.01},
                                                           {"p0.1", 0.001},
                                                           {"p0.01", 0.0001}};
  size_t next = 0;
  for (const auto& [name, share] : kShares) {
    const size_t count = std::max<size_t>(
        1,
        static_cast<size_t>(std::llround(share * static_cast<double>(d->n))));
    for (size_t j = 0; j < count && next < d->n; ++j) cat[perm[next++]] = name;
  }
  // The rest: "o0".."o7" with Zipf weights 1/(j+1).
  std::vector<double> cum;
  double total = 0;
  for (int j = 0; j < 8; ++j) cum.push_back(total += 1.0 / (j + 1));
  for (; next < d->n; ++next) {
    const double r = u(rng) * total;
    const size_t j = std::lower_bound(cum.begin(), cum.end(), r) - cum.begin();
    cat[perm[next]] = absl::StrCat("o", std::min<size_t>(j, 7));
  }
  static const double kTagP[] = {0.5,  0.3,   0.1,   0.03,
                                 0.01, 0.003, 0.001, 0.0003};
  d->attrs.resize(d->n);
  for (size_t i = 0; i < d->n; ++i) {
    engine::Attributes a;
    a.emplace_back("cat", cat[i]);
    a.emplace_back("price", std::floor(u(rng) * 100000) / 100);
    engine::Tags tags;
    for (int t = 0; t < 8; ++t) {
      if (u(rng) < kTagP[t]) tags.push_back(absl::StrCat("t", t));
    }
    if (!tags.empty()) a.emplace_back("tags", std::move(tags));
    d->attrs[i] = engine::SortedAttributes(std::move(a));
  }
}

// ---- Filters and exact filtered ground truth --------------------------------

struct FilterCase {
  std::string name;
  std::string text;  // "" = no filter
  v1::Filter proto;
  std::optional<engine::Filter> filter;
  std::vector<uint8_t> match;  // per document
  std::vector<uint32_t> ids;   // matching documents, ascending
  // Per query: the exact top min(k, matching) ids and the k-th distance.
  std::vector<std::vector<uint32_t>> gt;
  std::vector<float> kth;
  double selectivity() const {
    return match.empty() ? 0 : 1.0 * ids.size() / match.size();
  }
};

const std::vector<std::pair<std::string, std::string>>& FilterTexts() {
  static const auto* kFilters =
      new std::vector<std::pair<std::string, std::string>>{
          {"none", ""},
          {"cat=50%", R"(cat = "p50")"},
          {"cat=10%", R"(cat = "p10")"},
          {"cat=1%", R"(cat = "p1")"},
          {"cat=0.1%", R"(cat = "p0.1")"},
          {"cat=0.01%", R"(cat = "p0.01")"},
          {"all(100%)", "price >= 0"},
          {"ne", R"(cat != "p50")"},
          {"range", "price >= 100 and price < 200"},
          {"range-narrow", "price >= 500 and price < 501"},
          // The same as one Range message with both bounds (the text
          // syntax makes one half-open Range per comparison).
          {"range/1node", "price >= 100 and price < 200"},
          {"narrow/1node", "price >= 500 and price < 501"},
          {"and3", R"(cat = "p50" and tags contains "t1" and price < 200)"},
          {"or", R"(cat = "p0.1" or tags contains "t6")"},
          {"not-and", R"(not cat = "p50" and tags contains "t2")"},
          {"in-range", R"(cat in ["p10", "p1"] and price >= 990)"},
          {"tag-or-range",
           R"(tags contains "t3" and (price < 50 or price >= 950))"},
      };
  return *kFilters;
}

float L2Sq(const float* a, const float* b, size_t dim) {
  float s = 0;
  for (size_t j = 0; j < dim; ++j) {
    const float t = a[j] - b[j];
    s += t * t;
  }
  return s;
}

// An `all` of ranges on one key becomes one Range with every bound.
void MergeRanges(v1::Filter* f) {
  if (f->op_case() != v1::Filter::kAll) return;
  v1::Range merged;
  for (const v1::Filter& c : f->all().filters()) {
    if (c.op_case() != v1::Filter::kRange ||
        (!merged.key().empty() && c.range().key() != merged.key())) {
      return;
    }
    merged.MergeFrom(c.range());
  }
  *f->mutable_range() = std::move(merged);
}

absl::Status PrepareFilter(const Data& d, size_t k, FilterCase* f) {
  f->match.assign(d.n, 1);
  if (!f->text.empty()) {
    QUIVER_ASSIGN_OR_RETURN(f->proto, client::ParseFilter(f->text));
    if (absl::EndsWith(f->name, "/1node")) MergeRanges(&f->proto);
    QUIVER_ASSIGN_OR_RETURN(engine::Filter ef, server::FromProto(f->proto));
    QUIVER_RETURN_IF_ERROR(engine::ValidateFilter(ef));
    for (size_t i = 0; i < d.n; ++i) {
      f->match[i] = engine::Matches(ef, d.attrs[i]) ? 1 : 0;
    }
    f->filter = std::move(ef);
  }
  for (size_t i = 0; i < d.n; ++i) {
    if (f->match[i]) f->ids.push_back(static_cast<uint32_t>(i));
  }
  std::vector<float> sub(f->ids.size() * d.dim);
  for (size_t j = 0; j < f->ids.size(); ++j) {
    std::copy_n(&d.base[static_cast<size_t>(f->ids[j]) * d.dim], d.dim,
                &sub[j * d.dim]);
  }
  f->gt.assign(d.nq, {});
  f->kth.assign(d.nq, 0);
  if (f->ids.empty()) return absl::OkStatus();
  const auto exact = index::FlatIndex::BruteForce(
      index::Metric::kL2, sub.data(), f->ids.size(), d.queries.data(), d.nq,
      d.dim, k);
  for (size_t q = 0; q < d.nq; ++q) {
    for (const index::Neighbor& nb : exact[q]) {
      const uint32_t id = f->ids[nb.id];
      f->gt[q].push_back(id);
      f->kth[q] = std::max(f->kth[q], L2Sq(&d.queries[q * d.dim],
                                           &d.base[size_t{id} * d.dim], d.dim));
    }
  }
  return absl::OkStatus();
}

// recall@k of one answer (ids, -1 = none) with ties: a matching hit counts
// when it is in the exact top k or no farther than its k-th neighbour.
struct Score {
  double recall_sum = 0;
  size_t queries = 0;
  size_t short_answers = 0;  // fewer than min(k, matching) hits
  size_t violations = 0;     // hits that do not match the filter
  double recall() const { return queries ? recall_sum / queries : 0; }
};

void ScoreAnswer(const Data& d, const FilterCase& f, size_t q,
                 const std::vector<int64_t>& found, Score* s) {
  const std::vector<uint32_t>& gt = f.gt[q];
  absl::flat_hash_set<int64_t> seen;
  size_t valid = 0, correct = 0;
  for (int64_t id : found) {
    if (id < 0 || static_cast<size_t>(id) >= d.n || !seen.insert(id).second) {
      continue;
    }
    if (!f.match[id]) {
      ++s->violations;
      continue;
    }
    ++valid;
    const bool in_gt = std::find(gt.begin(), gt.end(), id) != gt.end();
    const float dist = L2Sq(&d.queries[q * d.dim], &d.base[id * d.dim], d.dim);
    if (in_gt || dist <= f.kth[q] * (1 + 1e-5f)) ++correct;
  }
  ++s->queries;
  if (valid < gt.size()) ++s->short_answers;
  s->recall_sum +=
      gt.empty()
          ? 1.0
          : static_cast<double>(std::min(correct, gt.size())) / gt.size();
}

// ---- Timing -----------------------------------------------------------------

bool CpuClock() { return absl::GetFlag(FLAGS_clock) == "cpu"; }

// Runs one(i) for every query, repeated until --min_time_s; QPS.
template <typename Fn>
double TimeQps(size_t nq, bool cpu, Fn&& one) {
  auto now = cpu ? ThreadCpuSeconds : NowSeconds;
  const double min_time = absl::GetFlag(FLAGS_min_time_s);
  size_t done = 0;
  double spent = 0;
  do {
    const double t0 = now();
    for (size_t i = 0; i < nq; ++i) one(i);
    spent += now() - t0;
    done += nq;
  } while (spent < min_time);
  return spent > 0 ? done / spent : 0;
}

// ---- Results ----------------------------------------------------------------

struct Measured {
  bool present = false;
  std::string plan;  // strategy
  uint32_t nprobe = 0, rerank = 0;
  double recall = 0;
  size_t short_answers = 0, violations = 0;
  double qps = 0;
  double server_cpu_qps = 0;  // gRPC: queries per server CPU second
  std::string detail;
};

struct Sweep {
  size_t nprobe = 0;
  Measured m;
};

struct FilterResult {
  Measured inproc, grpc;
  double inproc_unf_same_np_qps = 0;  // unfiltered at the plan's nprobe
  double inproc_exact_qps = 0;        // SearchQuery.exact: exact-filtered
  Measured faiss, faiss_rr;           // the chosen sweep points
  std::vector<Sweep> faiss_sweep, faiss_rr_sweep;
};

struct DatasetResult {
  std::string name;
  size_t n = 0, dim = 0, nq = 0;
  uint32_t nlist = 0, pq_m = 0, pq_bits = 0, def_nprobe = 0, def_rerank = 0;
  uint64_t train_size = 0;
  std::vector<FilterCase> filters;
  std::vector<FilterResult> results;
  std::vector<Sweep> unf_sweep;  // in-process, unfiltered, nprobe sweep
};

// The unfiltered in-process QPS at recall r: log-linear between the sweep
// points around r; 0 when r is beyond the sweep's best recall.
double UnfilteredQpsAtRecall(const std::vector<Sweep>& sweep, double r) {
  if (sweep.empty()) return 0;
  if (r <= sweep.front().m.recall) return sweep.front().m.qps;
  for (size_t i = 1; i < sweep.size(); ++i) {
    const Measured& a = sweep[i - 1].m;
    const Measured& b = sweep[i].m;
    if (r <= b.recall) {
      if (b.recall <= a.recall) return b.qps;
      const double t = (r - a.recall) / (b.recall - a.recall);
      return std::exp(std::log(a.qps) +
                      t * (std::log(b.qps) - std::log(a.qps)));
    }
  }
  return 0;
}

// The unfiltered in-process QPS at the first sweep point of its best recall.
double UnfilteredQpsAtBest(const std::vector<Sweep>& sweep) {
  const Sweep* best = nullptr;
  for (const Sweep& s : sweep) {
    if (best == nullptr || s.m.recall > best->m.recall) best = &s;
  }
  return best ? best->m.qps : 0;
}

// ---- In-process -------------------------------------------------------------

absl::StatusOr<Measured> MeasureEngine(const engine::Collection& c,
                                       const Data& d, const FilterCase& f,
                                       size_t k, uint32_t nprobe,
                                       bool use_filter, bool exact = false) {
  engine::SearchQuery sq;
  sq.nq = 1;
  sq.k = k;
  sq.nprobe = nprobe;
  sq.exact = exact;
  if (use_filter) sq.where = f.filter;
  Measured m;
  m.present = true;
  Score score;
  uint64_t nprobe_sum = 0;
  for (size_t q = 0; q < d.nq; ++q) {
    sq.queries = &d.queries[q * d.dim];
    engine::SearchPlan plan;
    QUIVER_ASSIGN_OR_RETURN(auto hits, c.Search(sq, &plan));
    std::vector<int64_t> ids;
    for (const engine::SearchHit& h : hits[0]) {
      int64_t id = -1;
      if (!absl::SimpleAtoi(h.id, &id)) id = -1;
      ids.push_back(id);
    }
    ScoreAnswer(d, f, q, ids, &score);
    if (m.plan.empty()) {
      m.plan = plan.strategy;
      m.detail = plan.detail;
    } else if (m.plan != plan.strategy &&
               !absl::StrContains(m.plan, plan.strategy)) {
      m.plan = absl::StrCat(m.plan, "+", plan.strategy);
    }
    m.nprobe = std::max(m.nprobe, plan.nprobe);
    m.rerank = plan.rerank;
    nprobe_sum += plan.nprobe;
  }
  m.recall = score.recall();
  m.short_answers = score.short_answers;
  m.violations = score.violations;
  absl::Status failed;
  m.qps = TimeQps(d.nq, CpuClock(), [&](size_t q) {
    sq.queries = &d.queries[q * d.dim];
    auto r = c.Search(sq);
    if (!r.ok() && failed.ok()) failed = r.status();
  });
  QUIVER_RETURN_IF_ERROR(failed);
  return m;
}

absl::Status RunInProcess(const Data& d, const std::string& tmp, size_t k,
                          DatasetResult* out) {
  engine::RegistryOptions ro;
  ro.store.path = tmp + "/engine";
  ro.collection.train_threads = absl::GetFlag(FLAGS_train_threads);
  QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<engine::CollectionRegistry> reg,
                          engine::CollectionRegistry::Open(ro));
  engine::CollectionConfig cfg;
  cfg.name = kCollection;
  cfg.dimension = static_cast<uint32_t>(d.dim);
  cfg.metric = index::Metric::kL2;
  QUIVER_ASSIGN_OR_RETURN(std::shared_ptr<engine::Collection> c,
                          reg->Create(cfg));
  SetComputeThreads(absl::GetFlag(FLAGS_train_threads));  // training
  const double t0 = NowSeconds();
  for (size_t b = 0; b < d.n; b += 5000) {
    std::vector<engine::DocumentInput> docs;
    for (size_t i = b; i < std::min(d.n, b + 5000); ++i) {
      engine::DocumentInput doc;
      doc.id = absl::StrCat(i);
      doc.vector.assign(d.base.begin() + i * d.dim,
                        d.base.begin() + (i + 1) * d.dim);
      doc.attributes = d.attrs[i];
      docs.push_back(std::move(doc));
    }
    QUIVER_RETURN_IF_ERROR(c->Upsert(std::move(docs)).status());
  }
  const double t1 = NowSeconds();
  c->WaitForTraining();
  if (c->Status().state == engine::TrainState::kUntrained) {
    QUIVER_RETURN_IF_ERROR(c->StartTraining(std::nullopt));
  }
  for (int i = 0; i < 5; ++i) {
    c->WaitForTraining();
    if (c->Status().state == engine::TrainState::kReady) break;
  }
  SetComputeThreads(1);  // searches
  const engine::CollectionStatus st = c->Status();
  if (st.state != engine::TrainState::kReady) {
    return absl::InternalError(
        absl::StrCat("in-process collection not READY: ", st.last_error));
  }
  out->nlist = st.config.index.nlist;
  out->pq_m = st.config.index.pq_m;
  out->pq_bits = st.config.index.pq_bits == 0 ? 8 : st.config.index.pq_bits;
  out->def_nprobe = st.config.index.nprobe;
  out->def_rerank = st.config.index.rerank;
  out->train_size = st.config.index.train_size;
  std::printf(
      "in-process: %zu documents upserted in %.1f s, trained in %.1f s more "
      "(%s): nlist %u, pq_m %u x %u bits, train_size %" PRIu64
      ", default nprobe %u rerank %u, measured recall %.3f\n",
      d.n, t1 - t0, NowSeconds() - t1, st.last_training_reason.c_str(),
      out->nlist, out->pq_m, out->pq_bits, out->train_size, out->def_nprobe,
      out->def_rerank, st.maintenance.measured_recall);
  std::fflush(stdout);

  // Unfiltered nprobe sweep (powers of two up to nlist, until recall >=
  // 0.995).
  const FilterCase& none = out->filters[0];
  for (size_t np = 1;; np = std::min<size_t>(np * 2, out->nlist)) {
    QUIVER_ASSIGN_OR_RETURN(
        Measured m,
        MeasureEngine(*c, d, none, k, static_cast<uint32_t>(np), false));
    out->unf_sweep.push_back({np, m});
    if (m.recall >= 0.995 || np >= out->nlist) break;
  }
  std::printf("  in-process unfiltered sweep (nprobe recall/qps):");
  for (const Sweep& s : out->unf_sweep) {
    std::printf("  %zu %.4f/%.0f", s.nprobe, s.m.recall, s.m.qps);
  }
  std::printf("\n");
  for (size_t fi = 0; fi < out->filters.size(); ++fi) {
    const FilterCase& f = out->filters[fi];
    FilterResult& r = out->results[fi];
    QUIVER_ASSIGN_OR_RETURN(
        r.inproc, MeasureEngine(*c, d, f, k, 0, f.filter.has_value()));
    if (r.inproc.plan == "ivf-filtered") {
      QUIVER_ASSIGN_OR_RETURN(
          Measured same,
          MeasureEngine(*c, d, out->filters[0], k, r.inproc.nprobe, false));
      r.inproc_unf_same_np_qps = same.qps;
      std::printf("  in-process %-13s unfiltered at nprobe %u: qps %.0f\n",
                  f.name.c_str(), r.inproc.nprobe, same.qps);
    }
    // The other plan, forced: brute force over the matching documents.
    QUIVER_ASSIGN_OR_RETURN(Measured exact,
                            MeasureEngine(*c, d, f, k, 0, f.filter.has_value(),
                                          /*exact=*/true));
    r.inproc_exact_qps = exact.qps;
    std::printf(
        "  in-process %-13s %8.4f%%  %-15s np %4u  recall %.4f  "
        "qps %8.0f  (exact-filtered forced: %8.0f)  short %zu  bad %zu\n",
        f.name.c_str(), 100 * f.selectivity(), r.inproc.plan.c_str(),
        r.inproc.nprobe, r.inproc.recall, r.inproc.qps, r.inproc_exact_qps,
        r.inproc.short_answers, r.inproc.violations);
    std::fflush(stdout);
  }
  c.reset();
  return reg->Shutdown();
}

// ---- gRPC -------------------------------------------------------------------

absl::Status RunGrpc(const Data& d, const std::string& tmp, size_t k,
                     DatasetResult* out) {
  std::string log_path = absl::GetFlag(FLAGS_server_log);
  if (log_path.empty()) log_path = tmp + "/quiverd.log";
  QuiverdChild daemon;
  QuiverdChildOptions qo;
  qo.binary = absl::GetFlag(FLAGS_quiverd);
  qo.data_dir = tmp + "/quiverd";
  qo.log_path = log_path;
  qo.append_log = true;
  qo.extra_args = {
      absl::StrCat("--train_threads=", absl::GetFlag(FLAGS_train_threads))};
  if (absl::Status s = daemon.Start(qo); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat(s.message(), "; log ", log_path));
  }
  client::ClientOptions co;
  co.address = daemon.address();
  co.timeout = absl::Seconds(600);
  QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<client::QuiverClient> cl,
                          client::QuiverClient::Connect(co));
  if (!cl->WaitForConnected(absl::Seconds(30))) {
    return absl::UnavailableError("could not connect to quiverd");
  }
  v1::CreateCollectionRequest create;
  create.set_name(kCollection);
  create.set_dimension(static_cast<uint32_t>(d.dim));
  create.set_metric(v1::METRIC_L2);
  QUIVER_RETURN_IF_ERROR(cl->CreateCollection(create).status());
  const double t0 = NowSeconds();
  for (size_t b = 0; b < d.n; b += 20000) {
    std::vector<v1::Document> docs;
    for (size_t i = b; i < std::min(d.n, b + 20000); ++i) {
      v1::Document doc;
      doc.set_id(absl::StrCat(i));
      doc.mutable_vector()->Add(d.base.begin() + i * d.dim,
                                d.base.begin() + (i + 1) * d.dim);
      server::ToProto(d.attrs[i], doc.mutable_attributes(),
                      doc.mutable_typed_attributes());
      docs.push_back(std::move(doc));
    }
    QUIVER_ASSIGN_OR_RETURN(client::UpsertResult ur,
                            cl->Upsert(kCollection, docs, 1000, 4));
    if (!ur.errors.empty() || ur.upserted != docs.size()) {
      return absl::InternalError(absl::StrFormat(
          "gRPC upsert: %d of %d stored, first error %s", ur.upserted,
          docs.size(), ur.errors.empty() ? "-" : ur.errors[0].reason()));
    }
  }
  const double t1 = NowSeconds();
  QUIVER_ASSIGN_OR_RETURN(v1::CollectionInfo info,
                          cl->GetCollection(kCollection));
  if (info.state() == v1::COLLECTION_STATE_UNTRAINED) {
    QUIVER_RETURN_IF_ERROR(cl->Train(kCollection).status());
  }
  QUIVER_ASSIGN_OR_RETURN(info,
                          cl->WaitReady(kCollection, absl::Seconds(3600)));
  std::printf(
      "gRPC: %zu documents upserted in %.1f s, READY %.1f s later (%s): "
      "nlist %u, pq_m %u, default nprobe %u rerank %u, measured recall %.3f\n",
      d.n, t1 - t0, NowSeconds() - t1, info.last_training_reason().c_str(),
      info.index().nlist(), info.index().pq_m(), info.index().nprobe(),
      info.index().rerank(), info.measured_recall());
  std::fflush(stdout);

  for (size_t fi = 0; fi < out->filters.size(); ++fi) {
    const FilterCase& f = out->filters[fi];
    std::vector<v1::SearchRequest> reqs(d.nq);
    for (size_t q = 0; q < d.nq; ++q) {
      v1::SearchRequest& r = reqs[q];
      r.set_collection(kCollection);
      r.set_k(static_cast<uint32_t>(k));
      r.set_explain(true);
      r.add_queries()->mutable_values()->Add(
          d.queries.begin() + q * d.dim, d.queries.begin() + (q + 1) * d.dim);
      if (f.filter) *r.mutable_where() = f.proto;
    }
    Measured m;
    m.present = true;
    Score score;
    for (size_t q = 0; q < d.nq; ++q) {
      QUIVER_ASSIGN_OR_RETURN(v1::SearchResponse resp, cl->Search(reqs[q]));
      std::vector<int64_t> ids;
      for (const v1::Hit& h : resp.results(0).hits()) {
        int64_t id = -1;
        if (!absl::SimpleAtoi(h.id(), &id)) id = -1;
        ids.push_back(id);
      }
      ScoreAnswer(d, f, q, ids, &score);
      const std::string& s = resp.plan().strategy();
      if (m.plan.empty()) {
        m.plan = s;
        m.detail = resp.plan().detail();
      } else if (!absl::StrContains(m.plan, s)) {
        m.plan = absl::StrCat(m.plan, "+", s);
      }
      m.nprobe = std::max(m.nprobe, resp.plan().nprobe());
      m.rerank = resp.plan().rerank();
    }
    m.recall = score.recall();
    m.short_answers = score.short_answers;
    m.violations = score.violations;
    absl::Status failed;
    const double cpu0 = ProcessCpuSeconds(daemon.pid());
    size_t sent = 0;
    m.qps = TimeQps(d.nq, /*cpu=*/false, [&](size_t q) {
      ++sent;
      auto r = cl->Search(reqs[q]);
      if (!r.ok() && failed.ok()) failed = r.status();
    });
    const double cpu = ProcessCpuSeconds(daemon.pid()) - cpu0;
    m.server_cpu_qps = cpu > 0 ? sent / cpu : 0;
    QUIVER_RETURN_IF_ERROR(failed);
    out->results[fi].grpc = m;
    std::printf(
        "  gRPC       %-13s %8.4f%%  %-15s np %4u  recall %.4f  "
        "qps %8.0f  (per server CPU s %8.0f)  short %zu  bad %zu\n",
        f.name.c_str(), 100 * f.selectivity(), m.plan.c_str(), m.nprobe,
        m.recall, m.qps, m.server_cpu_qps, m.short_answers, m.violations);
    std::fflush(stdout);
  }
  cl.reset();
  daemon.Stop(SIGTERM);
  return absl::OkStatus();
}

// ---- FAISS ------------------------------------------------------------------

// Searches with the selector (nullptr = none) at nprobe; with rerank > 0 the
// k * rerank best by PQ distance are re-scored exactly.
class FaissFiltered {
 public:
  FaissFiltered(const faiss::IndexIVFPQ* index, const Data& d, size_t k)
      : index_(index), d_(d), k_(k) {}

  void Search(const float* q, const faiss::IDSelector* sel, size_t nprobe,
              size_t rerank, std::vector<int64_t>* out) {
    const size_t kk = rerank > 0 ? k_ * rerank : k_;
    dist_.resize(kk);
    labels_.resize(kk);
    faiss::SearchParametersIVF p;
    p.sel = const_cast<faiss::IDSelector*>(sel);
    p.nprobe = nprobe;
    index_->search(1, q, static_cast<FaissIdx>(kk), dist_.data(),
                   labels_.data(), &p);
    out->clear();
    if (rerank == 0) {
      for (FaissIdx l : labels_) out->push_back(l);
      return;
    }
    cand_.clear();
    for (FaissIdx l : labels_) {
      if (l < 0) continue;
      cand_.emplace_back(
          L2Sq(q, &d_.base[static_cast<size_t>(l) * d_.dim], d_.dim), l);
    }
    const size_t keep = std::min(k_, cand_.size());
    std::partial_sort(cand_.begin(), cand_.begin() + keep, cand_.end());
    for (size_t i = 0; i < keep; ++i) out->push_back(cand_[i].second);
  }

 private:
  const faiss::IndexIVFPQ* index_;
  const Data& d_;
  size_t k_;
  std::vector<float> dist_;
  std::vector<FaissIdx> labels_;
  std::vector<std::pair<float, int64_t>> cand_;
};

absl::Status RunFaiss(const Data& d, size_t k, DatasetResult* out) {
  if (absl::GetFlag(FLAGS_faiss_nlist) != 0) {
    out->nlist = absl::GetFlag(FLAGS_faiss_nlist);
  }
  if (absl::GetFlag(FLAGS_faiss_m) != 0)
    out->pq_m = absl::GetFlag(FLAGS_faiss_m);
  if (absl::GetFlag(FLAGS_faiss_nbits) != 0) {
    out->pq_bits = absl::GetFlag(FLAGS_faiss_nbits);
  }
  if (out->pq_bits == 0) out->pq_bits = 8;
  if (absl::GetFlag(FLAGS_faiss_rerank) != 0) {
    out->def_rerank = absl::GetFlag(FLAGS_faiss_rerank);
  }
  if (out->nlist == 0 || out->pq_m == 0) {
    return absl::FailedPreconditionError(
        "FAISS needs nlist / pq_m: run with --inprocess or set --faiss_nlist "
        "and --faiss_m");
  }
  SetComputeThreads(std::max(1, absl::GetFlag(FLAGS_faiss_train_threads)));
  auto* quantizer = new faiss::IndexFlatL2(static_cast<FaissIdx>(d.dim));
  faiss::IndexIVFPQ index(quantizer, d.dim, out->nlist, out->pq_m,
                          out->pq_bits);
  index.own_fields = true;
  index.cp.niter = 20;
  index.cp.seed = 1234;
  index.pq.cp.niter = 20;
  index.pq.cp.seed = 1234;
  const size_t nt =
      out->train_size ? std::min<size_t>(out->train_size, d.n) : d.n;
  std::vector<float> train(nt * d.dim);
  {
    std::vector<uint32_t> rows(d.n);
    std::iota(rows.begin(), rows.end(), 0);
    std::mt19937_64 rng(1234);
    std::shuffle(rows.begin(), rows.end(), rng);
    for (size_t i = 0; i < nt; ++i) {
      std::copy_n(&d.base[static_cast<size_t>(rows[i]) * d.dim], d.dim,
                  &train[i * d.dim]);
    }
  }
  const double t0 = NowSeconds();
  try {
    index.train(static_cast<FaissIdx>(nt), train.data());
    index.add(static_cast<FaissIdx>(d.n), d.base.data());
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("FAISS build: ", e.what()));
  }
  std::printf("FAISS IVF%u,PQ%ux%u: trained on %zu and filled in %.1f s\n",
              out->nlist, out->pq_m, out->pq_bits, nt, NowSeconds() - t0);
  std::fflush(stdout);
  SetComputeThreads(1);

  const double target = absl::GetFlag(FLAGS_target_recall);
  FaissFiltered searcher(&index, d, k);
  std::vector<int64_t> found;
  for (size_t fi = 0; fi < out->filters.size(); ++fi) {
    const FilterCase& f = out->filters[fi];
    FilterResult& r = out->results[fi];
    std::unique_ptr<faiss::IDSelectorBatch> sel;
    if (f.filter) {
      const std::vector<FaissIdx> ids(f.ids.begin(), f.ids.end());
      sel = std::make_unique<faiss::IDSelectorBatch>(ids.size(), ids.data());
    }
    for (size_t rerank :
         {size_t{0}, size_t{std::max<uint32_t>(1, out->def_rerank)}}) {
      std::vector<Sweep>& sweep =
          rerank == 0 ? r.faiss_sweep : r.faiss_rr_sweep;
      Measured& chosen = rerank == 0 ? r.faiss : r.faiss_rr;
      for (size_t np = 1;; np = std::min<size_t>(np * 2, out->nlist)) {
        Measured m;
        m.present = true;
        m.plan = sel ? "IDSelectorBatch" : "unfiltered";
        m.nprobe = static_cast<uint32_t>(np);
        m.rerank = static_cast<uint32_t>(rerank);
        Score score;
        try {
          for (size_t q = 0; q < d.nq; ++q) {
            searcher.Search(&d.queries[q * d.dim], sel.get(), np, rerank,
                            &found);
            ScoreAnswer(d, f, q, found, &score);
          }
          m.recall = score.recall();
          m.short_answers = score.short_answers;
          m.violations = score.violations;
          m.qps = TimeQps(d.nq, CpuClock(), [&](size_t q) {
            searcher.Search(&d.queries[q * d.dim], sel.get(), np, rerank,
                            &found);
          });
        } catch (const std::exception& e) {
          return absl::InternalError(absl::StrCat("FAISS search: ", e.what()));
        }
        sweep.push_back({np, m});
        if (m.recall >= target || np >= out->nlist) break;
      }
      // The cheapest point reaching the target, else the best recall.
      const Sweep* best = nullptr;
      for (const Sweep& s : sweep) {
        if (s.m.recall >= target) {
          best = &s;
          break;
        }
        if (best == nullptr || s.m.recall > best->m.recall) best = &s;
      }
      chosen = best->m;
    }
    std::printf(
        "  FAISS      %-13s %8.4f%%  np %4u recall %.4f qps %8.0f | "
        "rerank %u: np %4u recall %.4f qps %8.0f\n",
        f.name.c_str(), 100 * f.selectivity(), r.faiss.nprobe, r.faiss.recall,
        r.faiss.qps, r.faiss_rr.rerank, r.faiss_rr.nprobe, r.faiss_rr.recall,
        r.faiss_rr.qps);
    std::fflush(stdout);
  }
  return absl::OkStatus();
}

// ---- Report -----------------------------------------------------------------

std::string Ratio(double a, double b) {
  return (a > 0 && b > 0) ? absl::StrFormat("%.2f", a / b) : "-";
}

void PrintDataset(const DatasetResult& r, size_t k) {
  const FilterResult& unf = r.results[0];
  std::printf(
      "\n== %s: %zu x %zu, %zu queries, k=%zu; collection nlist %u, PQ%ux%u, "
      "default nprobe %u rerank %u ==\n",
      r.name.c_str(), r.n, r.dim, r.nq, k, r.nlist, r.pq_m, r.pq_bits,
      r.def_nprobe, r.def_rerank);
  std::printf("unfiltered in-process nprobe sweep (rerank default):");
  for (const Sweep& s : r.unf_sweep) {
    std::printf("  np%zu %.4f/%.0f", s.nprobe, s.m.recall, s.m.qps);
  }
  std::printf("\n");
  std::printf(
      "%-13s %9s %8s | %-14s %5s %6s %8s %6s %6s %6s %8s %5s | %-14s %6s %7s "
      "%6s %7s | %5s %6s %7s | %5s %6s %7s %6s\n",
      "filter", "matching", "select%", "plan (in-proc)", "np", "rec@k", "qps",
      "xunf", "xunf@r", "fcost", "exactqps", "short", "plan (gRPC)", "rec@k",
      "qps", "xunf", "qps/cpu", "F.np", "F.rec", "F.qps", "Fr.np", "Fr.rec",
      "Fr.qps", "Q/Fr");
  for (size_t i = 0; i < r.filters.size(); ++i) {
    const FilterCase& f = r.filters[i];
    const FilterResult& x = r.results[i];
    const double same_r =
        x.inproc.present ? UnfilteredQpsAtRecall(r.unf_sweep, x.inproc.recall)
                         : 0;
    // Beyond the unfiltered sweep's best recall: against that best.
    const std::string same_recall =
        same_r > 0 || !x.inproc.present
            ? Ratio(x.inproc.qps, same_r)
            : absl::StrCat(
                  ">", Ratio(x.inproc.qps, UnfilteredQpsAtBest(r.unf_sweep)));
    // Filter cost: latency over the unfiltered search at the same nprobe.
    std::string fcost = "-";
    if (x.inproc_unf_same_np_qps > 0 && x.inproc.qps > 0) {
      fcost = absl::StrFormat(
          "%+.0f%%", 100 * (x.inproc_unf_same_np_qps / x.inproc.qps - 1));
    }
    std::printf(
        "%-13s %9zu %8.4f | %-14s %5u %6.4f %8.0f %6s %6s %6s %8.0f %5zu | "
        "%-14s %6.4f %7.0f %6s %7.0f | %5u %6.4f %7.0f | %5u %6.4f %7.0f "
        "%6s\n",
        f.name.c_str(), f.ids.size(), 100 * f.selectivity(),
        x.inproc.plan.c_str(), x.inproc.nprobe, x.inproc.recall, x.inproc.qps,
        Ratio(x.inproc.qps, unf.inproc.qps).c_str(), same_recall.c_str(),
        fcost.c_str(), x.inproc_exact_qps,
        x.inproc.short_answers + x.inproc.violations, x.grpc.plan.c_str(),
        x.grpc.recall, x.grpc.qps, Ratio(x.grpc.qps, unf.grpc.qps).c_str(),
        x.grpc.server_cpu_qps, x.faiss.nprobe, x.faiss.recall, x.faiss.qps,
        x.faiss_rr.nprobe, x.faiss_rr.recall, x.faiss_rr.qps,
        Ratio(x.inproc.qps, x.faiss_rr.qps).c_str());
  }
  for (size_t i = 0; i < r.filters.size(); ++i) {
    const FilterCase& f = r.filters[i];
    std::printf("  %-13s %s%s\n", f.name.c_str(),
                f.text.empty() ? "(no filter)" : f.text.c_str(),
                f.proto.op_case() == v1::Filter::kRange &&
                        absl::StrContains(f.text, " and ")
                    ? "  (one Range message)"
                    : "");
  }
  std::fflush(stdout);
}

absl::Status WriteCsv(const std::string& path,
                      const std::vector<DatasetResult>& all) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return absl::InternalError("cannot write " + path);
  std::fprintf(f,
               "dataset,n,dim,filter,expression,matching,selectivity,system,"
               "chosen,plan,nprobe,rerank,recall_at_k,short_answers,"
               "violations,qps,server_cpu_qps,unfiltered_qps,"
               "unfiltered_qps_same_recall,unfiltered_qps_same_nprobe,"
               "exact_filtered_qps\n");
  auto quote = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) {
      if (c == '"') q += '"';
      q += c;
    }
    return q + "\"";
  };
  for (const DatasetResult& r : all) {
    const FilterResult& unf = r.results[0];
    auto row = [&](const FilterCase& fc, const char* system, bool chosen,
                   const Measured& m, double unf_qps, double same_r,
                   double same_np, double exact_qps) {
      if (!m.present) return;
      std::fprintf(f,
                   "%s,%zu,%zu,%s,%s,%zu,%.6g,%s,%d,%s,%u,%u,%.4f,%zu,%zu,"
                   "%.1f,%.1f,%.1f,%.1f,%.1f,%.1f\n",
                   r.name.c_str(), r.n, r.dim, quote(fc.name).c_str(),
                   quote(fc.text).c_str(), fc.ids.size(), fc.selectivity(),
                   system, chosen ? 1 : 0, m.plan.c_str(), m.nprobe, m.rerank,
                   m.recall, m.short_answers, m.violations, m.qps,
                   m.server_cpu_qps, unf_qps, same_r, same_np, exact_qps);
    };
    for (const Sweep& s : r.unf_sweep) {
      row(r.filters[0], "quiver_inprocess_sweep", false, s.m, 0, 0, 0, 0);
    }
    for (size_t i = 0; i < r.filters.size(); ++i) {
      const FilterCase& fc = r.filters[i];
      const FilterResult& x = r.results[i];
      row(fc, "quiver_inprocess", true, x.inproc, unf.inproc.qps,
          UnfilteredQpsAtRecall(r.unf_sweep, x.inproc.recall),
          x.inproc_unf_same_np_qps, x.inproc_exact_qps);
      row(fc, "quiver_grpc", true, x.grpc, unf.grpc.qps, 0, 0, 0);
      for (const Sweep& s : x.faiss_sweep) {
        row(fc, "faiss_ivfpq_idselector", s.m.nprobe == x.faiss.nprobe, s.m,
            unf.faiss.qps, 0, 0, 0);
      }
      for (const Sweep& s : x.faiss_rr_sweep) {
        row(fc, "faiss_ivfpq_idselector_rerank",
            s.m.nprobe == x.faiss_rr.nprobe, s.m, unf.faiss_rr.qps, 0, 0, 0);
      }
    }
  }
  const bool ok = std::fclose(f) == 0;
  return ok ? absl::OkStatus() : absl::InternalError("cannot write " + path);
}

absl::Status RunDataset(const std::string& name,
                        std::vector<DatasetResult>* all) {
  const size_t k = absl::GetFlag(FLAGS_k);
  Data d;
  QUIVER_RETURN_IF_ERROR(LoadVectors(name, &d));
  if (d.n == 0) return absl::OkStatus();
  GenerateAttributes(&d);
  std::printf("\n### %s: %s\n", name.c_str(), d.about.c_str());
  DatasetResult r;
  r.name = name;
  r.n = d.n;
  r.dim = d.dim;
  r.nq = d.nq;
  const std::vector<std::string> only = absl::GetFlag(FLAGS_filters);
  const double tg = NowSeconds();
  for (const auto& [fname, text] : FilterTexts()) {
    // "none" always runs: the ratios are against it.
    if (fname != "none" && !only.empty() &&
        std::find(only.begin(), only.end(), fname) == only.end()) {
      continue;
    }
    FilterCase f;
    f.name = fname;
    f.text = text;
    QUIVER_RETURN_IF_ERROR(PrepareFilter(d, k, &f));
    r.filters.push_back(std::move(f));
  }
  r.results.resize(r.filters.size());
  std::printf("exact filtered ground truth for %zu filters: %.1f s\n",
              r.filters.size(), NowSeconds() - tg);
  std::fflush(stdout);

  std::string tmpl = absl::GetFlag(FLAGS_tmp) + "/filter_bench.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError("mkdtemp failed");
  }
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{tmpl};

  SetComputeThreads(1);
  if (absl::GetFlag(FLAGS_inprocess)) {
    QUIVER_RETURN_IF_ERROR(RunInProcess(d, tmpl, k, &r));
  }
  if (absl::GetFlag(FLAGS_grpc)) {
    QUIVER_RETURN_IF_ERROR(RunGrpc(d, tmpl, k, &r));
  }
  if (absl::GetFlag(FLAGS_faiss)) {
    QUIVER_RETURN_IF_ERROR(RunFaiss(d, k, &r));
  }
  PrintDataset(r, k);
  all->push_back(std::move(r));
  return absl::OkStatus();
}

absl::Status Run() {
  const std::string clock = absl::GetFlag(FLAGS_clock);
  if (clock != "cpu" && clock != "wall") {
    return absl::InvalidArgumentError("--clock must be cpu or wall");
  }
  if (absl::GetFlag(FLAGS_k) < 1 || absl::GetFlag(FLAGS_queries) < 1) {
    return absl::InvalidArgumentError("--k and --queries must be >= 1");
  }
  PrintEnvironment(stdout, FaissFlavour(), absl::GetFlag(FLAGS_train_threads),
                   1);
  std::printf(
      "filter_bench: one query per call on one thread, collection defaults "
      "(nprobe 0, rerank 0); in-process and FAISS QPS on the %s clock, gRPC "
      "on the wall clock (client thread) and per quiverd CPU second\n",
      clock == "cpu" ? "searching thread's CPU" : "wall");
  std::vector<DatasetResult> all;
  for (const std::string& name : absl::GetFlag(FLAGS_datasets)) {
    QUIVER_RETURN_IF_ERROR(RunDataset(name, &all));
  }
  std::printf(
      "\nColumns: matching / select%% = documents matching the filter; plan "
      "and np = the in-process plan (strategy, most lists probed by a "
      "query); rec@k = recall@k against the exact filtered top k (ties "
      "count); xunf = QPS / unfiltered QPS at the defaults; xunf@r = QPS / "
      "the unfiltered QPS at the same recall (log-interpolated along the "
      "unfiltered nprobe sweep; beyond its best recall '>' and the ratio to "
      "the unfiltered QPS at its best recall); fcost = latency "
      "added over the unfiltered search at the plan's nprobe (ivf-filtered "
      "only); exactqps = QPS of the exact-filtered plan forced "
      "(SearchQuery.exact; recall 1); short = short answers (< min(k, "
      "matching) hits) + hits not "
      "matching the filter, in-process; gRPC: plan, recall, wall QPS, xunf, "
      "QPS per quiverd CPU second; F = FAISS IndexIVFPQ + IDSelectorBatch "
      "(cheapest nprobe reaching recall %.2f, else the best); Fr = the same "
      "with the k*rerank best re-scored exactly; Q/Fr = in-process QPS / "
      "Fr QPS.\n",
      absl::GetFlag(FLAGS_target_recall));
  const std::string csv = absl::GetFlag(FLAGS_csv);
  if (!csv.empty()) {
    QUIVER_RETURN_IF_ERROR(WriteCsv(csv, all));
    std::printf("CSV: %s\n", csv.c_str());
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace quiver::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Filtered search (typed attributes, filter expressions) in-process, "
      "through gRPC and against FAISS IndexIVFPQ + IDSelectorBatch; see "
      "tests/bench/README.md");
  absl::ParseCommandLine(argc, argv);
  const absl::Status s = quiver::bench::Run();
  if (!s.ok()) {
    std::fprintf(stderr, "filter_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
