#include "server/router/router_service.h"

#include <grpcpp/support/client_callback.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>

#include <algorithm>
#include <exception>
#include <fstream>
#include <functional>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "server/engine/config.h"
#include "server/router/shard_map.h"

namespace quiver::router {
namespace {

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

absl::Status ToAbsl(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

// Whether a node's failure means "the node is away" (rather than an
// answer about the request).
bool Away(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

std::string ShardName(const RouterService::Layout& l, uint32_t shard) {
  return absl::StrCat(
      "shard ", shard, " (",
      l.address[shard].empty() ? "node unknown" : l.address[shard], ")");
}

// INVALID_ARGUMENT when a Get or Delete names more ids than one may.
absl::Status CheckIdCount(int ids) {
  if (static_cast<size_t>(ids) > engine::kMaxIdsPerRequest) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%d ids; the limit is %d per request", ids, engine::kMaxIdsPerRequest));
  }
  return absl::OkStatus();
}

// One request per shard holding the ids of `ids` that shard owns, in order.
template <typename Request>
std::vector<Request> SplitIds(
    const google::protobuf::RepeatedPtrField<std::string>& ids,
    uint32_t shards) {
  std::vector<Request> req(shards);
  for (const std::string& id : ids) {
    *req[ShardOf(id, shards)].add_ids() = id;
  }
  return req;
}

// Runs one unary call per target at once and waits for all of them.
// `start(i, context, done)` starts call i on the async stub and arranges
// for done(status) to run when it ends.
std::vector<grpc::Status> RunAll(
    size_t n,
    const std::function<std::unique_ptr<grpc::ClientContext>()>& new_context,
    const std::function<void(size_t, grpc::ClientContext*,
                             std::function<void(grpc::Status)>)>& start) {
  std::vector<grpc::Status> status(n);
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts(n);
  // A plain mutex (not absl::BlockingCounter): the TSan builds' shim
  // annotates absl::Mutex, which orders the statuses for TSan too.
  absl::Mutex mu;
  size_t pending = n;
  for (size_t i = 0; i < n; ++i) {
    contexts[i] = new_context();
    start(i, contexts[i].get(), [&status, &mu, &pending, i](grpc::Status s) {
      absl::MutexLock lock(&mu);
      status[i] = std::move(s);
      --pending;
    });
  }
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](size_t* left) { return *left == 0; }, &pending));
  return status;
}

}  // namespace

struct RouterService::Node {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Quiver::Stub> stub;
};

// One part of an Upsert batch on a stream of its own to one node: write
// the part, half-close, read the acknowledgement, wait for the end.
class RouterService::PartUpsert
    : public grpc::ClientBidiReactor<v1::UpsertRequest, v1::UpsertResponse> {
 public:
  PartUpsert(v1::Quiver::Stub* stub, std::unique_ptr<grpc::ClientContext> ctx,
             v1::UpsertRequest request)
      : ctx_(std::move(ctx)), request_(std::move(request)) {
    stub->async()->Upsert(ctx_.get(), this);
    StartWriteLast(&request_, grpc::WriteOptions());
    StartRead(&ack_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    acked_ = ok;
  }
  void OnDone(const grpc::Status& s) override {
    absl::MutexLock lock(&mu_);
    status_ = s;
    done_ = true;
  }
  // Waits for the end; the acknowledgement, or why there is none.
  absl::StatusOr<v1::UpsertResponse> Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
    if (!status_.ok()) return ToAbsl(status_);
    if (!acked_) {
      return absl::UnavailableError("the stream ended without acknowledging");
    }
    return std::move(ack_);
  }
  // After Wait().
  grpc::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  std::unique_ptr<grpc::ClientContext> ctx_;
  v1::UpsertRequest request_;
  v1::UpsertResponse ack_;
  absl::Mutex mu_;
  bool acked_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

absl::StatusOr<std::unique_ptr<RouterService>> RouterService::Create(
    RouterOptions options, server::Metrics* metrics, server::ApiKeyAuth auth) {
  if (options.nodes.empty()) {
    return absl::InvalidArgumentError("the router needs at least one node");
  }
  std::shared_ptr<grpc::ChannelCredentials> creds =
      grpc::InsecureChannelCredentials();
  if (!options.node_tls_ca.empty()) {
    std::ifstream in(options.node_tls_ca, std::ios::binary);
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read '", options.node_tls_ca, "'"));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ss.str();
    creds = grpc::SslCredentials(ssl);
  }
  std::unique_ptr<RouterService> r(
      new RouterService(std::move(options), metrics, std::move(auth)));
  for (const std::string& address : r->options_.nodes) {
    grpc::ChannelArguments args;
    const int max_bytes = r->options_.max_message_mb << 20;
    args.SetMaxReceiveMessageSize(max_bytes);
    args.SetMaxSendMessageSize(max_bytes);
    if (!r->options_.node_tls_ca.empty() &&
        !r->options_.node_tls_server_name.empty()) {
      args.SetSslTargetNameOverride(r->options_.node_tls_server_name);
    }
    // A node back after a restart is reached again within about a second.
    // gRPC also takes GRPC_ARG_MIN_RECONNECT_BACKOFF_MS as the time one
    // connection attempt (TCP + TLS handshake) may last: 5 s, not 100 ms
    // (TLS handshakes failed on a busy machine) nor the default 20 s (calls
    // to a node whose address stopped answering would wait that long).
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 5000);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    // A node gone without closing its connections (power, network) is
    // noticed within ~30 s; quiverd accepts a ping every 10 s.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20 * 1000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10 * 1000);
    // No retries behind the router's back: a failed call is reported as
    // such (and the client decides), which also spares gRPC's retry buffer.
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
    // One connection per node, not shared with other channels.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto node = std::make_unique<Node>();
    node->address = address;
    node->channel = grpc::CreateCustomChannel(address, creds, args);
    node->stub = v1::Quiver::NewStub(node->channel);
    node->channel->GetState(/*try_to_connect=*/true);
    r->nodes_.push_back(std::move(node));
  }
  return r;
}

