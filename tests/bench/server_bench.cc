// server_bench: end-to-end benchmark of quiverd (issue 4).
//
// One run: starts the real quiverd as a child process on a fresh temporary
// data directory, creates a collection, ingests the base vectors through the
// client library's Upsert stream, trains, then for each nprobe measures gRPC
// search (one query per request: QPS, p50/p99 latency, recall@k; and batched
// requests: QPS). It then stops the server (SIGTERM), opens the same data
// directory in-process with storage::Store, rebuilds the index exactly as the
// server's recovery does (quantizer blob -> IvfPqIndex::Load, stored codes ->
// AddEncoded, stored vectors -> FlatIndex as the re-ranking source) and times
// the same searches in-process, reporting gRPC QPS / in-process QPS.
//
//   server_bench --base=.../siftsmall_base.fvecs --query=... --groundtruth=...
//   server_bench --synthetic=200000,96,200,1
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "common/status.h"
#include "index/flat_index.h"
#include "index/ivf_pq_index.h"
#include "index/metric.h"
#include "server/engine/records.h"
#include "storage/store.h"
#include "tests/bench/bench_core.h"
#include "tests/bench/quiverd_child.h"
#include "tests/bench/synthetic.h"
#include "tests/bench/vecs_io.h"

#ifndef QUIVER_BENCH_QUIVERD_PATH
#define QUIVER_BENCH_QUIVERD_PATH "quiverd"
#endif

ABSL_FLAG(std::string, base, "", "base vectors (fvecs)");
ABSL_FLAG(std::string, query, "", "query vectors (fvecs)");
ABSL_FLAG(std::string, groundtruth, "", "ground-truth ids (ivecs, 0-based)");
ABSL_FLAG(std::string, synthetic, "",
          "N,D,CLUSTERS,SEED: synthetic data instead of --base/--query "
          "(1000 queries; exact ground truth computed here)");
ABSL_FLAG(std::string, metric, "l2", "l2 | ip | cosine");
ABSL_FLAG(uint32_t, nlist, 0, "inverted lists (0 = ~4*sqrt(N))");
ABSL_FLAG(uint32_t, m, 0, "PQ sub-quantizers (0 = dim/4 if it divides)");
ABSL_FLAG(uint32_t, nbits, 8, "bits per PQ sub-code (4 or 8)");
ABSL_FLAG(
    uint32_t, rerank, 4,
    "re-rank factor: the best k*rerank PQ candidates are re-scored "
    "exactly (>= 1; the server always re-ranks, 1 = no extra candidates)");
ABSL_FLAG(uint64_t, auto_train_threshold, 0,
          "collection's auto_train_threshold (0 = server default, "
          "max(1000, 39*nlist)); above N, training runs after ingest");
ABSL_FLAG(std::vector<std::string>, nprobe,
          std::vector<std::string>({"4", "8", "16", "32"}), "nprobe values");
ABSL_FLAG(uint32_t, batch, 100, "queries per batched request");
ABSL_FLAG(uint32_t, k, 10, "neighbours per query");
ABSL_FLAG(uint32_t, ingest_batch, 1000, "documents per Upsert batch");
ABSL_FLAG(uint32_t, in_flight, 4, "Upsert batches in flight");
ABSL_FLAG(uint32_t, min_queries, 2000,
          "each measurement repeats the query set up to at least this many");
ABSL_FLAG(std::string, quiverd, QUIVER_BENCH_QUIVERD_PATH, "quiverd binary");
ABSL_FLAG(std::string, csv, "", "optional CSV output path");

