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
// SIGKILLs it.
//
// The binary is QUIVERD_PATH (a compile definition, see tests/server and
// tests/client CMakeLists.txt); without one, Built() is false and Start()
// fails, so tests that can run without quiverd skip on !Built().
#ifndef QUIVER_TESTS_TESTING_QUIVERD_H_
#define QUIVER_TESTS_TESTING_QUIVERD_H_

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "quiver/v1/quiver.grpc.pb.h"

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
  ~Quiverd() {
    if (pid_ > 0) Stop(SIGKILL);
  }
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
    if (pid_ > 0) return absl::FailedPreconditionError("already running");
    if (!Built()) {
      return absl::FailedPreconditionError(
          absl::StrCat("quiverd not built (QUIVERD_PATH '", Path(), "')"));
    }
    data_dir_ = data_dir;
    extra_ = extra;
    port_file_ = data_dir + ".port";
    ::unlink(port_file_.c_str());
    std::vector<std::string> args = {
      Path(),
      absl::StrCat("--listen=127.0.0.1:", port),
      "--data_dir=" + data_dir,
      "--port_file=" + port_file_,
      "--parent_watchdog",
#if defined(__SANITIZE_THREAD__)
      // libgomp is not instrumented: keep training's OpenMP to one thread.
      "--train_threads=1"
    };
#else
      "--train_threads=2"
    };
#endif
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
      if (!log_file_.empty()) {
        const int fd =
            ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0) ::_exit(127);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pid_ = pid;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return absl::InternalError(
            absl::StrFormat("quiverd exited during start-up (status 0x%x)%s",
                            status, LogForError()));
      }
      std::ifstream in(port_file_);
      int got = 0;
      if (in >> got && got > 0) {
        port_ = got;
        return absl::OkStatus();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    Stop(SIGKILL);
    return absl::DeadlineExceededError(
        absl::StrCat("quiverd did not write its port file", LogForError()));
  }

  // Stops the server with `sig` and starts it again on the same data
  // directory, flags and port (clients keep their address).
  absl::Status Restart(int sig = SIGKILL) {
    if (pid_ <= 0) return absl::FailedPreconditionError("not running");
    const int port = port_;
    Stop(sig);
    return Start(data_dir_, extra_, port);
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
  int port() const { return port_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

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
  std::string LogForError() const {
    return log_file_.empty() ? "" : absl::StrCat("; its log:\n", log());
  }

  pid_t pid_ = -1;
  int port_ = 0;
  std::string data_dir_;
  std::vector<std::string> extra_;
  std::string port_file_;
  std::string log_file_;
};

}  // namespace quiver::testing

#endif  // QUIVER_TESTS_TESTING_QUIVERD_H_