RouterService::RouterService(RouterOptions options, server::Metrics* metrics,
                             server::ApiKeyAuth auth)
    : options_(std::move(options)), metrics_(metrics), auth_(std::move(auth)) {
  if (metrics_ != nullptr) {
    node_errors_ = &prometheus::BuildCounter()
                        .Name("quiver_router_node_errors_total")
                        .Help(
                            "Failed calls from the router to a node, by "
                            "node and gRPC status code")
                        .Register(metrics_->families());
    partial_searches_ = &prometheus::BuildCounter()
                             .Name("quiver_router_partial_searches_total")
                             .Help(
                                 "Searches answered without some shards "
                                 "(allow_partial_results)")
                             .Register(metrics_->families())
                             .Add({});
  }
  streams_ = std::make_unique<server::UpsertStreams>(
      options_.streams,
      [this](grpc::CallbackServerContext* context) -> absl::Status {
        if (draining_.load()) {
          return absl::UnavailableError("the router is shutting down");
        }
        return auth_.Check(*context);
      },
      [this](server::ParsedBatch& batch,
             const server::UpsertStreams::BeforeWrite& before_write)
          -> absl::StatusOr<v1::UpsertResponse> {
        if (draining_.load()) {
          return absl::UnavailableError("the router is shutting down");
        }
        // Forwarded in the stream's order: a batch waits here for the one
        // before it (the nodes write what they get at once).
        if (absl::Status s = before_write(); !s.ok()) return s;
        try {
          return UpsertBatch(batch);
        } catch (const std::exception& e) {
          return absl::InternalError(absl::StrCat("upsert: ", e.what()));
        }
      },
      [this](const grpc::Status& status, absl::Duration elapsed) {
        if (metrics_ != nullptr) {
          metrics_->ObserveRpc("Upsert", status.error_code(),
                               absl::ToDoubleSeconds(elapsed));
        }
      });
}

RouterService::~RouterService() = default;

void RouterService::StartDraining() {
  draining_.store(true);
  streams_->Drain();
}

template <typename Fn>
grpc::Status RouterService::Handle(std::string_view method,
                                   grpc::ServerContext* context, Fn&& body) {
  server::RpcTimer timer(metrics_, method);
  inflight_.fetch_add(1);
  grpc::Status status;
  if (draining_.load()) {
    status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the router is shutting down");
  } else {
    absl::Status s = auth_.Check(*context);
    if (s.ok()) {
      try {
        s = body();
      } catch (const std::exception& e) {
        s = absl::InternalError(
            absl::StrCat(std::string(method), ": ", e.what()));
      }
    }
    status = ToGrpc(s);
  }
  inflight_.fetch_sub(1);
  return timer.Finish(std::move(status));
}

absl::Time RouterService::DeadlineOf(const grpc::ServerContext& context) const {
  const absl::Time client = absl::FromChrono(context.deadline());
  return std::min(client, absl::Now() + options_.node_timeout);
}

std::unique_ptr<grpc::ClientContext> RouterService::NodeContext(
    absl::Time deadline) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(deadline));
  if (!options_.node_api_key.empty()) {
    ctx->AddMetadata("authorization",
                     absl::StrCat("Bearer ", options_.node_api_key));
  }
  return ctx;
}

