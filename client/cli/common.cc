#include "client/cli/common.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <map>
#include <utility>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/filter.h"
#include "client/json.h"

namespace quiver::cli {

void AddGlobalFlags(FlagSet* flags, GlobalFlags* global) {
  if (global->server.empty()) {
    const char* env = std::getenv("QUIVER_SERVER");
    global->server = (env != nullptr && *env) ? env : "127.0.0.1:50051";
  }
  if (global->api_key.empty()) {
    if (const char* env = std::getenv("QUIVER_API_KEY"); env != nullptr) {
      global->api_key = env;
    }
  }
  flags->Section("Global flags (may also come before the command)");
  flags->String("server", &global->server,
                "server address host:port (env QUIVER_SERVER)", "ADDR");
  // The key is not echoed as a default in --help.
  std::string shown = global->api_key;
  global->api_key.clear();
  flags->String("api_key", &global->api_key,
                "API key, sent as 'authorization: Bearer KEY' (env "
                "QUIVER_API_KEY)",
                "KEY");
  global->api_key = shown;
  flags->String("tls_ca", &global->tls_ca,
                "use TLS, trusting this PEM root certificate file", "FILE");
  flags->Bool("tls", &global->tls,
              "use TLS with the system's root certificates");
  flags->String("tls_server_name", &global->tls_server_name,
                "TLS: the name the server's certificate must carry, when it "
                "is not the host of --server",
                "NAME");
  flags->Duration("timeout", &global->timeout, "deadline of each request");
  flags->Section("");
}

absl::StatusOr<std::unique_ptr<client::QuiverClient>> MakeClient(
    const GlobalFlags& global) {
  client::ClientOptions options;
  options.address = global.server;
  options.api_key = global.api_key;
  options.use_tls = global.tls || !global.tls_ca.empty();
  options.root_cert_file = global.tls_ca;
  options.tls_server_name = global.tls_server_name;
  options.timeout = global.timeout == absl::ZeroDuration()
                        ? absl::InfiniteDuration()
                        : global.timeout;
  return client::QuiverClient::Connect(options);
}

void AddIndexFlags(FlagSet* flags, IndexFlags* index) {
  flags->Section("Index parameters (0 = automatic)");
  flags->Int("nlist", &index->nlist, "number of inverted lists");
  flags->Int("pq_m", &index->pq_m,
             "PQ sub-quantizers (must divide the dimension)");
  flags->Int("pq_bits", &index->pq_bits, "bits per PQ code: 4 or 8");
  flags->Int("train_size", &index->train_size, "vectors sampled for training");
  flags->Int("nprobe", &index->nprobe, "default lists probed per query");
  flags->Int("rerank", &index->rerank,
             "default re-rank factor (k * rerank candidates re-scored)");
  flags->Bool("balanced", &index->balanced,
              "balanced k-means for the coarse quantizer");
  flags->Int("auto_train_threshold", &index->auto_train_threshold,
             "train automatically once the collection holds this many vectors");
  flags->Double("target_recall", &index->target_recall,
                "recall@10 the measured default nprobe/rerank aim at, in "
                "(0, 1] (0 = 0.95)");
  flags->Section("");
}

absl::Status ToIndexParams(const IndexFlags& index, v1::IndexParams* out) {
  auto u32 = [](const char* name, int64_t v, uint32_t* dst) {
    if (v < 0 || v > std::numeric_limits<uint32_t>::max()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " must be in [0, 4294967295], got ", v));
    }
    *dst = static_cast<uint32_t>(v);
    return absl::OkStatus();
  };
  uint32_t x = 0;
  if (absl::Status s = u32("nlist", index.nlist, &x); !s.ok()) return s;
  out->set_nlist(x);
  if (absl::Status s = u32("pq_m", index.pq_m, &x); !s.ok()) return s;
  out->set_pq_m(x);
  if (absl::Status s = u32("pq_bits", index.pq_bits, &x); !s.ok()) return s;
  out->set_pq_bits(x);
  if (absl::Status s = u32("nprobe", index.nprobe, &x); !s.ok()) return s;
  out->set_nprobe(x);
  if (absl::Status s = u32("rerank", index.rerank, &x); !s.ok()) return s;
  out->set_rerank(x);
  if (index.train_size < 0 || index.auto_train_threshold < 0) {
    return absl::InvalidArgumentError(
        "--train_size and --auto_train_threshold must be >= 0");
  }
  out->set_train_size(static_cast<uint64_t>(index.train_size));
  out->set_auto_train_threshold(
      static_cast<uint64_t>(index.auto_train_threshold));
  if (!(index.target_recall >= 0 && index.target_recall <= 1)) {
    return absl::InvalidArgumentError("--target_recall must be in [0, 1]");
  }
  out->set_target_recall(index.target_recall);
  out->set_balanced(index.balanced);
  return absl::OkStatus();
}

