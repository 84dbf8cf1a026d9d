// A server binary (quiverd, quiver-router) as a child process that reports
// its port through a port file once it serves; what tests/bench/
// quiverd_child.h and tests/router/router_child.h share. The child gets
// PR_SET_PDEATHSIG(SIGKILL) (its args should include --parent_watchdog), so
// it never outlives this process; the destructor SIGKILLs it. Header-only,
// no gtest: nothing to link but Abseil's status.
//
//   ServingChild child;
//   QUIVER_RETURN_IF_ERROR(child.Start({.name = "quiverd",
//                                       .args = {path, "--port_file=" + pf},
//                                       .port_file = pf}));
//   ... connect to child.address() ...
//   const int wait_status = child.Stop(SIGTERM);
#ifndef QUIVER_TESTS_TESTING_SERVING_CHILD_H_
#define QUIVER_TESTS_TESTING_SERVING_CHILD_H_

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
#include "absl/strings/str_format.h"

namespace quiver::testing {

struct ServingChildOptions {
  // Names the child in errors.
  std::string name;
  // The executable and its flags.
  std::vector<std::string> args;
  // Where the child writes its port once it serves (removed first).
  std::string port_file;
  // The child's stdout and stderr go to this file ("" = this process's own);
  // start-up fails if it cannot be opened.
  std::string log_path;
  bool append_log = false;  // append to log_path (else truncate it)
  // How long to wait for the port file.
  std::chrono::seconds startup_timeout{60};
};

class ServingChild {
 public:
  ServingChild() = default;
  ~ServingChild() {
    if (pid_ > 0) Stop(SIGKILL);
  }
  ServingChild(const ServingChild&) = delete;
  ServingChild& operator=(const ServingChild&) = delete;

  // Starts the child and waits until it serves (its port file is written).
  absl::Status Start(const ServingChildOptions& o) {
    if (pid_ > 0) return absl::FailedPreconditionError("already running");
    ::unlink(o.port_file.c_str());
    std::vector<std::string> args = o.args;
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int log_flags =
        O_WRONLY | O_CREAT | (o.append_log ? O_APPEND : O_TRUNC);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return absl::InternalError("fork failed");
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      if (!o.log_path.empty()) {
        const int fd = ::open(o.log_path.c_str(), log_flags, 0644);
        if (fd < 0) ::_exit(127);
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
        ::close(fd);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pid_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + o.startup_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return absl::InternalError(absl::StrFormat(
            "%s exited during start-up (status 0x%x)", o.name, status));
      }
      std::ifstream in(o.port_file);
      int got = 0;
      if (in >> got && got > 0) {
        port_ = got;
        return absl::OkStatus();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    Stop(SIGKILL);
    return absl::DeadlineExceededError(
        absl::StrCat(o.name, " did not write its port file"));
  }

  // Sends `sig` and waits for the process; returns its wait status (-1 if
  // it was not running).
  int Stop(int sig = SIGTERM) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // The port it serves on (valid after a successful Start()).
  int port() const { return port_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace quiver::testing

#endif  // QUIVER_TESTS_TESTING_SERVING_CHILD_H_