void RouterService::NodeError(int node, grpc::StatusCode code) {
  if (node_errors_ == nullptr || node < 0) return;
  node_errors_
      ->Add({{"node", nodes_[node]->address},
             {"code", server::GrpcCodeName(code)}})
      .Increment();
}

void RouterService::NodeFailed(int node, const std::string& collection,
                               grpc::StatusCode code) {
  NodeError(node, code);
  if (code == grpc::StatusCode::NOT_FOUND) Forget(collection);
}

bool RouterService::NodeReady(int node, absl::Time deadline) {
  if (node < 0) return false;
  grpc::Channel& channel = *nodes_[node]->channel;
  const absl::Time until = std::min(deadline, absl::Now() + absl::Seconds(2));
  grpc_connectivity_state state = channel.GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY) {
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE ||
        state == GRPC_CHANNEL_SHUTDOWN) {
      return false;
    }
    if (!channel.WaitForStateChange(state, absl::ToChronoTime(until))) {
      return false;
    }
    state = channel.GetState(/*try_to_connect=*/true);
  }
  return true;
}

absl::Status RouterService::AskEveryNode(
    absl::Time deadline,
    const std::function<void(size_t, grpc::ClientContext*,
                             std::function<void(grpc::Status)>)>& start) {
  const size_t n = nodes_.size();
  std::vector<grpc::Status> st = RunAll(
      n, [&] { return NodeContext(deadline); }, start);
  for (size_t i = 0; i < n; ++i) {
    if (st[i].ok()) continue;
    NodeError(static_cast<int>(i), st[i].error_code());
    return absl::Status(ToAbsl(st[i]).code(),
                        absl::StrFormat("node %s: %s", nodes_[i]->address,
                                        st[i].error_message()));
  }
  return absl::OkStatus();
}

void RouterService::Forget(const std::string& collection) {
  absl::MutexLock lock(&mu_);
  layouts_.erase(collection);
}

absl::StatusOr<std::shared_ptr<const RouterService::Layout>>
RouterService::Resolve(const std::string& collection, absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    auto it = layouts_.find(collection);
    if (it != layouts_.end() &&
        absl::Now() - it->second->fetched < options_.layout_ttl) {
      return it->second;
    }
  }
  const size_t n = nodes_.size();
  std::vector<v1::GetCollectionRequest> req(n);
  std::vector<v1::CollectionInfo> info(n);
  for (auto& r : req) r.set_name(collection);
  std::vector<grpc::Status> st = RunAll(
      n, [&] { return NodeContext(deadline); },
      [&](size_t i, grpc::ClientContext* ctx, auto done) {
        nodes_[i]->stub->async()->GetCollection(ctx, &req[i], &info[i],
                                                std::move(done));
      });
  auto layout = std::make_shared<Layout>();
  layout->fetched = absl::Now();
  std::vector<std::string> away;
  int found = -1;
  for (size_t i = 0; i < n; ++i) {
    if (st[i].ok()) {
      if (found < 0) found = static_cast<int>(i);
      continue;
    }
    if (st[i].error_code() == grpc::StatusCode::NOT_FOUND) continue;
    NodeError(static_cast<int>(i), st[i].error_code());
    if (!Away(st[i])) return ToAbsl(st[i]);
    away.push_back(
        absl::StrCat(nodes_[i]->address, ": ", st[i].error_message()));
  }
  if (found < 0) {
    if (away.empty()) {
      return absl::NotFoundError(
          absl::StrFormat("collection '%s' not found", collection));
    }
    return absl::UnavailableError(absl::StrFormat(
        "collection '%s' is on none of the nodes that answered; away: %s",
        collection, absl::StrJoin(away, "; ")));
  }
  const v1::ShardPlacement& p = info[found].placement();
  layout->shard_count = std::max<uint32_t>(1, p.shard_count());
  layout->node.assign(layout->shard_count, -1);
  layout->address.assign(layout->shard_count, "");
  if (p.shard_count() == 0) {
    // Created on a node directly: one shard.
    layout->node[0] = found;
    layout->address[0] = nodes_[found]->address;
  } else {
    for (size_t i = 0; i < n; ++i) {
      if (!st[i].ok()) continue;
      const v1::ShardPlacement& q = info[i].placement();
      if (q.shard_count() != p.shard_count() || q.shard() >= q.shard_count()) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "collection '%s': node %s holds shard %d of %d, node %s shard %d "
            "of %d; the nodes disagree on its layout",
            collection, nodes_[found]->address, p.shard(), p.shard_count(),
            nodes_[i]->address, q.shard(), q.shard_count()));
      }
      layout->node[q.shard()] = static_cast<int>(i);
      layout->address[q.shard()] = nodes_[i]->address;
    }
    // Shards whose node did not answer: where the placement says they are.
    for (uint32_t s = 0; s < layout->shard_count; ++s) {
      if (layout->node[s] >= 0 || static_cast<int>(s) >= p.nodes_size()) {
        continue;
      }
      layout->address[s] = p.nodes(s);
      for (size_t i = 0; i < n; ++i) {
        if (nodes_[i]->address == p.nodes(s)) layout->node[s] = int(i);
      }
    }
  }
  // Reused while every shard's node is known (a node away does not move
  // its shard: the next calls to it fail fast instead of asking every node
  // again).
  if (std::all_of(layout->node.begin(), layout->node.end(),
                  [](int node) { return node >= 0; })) {
    absl::MutexLock lock(&mu_);
    layouts_[collection] = layout;
  }
  return std::shared_ptr<const Layout>(std::move(layout));
}

