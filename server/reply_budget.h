// A bound on the memory that replies waiting to be sent may hold.
//
// A unary reply lives in the server until the client has read it: a client
// that asks for 17 MB replies and never reads them keeps each one (and
// its thread) for as long as its connection lasts. Calls whose reply is
// large (at least `small_reply_bytes`) reserve its estimated size here
// before doing the work; the reservation lasts until gRPC is done with the
// call (the interceptor below, destroyed with the call, releases it). Past
// `limit_bytes` in flight, such calls get RESOURCE_EXHAUSTED naming the
// limit, while small replies are never refused.
//
//   ReplyBudget budget({.limit_bytes = 512 << 20});
//   builder.experimental().SetInterceptorCreators(budget.Interceptors());
//   QUIVER_RETURN_IF_ERROR(budget.Reserve(context, estimate, "Search"));
//
// Thread safety: thread-safe.
#ifndef QUIVER_SERVER_REPLY_BUDGET_H_
#define QUIVER_SERVER_REPLY_BUDGET_H_

#include <grpcpp/support/server_interceptor.h>

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace quiver::server {

struct ReplyBudgetOptions {
  // Bytes of large replies in flight, all calls together.
  size_t limit_bytes = size_t{1} << 30;
  // Replies below this are not counted (nor refused).
  size_t small_reply_bytes = size_t{1} << 20;
};

class ReplyBudget {
 public:
  explicit ReplyBudget(ReplyBudgetOptions options = {}) : options_(options) {}

  // Reserves `bytes` for the reply of the call of `context` (added to what
  // it holds already). RESOURCE_EXHAUSTED when that would pass the limit.
  absl::Status Reserve(const grpc::ServerContextBase* context, size_t bytes,
                       std::string_view method) ABSL_LOCKS_EXCLUDED(mu_);
  // Frees what the call holds (called when gRPC is done with the call).
  void Release(const grpc::ServerContextBase* context) ABSL_LOCKS_EXCLUDED(mu_);
  size_t in_flight() const ABSL_LOCKS_EXCLUDED(mu_);

  // The factory to install on the ServerBuilder; the budget must outlive
  // the server.
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
  Interceptors();

 private:
  const ReplyBudgetOptions options_;
  mutable absl::Mutex mu_;
  size_t used_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<const void*, size_t> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace quiver::server

#endif  // QUIVER_SERVER_REPLY_BUDGET_H_
