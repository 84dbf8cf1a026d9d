// quiver ingest: flags, collection and state checks; the engine that streams
// the rows is in ingester.h.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "client/cli/commands.h"
#include "client/cli/common.h"
#include "client/cli/ingest_state.h"
#include "client/cli/ingester.h"
#include "client/cli/progress.h"
#include "client/readers.h"

namespace quiver::cli {
namespace {

void OnSigint(int) { IngestInterrupted().store(true); }

// Reads the first row of `path` to learn its dimension.
absl::StatusOr<size_t> ProbeDimension(const std::string& path,
                                      const client::ReaderOptions& options) {
  absl::StatusOr<std::unique_ptr<client::RowReader>> reader =
      client::OpenRowReader(path, options);
  if (!reader.ok()) return reader.status();
  client::Row row;
  absl::StatusOr<bool> more = (*reader)->Next(&row);
  if (!more.ok()) return more.status();
  if (!*more) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no rows to take the dimension from"));
  }
  return row.vector.size();
}

}  // namespace

int RunIngest(const std::vector<std::string>& args) {
  const std::string cmd = "ingest";
  GlobalFlags global;
  IngestOptions opts;
  std::string format, on_error = "stop", progress = "auto", metric = "l2";
  std::string csv_header = "auto", csv_id = "auto", delimiter;
  std::vector<std::string> attributes;
  int64_t batch_size = 1000, parallel = 1, in_flight = 4, retries = 5;
  bool create = false, train = false, wait = false;
  absl::Duration wait_timeout = absl::Minutes(30);
  IndexFlags index;
  FlagSet flags(
      "quiver ingest", "--collection C [flags] FILE...",
      "Streams the rows of each FILE into collection C in batches over Upsert "
      "streams.\n"
      "\n"
      "Formats: .fvecs .bvecs .ivecs .npy .csv .tsv .jsonl .hdf5/.h5 (or "
      "--format).\n"
      "  HDF5 (e.g. ann-benchmarks files): the dataset --dataset, 'train' by "
      "default.\n"
      "Attributes keep their types. JSONL \"attributes\": strings, numbers "
      "(int64 when\n"
      "  integral and in range, else double), booleans, arrays of strings "
      "(tags);\n"
      "  null leaves the attribute out; objects are an error of the row.\n"
      "  CSV/TSV columns besides id and vector are strings, or typed by a "
      "header\n"
      "  suffix: year:int, price:double, active:bool (true/false/1/0), "
      "tags:tags\n"
      "  (tags separated by '|'); an empty typed field leaves the attribute "
      "out.\n"
      "Ids: a CSV 'id' column or a JSONL \"id\" is used as is. Otherwise the "
      "id is\n"
      "  <id_prefix><row>               with one FILE, e.g. 0, 1, 2, ...\n"
      "  <id_prefix><file>:<row>        with several FILEs (file = 0-based "
      "position\n"
      "                                 on the command line), e.g. 1:0\n"
      "  where row is the 0-based data row within its file. Keep the same "
      "file order\n"
      "  when resuming or re-running, so ids stay the same.\n"
      "Resuming: the state file records per file how many leading rows the "
      "server has\n"
      "  acknowledged. After an interruption (Ctrl-C, crash, lost server), "
      "run the same\n"
      "  command with --resume to continue after them; rows re-sent are "
      "upserted again\n"
      "  by id, so the result is the same as one uninterrupted run.\n"
      "Errors: a malformed row is reported with its file and line/row; "
      "--on_error stop\n"
      "  (default) ends the ingest there, --on_error skip reports and goes "
      "on.");
  flags.String("collection", &opts.collection, "target collection", "NAME");
  flags.String("format", &format,
               "input format for every FILE (default: by extension)", "FMT");
  flags.String("dataset", &opts.reader.dataset,
               "HDF5: the 2-D dataset to load (default: train)", "NAME");
  flags.Int("batch_size", &batch_size, "rows per Upsert batch (1-10000)");
  flags.Int("parallel", &parallel, "concurrent Upsert streams");
  flags.Int("in_flight", &in_flight,
            "unacknowledged batches allowed per stream");
  flags.String("id_prefix", &opts.id_prefix,
               "prefix of generated ids (not of ids read from the file)",
               "STR");
  flags.StringList("attribute", &attributes,
                   "attribute added to every document", "KEY=VALUE");
  flags.String("state", &opts.state_path,
               "state file [default: <collection>.ingest-state]", "FILE");
  flags.Bool("resume", &opts.resume,
             "skip the rows the state file says are done");
  flags.String("on_error", &on_error,
               "on a malformed or rejected row: stop or skip", "MODE");
  flags.Double("max_rate", &opts.max_rate, "rows per second limit (0 = none)");
  flags.Int("retries", &retries,
            "times a broken stream is reopened before giving up");
  flags.String("progress", &progress,
               "auto (bar on a terminal, else lines), bar, lines or none",
               "MODE");
  flags.Duration("progress_interval", &opts.progress_interval,
                 "time between progress lines when not a terminal");
  flags.Section("CSV/TSV");
  flags.String("csv_header", &csv_header,
               "first line is a header: auto, yes, no", "MODE");
  flags.String("csv_id", &csv_id,
               "id column: auto ('id' header, or a non-numeric first field), "
               "first, none",
               "MODE");
  flags.String("delimiter", &delimiter,
               "field delimiter (default: ',' for csv, tab for tsv)", "CHAR");
  flags.Section("Collection");
  flags.Bool(
      "create", &create,
      "create the collection if missing (dimension from the first file)");
  flags.String("metric", &metric, "metric for --create: l2, ip, cosine",
               "METRIC");
  flags.Bool("train", &train, "start training the index after the ingest");
  flags.Bool("wait", &wait, "with --train: wait until the index is ready");
  flags.Duration("wait_timeout", &wait_timeout, "give up waiting after this");
  AddIndexFlags(&flags, &index);
  AddGlobalFlags(&flags, &global);
  if (auto rc = ParseFlags(flags, args)) return *rc;

  if (opts.collection.empty()) return UsageError(cmd, "missing --collection");
  opts.files = flags.positional();
  if (opts.files.empty()) return UsageError(cmd, "no input files");
  if (batch_size < 1 || batch_size > 10000) {
    return UsageError(cmd, "--batch_size must be in 1..10000");
  }
  if (parallel < 1 || parallel > 64) {
    return UsageError(cmd, "--parallel must be in 1..64");
  }
  if (in_flight < 1 || in_flight > 1024) {
    return UsageError(cmd, "--in_flight must be in 1..1024");
  }
  if (retries < 0) return UsageError(cmd, "--retries must be >= 0");
  opts.batch_size = static_cast<size_t>(batch_size);
  opts.parallel = static_cast<size_t>(parallel);
  opts.in_flight = static_cast<size_t>(in_flight);
  opts.retries = static_cast<int>(retries);
  if (on_error != "stop" && on_error != "skip") {
    return UsageError(cmd, "--on_error must be stop or skip");
  }
  opts.stop_on_error = on_error == "stop";
  if (!format.empty()) {
    absl::StatusOr<client::Format> f = client::ParseFormat(format);
    if (!f.ok()) return UsageError(cmd, f.status().message());
    opts.reader.format = *f;
  }
  if (csv_header == "auto") {
    opts.reader.csv.header = client::CsvOptions::Header::kAuto;
  } else if (csv_header == "yes") {
    opts.reader.csv.header = client::CsvOptions::Header::kYes;
  } else if (csv_header == "no") {
    opts.reader.csv.header = client::CsvOptions::Header::kNo;
  } else {
    return UsageError(cmd, "--csv_header must be auto, yes or no");
  }
  if (csv_id == "auto") {
    opts.reader.csv.id_column = client::CsvOptions::IdColumn::kAuto;
  } else if (csv_id == "first") {
    opts.reader.csv.id_column = client::CsvOptions::IdColumn::kFirst;
  } else if (csv_id == "none") {
    opts.reader.csv.id_column = client::CsvOptions::IdColumn::kNone;
  } else {
    return UsageError(cmd, "--csv_id must be auto, first or none");
  }
  if (!delimiter.empty()) {
    if (delimiter == "\\t" || delimiter == "tab") delimiter = "\t";
    if (delimiter.size() != 1) {
      return UsageError(cmd, "--delimiter must be one character");
    }
    opts.reader.csv.delimiter = delimiter[0];
  }
  for (const std::string& a : attributes) {
    const size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0) {
      return UsageError(cmd,
                        absl::StrCat("--attribute '", a, "' is not KEY=VALUE"));
    }
    opts.attributes.emplace_back(a.substr(0, eq), a.substr(eq + 1));
  }
  if (progress == "auto") {
    opts.progress = isatty(STDERR_FILENO) ? IngestOptions::Progress::kBar
                                          : IngestOptions::Progress::kLines;
  } else if (progress == "bar") {
    opts.progress = IngestOptions::Progress::kBar;
  } else if (progress == "lines") {
    opts.progress = IngestOptions::Progress::kLines;
  } else if (progress == "none") {
    opts.progress = IngestOptions::Progress::kNone;
  } else {
    return UsageError(cmd, "--progress must be auto, bar, lines or none");
  }
  if (opts.state_path.empty()) {
    opts.state_path = opts.collection + ".ingest-state";
  }

  auto client_or = MakeClient(global);
  if (!client_or.ok()) return ReportError(cmd, client_or.status());
  client::QuiverClient& client = **client_or;
  Console console(opts.progress == IngestOptions::Progress::kBar);

  // The state: fresh, or loaded and checked against this command line.
  IngestState state;
  state.collection = opts.collection;
  state.id_prefix = opts.id_prefix;
  for (const std::string& f : opts.files) {
    FileProgress fp;
    fp.path = f;
    std::error_code ec;
    fp.size = std::filesystem::file_size(f, ec);
    if (ec) fp.size = 0;
    state.files.push_back(fp);
  }
  if (opts.resume) {
    absl::StatusOr<IngestState> old = LoadIngestState(opts.state_path);
    if (!old.ok() && old.status().code() == absl::StatusCode::kNotFound) {
      console.Print(absl::StrCat("no state file ", opts.state_path,
                                 "; starting from the beginning"));
    } else if (!old.ok()) {
      return ReportError(cmd, old.status());
    } else {
      std::string why;
      if (old->collection != state.collection) {
        why = absl::StrCat("it is for collection '", old->collection, "'");
      } else if (old->id_prefix != state.id_prefix) {
        why = absl::StrCat("it used --id_prefix '", old->id_prefix, "'");
      } else if (old->files.size() != state.files.size()) {
        why = absl::StrCat("it lists ", old->files.size(), " files, not ",
                           state.files.size());
      } else {
        for (size_t i = 0; i < state.files.size() && why.empty(); ++i) {
          if (old->files[i].path != state.files[i].path) {
            why = absl::StrCat("file ", i, " was ", old->files[i].path);
          } else if (old->files[i].size != state.files[i].size) {
            why = absl::StrCat(state.files[i].path, " changed size (",
                               old->files[i].size, " -> ", state.files[i].size,
                               " bytes)");
          }
        }
      }
      if (!why.empty()) {
        return ReportError(
            cmd, absl::FailedPreconditionError(absl::StrCat(
                     "cannot resume from ", opts.state_path, ": ", why,
                     " (run without --resume to start over)")));
      }
      state = std::move(*old);
    }
  }

  // The collection: its dimension validates every row client-side.
  absl::StatusOr<v1::CollectionInfo> info =
      client.GetCollection(opts.collection);
  if (!info.ok() && info.status().code() == absl::StatusCode::kNotFound &&
      create) {
    absl::StatusOr<size_t> dim = ProbeDimension(opts.files[0], opts.reader);
    if (!dim.ok()) return ReportError(cmd, dim.status());
    v1::CreateCollectionRequest request;
    request.set_name(opts.collection);
    request.set_dimension(static_cast<uint32_t>(*dim));
    absl::StatusOr<v1::Metric> m = ParseMetric(metric);
    if (!m.ok()) return UsageError(cmd, m.status().message());
    request.set_metric(*m);
    if (absl::Status s = ToIndexParams(index, request.mutable_index());
        !s.ok()) {
      return UsageError(cmd, s.message());
    }
    info = client.CreateCollection(request);
    if (info.ok()) {
      console.Print(absl::StrCat("created collection '", opts.collection,
                                 "' (dimension ", *dim, ", ", MetricName(*m),
                                 ")"));
    } else if (info.status().code() == absl::StatusCode::kAlreadyExists) {
      info = client.GetCollection(opts.collection);
    }
  }
  if (!info.ok()) {
    if (info.status().code() == absl::StatusCode::kNotFound) {
      return ReportError(cmd, absl::NotFoundError(absl::StrCat(
                                  info.status().message(),
                                  " (create it first, or pass --create)")));
    }
    return ReportError(cmd, info.status());
  }
  opts.reader.expected_dimension = info->dimension();

  struct sigaction sa = {};
  sa.sa_handler = OnSigint;
  sa.sa_flags = SA_RESETHAND;  // a second Ctrl-C kills at once
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  Ingester ingester(opts, &client, &console, std::move(state));
  const int rc = ingester.Run();
  if (rc != kExitOk || !train) return rc;
  absl::StatusOr<v1::CollectionInfo> trained = client.Train(opts.collection);
  if (!trained.ok()) return ReportError(cmd, trained.status());
  std::cerr << "training '" << opts.collection << "' started\n";
  if (!wait) return kExitOk;
  absl::StatusOr<v1::CollectionInfo> ready =
      client.WaitReady(opts.collection, wait_timeout);
  if (!ready.ok()) return ReportError(cmd, ready.status());
  std::cerr << "collection '" << opts.collection << "' is ready (nlist "
            << ready->index().nlist() << ")\n";
  return kExitOk;
}

}  // namespace quiver::cli
