// Test helpers for the server tests: a real quiverd child process on
// 127.0.0.1:0 (the port comes back through --port_file), and small wrappers
// over the generated gRPC stub.
//
//   QuiverdProcess server;
//   QUIVER_ASSERT_OK(server.Start(dir.Sub("data")));
//   auto stub = server.NewStub();
//   ... server.Stop(SIGKILL); server.Start(dir.Sub("data"));  // restart
//
// The child gets PR_SET_PDEATHSIG(SIGKILL) and --parent_watchdog, so it
// never outlives the test binary; the destructor kills it.
#ifndef QUIVER_TESTS_SERVER_QUIVERD_PROCESS_H_
#define QUIVER_TESTS_SERVER_QUIVERD_PROCESS_H_

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "quiver/v1/quiver.grpc.pb.h"

#ifndef QUIVERD_PATH
#error "QUIVERD_PATH must name the quiverd binary"
#endif

namespace quiver::testing {

inline absl::Status ToAbsl(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

class QuiverdProcess {
 public:
  QuiverdProcess() = default;
  ~QuiverdProcess() {
    if (pid_ > 0) Stop(SIGKILL);
  }
  QuiverdProcess(const QuiverdProcess&) = delete;
  QuiverdProcess& operator=(const QuiverdProcess&) = delete;

  // Starts quiverd on `data_dir` with `extra` flags and waits (up to
  // 120 s, for sanitizer builds) until it serves.
  absl::Status Start(const std::string& data_dir,
                     const std::vector<std::string>& extra = {}) {
    if (pid_ > 0) return absl::FailedPreconditionError("already running");
    port_file_ = data_dir + ".port";
    ::unlink(port_file_.c_str());
    std::vector<std::string> args = {
      QUIVERD_PATH,
      "--listen=127.0.0.1:0",
      "--data_dir=" + data_dir,
      "--port_file=" + port_file_,
      "--parent_watchdog",
#if defined(__SANITIZE_THREAD__)
      // libgomp is not instrumented: keep
      // training's OpenMP to one thread.
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
        return absl::InternalError(absl::StrFormat(
            "quiverd exited during start-up (status 0x%x)", status));
      }
      std::ifstream in(port_file_);
      int port = 0;
      if (in >> port && port > 0) {
        port_ = port;
        return absl::OkStatus();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    Stop(SIGKILL);
    return absl::DeadlineExceededError("quiverd did not write its port file");
  }

  // Sends `sig` and waits for the process; returns its wait status.
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
  pid_t pid_ = -1;
  int port_ = 0;
  std::string port_file_;
};

// ---- Request helpers ------------------------------------------------------

inline absl::StatusOr<v1::CollectionInfo> CreateCollection(
    v1::Quiver::Stub* stub, const std::string& name, uint32_t dim,
    v1::Metric metric, const v1::IndexParams& index = {}) {
  grpc::ClientContext ctx;
  v1::CreateCollectionRequest req;
  req.set_name(name);
  req.set_dimension(dim);
  req.set_metric(metric);
  *req.mutable_index() = index;
  v1::CollectionInfo info;
  grpc::Status s = stub->CreateCollection(&ctx, req, &info);
  if (!s.ok()) return ToAbsl(s);
  return info;
}

inline absl::StatusOr<v1::CollectionInfo> GetCollection(
    v1::Quiver::Stub* stub, const std::string& name) {
  grpc::ClientContext ctx;
  v1::GetCollectionRequest req;
  req.set_name(name);
  v1::CollectionInfo info;
  grpc::Status s = stub->GetCollection(&ctx, req, &info);
  if (!s.ok()) return ToAbsl(s);
  return info;
}

// Waits until the collection is READY with at least `generation` trainings.
inline absl::StatusOr<v1::CollectionInfo> WaitReady(v1::Quiver::Stub* stub,
                                                    const std::string& name,
                                                    uint64_t generation = 1,
                                                    int timeout_s = 300) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    absl::StatusOr<v1::CollectionInfo> info = GetCollection(stub, name);
    if (!info.ok()) return info;
    if (info->state() == v1::COLLECTION_STATE_READY &&
        info->train_generation() >= generation) {
      return info;
    }
    if (info->state() != v1::COLLECTION_STATE_TRAINING &&
        !info->last_error().empty()) {
      return absl::InternalError("training failed: " + info->last_error());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError("collection not READY in time");
}

// A document for the helpers below.
struct Doc {
  std::string id;
  std::vector<float> vector;
  std::map<std::string, std::string> attributes;
};

inline void ToProto(const Doc& doc, v1::Document* out) {
  out->set_id(doc.id);
  out->mutable_vector()->Add(doc.vector.begin(), doc.vector.end());
  for (const auto& [k, v] : doc.attributes) (*out->mutable_attributes())[k] = v;
}

// Streams `docs` in batches of `batch_size` (all sent ahead, answers read
// after); returns the responses in order.
inline absl::StatusOr<std::vector<v1::UpsertResponse>> UpsertDocs(
    v1::Quiver::Stub* stub, const std::string& collection,
    const std::vector<Doc>& docs, size_t batch_size = 1000,
    grpc::ClientContext* context = nullptr) {
  grpc::ClientContext local;
  grpc::ClientContext* ctx = context ? context : &local;
  auto stream = stub->Upsert(ctx);
  std::vector<v1::UpsertResponse> out;
  std::thread writer([&] {
    uint64_t batch_id = 0;
    for (size_t off = 0; off < docs.size(); off += batch_size) {
      v1::UpsertRequest req;
      req.set_collection(collection);
      req.set_batch_id(batch_id++);
      for (size_t i = off; i < docs.size() && i < off + batch_size; ++i) {
        ToProto(docs[i], req.add_documents());
      }
      if (!stream->Write(req)) break;
    }
    stream->WritesDone();
  });
  v1::UpsertResponse resp;
  while (stream->Read(&resp)) out.push_back(resp);
  writer.join();
  grpc::Status s = stream->Finish();
  if (!s.ok()) return ToAbsl(s);
  return out;
}

inline absl::StatusOr<v1::SearchResponse> Search(
    v1::Quiver::Stub* stub, const std::string& collection,
    const std::vector<float>& queries, size_t dim, uint32_t k,
    const std::function<void(v1::SearchRequest*)>& tweak = nullptr) {
  grpc::ClientContext ctx;
  v1::SearchRequest req;
  req.set_collection(collection);
  req.set_k(k);
  for (size_t off = 0; off + dim <= queries.size(); off += dim) {
    req.add_queries()->mutable_values()->Add(queries.begin() + off,
                                             queries.begin() + off + dim);
  }
  if (tweak) tweak(&req);
  v1::SearchResponse resp;
  grpc::Status s = stub->Search(&ctx, req, &resp);
  if (!s.ok()) return ToAbsl(s);
  return resp;
}

}  // namespace quiver::testing

#endif  // QUIVER_TESTS_SERVER_QUIVERD_PROCESS_H_