namespace quiver::bench {
namespace {

constexpr char kCollection[] = "bench";

double Now() { return absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()); }

struct Data {
  size_t n = 0, nq = 0, dim = 0, gt_k = 0;
  std::vector<float> base, queries;
  std::vector<int32_t> gt;  // nq * gt_k
};

absl::StatusOr<Data> LoadData(index::Metric metric) {
  Data d;
  const std::string syn = absl::GetFlag(FLAGS_synthetic);
  if (!syn.empty()) {
    QUIVER_ASSIGN_OR_RETURN(SyntheticSpec spec, ParseSyntheticSpec(syn));
    SyntheticMixture mix(spec.dim, spec.clusters, spec.seed);
    d.n = spec.n;
    d.dim = spec.dim;
    d.nq = 1000;
    d.base = mix.Generate(kBaseStream, 0, d.n);
    d.queries = mix.Generate(kQueryStream, 0, d.nq);
    const size_t gk = 100;
    auto exact = index::FlatIndex::BruteForce(
        metric, d.base.data(), d.n, d.queries.data(), d.nq, d.dim, gk);
    d.gt_k = gk;
    d.gt.assign(d.nq * gk, -1);
    for (size_t i = 0; i < d.nq; ++i) {
      for (size_t j = 0; j < exact[i].size() && j < gk; ++j) {
        d.gt[i * gk + j] = static_cast<int32_t>(exact[i][j].id);
      }
    }
    return d;
  }
  QUIVER_ASSIGN_OR_RETURN(VecsMatrix<float> base,
                          ReadFloatVecs(absl::GetFlag(FLAGS_base)));
  QUIVER_ASSIGN_OR_RETURN(VecsMatrix<float> q,
                          ReadFloatVecs(absl::GetFlag(FLAGS_query)));
  QUIVER_ASSIGN_OR_RETURN(VecsMatrix<int32_t> gt,
                          ReadIntVecs(absl::GetFlag(FLAGS_groundtruth)));
  if (q.dim != base.dim || gt.rows != q.rows) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "data mismatch: base dim %d, query dim %d, %d queries, %d gt rows",
        base.dim, q.dim, q.rows, gt.rows));
  }
  d.n = base.rows;
  d.dim = base.dim;
  d.nq = q.rows;
  d.gt_k = gt.dim;
  d.base = std::move(base.data);
  d.queries = std::move(q.data);
  d.gt = std::move(gt.data);
  return d;
}

double RecallAt(const Data& d, size_t qi, const std::vector<int64_t>& ids,
                size_t k) {
  const size_t kk = std::min(k, d.gt_k);
  size_t hit = 0;
  for (size_t j = 0; j < std::min(kk, ids.size()); ++j) {
    for (size_t g = 0; g < kk; ++g) {
      if (d.gt[qi * d.gt_k + g] == ids[j]) {
        ++hit;
        break;
      }
    }
  }
  return kk ? static_cast<double>(hit) / kk : 0;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * v.size()));
  return v[i];
}

struct Row {
  uint32_t nprobe = 0;
  double grpc_qps = 0, p50_ms = 0, p99_ms = 0, recall = 0;
  double grpc_batch_qps = 0;
  // Two clients (own channels, one thread each) sending single-query
  // requests at once: their QPS together, and its ratio to one client's.
  double grpc_qps2 = 0;
  // quiverd's CPU time (user + system) per single-query request; less the
  // in-process time per query, what the server adds to a search.
  double server_cpu_us = 0;
  double local_qps = 0, local_batch_qps = 0, local_recall = 0;
  // Fraction of queries whose gRPC and in-process id lists are identical.
  double identical = 0;
  std::vector<std::vector<int64_t>> grpc_ids;  // first pass, per query
};

size_t Repeats(size_t nq) {
  const size_t min_q = absl::GetFlag(FLAGS_min_queries);
  return std::max<size_t>(1, (min_q + nq - 1) / nq);
}

v1::SearchRequest MakeRequest(const Data& d, size_t first, size_t count,
                              uint32_t nprobe) {
  v1::SearchRequest req;
  req.set_collection(kCollection);
  req.set_k(absl::GetFlag(FLAGS_k));
  req.set_nprobe(nprobe);
  req.set_rerank(absl::GetFlag(FLAGS_rerank));
  for (size_t i = first; i < first + count; ++i) {
    v1::Vector* v = req.add_queries();
    v->mutable_values()->Add(d.queries.begin() + i * d.dim,
                             d.queries.begin() + (i + 1) * d.dim);
  }
  return req;
}

