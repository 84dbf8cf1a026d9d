// API-key authentication of Quiver RPCs: with a key configured, every call
// must carry the metadata `authorization: Bearer <key>`. The gRPC health
// service does not go through this check.
//
//   ApiKeyAuth auth(options.api_key);
//   QUIVER_RETURN_IF_ERROR(auth.Check(*context));
//
// Thread safety: immutable after construction; Check() is thread-safe.
#ifndef QUIVER_SERVER_AUTH_H_
#define QUIVER_SERVER_AUTH_H_

#include <grpcpp/server_context.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace quiver::server {

class ApiKeyAuth {
 public:
  // An empty key disables authentication.
  explicit ApiKeyAuth(std::string key) : key_(std::move(key)) {}

  bool enabled() const { return !key_.empty(); }
  // OK when disabled or the call carries the right bearer key;
  // UNAUTHENTICATED otherwise (the message never echoes the key).
  absl::Status Check(const grpc::ServerContextBase& context) const;
  // Whether `candidate` is the key (constant time); false when disabled.
  bool Matches(std::string_view candidate) const;

 private:
  std::string key_;
};

}  // namespace quiver::server

#endif  // QUIVER_SERVER_AUTH_H_