grpc::Status RouterService::CreateCollection(
    grpc::ServerContext* context, const v1::CreateCollectionRequest* request,
    v1::CollectionInfo* response) {
  return Handle("CreateCollection", context, [&]() -> absl::Status {
    const uint32_t n = static_cast<uint32_t>(nodes_.size());
    const uint32_t shards = request->shards() == 0 ? n : request->shards();
    if (shards > n) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "shards is %d but the router has %d nodes; a node holds at most "
          "one shard of a collection",
          shards, n));
    }
    if (request->has_placement()) {
      return absl::InvalidArgumentError(
          "placement is set by the router, not by clients");
    }
    const uint32_t first = FirstNode(request->name(), shards, n);
    std::vector<int> node(shards);
    v1::ShardPlacement placement;
    placement.set_shard_count(shards);
    for (uint32_t s = 0; s < shards; ++s) {
      node[s] = static_cast<int>((first + s) % n);
      placement.add_nodes(nodes_[node[s]]->address);
    }
    std::vector<v1::CreateCollectionRequest> req(shards, *request);
    std::vector<v1::CollectionInfo> info(shards);
    for (uint32_t s = 0; s < shards; ++s) {
      req[s].set_shards(shards);
      *req[s].mutable_placement() = placement;
      req[s].mutable_placement()->set_shard(s);
    }
    const absl::Time deadline = DeadlineOf(*context);
    Forget(request->name());
    std::vector<grpc::Status> st = RunAll(
        shards, [&] { return NodeContext(deadline); },
        [&](size_t s, grpc::ClientContext* ctx, auto done) {
          nodes_[node[s]]->stub->async()->CreateCollection(
              ctx, &req[s], &info[s], std::move(done));
        });
    int failed = -1;
    for (uint32_t s = 0; s < shards; ++s) {
      if (!st[s].ok()) {
        NodeError(node[s], st[s].error_code());
        if (failed < 0) failed = static_cast<int>(s);
      }
    }
    if (failed >= 0) {
      // Undo the shards that were created (best effort), so that the name
      // is free again.
      for (uint32_t s = 0; s < shards; ++s) {
        if (!st[s].ok()) continue;
        v1::DropCollectionRequest drop;
        drop.set_name(request->name());
        v1::DropCollectionResponse dropped;
        auto ctx = NodeContext(absl::Now() + absl::Seconds(10));
        const grpc::Status ds =
            nodes_[node[s]]->stub->DropCollection(ctx.get(), drop, &dropped);
        if (!ds.ok()) {
          QUIVER_LOG(WARNING)
              << "create '" << request->name() << "' failed; undoing shard "
              << s << " on " << nodes_[node[s]]->address
              << " failed too: " << ds.error_message();
        }
      }
      const grpc::Status& f = st[failed];
      // Errors about the request (INVALID_ARGUMENT, ALREADY_EXISTS) read as
      // they do from one node.
      if (!Away(f)) return ToAbsl(f);
      return absl::UnavailableError(absl::StrFormat(
          "collection '%s' not created: shard %d's node %s is unavailable "
          "(%s)",
          request->name(), failed, nodes_[node[failed]]->address,
          f.error_message()));
    }
    *response = AggregateInfo(info);
    return absl::OkStatus();
  });
}