absl::Status GrpcSearch(client::QuiverClient* cl, client::QuiverClient* cl2,
                        pid_t server_pid, const Data& d, uint32_t nprobe,
                        Row* row) {
  const size_t reps = Repeats(d.nq);
  const size_t k = absl::GetFlag(FLAGS_k);
  // Requests are built before the clock starts.
  std::vector<v1::SearchRequest> single;
  single.reserve(d.nq);
  for (size_t i = 0; i < d.nq; ++i)
    single.push_back(MakeRequest(d, i, 1, nprobe));
  // Warm-up.
  for (size_t i = 0; i < std::min<size_t>(d.nq, 50); ++i) {
    QUIVER_RETURN_IF_ERROR(cl->Search(single[i]).status());
  }
  std::vector<double> lat;
  lat.reserve(reps * d.nq);
  double recall = 0;
  const double cpu0 = ProcessCpuSeconds(server_pid);
  const double t0 = Now();
  for (size_t r = 0; r < reps; ++r) {
    for (size_t i = 0; i < d.nq; ++i) {
      const double s = Now();
      QUIVER_ASSIGN_OR_RETURN(v1::SearchResponse resp, cl->Search(single[i]));
      lat.push_back(Now() - s);
      if (r == 0) {
        std::vector<int64_t> ids;
        for (const v1::Hit& h : resp.results(0).hits()) {
          int64_t id = -1;
          if (!absl::SimpleAtoi(h.id(), &id)) id = -1;
          ids.push_back(id);
        }
        recall += RecallAt(d, i, ids, k);
        row->grpc_ids.push_back(std::move(ids));
      }
    }
  }
  const double el = Now() - t0;
  const double cpu1 = ProcessCpuSeconds(server_pid);
  if (cpu0 >= 0 && cpu1 >= 0) {
    row->server_cpu_us = 1e6 * (cpu1 - cpu0) / static_cast<double>(lat.size());
  }
  row->grpc_qps = lat.size() / el;
  row->p50_ms = 1e3 * Percentile(lat, 0.50);
  row->p99_ms = 1e3 * Percentile(lat, 0.99);
  row->recall = recall / d.nq;

  const size_t b = absl::GetFlag(FLAGS_batch);
  std::vector<v1::SearchRequest> batches;
  for (size_t i = 0; i < d.nq; i += b) {
    batches.push_back(MakeRequest(d, i, std::min(b, d.nq - i), nprobe));
  }
  QUIVER_RETURN_IF_ERROR(cl->Search(batches[0]).status());
  const double t1 = Now();
  for (size_t r = 0; r < reps; ++r) {
    for (const v1::SearchRequest& req : batches) {
      QUIVER_RETURN_IF_ERROR(cl->Search(req).status());
    }
  }
  row->grpc_batch_qps = reps * d.nq / (Now() - t1);

  // Two concurrent clients, each sending every query reps times (from
  // opposite ends, so the two do not ask the same thing at once).
  absl::Status status2[2];
  client::QuiverClient* clients[2] = {cl, cl2};
  const double t2 = Now();
  {
    std::vector<std::thread> workers;
    for (int c = 0; c < 2; ++c) {
      workers.emplace_back([&, c] {
        for (size_t r = 0; r < reps && status2[c].ok(); ++r) {
          for (size_t j = 0; j < d.nq; ++j) {
            const size_t i = c == 0 ? j : d.nq - 1 - j;
            absl::StatusOr<v1::SearchResponse> resp =
                clients[c]->Search(single[i]);
            if (!resp.ok()) {
              status2[c] = resp.status();
              break;
            }
          }
        }
      });
    }
    for (std::thread& w : workers) w.join();
  }
  for (const absl::Status& s : status2) QUIVER_RETURN_IF_ERROR(s);
  row->grpc_qps2 = 2.0 * reps * d.nq / (Now() - t2);
  return absl::OkStatus();
}

