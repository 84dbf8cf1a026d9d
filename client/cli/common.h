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
#include "client/readers.h"

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

// A typed attribute read from a file as a v1::Value.
void SetValue(client::TypedValue value, v1::Value* out);

// A document's or hit's attributes (the string map and the typed one),
// sorted by key. Text: "k=v year=2020 price=9.5 ok=true tags=["a", "b"]"
// (strings bare as always, other types as filter literals). JSON: one
// object, strings as strings, numbers as numbers, bools as booleans, tag
// lists as arrays of strings.
std::string AttributesText(
    const google::protobuf::Map<std::string, std::string>& strings,
    const google::protobuf::Map<std::string, v1::Value>& typed);
std::string AttributesJson(
    const google::protobuf::Map<std::string, std::string>& strings,
    const google::protobuf::Map<std::string, v1::Value>& typed);

// Puts `quiver search --filter` values into a request. Each value is either
// the legacy shorthand KEY=VALUE (string equality, into request->filter)
// or a filter expression (client/filter.h, into request->where); several
// are ANDed. The shorthand is a value with no whitespace, a KEY before the
// first '=' made of anything but whitespace and the characters "'`()[]!<>=
// (non-empty), and a VALUE that is empty or does not start with '"' and is
// not a number, true or false (such a VALUE makes an expression: year=2020
// compares with the int 2020; write year="2020" for the string). So
// lang=en and a:b=c/d are shorthands; year=2020, lang="en" and
// 'lang = en' are expressions (the last an error: strings take quotes).
// InvalidArgument "--filter 'TEXT': at column C: ..." for a bad expression.
absl::Status AddFilterFlags(const std::vector<std::string>& filters,
                            v1::SearchRequest* request);
// Whether `text` is the legacy KEY=VALUE shorthand (rule above); sets
// *key and *value when it is.
bool IsLegacyFilter(absl::string_view text, std::string* key,
                    std::string* value);

// SearchResponse.plan as text: "plan: ivf-filtered, 1,234 of 10,000
// documents match, nprobe 32, rerank 4: <detail>".
std::string PlanText(const v1::SearchPlan& plan);
// ... and as a JSON object {"strategy":..,"matching":..,"count":..,
// "nprobe":..,"rerank":..,"detail":..}.
std::string PlanJson(const v1::SearchPlan& plan);

}  // namespace quiver::cli

#endif  // QUIVER_CLIENT_CLI_COMMON_H_