grpc::Status RouterService::GetCollection(
    grpc::ServerContext* context, const v1::GetCollectionRequest* request,
    v1::CollectionInfo* response) {
  return Handle("GetCollection", context, [&]() -> absl::Status {
    const absl::Time deadline = DeadlineOf(*context);
    Forget(request->name());
    QUIVER_ASSIGN_OR_RETURN(std::shared_ptr<const Layout> l,
                            Resolve(request->name(), deadline));
    const uint32_t shards = l->shard_count;
    std::vector<v1::CollectionInfo> info(shards);
    for (uint32_t s = 0; s < shards; ++s) {
      if (l->node[s] < 0) {
        return absl::UnavailableError(
            absl::StrFormat("collection '%s': %s is unavailable",
                            request->name(), ShardName(*l, s)));
      }
    }
    std::vector<grpc::Status> st = RunAll(
        shards, [&] { return NodeContext(deadline); },
        [&](size_t s, grpc::ClientContext* ctx, auto done) {
          nodes_[l->node[s]]->stub->async()->GetCollection(
              ctx, request, &info[s], std::move(done));
        });
    for (uint32_t s = 0; s < shards; ++s) {
      if (st[s].ok()) continue;
      NodeError(l->node[s], st[s].error_code());
      return absl::Status(
          ToAbsl(st[s]).code(),
          absl::StrFormat("collection '%s': %s: %s", request->name(),
                          ShardName(*l, s), st[s].error_message()));
    }
    *response = AggregateInfo(info);
    return absl::OkStatus();
  });
}

grpc::Status RouterService::ListCollections(
    grpc::ServerContext* context, const v1::ListCollectionsRequest* request,
    v1::ListCollectionsResponse* response) {
  return Handle("ListCollections", context, [&]() -> absl::Status {
    const size_t n = nodes_.size();
    const absl::Time deadline = DeadlineOf(*context);
    std::vector<v1::ListCollectionsResponse> lists(n);
    QUIVER_RETURN_IF_ERROR(AskEveryNode(
        deadline, [&](size_t i, grpc::ClientContext* ctx, auto done) {
          nodes_[i]->stub->async()->ListCollections(ctx, request, &lists[i],
                                                    std::move(done));
        }));
    absl::flat_hash_map<std::string, std::vector<v1::CollectionInfo>> by_name;
    for (v1::ListCollectionsResponse& list : lists) {
      for (v1::CollectionInfo& c : *list.mutable_collections()) {
        by_name[c.name()].push_back(std::move(c));
      }
    }
    std::vector<std::string> names;
    for (const auto& [name, infos] : by_name) names.push_back(name);
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      std::vector<v1::CollectionInfo>& infos = by_name[name];
      if (infos[0].placement().shard_count() == 0) {
        // A collection created on a node directly (the first such node's).
        *response->add_collections() = std::move(infos[0]);
      } else {
        *response->add_collections() = AggregateInfo(infos);
      }
    }
    return absl::OkStatus();
  });
}

