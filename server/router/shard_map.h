// The pure parts of quiver-router: which shard holds an id, the node list
// of --shards, and how per-shard answers combine into one.
//
// The shard of a document is
//
//   shard = XXH64(id's UTF-8 bytes, seed 0) % shard_count
//
// (xxHash's XXH64, Debian's libxxhash), fixed for the life of a
// collection: any client may compute it, and every router agrees.
//
// Thread safety: free functions without shared state.
#ifndef QUIVER_SERVER_ROUTER_SHARD_MAP_H_
#define QUIVER_SERVER_ROUTER_SHARD_MAP_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "quiver/v1/quiver.pb.h"

namespace quiver::router {

// XXH64 of the id's bytes with seed 0.
uint64_t IdHash(std::string_view id);

// The shard of `id` among `shard_count` (>= 1) shards.
inline uint32_t ShardOf(std::string_view id, uint32_t shard_count) {
  return static_cast<uint32_t>(IdHash(id) % shard_count);
}

// Expands --shards: a comma-separated list of host:port, where a host may
// hold one numeric range in braces, as a Kubernetes StatefulSet names its
// pods:
//   "a:1,b:2"                          -> a:1, b:2
//   "quiver-{0..2}.quiver:50051"       -> quiver-0.quiver:50051,
//                                         quiver-1.quiver:50051,
//                                         quiver-2.quiver:50051
// INVALID_ARGUMENT for an empty list, an entry without a port, a bad range
// or a node named twice.
absl::StatusOr<std::vector<std::string>> ExpandNodes(std::string_view spec);

// The first node of a collection of `shard_count` shards over `node_count`
// nodes: shard i lives on node (first + i) % node_count. One shard per
// node starts at node 0; fewer shards start at XXH64(name) % node_count,
// so that small collections spread over the nodes.
uint32_t FirstNode(std::string_view collection, uint32_t shard_count,
                   uint32_t node_count);

// Merges per-shard answers to one search: per query, the k best hits of
// all shards by distance (ties by id), best first. `shards` holds one
// response per shard that answered, each with the same number of queries.
v1::SearchResponse MergeSearch(std::vector<v1::SearchResponse>& shards,
                               uint32_t k);

// One collection's description from its shards' (any order, at least
// one): counts and bytes summed, the state the least advanced (UNTRAINED <
// TRAINING < READY), list sizes and recall the worst, `shards` their number.
v1::CollectionInfo AggregateInfo(const std::vector<v1::CollectionInfo>& shards);

}  // namespace quiver::router

#endif  // QUIVER_SERVER_ROUTER_SHARD_MAP_H_
