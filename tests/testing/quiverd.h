// The one way tests start quiverd: a real child process listening on
// 127.0.0.1 only, on a free port (the server binds 127.0.0.1:0 and reports
// the port through --port_file), over a data directory the test owns.
//
//   Quiverd server;
//   QUIVER_ASSERT_OK(server.Start(dir.Sub("data")));
//   auto stub = server.NewStub();
//   ASSERT_EQ(server.Stop(SIGTERM), 0);          // clean shutdown
//   QUIVER_ASSERT_OK(server.Start(dir.Sub("data")));  // again, new port
//   QUIVER_ASSERT_OK(server.Restart(SIGKILL));   // crash; same port and data
//
// Start() returns once quiverd serves: it writes --port_file only after its
// gRPC server has started. The child gets PR_SET_PDEATHSIG(SIGKILL) and
// --parent_watchdog, so it never outlives the test binary; the destructor
// SIGKILLs it. The process itself is tests/bench/quiverd_child.h's
// QuiverdChild (header-only, no gtest), which the benchmarks use too.
//
// The binary is QUIVERD_PATH (a compile definition, see tests/server and
// tests/client CMakeLists.txt); without one, Built() is false and Start()
// fails, so tests that can run without quiverd skip on !Built().
#ifndef QUIVER_TESTS_TESTING_QUIVERD_H_
#define QUIVER_TESTS_TESTING_QUIVERD_H_

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "quiver/v1/quiver.grpc.pb.h"
#include "tests/bench/quiverd_child.h"

namespace quiver::testing {

class Quiverd {
 public:
  // Path of the quiverd binary ("" when the test was built without one).
  static std::string Path() {
#ifdef QUIVERD_PATH
    return QUIVERD_PATH;
#else
    return "";
#endif
  }
  // Whether the binary exists (tests skip when it does not).
  static bool Built() {
    const std::string path = Path();
    return !path.empty() && std::filesystem::exists(path);
  }

  Quiverd() = default;
  Quiverd(const Quiverd&) = delete;
  Quiverd& operator=(const Quiverd&) = delete;

  // Sends the server's stdout and stderr to `path` (appended; one file over
  // restarts) instead of the test's own. Call before Start().
  void set_log_file(const std::string& path) { log_file_ = path; }
  // The log file's contents ("" without set_log_file()).
  std::string log() const {
    if (log_file_.empty()) return "";
    std::ifstream in(log_file_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // Starts quiverd on `data_dir` with `extra` flags on 127.0.0.1:`port`
  // (0: a free one) and waits (up to 120 s, for sanitizer builds) until it
  // serves.
  absl::Status Start(const std::string& data_dir,
                     const std::vector<std::string>& extra = {}, int port = 0) {
    if (running()) return absl::FailedPreconditionError("already running");
    if (!Built()) {
      return absl::FailedPreconditionError(
          absl::StrCat("quiverd not built (QUIVERD_PATH '", Path(), "')"));
    }
    data_dir_ = data_dir;
    extra_ = extra;
    bench::QuiverdChildOptions o;
    o.binary = Path();
    o.data_dir = data_dir;
    o.port = port;
#if defined(__SANITIZE_THREAD__)
    // libgomp is not instrumented: keep training's OpenMP to one thread.
    o.extra_args = {"--train_threads=1"};
#else
    o.extra_args = {"--train_threads=2"};
#endif
    o.extra_args.insert(o.extra_args.end(), extra.begin(), extra.end());
    o.log_path = log_file_;
    o.append_log = true;
    o.startup_timeout = std::chrono::seconds(120);
    const absl::Status s = child_.Start(o);
    if (s.ok() || log_file_.empty()) return s;
    return absl::Status(s.code(),
                        absl::StrCat(s.message(), "; its log:\n", log()));
  }

  // Stops the server with `sig` and starts it again on the same data
  // directory, flags and port (clients keep their address).
  absl::Status Restart(int sig = SIGKILL) {
    if (!running()) return absl::FailedPreconditionError("not running");
    const int old_port = port();
    Stop(sig);
    return Start(data_dir_, extra_, old_port);
  }

  // Sends `sig` and waits for the process; returns its wait status (-1 if
  // it was not running).
  int Stop(int sig = SIGTERM) { return child_.Stop(sig); }

  bool running() const { return child_.running(); }
  int port() const { return child_.port(); }
  pid_t pid() const { return child_.pid(); }
  std::string address() const { return child_.address(); }

  std::shared_ptr<grpc::Channel> NewChannel(
      std::shared_ptr<grpc::ChannelCredentials> creds = nullptr) const {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(256 << 20);
    args.SetMaxSendMessageSize(256 << 20);
    return grpc::CreateCustomChannel(
        address(), creds ? creds : grpc::InsecureChannelCredentials(), args);
  }
  std::unique_ptr<v1::Quiver::Stub> NewStub() const {
    return v1::Quiver::NewStub(NewChannel());
  }

 private:
  bench::QuiverdChild child_;
  std::string data_dir_;
  std::vector<std::string> extra_;
  std::string log_file_;
};

}  // namespace quiver::testing

#endif  // QUIVER_TESTS_TESTING_QUIVERD_H_