grpc::Status RouterService::DropCollection(
    grpc::ServerContext* context, const v1::DropCollectionRequest* request,
    v1::DropCollectionResponse* response) {
  return Handle("DropCollection", context, [&]() -> absl::Status {
    const absl::Time deadline = DeadlineOf(*context);
    Forget(request->name());
    QUIVER_ASSIGN_OR_RETURN(std::shared_ptr<const Layout> l,
                            Resolve(request->name(), deadline));
    Forget(request->name());
    const uint32_t shards = l->shard_count;
    std::vector<v1::DropCollectionResponse> out(shards);
    std::vector<grpc::Status> st = RunAll(
        shards, [&] { return NodeContext(deadline); },
        [&](size_t s, grpc::ClientContext* ctx, auto done) {
          if (l->node[s] < 0) {
            done(grpc::Status(grpc::StatusCode::UNAVAILABLE, "node unknown"));
            return;
          }
          nodes_[l->node[s]]->stub->async()->DropCollection(
              ctx, request, &out[s], std::move(done));
        });
    bool dropped = false;
    for (uint32_t s = 0; s < shards; ++s) {
      if (st[s].ok()) dropped = dropped || out[s].dropped();
    }
    for (uint32_t s = 0; s < shards; ++s) {
      if (st[s].ok() || st[s].error_code() == grpc::StatusCode::NOT_FOUND) {
        continue;
      }
      NodeError(l->node[s], st[s].error_code());
      return absl::Status(
          ToAbsl(st[s]).code(),
          absl::StrFormat("collection '%s': %s: %s; the shards that answered "
                          "were dropped: drop it again once the node is back",
                          request->name(), ShardName(*l, s),
                          st[s].error_message()));
    }
    response->set_dropped(dropped);
    return absl::OkStatus();
  });
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
RouterService::Upsert(grpc::CallbackServerContext* context) {
  return streams_->Open(context);
}

absl::StatusOr<v1::UpsertResponse> RouterService::UpsertBatch(
    server::ParsedBatch& batch) {
  v1::UpsertRequest& request = batch.request;
  const size_t n = request.documents_size();
  if (n > engine::kMaxDocumentsPerUpsert) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "batch %d has %d documents; the limit is %d per UpsertRequest",
        request.batch_id(), n, engine::kMaxDocumentsPerUpsert));
  }
  const absl::Time deadline = absl::Now() + options_.node_timeout;
  QUIVER_ASSIGN_OR_RETURN(std::shared_ptr<const Layout> l,
                          Resolve(request.collection(), deadline));
  const uint32_t shards = l->shard_count;
  v1::UpsertResponse response;
  response.set_batch_id(request.batch_id());
  // Split by shard; positions[s][j] is the original index of part s's j-th
  // document.
  std::vector<v1::UpsertRequest> parts(shards);
  std::vector<std::vector<uint32_t>> positions(shards);
  size_t next_malformed = 0;
  for (size_t i = 0; i < n; ++i) {
    if (next_malformed < batch.malformed.size() &&
        batch.malformed[next_malformed] == i) {
      ++next_malformed;
      v1::RecordError* e = response.add_errors();
      e->set_position(static_cast<uint32_t>(i));
      e->set_reason(
          "the document could not be parsed: its id or an attribute is not "
          "valid UTF-8 (proto3 strings must be)");
      continue;
    }
    v1::Document* d = request.mutable_documents(static_cast<int>(i));
    const uint32_t s = ShardOf(d->id(), shards);
    *parts[s].add_documents() = std::move(*d);
    positions[s].push_back(static_cast<uint32_t>(i));
  }
  // Every node needed must be there before anything is sent.
  for (uint32_t s = 0; s < shards; ++s) {
    if (parts[s].documents_size() == 0) continue;
    const int node = l->node[s];
    if (!NodeReady(node, deadline)) {
      NodeError(node, grpc::StatusCode::UNAVAILABLE);
      return absl::UnavailableError(absl::StrFormat(
          "batch %d: %s is unavailable; nothing of the batch was applied",
          request.batch_id(), ShardName(*l, s)));
    }
  }
  std::vector<std::unique_ptr<PartUpsert>> calls(shards);
  for (uint32_t s = 0; s < shards; ++s) {
    if (parts[s].documents_size() == 0) continue;
    parts[s].set_collection(request.collection());
    parts[s].set_batch_id(request.batch_id());
    calls[s] = std::make_unique<PartUpsert>(nodes_[l->node[s]]->stub.get(),
                                            NodeContext(deadline),
                                            std::move(parts[s]));
  }
  std::vector<std::string> stored;
  absl::Status failure;
  for (uint32_t s = 0; s < shards; ++s) {
    if (calls[s] == nullptr) continue;
    absl::StatusOr<v1::UpsertResponse> ack = calls[s]->Wait();
    if (!ack.ok()) {
      NodeError(l->node[s], calls[s]->status().error_code());
      if (ack.status().code() == absl::StatusCode::kNotFound) {
        Forget(request.collection());
      }
      if (failure.ok()) {
        const absl::StatusCode code = Away(calls[s]->status())
                                          ? absl::StatusCode::kUnavailable
                                          : ack.status().code();
        failure = absl::Status(
            code, absl::StrFormat("batch %d: %s: %s", request.batch_id(),
                                  ShardName(*l, s), ack.status().message()));
      }
      continue;
    }
    stored.push_back(absl::StrCat(s));
    response.set_upserted(response.upserted() + ack->upserted());
    for (v1::RecordError& e : *ack->mutable_errors()) {
      if (e.position() < positions[s].size()) {
        e.set_position(positions[s][e.position()]);
      }
      *response.add_errors() = std::move(e);
    }
  }
  if (!failure.ok()) {
    return absl::Status(
        failure.code(),
        absl::StrCat(failure.message(), "; shards that stored their part: ",
                     stored.empty() ? "none" : absl::StrJoin(stored, ", "),
                     ". Resend the batch (upserts replace by id)"));
  }
  std::sort(response.mutable_errors()->begin(),
            response.mutable_errors()->end(),
            [](const v1::RecordError& a, const v1::RecordError& b) {
              return a.position() < b.position();
            });
  return response;
}