std::optional<int> ParseFlags(FlagSet& flags,
                              const std::vector<std::string>& args) {
  absl::Status s = flags.Parse(args);
  if (flags.help_requested()) {
    std::cout << flags.Usage();
    return kExitOk;
  }
  if (!s.ok()) {
    std::cerr << "quiver: " << s.message() << "\n";
    return kExitUsage;
  }
  return std::nullopt;
}

int ReportError(absl::string_view command, const absl::Status& status) {
  std::string hint;
  switch (status.code()) {
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      hint = " (check --api_key or QUIVER_API_KEY)";
      break;
    case absl::StatusCode::kUnavailable:
      if (absl::StrContains(status.message(), "cannot reach")) {
        hint = " (is quiverd running? see --server)";
      }
      break;
    default:
      break;
  }
  std::cerr << "quiver " << command << ": error: " << status.message() << hint
            << "\n";
  return kExitError;
}

int UsageError(absl::string_view command, absl::string_view message) {
  std::cerr << "quiver " << command << ": " << message << "\n"
            << "Run 'quiver " << command << " --help' for usage.\n";
  return kExitUsage;
}

absl::StatusOr<v1::Metric> ParseMetric(absl::string_view name) {
  const std::string n = absl::AsciiStrToLower(name);
  if (n == "l2" || n == "euclidean") return v1::METRIC_L2;
  if (n == "ip" || n == "inner_product" || n == "dot") {
    return v1::METRIC_INNER_PRODUCT;
  }
  if (n == "cosine" || n == "angular") return v1::METRIC_COSINE;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown metric '", name, "' (expected l2, ip or cosine)"));
}

const char* MetricName(v1::Metric metric) {
  switch (metric) {
    case v1::METRIC_L2:
      return "l2";
    case v1::METRIC_INNER_PRODUCT:
      return "ip";
    case v1::METRIC_COSINE:
      return "cosine";
    default:
      return "unspecified";
  }
}

const char* StateName(v1::CollectionState state) {
  switch (state) {
    case v1::COLLECTION_STATE_UNTRAINED:
      return "untrained";
    case v1::COLLECTION_STATE_TRAINING:
      return "training";
    case v1::COLLECTION_STATE_READY:
      return "ready";
    default:
      return "unspecified";
  }
}

