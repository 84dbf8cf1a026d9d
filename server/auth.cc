#include "server/auth.h"

#include <string_view>

namespace quiver::server {
namespace {

// Compares in time independent of where the strings differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = a.size() < b.size() ? a.size() : b.size();
  for (size_t i = 0; i < n; ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace

absl::Status ApiKeyAuth::Check(const grpc::ServerContextBase& context) const {
  if (key_.empty()) return absl::OkStatus();
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) {
    return absl::UnauthenticatedError(
        "missing 'authorization: Bearer <key>' metadata");
  }
  const std::string_view value(it->second.data(), it->second.size());
  constexpr std::string_view kPrefix = "Bearer ";
  if (value.substr(0, kPrefix.size()) != kPrefix ||
      !ConstantTimeEquals(value.substr(kPrefix.size()), key_)) {
    return absl::UnauthenticatedError("invalid API key");
  }
  return absl::OkStatus();
}

bool ApiKeyAuth::Matches(std::string_view candidate) const {
  return !key_.empty() && ConstantTimeEquals(candidate, key_);
}

}  // namespace quiver::server
