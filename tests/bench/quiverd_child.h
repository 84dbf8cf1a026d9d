// The one way the benchmarks (server_bench, stream_bench) and the tests
// (tests/testing/quiverd.h) run quiverd as a child process: listening on
// 127.0.0.1 only, on a free port (the server binds 127.0.0.1:0 and reports
// the port through --port_file) or a given one, over a data directory the
// caller owns.
//
//   QuiverdChild server;
//   QUIVER_RETURN_IF_ERROR(server.Start({.binary = path, .data_dir = dir}));
//   ... connect to server.address() ...
//   const int wait_status = server.Stop(SIGTERM);  // clean shutdown
//
// Start() returns once quiverd serves: it writes --port_file only after its
// gRPC server has started. The child gets PR_SET_PDEATHSIG(SIGKILL) and
// --parent_watchdog, so it never outlives this process; the destructor
// SIGKILLs it (tests/testing/serving_child.h). Header-only, no gtest:
// nothing to link but Abseil's status.
#ifndef QUIVER_TESTS_BENCH_QUIVERD_CHILD_H_
#define QUIVER_TESTS_BENCH_QUIVERD_CHILD_H_

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tests/testing/serving_child.h"

namespace quiver::bench {

struct QuiverdChildOptions {
  std::string binary;    // the quiverd executable
  std::string data_dir;  // --data_dir; the port file is data_dir + ".port"
  int port = 0;          // 127.0.0.1:port; 0 = a free one
  std::vector<std::string> extra_args;  // more quiverd flags, appended
  // The child's stdout and stderr go to this file ("" = this process's own);
  // start-up fails if it cannot be opened.
  std::string log_path;
  bool append_log = false;  // append to log_path (else truncate it)
  // How long to wait for the port file.
  std::chrono::seconds startup_timeout{60};
};

class QuiverdChild {
 public:
  // Starts quiverd and waits until it serves (its port file is written).
  absl::Status Start(const QuiverdChildOptions& o) {
    testing::ServingChildOptions c;
    c.name = absl::StrFormat("quiverd '%s'", o.binary);
    c.port_file = o.data_dir + ".port";
    c.args = {o.binary, absl::StrCat("--listen=127.0.0.1:", o.port),
              "--data_dir=" + o.data_dir, "--port_file=" + c.port_file,
              "--parent_watchdog"};
    c.args.insert(c.args.end(), o.extra_args.begin(), o.extra_args.end());
    c.log_path = o.log_path;
    c.append_log = o.append_log;
    c.startup_timeout = o.startup_timeout;
    return child_.Start(c);
  }

  // Sends `sig` and waits for the process; returns its wait status (-1 if
  // it was not running).
  int Stop(int sig = SIGTERM) { return child_.Stop(sig); }

  bool running() const { return child_.running(); }
  pid_t pid() const { return child_.pid(); }
  // The port it serves on (valid after a successful Start()).
  int port() const { return child_.port(); }
  std::string address() const { return child_.address(); }

 private:
  testing::ServingChild child_;
};

}  // namespace quiver::bench

#endif  // QUIVER_TESTS_BENCH_QUIVERD_CHILD_H_
