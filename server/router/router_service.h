// quiver-router's service: the quiver.v1.Quiver service of a stateless
// router in front of quiverd nodes that each hold shards of collections.
//
//  * Layout. A sharded collection of N shards has shard i on one node; the
//    node stores its ShardPlacement (shard, shard_count, every shard's node)
//    with the collection. The router keeps no state: it finds a
//    collection's layout by asking every node (GetCollection) and caches it
//    for a few seconds (RouterOptions::layout_ttl). A collection created on
//    one node without placement is a collection of one shard.
//  * Writes. Upsert, Get and Delete go to the shard ShardOf(id, N)
//    (server/router/shard_map.h). An Upsert batch is split by shard, each
//    part sent to its node on a stream of its own, all in parallel, and the
//    batch is acknowledged once every part is; RecordError positions are
//    those of the original batch.
//  * A node away. Before sending anything the router checks that the node
//    of every part is connected or connecting; if one is not, the batch
//    ends the stream with UNAVAILABLE naming the shard, and nothing of the
//    batch was sent anywhere. A node failing during a batch also ends the
//    stream with UNAVAILABLE naming the shard; the parts of the other
//    shards may then be stored (the message says which shards acknowledged
//    their part). Upserts replace by id, so resending the batch, as a
//    client resends every unacknowledged batch, leaves the same state.
//  * Search fans out to every shard in parallel under the request's
//    deadline and merges the per-shard top k exactly (shard_map.h). A shard
//    that does not answer (UNAVAILABLE, or past the deadline) fails the
//    search with UNAVAILABLE naming it, unless the request sets
//    allow_partial_results: then the answer of the others comes back with
//    `partial` set and `missing_shards` ("shard 1 (host:port)" each).
//  * Metrics (with --metrics_listen): quiverd's quiver_requests_total and
//    quiver_request_duration_seconds for the router's own RPCs, plus
//      quiver_router_node_errors_total{node,code}  failed calls to a node
//      quiver_router_partial_searches_total        answers with `partial`
//  * Nodes reconnect by themselves (gRPC, back-off capped at 1 s): when a
//    node is back, calls reach it again; nothing to do.
//
// Thread safety: handlers run concurrently on gRPC's threads; the layout
// cache is guarded by a mutex.
#ifndef QUIVER_SERVER_ROUTER_ROUTER_SERVICE_H_
#define QUIVER_SERVER_ROUTER_ROUTER_SERVICE_H_

#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "quiver/v1/quiver.grpc.pb.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "server/upsert_stream.h"

