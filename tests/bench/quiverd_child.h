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
// SIGKILLs it. Header-only, no gtest: nothing to link but Abseil's status.
#ifndef QUIVER_TESTS_BENCH_QUIVERD_CHILD_H_
#define QUIVER_TESTS_BENCH_QUIVERD_CHILD_H_

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
  QuiverdChild() = default;
  ~QuiverdChild() {
    if (pid_ > 0) Stop(SIGKILL);
  }
  QuiverdChild(const QuiverdChild&) = delete;
  QuiverdChild& operator=(const QuiverdChild&) = delete;

  // Starts quiverd and waits until it serves (its port file is written).
  absl::Status Start(const QuiverdChildOptions& o) {
    if (pid_ > 0) return absl::FailedPreconditionError("already running");
    const std::string port_file = o.data_dir + ".port";
    ::unlink(port_file.c_str());
    std::vector<std::string> args = {
        o.binary, absl::StrCat("--listen=127.0.0.1:", o.port),
        "--data_dir=" + o.data_dir, "--port_file=" + port_file,
        "--parent_watchdog"};
    args.insert(args.end(), o.extra_args.begin(), o.extra_args.end());
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
        return absl::InternalError(
            absl::StrFormat("quiverd '%s' exited during start-up (status 0x%x)",
                            o.binary, status));
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
    return absl::DeadlineExceededError("quiverd did not write its port file");
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

}  // namespace quiver::bench

#endif  // QUIVER_TESTS_BENCH_QUIVERD_CHILD_H_