// The server's FlatVectorSource: vectors from the FlatIndex rebuilt from
// storage (normalised for cosine).
class FlatSource : public index::VectorSource {
 public:
  explicit FlatSource(const index::FlatIndex* flat) : flat_(flat) {}
  bool GetVector(uint64_t id, float* out) const override {
    return flat_->GetVector(id, out);
  }

 private:
  const index::FlatIndex* flat_;
};

struct Local {
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<index::FlatIndex> flat;
  std::unique_ptr<index::IvfPqIndex> ivf;
  std::vector<int64_t> iid_to_row;  // internal id -> external id (row)
};

// Rebuilds the index as server/engine/collection.cc's Collection::Recover
// does, reading the records through the engine's one format module.
absl::StatusOr<Local> Rebuild(const std::string& db_path, index::Metric metric,
                              size_t dim) {
  Local l;
  storage::StoreOptions so;
  so.path = db_path;
  QUIVER_ASSIGN_OR_RETURN(l.store, storage::Store::Open(so));
  QUIVER_ASSIGN_OR_RETURN(storage::CollectionMeta meta,
                          l.store->GetCollection(kCollection));
  QUIVER_ASSIGN_OR_RETURN(uint64_t next, l.store->NextInternalId(meta.id));
  l.iid_to_row.assign(next, -1);
  QUIVER_RETURN_IF_ERROR(l.store->ForEachId(
      meta.id, [&](uint64_t iid, std::string_view ext) -> absl::Status {
        int64_t row = -1;
        if (!absl::SimpleAtoi(std::string(ext), &row)) row = -1;
        if (iid >= l.iid_to_row.size()) l.iid_to_row.resize(iid + 1, -1);
        l.iid_to_row[iid] = row;
        return absl::OkStatus();
      }));
  l.flat = std::make_unique<index::FlatIndex>(metric, dim);
  std::vector<uint64_t> ids;
  std::vector<float> buf;
  QUIVER_RETURN_IF_ERROR(l.store->ForEachVector(
      meta.id, [&](uint64_t iid, absl::Span<const float> v) -> absl::Status {
        ids.push_back(iid);
        buf.insert(buf.end(), v.begin(), v.end());
        if (ids.size() == 4096) {
          l.flat->Add(ids.data(), buf.data(), ids.size());
          ids.clear();
          buf.clear();
        }
        return absl::OkStatus();
      }));
  if (!ids.empty()) l.flat->Add(ids.data(), buf.data(), ids.size());
  QUIVER_ASSIGN_OR_RETURN(std::string blob, l.store->GetQuantizer(meta.id));
  QUIVER_ASSIGN_OR_RETURN(const engine::records::QuantizerRecord quantizer,
                          engine::records::DecodeQuantizer(blob));
  const uint32_t generation = quantizer.generation;
  QUIVER_ASSIGN_OR_RETURN(l.ivf, index::IvfPqIndex::Load(quantizer.blob));
  const size_t code_size = l.ivf->code_size();
  size_t added = 0;
  QUIVER_RETURN_IF_ERROR(l.store->ForEachCode(
      meta.id,
      [&](uint64_t iid, uint32_t list, std::string_view code) -> absl::Status {
        QUIVER_ASSIGN_OR_RETURN(const engine::records::CodeRecord r,
                                engine::records::DecodeCode(code));
        if (r.code.size() == code_size && r.generation == generation &&
            list < l.ivf->params().nlist) {
          l.ivf->AddEncoded(iid, list,
                            reinterpret_cast<const uint8_t*>(r.code.data()));
          ++added;
        }
        return absl::OkStatus();
      }));
  if (added != l.flat->size()) {
    return absl::DataLossError(absl::StrFormat(
        "rebuilt %d codes of generation %d for %d stored vectors", added,
        generation, l.flat->size()));
  }
  return l;
}

