// quiver-router as a child process on 127.0.0.1 (a free port reported
// through --port_file, or a given one), for the router tests and the
// router benchmark. As tests/bench/quiverd_child.h (both are
// tests/testing/serving_child.h): PR_SET_PDEATHSIG and --parent_watchdog, so
// it never outlives its parent; the destructor SIGKILLs it. Header-only, no
// gtest.
//
//   RouterChild router;
//   QUIVER_RETURN_IF_ERROR(router.Start(path, {a, b, c}, port_file));
#ifndef QUIVER_TESTS_ROUTER_ROUTER_CHILD_H_
#define QUIVER_TESTS_ROUTER_ROUTER_CHILD_H_

#include <signal.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/testing/serving_child.h"

namespace quiver::testing {

class RouterChild {
 public:
  // Starts quiver-router over `nodes` and waits until it serves. `port_file`
  // is a path the caller owns; `port` 0 = a free one. Output goes to
  // `log_path` (appended) when not empty.
  absl::Status Start(const std::string& binary,
                     const std::vector<std::string>& nodes,
                     const std::string& port_file, int port = 0,
                     const std::vector<std::string>& extra = {},
                     const std::string& log_path = "") {
    ServingChildOptions o;
    o.name = "quiver-router";
    o.args = {binary,
              absl::StrCat("--listen=127.0.0.1:", port),
              "--shards=" + absl::StrJoin(nodes, ","),
              "--port_file=" + port_file,
              "--parent_watchdog",
              "--shutdown_grace_s=2"};
    o.args.insert(o.args.end(), extra.begin(), extra.end());
    o.port_file = port_file;
    o.log_path = log_path;
    o.append_log = true;
    return child_.Start(o);
  }

  // Sends `sig` and waits; the wait status (-1 if not running).
  int Stop(int sig = SIGTERM) { return child_.Stop(sig); }

  bool running() const { return child_.running(); }
  int port() const { return child_.port(); }
  std::string address() const { return child_.address(); }

 private:
  ServingChild child_;
};

}  // namespace quiver::testing

#endif  // QUIVER_TESTS_ROUTER_ROUTER_CHILD_H_