namespace quiver::router {

struct RouterOptions {
  // The nodes, "host:port" each, in shard order (ExpandNodes()).
  std::vector<std::string> nodes;
  // Sent to the nodes as "authorization: Bearer <key>" (empty = none).
  std::string node_api_key;
  // PEM root certificates: the router speaks TLS to the nodes when set.
  std::string node_tls_ca;
  // The name the nodes' certificates carry, when not their host.
  std::string node_tls_server_name;
  // Deadline of a call to a node when the client's call has none (and the
  // most any Upsert part may take).
  absl::Duration node_timeout = absl::Seconds(60);
  // How long a collection's layout is reused before it is asked again.
  absl::Duration layout_ttl = absl::Seconds(5);
  // Largest message to or from a node, MiB.
  int max_message_mb = 64;
  // Upsert stream limits (open streams, idle and total time, workers).
  server::StreamLimits streams;
};

class RouterService final
    : public v1::Quiver::WithRawCallbackMethod_Upsert<v1::Quiver::Service> {
 public:
  // `metrics` is not owned, may be null and must outlive the service.
  // INVALID_ARGUMENT for no nodes or an unreadable node_tls_ca.
  static absl::StatusOr<std::unique_ptr<RouterService>> Create(
      RouterOptions options, server::Metrics* metrics, server::ApiKeyAuth auth);
  ~RouterService() override;

  grpc::Status CreateCollection(grpc::ServerContext* context,
                                const v1::CreateCollectionRequest* request,
                                v1::CollectionInfo* response) override;
  grpc::Status GetCollection(grpc::ServerContext* context,
                             const v1::GetCollectionRequest* request,
                             v1::CollectionInfo* response) override;
  grpc::Status ListCollections(grpc::ServerContext* context,
                               const v1::ListCollectionsRequest* request,
                               v1::ListCollectionsResponse* response) override;
  grpc::Status DropCollection(grpc::ServerContext* context,
                              const v1::DropCollectionRequest* request,
                              v1::DropCollectionResponse* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Upsert(
      grpc::CallbackServerContext* context) override;
  grpc::Status Get(grpc::ServerContext* context, const v1::GetRequest* request,
                   v1::GetResponse* response) override;
  grpc::Status Delete(grpc::ServerContext* context,
                      const v1::DeleteRequest* request,
                      v1::DeleteResponse* response) override;
  grpc::Status Search(grpc::ServerContext* context,
                      const v1::SearchRequest* request,
                      v1::SearchResponse* response) override;
  grpc::Status Train(grpc::ServerContext* context,
                     const v1::TrainRequest* request,
                     v1::CollectionInfo* response) override;
  grpc::Status Backup(grpc::ServerContext* context,
                      const v1::BackupRequest* request,
                      v1::BackupResponse* response) override;

  // New calls and batches get UNAVAILABLE from now on (shutdown).
  void StartDraining();
  // Calls inside a handler plus open Upsert streams.
  int inflight() const { return inflight_.load() + streams_->open(); }

  // A collection's shards and the node (index into the nodes) of each.
  struct Layout {
    uint32_t shard_count = 1;
    std::vector<int> node;  // per shard; -1: unknown (its node is away)
    std::vector<std::string> address;  // per shard, for messages
    absl::Time fetched;
  };

 private:
  struct Node;
  class PartUpsert;

  RouterService(RouterOptions options, server::Metrics* metrics,
                server::ApiKeyAuth auth);

  template <typename Fn>
  grpc::Status Handle(std::string_view method, grpc::ServerContext* context,
                      Fn&& body);
  // The layout of `collection` (cached, or asked of every node).
  absl::StatusOr<std::shared_ptr<const Layout>> Resolve(
      const std::string& collection, absl::Time deadline);
  void Forget(const std::string& collection);
  // Runs `start(node, context, done)` for every node at once (RunAll); the
  // first node's failure, counted, as "node <address>: <message>".
  absl::Status AskEveryNode(
      absl::Time deadline,
      const std::function<void(size_t, grpc::ClientContext*,
                               std::function<void(grpc::Status)>)>& start);
  // A client context for a call to a node, with the key and `deadline`.
  std::unique_ptr<grpc::ClientContext> NodeContext(absl::Time deadline) const;
  absl::Time DeadlineOf(const grpc::ServerContext& context) const;
  // Counts a failed call to node `node` (metrics).
  void NodeError(int node, grpc::StatusCode code);
  // NodeError, and a NOT_FOUND from the node forgets `collection`'s layout.
  void NodeFailed(int node, const std::string& collection,
                  grpc::StatusCode code);
  // Whether node `node` is connected, waiting up to 2 s (and `deadline`)
  // for a connection in progress.
  bool NodeReady(int node, absl::Time deadline);
  absl::StatusOr<v1::UpsertResponse> UpsertBatch(server::ParsedBatch& batch);

  const RouterOptions options_;
  server::Metrics* const metrics_;
  const server::ApiKeyAuth auth_;
  std::vector<std::unique_ptr<Node>> nodes_;
  prometheus::Family<prometheus::Counter>* node_errors_ = nullptr;
  prometheus::Counter* partial_searches_ = nullptr;
  std::atomic<bool> draining_{false};
  std::atomic<int> inflight_{0};
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const Layout>> layouts_
      ABSL_GUARDED_BY(mu_);
  std::unique_ptr<server::UpsertStreams> streams_;
};

}  // namespace quiver::router

#endif  // QUIVER_SERVER_ROUTER_ROUTER_SERVICE_H_
