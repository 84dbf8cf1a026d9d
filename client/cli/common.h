// Pieces shared by the `quiver` subcommands: global flags, the client they
// build, exit codes, index-parameter flags and formatting helpers.
//
// Thread safety: the functions are thread-safe; the structs are plain data.
#ifndef QUIVER_CLIENT_CLI_COMMON_H_
#define QUIVER_CLIENT_CLI_COMMON_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/cli/flags.h"
#include "client/client.h"

namespace quiver::cli {

namespace v1 = ::quiver::v1;

// Exit codes of every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;  // the operation failed
inline constexpr int kExitUsage = 2;  // bad flags or arguments
inline constexpr int kExitInterrupted = 130;

// Flags every subcommand accepts (also before the subcommand name).
struct GlobalFlags {
  // Default: $QUIVER_SERVER, else 127.0.0.1:50051.
  std::string server;
  // Default: $QUIVER_API_KEY.
  std::string api_key;
  std::string tls_ca;
  std::string tls_server_name;
  bool tls = false;
  absl::Duration timeout = absl::Seconds(30);
};

// Registers the global flags (with their environment defaults) in a
// "Global flags" section at the end of `flags`.
void AddGlobalFlags(FlagSet* flags, GlobalFlags* global);

absl::StatusOr<std::unique_ptr<client::QuiverClient>> MakeClient(
    const GlobalFlags& global);

// Index parameters as flags (collections create/train, ingest --create).
struct IndexFlags {
  int64_t nlist = 0;
  int64_t pq_m = 0;
  int64_t pq_bits = 0;
  int64_t train_size = 0;
  int64_t nprobe = 0;
  int64_t rerank = 0;
  bool balanced = false;
  int64_t auto_train_threshold = 0;
  double target_recall = 0;
};
void AddIndexFlags(FlagSet* flags, IndexFlags* index);
// Validates ranges (non-negative, 32-bit) and fills `out`.
absl::Status ToIndexParams(const IndexFlags& index, v1::IndexParams* out);

// Parses args into `flags`. Returns an exit code when the command should
// stop now (0 after printing --help to stdout, kExitUsage after printing the
// error to stderr), nullopt to go on.
std::optional<int> ParseFlags(FlagSet& flags,
                              const std::vector<std::string>& args);
// Prints "quiver <command>: error: <message>" (with a hint for common
// codes) and returns kExitError.
int ReportError(absl::string_view command, const absl::Status& status);
// Prints "quiver <command>: <message>" plus a --help hint; returns
// kExitUsage.
int UsageError(absl::string_view command, absl::string_view message);

// "l2", "ip" (or "inner_product"), "cosine".
absl::StatusOr<v1::Metric> ParseMetric(absl::string_view name);
const char* MetricName(v1::Metric metric);
// "untrained", "training", "ready".
const char* StateName(v1::CollectionState state);

// 12345678 -> "12,345,678".
std::string FormatCount(uint64_t n);
// 1536 -> "1.5 KiB".
std::string FormatBytes(uint64_t n);
// Seconds as "42s", "3m05s", "1h02m".
std::string FormatSeconds(double seconds);

// A collection as one JSON object (numbers as numbers, enums as the names
// above).
std::string CollectionJson(const v1::CollectionInfo& info);

}  // namespace quiver::cli

#endif  // QUIVER_CLIENT_CLI_COMMON_H_
