#include "server/reply_budget.h"

#include <utility>

#include "absl/strings/str_format.h"

namespace quiver::server {
namespace {

double MiB(size_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

// Lives exactly as long as the call: gRPC destroys a call's interceptors
// once the call is complete, after its reply has been sent or dropped.
class ReleaseWhenDone final : public grpc::experimental::Interceptor {
 public:
  ReleaseWhenDone(ReplyBudget* budget, const grpc::ServerContextBase* context)
      : budget_(budget), context_(context) {}
  ~ReleaseWhenDone() override { budget_->Release(context_); }
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    methods->Proceed();
  }

 private:
  ReplyBudget* const budget_;
  const grpc::ServerContextBase* const context_;  // a key, not dereferenced
};

class ReleaseFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit ReleaseFactory(ReplyBudget* budget) : budget_(budget) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // Only unary calls reserve (Get, Search); streams get no interceptor.
    if (info->type() != grpc::experimental::ServerRpcInfo::Type::UNARY) {
      return nullptr;
    }
    return new ReleaseWhenDone(budget_, info->server_context());
  }

 private:
  ReplyBudget* const budget_;
};

}  // namespace

absl::Status ReplyBudget::Reserve(const grpc::ServerContextBase* context,
                                  size_t bytes, std::string_view method) {
  if (bytes < options_.small_reply_bytes) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  if (used_ + bytes > options_.limit_bytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: its reply (about %.1f MiB) would pass the server's limit on "
        "replies not yet read by their clients (%.1f MiB in flight, limit "
        "%.1f MiB); retry later, or ask for fewer results per call",
        method, MiB(bytes), MiB(used_), MiB(options_.limit_bytes)));
  }
  used_ += bytes;
  held_[context] += bytes;
  return absl::OkStatus();
}

void ReplyBudget::Release(const grpc::ServerContextBase* context) {
  absl::MutexLock lock(&mu_);
  auto it = held_.find(context);
  if (it == held_.end()) return;
  used_ -= it->second;
  held_.erase(it);
}

size_t ReplyBudget::in_flight() const {
  absl::MutexLock lock(&mu_);
  return used_;
}

std::vector<
    std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
ReplyBudget::Interceptors() {
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      out;
  out.push_back(std::make_unique<ReleaseFactory>(this));
  return out;
}

}  // namespace quiver::server
