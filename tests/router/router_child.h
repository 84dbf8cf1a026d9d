// quiver-router as a child process on 127.0.0.1 (a free port reported
// through --port_file, or a given one), for the router tests and the
// router benchmark. As tests/bench/quiverd_child.h: PR_SET_PDEATHSIG and
// --parent_watchdog, so it never outlives its parent; the destructor
// SIGKILLs it. Header-only, no gtest.
//
//   RouterChild router;
//   QUIVER_RETURN_IF_ERROR(router.Start(path, {a, b, c}, port_file));
#ifndef QUIVER_TESTS_ROUTER_ROUTER_CHILD_H_
#define QUIVER_TESTS_ROUTER_ROUTER_CHILD_H_

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace quiver::testing {

class RouterChild {
 public:
  RouterChild() = default;
  ~RouterChild() { Stop(SIGKILL); }
  RouterChild(const RouterChild&) = delete;
  RouterChild& operator=(const RouterChild&) = delete;

  // Starts quiver-router over `nodes` and waits until it serves. `port_file`
  // is a path the caller owns; `port` 0 = a free one. Output goes to
  // `log_path` (appended) when not empty.
  absl::Status Start(const std::string& binary,
                     const std::vector<std::string>& nodes,
                     const std::string& port_file, int port = 0,
                     const std::vector<std::string>& extra = {},
                     const std::string& log_path = "") {
    if (pid_ > 0) return absl::FailedPreconditionError("already running");
    ::unlink(port_file.c_str());
    std::vector<std::string> args = {binary,
                                     absl::StrCat("--listen=127.0.0.1:", port),
                                     "--shards=" + absl::StrJoin(nodes, ","),
                                     "--port_file=" + port_file,
                                     "--parent_watchdog",
                                     "--shutdown_grace_s=2"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return absl::InternalError("fork failed");
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      if (!log_path.empty()) {
        const int fd =
            ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0) ::_exit(127);
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
        ::close(fd);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pid_ = pid;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return absl::InternalError(absl::StrCat(
            "quiver-router exited during start-up (status ", status, ")"));
      }
      std::ifstream in(port_file);
      int got = 0;
      if (in >> got && got > 0) {
        port_ = got;
        return absl::OkStatus();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    Stop(SIGKILL);
    return absl::DeadlineExceededError("quiver-router did not start");
  }

  // Sends `sig` and waits; the wait status (-1 if not running).
  int Stop(int sig = SIGTERM) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

  bool running() const { return pid_ > 0; }
  int port() const { return port_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace quiver::testing

#endif  // QUIVER_TESTS_ROUTER_ROUTER_CHILD_H_
