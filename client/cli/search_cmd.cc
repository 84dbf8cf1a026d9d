// quiver search, quiver get, quiver delete, quiver health
#include <iostream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/cli/commands.h"
#include "client/cli/common.h"
#include "client/filter.h"
#include "client/json.h"
#include "client/readers.h"

namespace quiver::cli {

int RunSearch(const std::vector<std::string>& args) {
  const std::string cmd = "search";
  GlobalFlags global;
  std::string collection, queries_file, format, queries_dataset;
  std::vector<std::string> vectors, filters;
  int64_t k = 10, nprobe = 0, rerank = 0, limit = 0, batch = 64;
  bool exact = false, attributes = false, json = false, explain = false;
  FlagSet flags(
      "quiver search",
      "--collection C (--vector \"0.1,0.2,...\" | --queries FILE) [-k 10] "
      "[flags]",
      "k-nearest-neighbour search. Prints a table (query, rank, id, "
      "distance; smaller distance is better) or, with --json, one JSON "
      "object per query: {\"query\":0,\"hits\":[{\"id\":..,\"distance\":..,"
      "\"attributes\":{..}}]} (typed attributes as JSON numbers, booleans "
      "and arrays).\n"
      "\n"
      "Filters (--filter EXPR):\n"
      "  KEY = VALUE, KEY != VALUE      equality (also ==)\n"
      "  KEY < NUM, <=, >, >=           numeric ranges\n"
      "  KEY in [V, ...], KEY not in [V, ...]\n"
      "  exists KEY, KEY exists         the document has the attribute\n"
      "  KEY contains \"tag\"          a tag list holds the tag\n"
      "  not, and, or, ( )              in that precedence\n"
      "VALUE: \"string\" (JSON escapes), an integer, a double (with '.' or an\n"
      "exponent), true, false. KEY: [A-Za-z_][A-Za-z0-9_.-]* or `any text`.\n"
      "  --filter 'lang = \"en\" and year >= 2020 and tags contains \"news\"'\n"
      "Several --filter flags are ANDed. The legacy shorthand KEY=VALUE (no\n"
      "spaces; VALUE not quoted and not a number, true or false, e.g. "
      "lang=en)\n"
      "is string equality as before; year=2020 is the expression comparing\n"
      "with the int 2020 (year=\"2020\" compares with the string).");
  flags.String("collection", &collection, "collection to search", "NAME");
  flags.StringList("vector", &vectors,
                   "a query vector: \"0.1,0.2\", \"[0.1, 0.2]\" or \"0.1 0.2\"",
                   "VEC");
  flags.String(
      "queries", &queries_file,
      "file of query vectors (fvecs, bvecs, npy, csv, tsv, jsonl, hdf5)",
      "FILE");
  flags.String("format", &format, "format of --queries (default: extension)",
               "FMT");
  flags.String("queries_dataset", &queries_dataset,
               "HDF5 --queries: the dataset (default: test)", "NAME");
  flags.Int("limit", &limit, "use only the first N queries of --queries");
  flags.Int("k", &k, "neighbours per query (1-1024)");
  flags.Int("nprobe", &nprobe, "lists probed (0 = collection default)");
  flags.Int("rerank", &rerank, "re-rank factor (0 = collection default)");
  flags.StringList("filter", &filters,
                   "only documents matching EXPR (see above; several are "
                   "ANDed)",
                   "EXPR");
  flags.Bool("explain", &explain,
             "print the server's plan (strategy, matching documents, "
             "nprobe, rerank) to stderr, or as {\"plan\":..} lines with "
             "--json");
  flags.Bool("exact", &exact, "brute-force search (ground truth)");
  flags.Bool("attributes", &attributes, "print the hits' attributes");
  flags.Bool("json", &json, "JSON output, one object per query");
  flags.Int("batch", &batch, "queries per request (1-1024)");
  AddGlobalFlags(&flags, &global);
  if (auto rc = ParseFlags(flags, args)) return *rc;
  if (collection.empty()) return UsageError(cmd, "missing --collection");
  if (!flags.positional().empty()) {
    return UsageError(
        cmd, absl::StrCat("unexpected argument '", flags.positional()[0], "'"));
  }
  if (vectors.empty() == queries_file.empty()) {
    return UsageError(cmd, "give either --vector or --queries");
  }
  if (k < 1 || k > 1024) return UsageError(cmd, "-k must be in 1..1024");
  if (nprobe < 0 || rerank < 0) {
    return UsageError(cmd, "--nprobe and --rerank must be >= 0");
  }
  if (batch < 1 || batch > 1024) {
    return UsageError(cmd, "--batch must be in 1..1024");
  }
  v1::SearchRequest prototype;
  if (absl::Status s = AddFilterFlags(filters, &prototype); !s.ok()) {
    return UsageError(cmd, s.message());
  }
  if (explain && (prototype.has_where() || !prototype.filter().empty())) {
    // The filter as the server gets it: the shorthand map, then `where`.
    v1::Filter shown;
    std::map<std::string, std::string> legacy(prototype.filter().begin(),
                                              prototype.filter().end());
    for (const auto& [key, value] : legacy) {
      v1::Comparison* eq = shown.mutable_all()->add_filters()->mutable_eq();
      eq->set_key(key);
      eq->mutable_value()->set_string_value(value);
    }
    if (prototype.has_where()) {
      *shown.mutable_all()->add_filters() = prototype.where();
    }
    const std::string text = client::FilterToString(shown);
    if (json) {
      std::cerr << "{\"filter\":" << client::JsonQuote(text) << "}\n";
    } else {
      std::cerr << "filter: " << text << "\n";
    }
  }

  std::vector<std::vector<float>> queries;
  for (const std::string& v : vectors) {
    absl::StatusOr<std::vector<float>> q = client::ParseVectorText(v);
    if (!q.ok() || q->empty()) {
      return UsageError(
          cmd, absl::StrCat("--vector '", v, "': ",
                            q.ok() ? "empty vector" : q.status().message()));
    }
    queries.push_back(std::move(*q));
  }
  if (!queries_file.empty()) {
    client::ReaderOptions ropts;
    // ann-benchmarks files keep their queries in 'test'.
    ropts.dataset = queries_dataset.empty() ? "test" : queries_dataset;
    if (!format.empty()) {
      absl::StatusOr<client::Format> f = client::ParseFormat(format);
      if (!f.ok()) return UsageError(cmd, f.status().message());
      ropts.format = *f;
    }
    absl::StatusOr<client::Matrix<float>> m = client::ReadVectors(
        queries_file, ropts, limit > 0 ? static_cast<size_t>(limit) : SIZE_MAX);
    if (!m.ok()) return ReportError(cmd, m.status());
    for (size_t i = 0; i < m->rows; ++i) {
      queries.emplace_back(m->row(i), m->row(i) + m->dim);
    }
  }

  auto client = MakeClient(global);
  if (!client.ok()) return ReportError(cmd, client.status());
  if (!json) {
    std::cout << absl::StrFormat("%-6s %-5s %-24s %14s%s\n", "QUERY", "RANK",
                                 "ID", "DISTANCE",
                                 attributes ? "  ATTRIBUTES" : "");
  }
  for (size_t start = 0; start < queries.size();
       start += static_cast<size_t>(batch)) {
    const size_t end =
        std::min(queries.size(), start + static_cast<size_t>(batch));
    v1::SearchRequest request;
    request.set_collection(collection);
    request.set_k(static_cast<uint32_t>(k));
    request.set_nprobe(static_cast<uint32_t>(nprobe));
    request.set_rerank(static_cast<uint32_t>(rerank));
    request.set_exact(exact);
    request.set_include_attributes(attributes || json);
    *request.mutable_filter() = prototype.filter();
    if (prototype.has_where()) *request.mutable_where() = prototype.where();
    request.set_explain(explain);
    for (size_t i = start; i < end; ++i) {
      request.add_queries()->mutable_values()->Add(queries[i].begin(),
                                                   queries[i].end());
    }
    absl::StatusOr<v1::SearchResponse> response = (*client)->Search(request);
    if (!response.ok()) return ReportError(cmd, response.status());
    if (explain) {
      if (json) {
        std::cerr << "{\"plan\":" << PlanJson(response->plan()) << "}\n";
      } else {
        std::cerr << PlanText(response->plan()) << "\n";
      }
    }
    for (int r = 0; r < response->results_size(); ++r) {
      const size_t q = start + static_cast<size_t>(r);
      const v1::QueryResult& result = response->results(r);
      if (json) {
        std::string line = absl::StrCat("{\"query\":", q, ",\"hits\":[");
        for (int h = 0; h < result.hits_size(); ++h) {
          const v1::Hit& hit = result.hits(h);
          absl::StrAppend(
              &line, h > 0 ? "," : "", "{\"id\":", client::JsonQuote(hit.id()),
              ",\"distance\":", client::JsonFloat(hit.distance()),
              ",\"attributes\":",
              AttributesJson(hit.attributes(), hit.typed_attributes()), "}");
        }
        std::cout << line << "]}\n";
        continue;
      }
      for (int h = 0; h < result.hits_size(); ++h) {
        const v1::Hit& hit = result.hits(h);
        std::cout << absl::StrFormat(
            "%-6d %-5d %-24s %14.6g%s\n", q, h + 1, hit.id(), hit.distance(),
            attributes ? "  " + AttributesText(hit.attributes(),
                                               hit.typed_attributes())
                       : "");
      }
    }
  }
  return kExitOk;
}

int RunGet(const std::vector<std::string>& args) {
  const std::string cmd = "get";
  GlobalFlags global;
  std::string collection;
  bool vectors = false;
  FlagSet flags(
      "quiver get", "--collection C [--vectors] ID...",
      "Fetches documents by id and prints one JSON object per "
      "document found: {\"id\":..,\"attributes\":{..},\"vector\":[..]}."
      " Missing ids are reported on stderr (exit code 1).");
  flags.String("collection", &collection, "collection", "NAME");
  flags.Bool("vectors", &vectors, "include the vectors");
  AddGlobalFlags(&flags, &global);
  if (auto rc = ParseFlags(flags, args)) return *rc;
  if (collection.empty()) return UsageError(cmd, "missing --collection");
  if (flags.positional().empty()) return UsageError(cmd, "no ids given");
  auto client = MakeClient(global);
  if (!client.ok()) return ReportError(cmd, client.status());
  absl::StatusOr<std::vector<v1::Document>> docs =
      (*client)->Get(collection, flags.positional(), vectors);
  if (!docs.ok()) return ReportError(cmd, docs.status());
  std::map<std::string, const v1::Document*> found;
  for (const v1::Document& d : *docs) found[d.id()] = &d;
  int rc = kExitOk;
  for (const std::string& id : flags.positional()) {
    auto it = found.find(id);
    if (it == found.end()) {
      std::cerr << "quiver get: id '" << id << "' not found\n";
      rc = kExitError;
      continue;
    }
    const v1::Document& d = *it->second;
    std::string line =
        absl::StrCat("{\"id\":", client::JsonQuote(d.id()), ",\"attributes\":",
                     AttributesJson(d.attributes(), d.typed_attributes()));
    if (vectors) {
      absl::StrAppend(&line, ",\"vector\":[");
      for (int i = 0; i < d.vector_size(); ++i) {
        absl::StrAppend(&line, i > 0 ? "," : "",
                        client::JsonFloat(d.vector(i)));
      }
      absl::StrAppend(&line, "]");
    }
    std::cout << line << "}\n";
  }
  return rc;
}

int RunDelete(const std::vector<std::string>& args) {
  const std::string cmd = "delete";
  GlobalFlags global;
  std::string collection;
  FlagSet flags("quiver delete", "--collection C ID...",
                "Deletes documents by id (unknown ids are ignored) and prints "
                "how many existed.");
  flags.String("collection", &collection, "collection", "NAME");
  AddGlobalFlags(&flags, &global);
  if (auto rc = ParseFlags(flags, args)) return *rc;
  if (collection.empty()) return UsageError(cmd, "missing --collection");
  if (flags.positional().empty()) return UsageError(cmd, "no ids given");
  auto client = MakeClient(global);
  if (!client.ok()) return ReportError(cmd, client.status());
  absl::StatusOr<uint64_t> n =
      (*client)->Delete(collection, flags.positional());
  if (!n.ok()) return ReportError(cmd, n.status());
  std::cout << "deleted " << *n << " of " << flags.positional().size()
            << " documents\n";
  return kExitOk;
}

int RunHealth(const std::vector<std::string>& args) {
  const std::string cmd = "health";
  GlobalFlags global;
  std::string service;
  FlagSet flags("quiver health", "[--service NAME]",
                "Asks the server's grpc.health.v1 service. Prints the status "
                "and exits 0 if SERVING, 1 otherwise (also when the server "
                "cannot be reached).");
  flags.String("service", &service,
               "service to check (\"\" = the whole server, or "
               "quiver.v1.Quiver)",
               "NAME");
  AddGlobalFlags(&flags, &global);
  if (auto rc = ParseFlags(flags, args)) return *rc;
  if (!flags.positional().empty()) {
    return UsageError(
        cmd, absl::StrCat("unexpected argument '", flags.positional()[0], "'"));
  }
  auto client = MakeClient(global);
  if (!client.ok()) return ReportError(cmd, client.status());
  absl::StatusOr<client::HealthStatus> status = (*client)->Health(service);
  if (!status.ok()) return ReportError(cmd, status.status());
  std::cout << client::HealthStatusName(*status) << "\n";
  return *status == client::HealthStatus::kServing ? kExitOk : kExitError;
}

}  // namespace quiver::cli
