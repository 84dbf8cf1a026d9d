// quiver collections create|list|describe|drop|train
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/cli/commands.h"
#include "client/cli/common.h"

namespace quiver::cli {
namespace {

constexpr char kUsage[] =
    "Usage: quiver collections ACTION [flags]\n"
    "\n"
    "Actions:\n"
    "  create    create a collection (--name --dimension --metric ...)\n"
    "  list      list every collection\n"
    "  describe  show one collection (state, counts, index parameters)\n"
    "  drop      delete a collection and all its documents\n"
    "  train     (re)train a collection's index in the background\n"
    "\n"
    "Run 'quiver collections ACTION --help' for an action's flags.\n";

void PrintDescribe(const v1::CollectionInfo& info) {
  const v1::IndexParams& p = info.index();
  auto line = [](const char* key, const std::string& value) {
    std::cout << absl::StrFormat("%-12s %s\n", key, value);
  };
  line("name:", info.name());
  line("dimension:", absl::StrCat(info.dimension()));
  line("metric:", MetricName(info.metric()));
  line("count:", FormatCount(info.count()));
  std::string state = StateName(info.state());
  if (info.state() == v1::COLLECTION_STATE_TRAINING) {
    absl::StrAppend(
        &state, absl::StrFormat(" (%.0f%%)", 100 * info.training_progress()));
  }
  absl::StrAppend(&state, ", trained ", info.train_generation(), " time",
                  info.train_generation() == 1 ? "" : "s");
  line("state:", state);
  line("index:",
       absl::StrFormat("nlist %d, pq_m %d, pq_bits %d, nprobe %d, rerank %d, "
                       "%s k-means",
                       p.nlist(), p.pq_m(), p.pq_bits(), p.nprobe(), p.rerank(),
                       p.balanced() ? "balanced" : "plain"));
  line("training:",
       absl::StrCat("train_size ", p.train_size(), ", auto at ",
                    FormatCount(p.auto_train_threshold()), " vectors"));
  if (info.train_generation() > 0) {
    line("defaults:",
         info.measured_recall() > 0
             ? absl::StrFormat("nprobe %d, rerank %d: recall@10 %.3f measured "
                               "(target %.2f)",
                               p.nprobe(), p.rerank(), info.measured_recall(),
                               p.target_recall())
             : absl::StrFormat("nprobe %d, rerank %d (not measured)",
                               p.nprobe(), p.rerank()));
    line("trained on:",
         absl::StrCat(
             FormatCount(info.trained_count()), " documents",
             info.last_training_reason().empty()
                 ? ""
                 : absl::StrCat(" (", info.last_training_reason(), ")")));
  }
  if (info.state() == v1::COLLECTION_STATE_READY || info.list_max() > 0) {
    line("lists:", absl::StrFormat("min %d, max %d, mean %.1f", info.list_min(),
                                   info.list_max(), info.list_mean()));
  }
  line("memory:", FormatBytes(info.memory_bytes()));
  line("disk:", absl::StrCat(FormatBytes(info.disk_bytes()), " (whole store)"));
  if (!info.kernel().empty()) line("kernel:", info.kernel());
  if (!info.last_error().empty()) line("last error:", info.last_error());
}

// Name from --name or the single positional argument.
absl::StatusOr<std::string> NameArg(const FlagSet& flags,
                                    const std::string& name_flag) {
  if (!name_flag.empty()) {
    if (!flags.positional().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", flags.positional()[0], "'"));
    }
    return name_flag;
  }
  if (flags.positional().size() == 1) return flags.positional()[0];
  if (flags.positional().empty()) {
    return absl::InvalidArgumentError("missing --name");
  }
  return absl::InvalidArgumentError("give exactly one collection name");
}

int WaitAndReport(client::QuiverClient& client, const std::string& command,
                  const std::string& name, absl::Duration timeout, bool json) {
  int last_pct = -1;
  absl::StatusOr<v1::CollectionInfo> info =
      client.WaitReady(name, timeout, [&](const v1::CollectionInfo& i) {
        if (i.state() != v1::COLLECTION_STATE_TRAINING) return;
        const int pct = static_cast<int>(100 * i.training_progress());
        if (pct / 10 != last_pct / 10) {
          std::cerr << "training '" << name << "': " << pct << "%\n";
          last_pct = pct;
        }
      });
  if (!info.ok()) return ReportError(command, info.status());
  if (json) {
    std::cout << CollectionJson(*info) << "\n";
  } else {
    PrintDescribe(*info);
  }
  return kExitOk;
}

int Create(const std::vector<std::string>& args) {
  const std::string cmd = "collections create";
  GlobalFlags global;
  std::string name, metric = "l2";
  int64_t dimension = 0;
  IndexFlags index;
  bool if_not_exists = false, json = false;
  FlagSet flags("quiver collections create",
                "--name NAME --dimension D [--metric l2|ip|cosine] [flags]",
                "Creates an empty collection. Its index trains and retrains "
                "by itself as the collection grows and changes (first at "
                "--auto_train_threshold vectors), and measures its recall to "
                "choose the default nprobe/rerank; 'quiver collections "
                "train' forces a training.");
  flags.String("name", &name, "collection name ([A-Za-z0-9_.-], 1-128 bytes)",
               "NAME");
  flags.Int("dimension", &dimension, "vector dimension (1-4096)");
  flags.String("metric", &metric, "distance: l2, ip (inner product) or cosine",
               "METRIC");
  flags.Bool("if_not_exists", &if_not_exists,
             "succeed if the collection already exists");
  flags.Bool("json", &json, "print the collection as JSON");
  AddIndexFlags(&flags, &index);
  AddGlobalFlags(&flags, &global);
  if (auto rc = ParseFlags(flags, args)) return *rc;
  absl::StatusOr<std::string> n = NameArg(flags, name);
  if (!n.ok()) return UsageError(cmd, n.status().message());
  if (dimension <= 0 || dimension > 4096) {
    return UsageError(
        cmd, absl::StrCat("--dimension must be in 1..4096, got ", dimension));
  }
  v1::CreateCollectionRequest request;
  request.set_name(*n);
  request.set_dimension(static_cast<uint32_t>(dimension));
  absl::StatusOr<v1::Metric> m = ParseMetric(metric);
  if (!m.ok()) return UsageError(cmd, m.status().message());
  request.set_metric(*m);
  if (absl::Status s = ToIndexParams(index, request.mutable_index()); !s.ok()) {
    return UsageError(cmd, s.message());
  }
  auto client = MakeClient(global);
  if (!client.ok()) return ReportError(cmd, client.status());
  absl::StatusOr<v1::CollectionInfo> info =
      (*client)->CreateCollection(request);
  if (!info.ok() && if_not_exists &&
      info.status().code() == absl::StatusCode::kAlreadyExists) {
    info = (*client)->GetCollection(*n);
  }
  if (!info.ok()) return ReportError(cmd, info.status());
  if (json) {
    std::cout << CollectionJson(*info) << "\n";
  } else {
    std::cout << "created collection '" << info->name() << "' (dimension "
              << info->dimension() << ", " << MetricName(info->metric())
              << ")\n";
  }
  return kExitOk;
}

int List(const std::vector<std::string>& args) {
  const std::string cmd = "collections list";
  GlobalFlags global;
  bool json = false;
  FlagSet flags("quiver collections list", "[--json]",
                "Lists every collection, sorted by name.");
  flags.Bool("json", &json, "one JSON object per line");
  AddGlobalFlags(&flags, &global);
  if (auto rc = ParseFlags(flags, args)) return *rc;
  if (!flags.positional().empty()) {
    return UsageError(
        cmd, absl::StrCat("unexpected argument '", flags.positional()[0], "'"));
  }
  auto client = MakeClient(global);
  if (!client.ok()) return ReportError(cmd, client.status());
  absl::StatusOr<std::vector<v1::CollectionInfo>> list =
      (*client)->ListCollections();
  if (!list.ok()) return ReportError(cmd, list.status());
  if (json) {
    for (const auto& info : *list) std::cout << CollectionJson(info) << "\n";
    return kExitOk;
  }
  std::cout << absl::StrFormat("%-24s %6s %-7s %12s %-10s %7s %10s\n", "NAME",
                               "DIM", "METRIC", "COUNT", "STATE", "NLIST",
                               "MEMORY");
  for (const auto& info : *list) {
    std::cout << absl::StrFormat(
        "%-24s %6d %-7s %12s %-10s %7d %10s\n", info.name(), info.dimension(),
        MetricName(info.metric()), FormatCount(info.count()),
        StateName(info.state()), info.index().nlist(),
        FormatBytes(info.memory_bytes()));
  }
  return kExitOk;
}

int Describe(const std::vector<std::string>& args) {
  const std::string cmd = "collections describe";
  GlobalFlags global;
  std::string name;
  bool json = false, wait = false;
  absl::Duration wait_timeout = absl::Minutes(10);
  FlagSet flags("quiver collections describe", "(--name NAME | NAME) [--json]",
                "Shows a collection: state, document count, index parameters "
                "in use, list sizes, memory and disk.");
  flags.String("name", &name, "collection name", "NAME");
  flags.Bool("json", &json, "print one JSON object");
  flags.Bool("wait", &wait, "first wait until the index is ready");
  flags.Duration("wait_timeout", &wait_timeout, "give up waiting after this");
  AddGlobalFlags(&flags, &global);
  if (auto rc = ParseFlags(flags, args)) return *rc;
  absl::StatusOr<std::string> n = NameArg(flags, name);
  if (!n.ok()) return UsageError(cmd, n.status().message());
  auto client = MakeClient(global);
  if (!client.ok()) return ReportError(cmd, client.status());
  if (wait) return WaitAndReport(**client, cmd, *n, wait_timeout, json);
  absl::StatusOr<v1::CollectionInfo> info = (*client)->GetCollection(*n);
  if (!info.ok()) return ReportError(cmd, info.status());
  if (json) {
    std::cout << CollectionJson(*info) << "\n";
  } else {
    PrintDescribe(*info);
  }
  return kExitOk;
}

int Drop(const std::vector<std::string>& args) {
  const std::string cmd = "collections drop";
  GlobalFlags global;
  std::string name;
  bool if_exists = false;
  FlagSet flags("quiver collections drop", "(--name NAME | NAME)",
                "Deletes a collection and all its documents.");
  flags.String("name", &name, "collection name", "NAME");
  flags.Bool("if_exists", &if_exists, "succeed if the collection is absent");
  AddGlobalFlags(&flags, &global);
  if (auto rc = ParseFlags(flags, args)) return *rc;
  absl::StatusOr<std::string> n = NameArg(flags, name);
  if (!n.ok()) return UsageError(cmd, n.status().message());
  auto client = MakeClient(global);
  if (!client.ok()) return ReportError(cmd, client.status());
  absl::Status s = (*client)->DropCollection(*n);
  if (s.code() == absl::StatusCode::kNotFound && if_exists) {
    std::cout << "collection '" << *n << "' does not exist\n";
    return kExitOk;
  }
  if (!s.ok()) return ReportError(cmd, s);
  std::cout << "dropped collection '" << *n << "'\n";
  return kExitOk;
}

int Train(const std::vector<std::string>& args) {
  const std::string cmd = "collections train";
  GlobalFlags global;
  std::string name;
  IndexFlags index;
  bool wait = false, json = false;
  absl::Duration wait_timeout = absl::Minutes(30);
  FlagSet flags("quiver collections train",
                "(--name NAME | NAME) [--wait] [index flags]",
                "(Re)trains the collection's index from its stored vectors in "
                "the background; searches keep working meanwhile. Index flags "
                "given here override the collection's parameters.");
  flags.String("name", &name, "collection name", "NAME");
  flags.Bool("wait", &wait, "wait until the index is ready");
  flags.Duration("wait_timeout", &wait_timeout, "give up waiting after this");
  flags.Bool("json", &json, "print the collection as JSON");
  AddIndexFlags(&flags, &index);
  AddGlobalFlags(&flags, &global);
  if (auto rc = ParseFlags(flags, args)) return *rc;
  absl::StatusOr<std::string> n = NameArg(flags, name);
  if (!n.ok()) return UsageError(cmd, n.status().message());
  std::optional<v1::IndexParams> overrides;
  for (const char* f : {"nlist", "pq_m", "pq_bits", "train_size", "nprobe",
                        "rerank", "balanced", "auto_train_threshold"}) {
    if (flags.IsSet(f)) overrides.emplace();
  }
  if (overrides.has_value()) {
    if (absl::Status s = ToIndexParams(index, &*overrides); !s.ok()) {
      return UsageError(cmd, s.message());
    }
  }
  auto client = MakeClient(global);
  if (!client.ok()) return ReportError(cmd, client.status());
  absl::StatusOr<v1::CollectionInfo> info = (*client)->Train(*n, overrides);
  if (!info.ok()) return ReportError(cmd, info.status());
  if (wait) return WaitAndReport(**client, cmd, *n, wait_timeout, json);
  if (json) {
    std::cout << CollectionJson(*info) << "\n";
  } else {
    std::cout << "training collection '" << *n << "' ("
              << FormatCount(info->count()) << " vectors) started\n";
  }
  return kExitOk;
}

}  // namespace

int RunCollections(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" ||
      args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  const std::string& action = args[0];
  if (action == "create") return Create(rest);
  if (action == "list" || action == "ls") return List(rest);
  if (action == "describe" || action == "get" || action == "info") {
    return Describe(rest);
  }
  if (action == "drop" || action == "delete") return Drop(rest);
  if (action == "train") return Train(rest);
  std::cerr << "quiver collections: unknown action '" << action << "'\n\n"
            << kUsage;
  return kExitUsage;
}

}  // namespace quiver::cli
