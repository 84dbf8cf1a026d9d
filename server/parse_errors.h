// The status of a request quiverd cannot parse.
//
// gRPC's synchronous handlers answer a request message that fails to parse
// with INTERNAL and an empty message, the same code as a server bug. The
// usual cause is a client's fault: proto3 strings must be UTF-8, and an id,
// a name or a filter value holding bytes such as \xff fails the whole
// message. This interceptor rewrites that answer, just before it is sent,
// into INVALID_ARGUMENT naming the method and its request type. Unary calls
// only (the Upsert stream parses its own messages: server/upsert_stream.h).
//
//   interceptors.push_back(NewParseErrorInterceptorFactory());
//
// Thread safety: the factory is thread-safe; one interceptor per call.
#ifndef QUIVER_SERVER_PARSE_ERRORS_H_
#define QUIVER_SERVER_PARSE_ERRORS_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>

namespace quiver::server {

// The INVALID_ARGUMENT message for `method` ("/quiver.v1.Quiver/Get").
std::string ParseErrorMessage(const std::string& method);

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewParseErrorInterceptorFactory();

}  // namespace quiver::server

#endif  // QUIVER_SERVER_PARSE_ERRORS_H_
