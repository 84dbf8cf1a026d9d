// Prometheus metrics of quiverd, served over HTTP by prometheus-cpp's
// Exposer when --metrics_listen is set:
//   quiver_requests_total{method,code}              counter
//   quiver_request_duration_seconds{method,code}    histogram
//   quiver_search_plans_total{strategy}             counter: searches by the
//                                                   plan chosen (exact,
//                                                   exact-filtered, ivf,
//                                                   ivf-filtered)
//   quiver_collection_documents{collection}         gauge
//   quiver_collection_training_state{collection}    0 untrained, 1 training,
//                                                   2 ready
//   quiver_collection_training_progress{collection} gauge in [0, 1]
//   quiver_collection_last_training_seconds{collection}
//   quiver_collection_train_generation{collection}
//   quiver_collection_memory_bytes{collection}
//   quiver_store_disk_bytes                         RocksDB SST + WAL bytes
//   quiver_simd_kernel_info{kernel}                 1
// Collection gauges are computed at scrape time from the registry.
//
//   Metrics metrics;
//   metrics.SetRegistry(registry.get());
//   QUIVER_RETURN_IF_ERROR(metrics.Serve("127.0.0.1:9100"));
//   metrics.ObserveRpc("Search", grpc::StatusCode::OK, 0.002);
//
// Thread safety: all methods are safe to call concurrently.
#ifndef QUIVER_SERVER_METRICS_H_
#define QUIVER_SERVER_METRICS_H_

#include <grpcpp/support/status.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/auth.h"

namespace quiver::engine {
class CollectionRegistry;
}  // namespace quiver::engine

#include "server/auth.h"

namespace quiver::server {

using engine::CollectionRegistry;

// The SIMD kernel the index scan uses ("scalar", "avx2" or "avx512").
std::string SimdKernelName();

// A gRPC status code's name as the metrics label it ("NOT_FOUND"; "UNKNOWN"
// for a code out of range).
const char* GrpcCodeName(grpc::StatusCode code);

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Source of the collection gauges; may be null. Not owned; must outlive
  // the scrapes (call SetRegistry(nullptr) before destroying it).
  void SetRegistry(const CollectionRegistry* registry);

  // Counts one finished RPC and its latency.
  void ObserveRpc(std::string_view method, grpc::StatusCode code,
                  double seconds);
  // Counts one search answered with the plan `strategy`.
  void ObservePlan(std::string_view strategy);

  // Starts serving /metrics on `listen` ("host:port", port 0 = any). With
  // `auth` enabled, a scrape must carry HTTP basic auth whose password is
  // the API key (any user name; Prometheus: basic_auth.password). The
  // metrics name collections, so expose them beyond loopback only so.
  // UNAVAILABLE if it cannot bind.
  absl::Status Serve(const std::string& listen,
                     const ApiKeyAuth* auth = nullptr);
  // Bound port of Serve(), 0 if not serving.
  int port() const;

  // The text exposition format of every metric (what /metrics returns).
  std::string Render() const;

  // Where more metric families may be registered (quiver-router's).
  prometheus::Registry& families() { return *registry_; }

 private:
  class Collector;

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Family<prometheus::Counter>* plans_;
  std::shared_ptr<Collector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string,
                      std::pair<prometheus::Counter*, prometheus::Histogram*>>
      series_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, prometheus::Counter*> plan_series_
      ABSL_GUARDED_BY(mu_);
};

// Times one RPC; reports it to `metrics` (may be null) in Finish().
class RpcTimer {
 public:
  RpcTimer(Metrics* metrics, std::string_view method);
  RpcTimer(const RpcTimer&) = delete;
  RpcTimer& operator=(const RpcTimer&) = delete;
  // Records the status and returns it.
  grpc::Status Finish(grpc::Status status);

 private:
  Metrics* metrics_;
  std::string_view method_;
  int64_t start_ns_;
};

}  // namespace quiver::server

#endif  // QUIVER_SERVER_METRICS_H_
