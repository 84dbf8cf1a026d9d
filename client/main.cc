// quiver: the command-line client of the Quiver server.
//
//   quiver [global flags] COMMAND [flags] [args]
//
// See `quiver --help` and `quiver COMMAND --help`.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "client/cli/commands.h"
#include "client/cli/common.h"

namespace {

constexpr char kUsage[] =
    "quiver: the command-line client of the Quiver vector search server.\n"
    "\n"
    "Usage: quiver [global flags] COMMAND [flags] [args]\n"
    "\n"
    "Commands:\n"
    "  collections  create | list | describe | drop | train collections\n"
    "  ingest       bulk-load vector files (fvecs, bvecs, ivecs, npy, csv, "
    "tsv,\n"
    "               jsonl) into a collection; resumable\n"
    "  search       k-nearest-neighbour queries\n"
    "  bench        recall@1/@10, QPS and latency per nprobe, with CSV and "
    "SVG\n"
    "  get          fetch documents by id\n"
    "  delete       delete documents by id\n"
    "  health       check the server (exit 0 if SERVING)\n"
    "\n"
    "Global flags (before or after the command):\n"
    "  --server ADDR      server address [default: $QUIVER_SERVER or "
    "127.0.0.1:50051]\n"
    "  --api_key KEY      API key [default: $QUIVER_API_KEY]\n"
    "  --tls              use TLS with the system's root certificates\n"
    "  --tls_ca FILE      use TLS, trusting this PEM root certificate\n"
    "  --timeout DUR      deadline of each request [default: 30s]\n"
    "\n"
    "Run 'quiver COMMAND --help' for a command's flags.\n";

bool TakesValue(const std::string& flag) {
  for (const char* f :
       {"server", "api_key", "api-key", "tls_ca", "tls-ca", "timeout"}) {
    if (flag == f) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // Global flags may precede the command: find the command word.
  size_t cmd_at = args.size();
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h" || a == "help") {
      std::cout << kUsage;
      return quiver::cli::kExitOk;
    }
    if (a == "--version") {
      std::cout << "quiver 0.1.0\n";
      return quiver::cli::kExitOk;
    }
    if (a.size() > 1 && a[0] == '-') {
      std::string name = a.substr(a[1] == '-' ? 2 : 1);
      if (name.find('=') != std::string::npos) continue;
      if (TakesValue(name)) {
        ++i;
      } else if (name != "tls") {
        std::cerr << "quiver: unknown global flag " << a
                  << " (command flags go after the command)\n";
        return quiver::cli::kExitUsage;
      }
      continue;
    }
    cmd_at = i;
    break;
  }
  if (cmd_at == args.size()) {
    std::cerr << kUsage;
    return quiver::cli::kExitUsage;
  }
  const std::string command = args[cmd_at];
  std::vector<std::string> rest;
  if (command == "collections" || command == "collection") {
    // The action word must stay first for RunCollections.
    rest.assign(args.begin() + cmd_at + 1, args.end());
    if (!rest.empty()) {
      std::vector<std::string> reordered{rest[0]};
      reordered.insert(reordered.end(), args.begin(), args.begin() + cmd_at);
      reordered.insert(reordered.end(), rest.begin() + 1, rest.end());
      return quiver::cli::RunCollections(reordered);
    }
    return quiver::cli::RunCollections(rest);
  }
  rest.assign(args.begin(), args.begin() + cmd_at);
  rest.insert(rest.end(), args.begin() + cmd_at + 1, args.end());
  if (command == "ingest") return quiver::cli::RunIngest(rest);
  if (command == "search") return quiver::cli::RunSearch(rest);
  if (command == "bench") return quiver::cli::RunBench(rest);
  if (command == "health") return quiver::cli::RunHealth(rest);
  if (command == "get") return quiver::cli::RunGet(rest);
  if (command == "delete") return quiver::cli::RunDelete(rest);
  std::cerr << "quiver: unknown command '" << command << "'\n\n" << kUsage;
  return quiver::cli::kExitUsage;
}