std::string FormatCount(uint64_t n) {
  std::string digits = absl::StrCat(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string FormatBytes(uint64_t n) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  if (u == 0) return absl::StrCat(n, " B");
  return absl::StrFormat("%.1f %s", v, kUnits[u]);
}

std::string FormatSeconds(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm", s / 3600, (s / 60) % 60);
}

std::string CollectionJson(const v1::CollectionInfo& info) {
  const v1::IndexParams& p = info.index();
  std::string out =
      absl::StrCat("{\"name\":", client::JsonQuote(info.name()),
                   ",\"dimension\":", info.dimension(), ",\"metric\":\"",
                   MetricName(info.metric()), "\",\"count\":", info.count(),
                   ",\"state\":\"", StateName(info.state()), "\"");
  absl::StrAppend(
      &out, ",\"index\":{\"nlist\":", p.nlist(), ",\"pq_m\":", p.pq_m(),
      ",\"pq_bits\":", p.pq_bits(), ",\"train_size\":", p.train_size(),
      ",\"nprobe\":", p.nprobe(), ",\"rerank\":", p.rerank(),
      ",\"balanced\":", p.balanced() ? "true" : "false",
      ",\"auto_train_threshold\":", p.auto_train_threshold(),
      ",\"target_recall\":", client::JsonNumber(p.target_recall()), "}");
  absl::StrAppend(
      &out, ",\"list_min\":", info.list_min(),
      ",\"list_max\":", info.list_max(),
      ",\"list_mean\":", client::JsonNumber(info.list_mean()),
      ",\"memory_bytes\":", info.memory_bytes(),
      ",\"disk_bytes\":", info.disk_bytes(),
      ",\"training_progress\":", client::JsonNumber(info.training_progress()),
      ",\"train_generation\":", info.train_generation(),
      ",\"last_error\":", client::JsonQuote(info.last_error()),
      ",\"kernel\":", client::JsonQuote(info.kernel()),
      ",\"measured_recall\":", client::JsonNumber(info.measured_recall()),
      ",\"trained_count\":", info.trained_count(), ",\"last_training_reason\":",
      client::JsonQuote(info.last_training_reason()), "}");
  return out;
}

void SetValue(client::TypedValue value, v1::Value* out) {
  if (auto* i = std::get_if<int64_t>(&value)) {
    out->set_int_value(*i);
  } else if (auto* d = std::get_if<double>(&value)) {
    out->set_double_value(*d);
  } else if (auto* b = std::get_if<bool>(&value)) {
    out->set_bool_value(*b);
  } else {
    auto& tags = std::get<std::vector<std::string>>(value);
    v1::StringList* list = out->mutable_tags();
    for (std::string& t : tags) list->add_values(std::move(t));
  }
}

namespace {

// Both maps merged and sorted: the string attributes as string Values.
std::map<std::string, v1::Value> MergedAttributes(
    const google::protobuf::Map<std::string, std::string>& strings,
    const google::protobuf::Map<std::string, v1::Value>& typed) {
  std::map<std::string, v1::Value> all(typed.begin(), typed.end());
  for (const auto& [k, v] : strings) all[k].set_string_value(v);
  return all;
}

std::string ValueJson(const v1::Value& v) {
  switch (v.kind_case()) {
    case v1::Value::kStringValue:
      return client::JsonQuote(v.string_value());
    case v1::Value::kIntValue:
      return absl::StrCat(v.int_value());
    case v1::Value::kDoubleValue:
      return client::JsonNumber(v.double_value());
    case v1::Value::kBoolValue:
      return v.bool_value() ? "true" : "false";
    case v1::Value::kTags: {
      std::string out = "[";
      for (int i = 0; i < v.tags().values_size(); ++i) {
        absl::StrAppend(&out, i > 0 ? "," : "",
                        client::JsonQuote(v.tags().values(i)));
      }
      return out + "]";
    }
    case v1::Value::KIND_NOT_SET:
      break;
  }
  return "null";
}

bool IsLegacyKeyChar(char c) {
  return !absl::ascii_isspace(c) && c != '"' && c != '\'' && c != '`' &&
         c != '(' && c != ')' && c != '[' && c != ']' && c != '!' && c != '<' &&
         c != '>' && c != '=';
}

}  // namespace

std::string AttributesText(
    const google::protobuf::Map<std::string, std::string>& strings,
    const google::protobuf::Map<std::string, v1::Value>& typed) {
  std::string out;
  for (const auto& [k, v] : MergedAttributes(strings, typed)) {
    absl::StrAppend(&out, out.empty() ? "" : " ", k, "=",
                    v.has_string_value() ? v.string_value()
                                         : client::FilterValueToString(v));
  }
  return out;
}

std::string AttributesJson(
    const google::protobuf::Map<std::string, std::string>& strings,
    const google::protobuf::Map<std::string, v1::Value>& typed) {
  std::string out = "{";
  for (const auto& [k, v] : MergedAttributes(strings, typed)) {
    if (out.size() > 1) out += ",";
    absl::StrAppend(&out, client::JsonQuote(k), ":", ValueJson(v));
  }
  return out + "}";
}

bool IsLegacyFilter(absl::string_view text, std::string* key,
                    std::string* value) {
  const size_t eq = text.find('=');
  if (eq == absl::string_view::npos || eq == 0) return false;
  const absl::string_view k = text.substr(0, eq);
  const absl::string_view v = text.substr(eq + 1);
  for (const char c : k) {
    if (!IsLegacyKeyChar(c)) return false;
  }
  for (const char c : v) {
    if (absl::ascii_isspace(c)) return false;
  }
  if (!v.empty()) {
    if (v.front() == '"' || v.front() == '=') return false;
    // A number, true or false makes an expression.
    absl::StatusOr<v1::Filter> f = client::ParseFilter(absl::StrCat("k = ", v));
    if (f.ok()) return false;
  }
  *key = std::string(k);
  *value = std::string(v);
  return true;
}

absl::Status AddFilterFlags(const std::vector<std::string>& filters,
                            v1::SearchRequest* request) {
  std::vector<v1::Filter> exprs;
  for (const std::string& text : filters) {
    std::string key, value;
    if (IsLegacyFilter(text, &key, &value)) {
      auto [it, inserted] = request->mutable_filter()->insert({key, value});
      if (inserted || it->second == value) continue;
      // The map holds one value per key; a second one joins the expression.
      v1::Filter eq;
      eq.mutable_eq()->set_key(key);
      eq.mutable_eq()->mutable_value()->set_string_value(value);
      exprs.push_back(std::move(eq));
      continue;
    }
    absl::StatusOr<v1::Filter> f = client::ParseFilter(text);
    if (!f.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--filter '", text, "': ", f.status().message()));
    }
    exprs.push_back(std::move(*f));
  }
  if (request->has_where()) {
    exprs.insert(exprs.begin(), request->where());
  }
  if (exprs.empty()) return absl::OkStatus();
  v1::Filter where;
  if (exprs.size() == 1) {
    where = std::move(exprs[0]);
  } else {
    for (v1::Filter& f : exprs) {
      *where.mutable_all()->add_filters() = std::move(f);
    }
  }
  absl::Status limits = client::CheckFilterLimits(where);
  if (!limits.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--filter: ", limits.message()));
  }
  *request->mutable_where() = std::move(where);
  return absl::OkStatus();
}

std::string PlanText(const v1::SearchPlan& plan) {
  std::string out = absl::StrCat(
      "plan: ", plan.strategy().empty() ? "(none reported)" : plan.strategy());
  absl::StrAppend(&out, ", ", FormatCount(plan.matching()), " of ",
                  FormatCount(plan.count()), " documents match");
  if (plan.nprobe() > 0) absl::StrAppend(&out, ", nprobe ", plan.nprobe());
  if (plan.rerank() > 0) absl::StrAppend(&out, ", rerank ", plan.rerank());
  if (!plan.detail().empty()) absl::StrAppend(&out, ": ", plan.detail());
  return out;
}

std::string PlanJson(const v1::SearchPlan& plan) {
  return absl::StrCat(
      "{\"strategy\":", client::JsonQuote(plan.strategy()),
      ",\"matching\":", plan.matching(), ",\"count\":", plan.count(),
      ",\"nprobe\":", plan.nprobe(), ",\"rerank\":", plan.rerank(),
      ",\"detail\":", client::JsonQuote(plan.detail()), "}");
}

}  // namespace quiver::cli
