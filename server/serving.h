// What quiverd and quiver-router share to serve gRPC: TLS credentials from
// PEM files, the builder's settings (message sizes, thread quota,
// keepalive), health and reflection, the drain at shutdown, and the
// binaries' port file and signal-driven shutdown.
//
//   QUIVER_RETURN_IF_ERROR(CheckMaxMessageMb(o.max_message_mb));
//   QUIVER_ASSIGN_OR_RETURN(auto creds, MakeServerCredentials(cert, key));
//   GrpcServing serving{o.listen, creds, o.max_message_mb, o.threads, "x"};
//   QUIVER_ASSIGN_OR_RETURN(auto server,
//                           StartGrpcServer(serving, &service, {}, &port));
//   ...
//   DrainAndStop(*server, inflight, start_draining, grace, ...);
#ifndef QUIVER_SERVER_SERVING_H_
#define QUIVER_SERVER_SERVING_H_

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace quiver::server {

// INVALID_ARGUMENT unless 1 <= max_message_mb <= 2047.
absl::Status CheckMaxMessageMb(int max_message_mb);

// Insecure credentials when both paths are empty, TLS with the PEM
// certificate chain and key otherwise; INVALID_ARGUMENT when only one is set
// or a file cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::string& tls_cert, const std::string& tls_key);

struct GrpcServing {
  // "host:port"; port 0 picks a free port.
  std::string listen;
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // Largest message received or sent, MiB (see CheckMaxMessageMb).
  int max_message_mb = 64;
  // Most threads serving unary calls (0 = no limit).
  int threads = 0;
  // Name of the thread quota.
  std::string quota_name;
};

// Builds and starts a server of `service` (with the default health service
// and reflection) on `serving.listen`, keepalive as a long-running server
// wants it; its health says SERVING for the Quiver service name. Sets
// `*port` to the bound port. UNAVAILABLE if the address cannot be bound.
absl::StatusOr<std::unique_ptr<grpc::Server>> StartGrpcServer(
    const GrpcServing& serving, grpc::Service* service,
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors,
    int* port);

// Stops `server` in order: health goes NOT_SERVING, `start_draining` runs,
// the calls counted by `inflight` get until `grace` to finish, then the
// server shuts down (cancelling what is left) and the streams it cancelled
// get until `streams_limit` to end. With `warn_on_cancel`, logs how many
// calls are cancelled.
void DrainAndStop(grpc::Server& server, absl::FunctionRef<int()> inflight,
                  absl::FunctionRef<void()> start_draining,
                  absl::Duration grace, absl::Duration streams_limit,
                  bool warn_on_cancel);

// Writes `port` and a newline to `path` atomically (a temporary file
// renamed); false on failure, errno set.
bool WritePortFile(const std::string& path, int port);

// SIGTERM and SIGINT, blocked in the constructing thread and the threads
// it starts later (construct it first in main), for Wait().
class ShutdownSignals {
 public:
  ShutdownSignals();
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;

  // Returns once a signal arrives ("signal Terminated") or, with
  // `watch_parent`, once the process that was the parent at construction
  // has exited ("parent process exited").
  std::string Wait(bool watch_parent) const;

  // What a server binary does once its server has started: writes `port`
  // to `port_file` (when set; exit status 1 if that fails), waits for
  // Wait(watch_parent), logs why, calls `shutdown` and returns 0.
  int ServeUntilShutdown(int port, const std::string& port_file,
                         bool watch_parent,
                         absl::FunctionRef<void()> shutdown) const;

 private:
  sigset_t signals_;
  pid_t parent_;
};

}  // namespace quiver::server

#endif  // QUIVER_SERVER_SERVING_H_
