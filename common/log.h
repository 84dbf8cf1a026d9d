// A tiny thread-safe logger (Debian's Abseil 20220623 has no absl/log).
//
//   QUIVER_LOG(INFO) << "listening on " << addr;
//   QUIVER_LOG(WARNING) << "slow training: " << secs << " s";
//
// Each line: "2026-11-23T22:10:00.123456Z I server.cc:42] message" on stderr.
// The minimum level is read once from the QUIVER_LOG_LEVEL environment
// variable (DEBUG, INFO, WARNING, ERROR; default INFO).
#ifndef QUIVER_COMMON_LOG_H_
#define QUIVER_COMMON_LOG_H_

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace quiver {

enum class LogLevel { DEBUG = 0, INFO = 1, WARNING = 2, ERROR = 3 };

inline LogLevel MinLogLevel() {
  static const LogLevel level = [] {
    const char* env = std::getenv("QUIVER_LOG_LEVEL");
    if (env == nullptr) return LogLevel::INFO;
    if (std::strcmp(env, "DEBUG") == 0) return LogLevel::DEBUG;
    if (std::strcmp(env, "WARNING") == 0) return LogLevel::WARNING;
    if (std::strcmp(env, "ERROR") == 0) return LogLevel::ERROR;
    return LogLevel::INFO;
  }();
  return level;
}

// Collects one line and writes it on destruction.
class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line) : level_(level) {
    const char* base = std::strrchr(file, '/');
    stream_ << absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(),
                                absl::UTCTimeZone())
            << ' ' << "DIWE"[static_cast<int>(level)] << ' '
            << (base ? base + 1 : file) << ':' << line << "] ";
  }
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  ~LogMessage() {
    stream_ << '\n';
    static absl::Mutex mu(absl::kConstInit);
    absl::MutexLock lock(&mu);
    const std::string s = stream_.str();
    std::fwrite(s.data(), 1, s.size(), stderr);
    std::fflush(stderr);
  }
  std::ostream& stream() { return stream_; }
  LogLevel level() const { return level_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

}  // namespace quiver

#define QUIVER_LOG(level)                                  \
  if (::quiver::LogLevel::level < ::quiver::MinLogLevel()) \
    ;                                                      \
  else                                                     \
    ::quiver::LogMessage(::quiver::LogLevel::level, __FILE__, __LINE__).stream()

#endif  // QUIVER_COMMON_LOG_H_
