#include "server/parse_errors.h"

#include <google/protobuf/descriptor.h>

#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace quiver::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

class ParseErrorStatus final : public grpc::experimental::Interceptor {
 public:
  explicit ParseErrorStatus(const char* method)
      : method_(method == nullptr ? "" : method) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      // Our handlers never answer INTERNAL without a message.
      if (status.error_code() == grpc::StatusCode::INTERNAL &&
          status.error_message().empty()) {
        methods->ModifySendStatus(grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT, ParseErrorMessage(method_)));
      }
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
};

class Factory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // Unary calls only: the Upsert stream parses its own messages.
    if (info->type() != grpc::experimental::ServerRpcInfo::Type::UNARY) {
      return nullptr;
    }
    return new ParseErrorStatus(info->method());
  }
};

}  // namespace

std::string ParseErrorMessage(const std::string& method) {
  // "/quiver.v1.Quiver/Get" -> "quiver.v1.Quiver.Get"
  const std::string full =
      absl::StrReplaceAll(absl::StripPrefix(method, "/"), {{"/", "."}});
  const google::protobuf::MethodDescriptor* m =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
          full);
  const std::string type =
      m != nullptr ? m->input_type()->full_name() : "its request message";
  return absl::StrFormat(
      "%s: the request could not be parsed as %s: a string field (a name, an "
      "id, a filter key or value) is not valid UTF-8, which proto3 requires, "
      "or the bytes are not that message",
      method, type);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewParseErrorInterceptorFactory() {
  return std::make_unique<Factory>();
}

}  // namespace quiver::server