grpc::Status RouterService::Get(grpc::ServerContext* context,
                                const v1::GetRequest* request,
                                v1::GetResponse* response) {
  return Handle("Get", context, [&]() -> absl::Status {
    QUIVER_RETURN_IF_ERROR(CheckIdCount(request->ids_size()));
    const absl::Time deadline = DeadlineOf(*context);
    QUIVER_ASSIGN_OR_RETURN(std::shared_ptr<const Layout> l,
                            Resolve(request->collection(), deadline));
    const uint32_t shards = l->shard_count;
    std::vector<v1::GetRequest> req =
        SplitIds<v1::GetRequest>(request->ids(), shards);
    std::vector<v1::GetResponse> out(shards);
    std::vector<uint32_t> used;
    for (uint32_t s = 0; s < shards; ++s) {
      if (req[s].ids_size() == 0) continue;
      if (l->node[s] < 0) {
        return absl::UnavailableError(
            absl::StrFormat("%s is unavailable", ShardName(*l, s)));
      }
      req[s].set_collection(request->collection());
      req[s].set_include_vectors(request->include_vectors());
      used.push_back(s);
    }
    std::vector<grpc::Status> st = RunAll(
        used.size(), [&] { return NodeContext(deadline); },
        [&](size_t j, grpc::ClientContext* ctx, auto done) {
          const uint32_t s = used[j];
          nodes_[l->node[s]]->stub->async()->Get(ctx, &req[s], &out[s],
                                                 std::move(done));
        });
    for (size_t j = 0; j < used.size(); ++j) {
      if (st[j].ok()) continue;
      const uint32_t s = used[j];
      NodeFailed(l->node[s], request->collection(), st[j].error_code());
      if (!Away(st[j])) return ToAbsl(st[j]);
      return absl::UnavailableError(absl::StrFormat(
          "%s is unavailable: %s", ShardName(*l, s), st[j].error_message()));
    }
    // In the order of the request's ids, as one node answers.
    absl::flat_hash_map<std::string, v1::Document*> found;
    for (uint32_t s : used) {
      for (v1::Document& d : *out[s].mutable_documents()) {
        found.emplace(d.id(), &d);
      }
    }
    for (const std::string& id : request->ids()) {
      auto it = found.find(id);
      if (it == found.end()) continue;
      *response->add_documents() = *it->second;
    }
    return absl::OkStatus();
  });
}

grpc::Status RouterService::Delete(grpc::ServerContext* context,
                                   const v1::DeleteRequest* request,
                                   v1::DeleteResponse* response) {
  return Handle("Delete", context, [&]() -> absl::Status {
    QUIVER_RETURN_IF_ERROR(CheckIdCount(request->ids_size()));
    const absl::Time deadline = DeadlineOf(*context);
    QUIVER_ASSIGN_OR_RETURN(std::shared_ptr<const Layout> l,
                            Resolve(request->collection(), deadline));
    const uint32_t shards = l->shard_count;
    std::vector<v1::DeleteRequest> req =
        SplitIds<v1::DeleteRequest>(request->ids(), shards);
    std::vector<v1::DeleteResponse> out(shards);
    std::vector<uint32_t> used;
    for (uint32_t s = 0; s < shards; ++s) {
      if (req[s].ids_size() == 0) continue;
      if (!NodeReady(l->node[s], deadline)) {
        NodeError(l->node[s], grpc::StatusCode::UNAVAILABLE);
        return absl::UnavailableError(absl::StrFormat(
            "%s is unavailable; nothing was deleted", ShardName(*l, s)));
      }
      req[s].set_collection(request->collection());
      used.push_back(s);
    }
    std::vector<grpc::Status> st = RunAll(
        used.size(), [&] { return NodeContext(deadline); },
        [&](size_t j, grpc::ClientContext* ctx, auto done) {
          const uint32_t s = used[j];
          nodes_[l->node[s]]->stub->async()->Delete(ctx, &req[s], &out[s],
                                                    std::move(done));
        });
    uint64_t deleted = 0;
    for (size_t j = 0; j < used.size(); ++j) {
      if (st[j].ok()) deleted += out[used[j]].deleted();
    }
    for (size_t j = 0; j < used.size(); ++j) {
      if (st[j].ok()) continue;
      const uint32_t s = used[j];
      NodeFailed(l->node[s], request->collection(), st[j].error_code());
      if (!Away(st[j])) return ToAbsl(st[j]);
      return absl::UnavailableError(absl::StrFormat(
          "%s is unavailable: %s; the other shards deleted their ids (%d); "
          "Delete again (it is idempotent)",
          ShardName(*l, s), st[j].error_message(), deleted));
    }
    response->set_deleted(deleted);
    return absl::OkStatus();
  });
}