void LocalSearch(const Local& l, const Data& d, uint32_t nprobe, Row* row) {
  const size_t reps = Repeats(d.nq);
  const size_t k = absl::GetFlag(FLAGS_k);
  FlatSource src(l.flat.get());
  index::SearchParams sp;
  sp.k = k;
  sp.nprobe = std::min<size_t>(nprobe, l.ivf->params().nlist);
  sp.rerank = absl::GetFlag(FLAGS_rerank);
  sp.vectors = &src;
  double recall = 0;
  for (size_t i = 0; i < std::min<size_t>(d.nq, 50); ++i) {
    (void)l.ivf->Search(&d.queries[i * d.dim], sp);
  }
  const double t0 = Now();
  for (size_t r = 0; r < reps; ++r) {
    for (size_t i = 0; i < d.nq; ++i) {
      // As the server: SearchBatch of one query, one thread.
      auto res = l.ivf->SearchBatch(&d.queries[i * d.dim], 1, sp, 1);
      if (r == 0) {
        std::vector<int64_t> ids;
        for (const index::Neighbor& nb : res[0]) {
          ids.push_back(nb.id < l.iid_to_row.size() ? l.iid_to_row[nb.id] : -1);
        }
        recall += RecallAt(d, i, ids, k);
        if (i < row->grpc_ids.size() && row->grpc_ids[i] == ids) {
          row->identical += 1.0 / d.nq;
        }
      }
    }
  }
  row->local_qps = reps * d.nq / (Now() - t0);
  row->local_recall = recall / d.nq;
  const size_t b = absl::GetFlag(FLAGS_batch);
  const double t1 = Now();
  for (size_t r = 0; r < reps; ++r) {
    for (size_t i = 0; i < d.nq; i += b) {
      (void)l.ivf->SearchBatch(&d.queries[i * d.dim], std::min(b, d.nq - i), sp,
                               1);
    }
  }
  row->local_batch_qps = reps * d.nq / (Now() - t1);
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
  std::vector<uint32_t> nprobes;
  for (const std::string& s : absl::GetFlag(FLAGS_nprobe)) {
    uint32_t v = 0;
    if (!absl::SimpleAtoi(s, &v) || v == 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("bad --nprobe '%s'", s));
    }
    nprobes.push_back(v);
  }
  if (absl::GetFlag(FLAGS_rerank) == 0) {
    return absl::InvalidArgumentError(
        "--rerank=0: the server always re-ranks (0 means its default, 4); "
        "use --rerank=1 for no extra candidates");
  }
  QUIVER_ASSIGN_OR_RETURN(Data d, LoadData(metric));
  uint32_t nlist = absl::GetFlag(FLAGS_nlist);
  if (nlist == 0) {
    nlist = std::max<uint32_t>(
        16, static_cast<uint32_t>(4 * std::sqrt(static_cast<double>(d.n))));
  }
  uint32_t m = absl::GetFlag(FLAGS_m);
  if (m == 0) m = d.dim % 4 == 0 ? static_cast<uint32_t>(d.dim / 4) : 1;
  const uint32_t nbits = absl::GetFlag(FLAGS_nbits);
  std::printf("data: %zu x %zu base, %zu queries, metric %s\n", d.n, d.dim,
              d.nq, metric_name.c_str());
  std::printf("index: nlist %u, pq %ux%u, rerank %u, k %u, batch %u\n", nlist,
              m, nbits, absl::GetFlag(FLAGS_rerank), absl::GetFlag(FLAGS_k),
              absl::GetFlag(FLAGS_batch));

  char tmpl[] = "/tmp/server_bench.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  const std::string tmp = tmpl;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{tmp};
  const std::string data_dir = tmp + "/data";

  QuiverdChild daemon;
  QuiverdChildOptions qo;
  qo.binary = absl::GetFlag(FLAGS_quiverd);
  qo.data_dir = data_dir;
  QUIVER_RETURN_IF_ERROR(daemon.Start(qo));
  client::ClientOptions co;
  co.address = daemon.address();
  co.timeout = absl::Seconds(120);
  co.max_receive_message_bytes = 256 << 20;
  QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<client::QuiverClient> cl,
                          client::QuiverClient::Connect(co));
  QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<client::QuiverClient> cl2,
                          client::QuiverClient::Connect(co));
  if (!cl->WaitForConnected(absl::Seconds(30)) ||
      !cl2->WaitForConnected(absl::Seconds(30))) {
    return absl::UnavailableError("could not connect to quiverd");
  }
  v1::CreateCollectionRequest create;
  create.set_name(kCollection);
  create.set_dimension(static_cast<uint32_t>(d.dim));
  create.set_metric(pmetric);
  create.mutable_index()->set_nlist(nlist);
  create.mutable_index()->set_pq_m(m);
  create.mutable_index()->set_pq_bits(nbits);
  create.mutable_index()->set_rerank(absl::GetFlag(FLAGS_rerank));
  create.mutable_index()->set_auto_train_threshold(
      absl::GetFlag(FLAGS_auto_train_threshold));
  QUIVER_RETURN_IF_ERROR(cl->CreateCollection(create).status());

  // Ingest.
  const size_t ib = absl::GetFlag(FLAGS_ingest_batch);
  std::atomic<uint64_t> acked{0}, rejected{0};
  QUIVER_ASSIGN_OR_RETURN(
      std::unique_ptr<client::UpsertStream> stream,
      cl->OpenUpsertStream(kCollection, absl::GetFlag(FLAGS_in_flight),
                           [&](const v1::UpsertResponse& r) {
                             acked += r.upserted();
                             rejected += r.errors_size();
                           }));
  const double ti = Now();
  uint64_t batch_id = 0;
  for (size_t first = 0; first < d.n; first += ib) {
    v1::UpsertRequest req;
    req.set_batch_id(batch_id++);
    for (size_t i = first; i < std::min(d.n, first + ib); ++i) {
      v1::Document* doc = req.add_documents();
      doc->set_id(absl::StrCat(i));
      doc->mutable_vector()->Add(d.base.begin() + i * d.dim,
                                 d.base.begin() + (i + 1) * d.dim);
    }
    QUIVER_RETURN_IF_ERROR(stream->Send(req));
  }
  QUIVER_RETURN_IF_ERROR(stream->Finish());
  const double ingest_s = Now() - ti;
  if (acked != d.n || rejected != 0) {
    return absl::InternalError(
        absl::StrFormat("ingest: %d of %d upserted, %d rejected", acked.load(),
                        d.n, rejected.load()));
  }
  std::printf(
      "ingest: %zu vectors in %.2f s = %.0f vectors/s (batches of %zu, "
      "%u in flight)\n",
      d.n, ingest_s, d.n / ingest_s, ib, absl::GetFlag(FLAGS_in_flight));

  // Train.
  const double tt = Now();
  QUIVER_ASSIGN_OR_RETURN(v1::CollectionInfo info,
                          cl->GetCollection(kCollection));
  const bool auto_trained = info.state() != v1::COLLECTION_STATE_UNTRAINED;
  if (!auto_trained) QUIVER_RETURN_IF_ERROR(cl->Train(kCollection).status());
  QUIVER_ASSIGN_OR_RETURN(info, cl->WaitReady(kCollection, absl::Minutes(30)));
  std::printf("train: %s, READY after %.2f s (generation %" PRIu64
              ", lists %" PRIu64 "..%" PRIu64 ")\n",
              auto_trained ? "auto-trained during ingest" : "Train RPC",
              Now() - tt, info.train_generation(), info.list_min(),
              info.list_max());

  std::vector<Row> rows;
  for (uint32_t np : nprobes) {
    Row row;
    row.nprobe = np;
    QUIVER_RETURN_IF_ERROR(
        GrpcSearch(cl.get(), cl2.get(), daemon.pid(), d, np, &row));
    rows.push_back(row);
  }
  cl.reset();
  cl2.reset();
  const int st = daemon.Stop(SIGTERM);
  std::printf("quiverd stopped with SIGTERM (wait status 0x%x)\n", st);

  const double tr = Now();
  QUIVER_ASSIGN_OR_RETURN(Local local, Rebuild(data_dir, metric, d.dim));
  std::printf(
      "in-process: index rebuilt from the server's store as on "
      "recovery (stored quantizer + %zu stored codes) in %.2f s\n",
      local.ivf->size(), Now() - tr);
  for (Row& row : rows) LocalSearch(local, d, row.nprobe, &row);

  std::printf(
      "\n%6s %10s %8s %8s %9s %11s %10s | %10s %11s %8s | %7s %7s %7s\n",
      "nprobe", "grpc_qps", "p50_ms", "p99_ms", "recall@k", "grpc_b_qps",
      "grpc_qps2", "local_qps", "local_b_qps", "l_recall", "ratio1", "ratioB",
      "scale2");
  for (const Row& r : rows) {
    std::printf(
        "%6u %10.0f %8.3f %8.3f %9.4f %11.0f %10.0f | %10.0f %11.0f %8.4f "
        "%6.3f | %7.3f %7.3f %7.3f\n",
        r.nprobe, r.grpc_qps, r.p50_ms, r.p99_ms, r.recall, r.grpc_batch_qps,
        r.grpc_qps2, r.local_qps, r.local_batch_qps, r.local_recall,
        r.identical, r.grpc_qps / r.local_qps,
        r.grpc_batch_qps / r.local_batch_qps, r.grpc_qps2 / r.grpc_qps);
  }
  std::printf("\n%6s %14s %14s %10s\n", "nprobe", "server_cpu_us", "local_us",
              "added_us");
  for (const Row& r : rows) {
    std::printf("%6u %14.1f %14.1f %10.1f\n", r.nprobe, r.server_cpu_us,
                1e6 / r.local_qps, r.server_cpu_us - 1e6 / r.local_qps);
  }
  std::printf(
      "server_cpu_us = quiverd's CPU time per single-query request (all its "
      "threads, clock ticks of 10 ms: run enough queries); local_us = the "
      "in-process search's time per query\n");
  std::printf(
      "ratio1 = gRPC single / in-process single QPS; ratioB = gRPC "
      "batched / in-process batched QPS (target >= 0.8); same = fraction of "
      "queries with identical gRPC and in-process result ids; scale2 = two "
      "concurrent single-query clients' QPS / one client's (target >= 1.8)\n");

  const std::string csv = absl::GetFlag(FLAGS_csv);
  if (!csv.empty()) {
    std::FILE* f = std::fopen(csv.c_str(), "w");
    if (f == nullptr) {
      return absl::UnavailableError(absl::StrFormat("cannot write %s", csv));
    }
    std::fprintf(
        f,
        "n,dim,nlist,m,nbits,rerank,k,batch,ingest_vps,nprobe,"
        "grpc_qps,p50_ms,p99_ms,recall,grpc_batch_qps,local_qps,"
        "local_batch_qps,local_recall,identical,ratio_single,ratio_batch,"
        "grpc_qps2,scale2,server_cpu_us\n");
    for (const Row& r : rows) {
      std::fprintf(f,
                   "%zu,%zu,%u,%u,%u,%u,%u,%u,%.0f,%u,%.1f,%.4f,%.4f,%.4f,"
                   "%.1f,%.1f,%.1f,%.4f,%.4f,%.4f,%.4f,%.1f,%.4f,%.1f\n",
                   d.n, d.dim, nlist, m, nbits, absl::GetFlag(FLAGS_rerank),
                   absl::GetFlag(FLAGS_k), absl::GetFlag(FLAGS_batch),
                   d.n / ingest_s, r.nprobe, r.grpc_qps, r.p50_ms, r.p99_ms,
                   r.recall, r.grpc_batch_qps, r.local_qps, r.local_batch_qps,
                   r.local_recall, r.identical, r.grpc_qps / r.local_qps,
                   r.grpc_batch_qps / r.local_batch_qps, r.grpc_qps2,
                   r.grpc_qps2 / r.grpc_qps, r.server_cpu_us);
    }
    std::fclose(f);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace quiver::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "End-to-end quiverd benchmark: ingest, train, gRPC search vs "
      "in-process search on the same index");
  absl::ParseCommandLine(argc, argv);
  const absl::Status s = quiver::bench::Run();
  if (!s.ok()) {
    std::fprintf(stderr, "server_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
