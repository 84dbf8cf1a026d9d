#include "server/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <exception>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "index/simd.h"
#include "server/convert.h"

namespace quiver::server {
namespace {

prometheus::MetricFamily GaugeFamily(std::string name, std::string help) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = prometheus::MetricType::Gauge;
  return f;
}

void AddGauge(prometheus::MetricFamily* f, double value,
              std::vector<prometheus::ClientMetric::Label> labels) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  f->metric.push_back(std::move(m));
}

}  // namespace

const char* GrpcCodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i <= 16 ? kNames[i] : "UNKNOWN";
}

std::string SimdKernelName() { return std::string(index::SimdLevelName()); }

// Registry metrics plus the collection gauges, computed per scrape.
class Metrics::Collector : public prometheus::Collectable {
 public:
  explicit Collector(std::shared_ptr<prometheus::Registry> registry)
      : registry_(std::move(registry)) {}

  void SetRegistry(const CollectionRegistry* collections) {
    absl::MutexLock lock(&mu_);
    collections_ = collections;
  }

  // Runs on the HTTP server's thread, whose stack is small (civetweb's),
  // so the work (RocksDB calls included) runs on a thread of our own.
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    std::thread worker([&] { out = CollectNow(); });
    worker.join();
    return out;
  }

  std::vector<prometheus::MetricFamily> CollectNow() const {
    std::vector<prometheus::MetricFamily> out = registry_->Collect();
    auto docs = GaugeFamily("quiver_collection_documents",
                            "Documents stored per collection");
    auto state = GaugeFamily("quiver_collection_training_state",
                             "Index state: 0 untrained, 1 training, 2 ready");
    auto progress = GaugeFamily("quiver_collection_training_progress",
                                "Progress of the running training in [0, 1]");
    auto seconds = GaugeFamily("quiver_collection_last_training_seconds",
                               "Duration of the last training");
    auto generation = GaugeFamily("quiver_collection_train_generation",
                                  "Times the collection has been trained");
    auto memory = GaugeFamily("quiver_collection_memory_bytes",
                              "Approximate bytes held in memory");
    auto disk = GaugeFamily("quiver_store_disk_bytes",
                            "Approximate bytes on disk (RocksDB SST + WAL)");
    auto kernel = GaugeFamily("quiver_simd_kernel_info",
                              "SIMD kernel used by the index scan");
    AddGauge(&kernel, 1, {{"kernel", SimdKernelName()}});
    {
      absl::MutexLock lock(&mu_);
      if (collections_ != nullptr) {
        AddGauge(&disk, static_cast<double>(collections_->DiskBytes()), {});
        for (const auto& c : collections_->List()) {
          const CollectionStatus st = c->Status();
          std::vector<prometheus::ClientMetric::Label> l = {
              {"collection", c->name()}};
          AddGauge(&docs, static_cast<double>(st.count), l);
          AddGauge(&state, static_cast<double>(st.state), l);
          AddGauge(&progress, st.training_progress, l);
          AddGauge(&seconds, st.last_training_seconds, l);
          AddGauge(&generation, static_cast<double>(st.train_generation), l);
          AddGauge(&memory, static_cast<double>(st.memory_bytes), l);
        }
      }
    }
    for (auto* f : {&docs, &state, &progress, &seconds, &generation, &memory,
                    &disk, &kernel}) {
      out.push_back(std::move(*f));
    }
    return out;
  }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  mutable absl::Mutex mu_;
  const CollectionRegistry* collections_ ABSL_GUARDED_BY(mu_) = nullptr;
};

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(&prometheus::BuildCounter()
                     .Name("quiver_requests_total")
                     .Help("RPCs handled, by method and status code")
                     .Register(*registry_)),
      latency_(&prometheus::BuildHistogram()
                    .Name("quiver_request_duration_seconds")
                    .Help("RPC latency, by method and status code")
                    .Register(*registry_)),
      plans_(&prometheus::BuildCounter()
                  .Name("quiver_search_plans_total")
                  .Help("Searches by the plan chosen: exact, exact-filtered "
                        "(brute force over a filter's matches), ivf, "
                        "ivf-filtered (the index with the filter in the scan)")
                  .Register(*registry_)),
      collector_(std::make_shared<Collector>(registry_)) {}

Metrics::~Metrics() { exposer_.reset(); }

void Metrics::SetRegistry(const CollectionRegistry* registry) {
  collector_->SetRegistry(registry);
}

void Metrics::ObserveRpc(std::string_view method, grpc::StatusCode code,
                         double seconds) {
  const char* code_name = GrpcCodeName(code);
  const std::string key = absl::StrCat(std::string(method), "/", code_name);
  std::pair<prometheus::Counter*, prometheus::Histogram*> series;
  {
    absl::MutexLock lock(&mu_);
    auto it = series_.find(key);
    if (it == series_.end()) {
      const prometheus::Labels labels = {{"method", std::string(method)},
                                         {"code", code_name}};
      static const prometheus::Histogram::BucketBoundaries kBuckets = {
          0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
      it = series_
               .emplace(key, std::make_pair(&requests_->Add(labels),
                                            &latency_->Add(labels, kBuckets)))
               .first;
    }
    series = it->second;
  }
  series.first->Increment();
  series.second->Observe(seconds);
}

void Metrics::ObservePlan(std::string_view strategy) {
  prometheus::Counter* counter;
  {
    absl::MutexLock lock(&mu_);
    const std::string key(strategy);
    auto it = plan_series_.find(key);
    if (it == plan_series_.end()) {
      it =
          plan_series_
              .emplace(key, &plans_->Add({{"strategy", std::string(strategy)}}))
              .first;
    }
    counter = it->second;
  }
  counter->Increment();
}

absl::Status Metrics::Serve(const std::string& listen, const ApiKeyAuth* auth) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(listen, 1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrFormat(
        "metrics: cannot listen on '%s': %s", listen, e.what()));
  }
  if (auth != nullptr && auth->enabled()) {
    const ApiKeyAuth key = *auth;
    exposer_->RegisterAuth(
        [key](const std::string& /*user*/, const std::string& password) {
          return key.Matches(password);
        },
        "quiverd");
  }
  exposer_->RegisterCollectable(collector_);
  return absl::OkStatus();
}

int Metrics::port() const {
  if (!exposer_) return 0;
  const std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

std::string Metrics::Render() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, collector_->CollectNow());
  return out.str();
}

RpcTimer::RpcTimer(Metrics* metrics, std::string_view method)
    : metrics_(metrics),
      method_(method),
      start_ns_(absl::GetCurrentTimeNanos()) {}

grpc::Status RpcTimer::Finish(grpc::Status status) {
  if (metrics_ != nullptr) {
    metrics_->ObserveRpc(
        method_, status.error_code(),
        static_cast<double>(absl::GetCurrentTimeNanos() - start_ns_) * 1e-9);
  }
  return status;
}

}  // namespace quiver::server