grpc::Status RouterService::Search(grpc::ServerContext* context,
                                   const v1::SearchRequest* request,
                                   v1::SearchResponse* response) {
  return Handle("Search", context, [&]() -> absl::Status {
    absl::Time deadline = DeadlineOf(*context);
    QUIVER_ASSIGN_OR_RETURN(std::shared_ptr<const Layout> l,
                            Resolve(request->collection(), deadline));
    const uint32_t shards = l->shard_count;
    if (request->allow_partial_results()) {
      // Leave time to answer with what did come back.
      const absl::Duration left = deadline - absl::Now();
      deadline -= std::min(absl::Milliseconds(50), left / 10);
    }
    std::vector<v1::SearchResponse> out(shards);
    if (shards == 1 && l->node[0] >= 0) {
      // One shard: a plain call on this thread, the answer as it is.
      auto ctx = NodeContext(deadline);
      const grpc::Status s =
          nodes_[l->node[0]]->stub->Search(ctx.get(), *request, response);
      if (s.ok()) return absl::OkStatus();
      response->Clear();
      NodeFailed(l->node[0], request->collection(), s.error_code());
      if (!Away(s)) return ToAbsl(s);
      return absl::Status(
          ToAbsl(s).code(),
          absl::StrCat("search of '", request->collection(),
                       "': ", ShardName(*l, 0), ": ", s.error_message()));
    }
    std::vector<grpc::Status> st = RunAll(
        shards, [&] { return NodeContext(deadline); },
        [&](size_t s, grpc::ClientContext* ctx, auto done) {
          if (l->node[s] < 0) {
            done(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "its node is not known to this router"));
            return;
          }
          nodes_[l->node[s]]->stub->async()->Search(ctx, request, &out[s],
                                                    std::move(done));
        });
    std::vector<v1::SearchResponse> answered;
    std::vector<std::string> missing;
    std::vector<std::string> why;
    bool all_deadline = true;
    for (uint32_t s = 0; s < shards; ++s) {
      if (st[s].ok()) {
        answered.push_back(std::move(out[s]));
        continue;
      }
      NodeFailed(l->node[s], request->collection(), st[s].error_code());
      if (!Away(st[s])) return ToAbsl(st[s]);
      all_deadline = all_deadline &&
                     st[s].error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
      missing.push_back(ShardName(*l, s));
      why.push_back(
          absl::StrCat(ShardName(*l, s), ": ", st[s].error_message()));
    }
    if (!missing.empty() &&
        (!request->allow_partial_results() || answered.empty())) {
      return absl::Status(
          all_deadline ? absl::StatusCode::kDeadlineExceeded
                       : absl::StatusCode::kUnavailable,
          absl::StrCat("search of '", request->collection(),
                       "': ", absl::StrJoin(why, "; "),
                       request->allow_partial_results()
                           ? ""
                           : " (allow_partial_results answers without it)"));
    }
    *response = MergeSearch(answered, request->k());
    if (!missing.empty()) {
      if (partial_searches_ != nullptr) partial_searches_->Increment();
      response->set_partial(true);
      for (std::string& m : missing) response->add_missing_shards(std::move(m));
    }
    return absl::OkStatus();
  });
}

grpc::Status RouterService::Train(grpc::ServerContext* context,
                                  const v1::TrainRequest* request,
                                  v1::CollectionInfo* response) {
  return Handle("Train", context, [&]() -> absl::Status {
    const absl::Time deadline = DeadlineOf(*context);
    QUIVER_ASSIGN_OR_RETURN(std::shared_ptr<const Layout> l,
                            Resolve(request->collection(), deadline));
    const uint32_t shards = l->shard_count;
    std::vector<v1::CollectionInfo> out(shards);
    std::vector<grpc::Status> st = RunAll(
        shards, [&] { return NodeContext(deadline); },
        [&](size_t s, grpc::ClientContext* ctx, auto done) {
          if (l->node[s] < 0) {
            done(grpc::Status(grpc::StatusCode::UNAVAILABLE, "node unknown"));
            return;
          }
          nodes_[l->node[s]]->stub->async()->Train(ctx, request, &out[s],
                                                   std::move(done));
        });
    for (uint32_t s = 0; s < shards; ++s) {
      if (st[s].ok()) continue;
      NodeError(l->node[s], st[s].error_code());
      return absl::Status(
          ToAbsl(st[s]).code(),
          absl::StrFormat("%s: %s", ShardName(*l, s), st[s].error_message()));
    }
    *response = AggregateInfo(out);
    return absl::OkStatus();
  });
}

grpc::Status RouterService::Backup(grpc::ServerContext* context,
                                   const v1::BackupRequest* request,
                                   v1::BackupResponse* response) {
  return Handle("Backup", context, [&]() -> absl::Status {
    const size_t n = nodes_.size();
    const absl::Time deadline = DeadlineOf(*context);
    std::vector<v1::BackupResponse> out(n);
    QUIVER_RETURN_IF_ERROR(AskEveryNode(
        deadline, [&](size_t i, grpc::ClientContext* ctx, auto done) {
          nodes_[i]->stub->async()->Backup(ctx, request, &out[i],
                                           std::move(done));
        }));
    response->set_directory(out[0].directory());
    return absl::OkStatus();
  });
}

}  // namespace quiver::router
