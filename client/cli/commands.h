// The `quiver` subcommands. Each takes the arguments after its name
// (including any global flags) and returns the process exit code (see
// common.h). They print results on stdout and diagnostics on stderr.
#ifndef QUIVER_CLIENT_CLI_COMMANDS_H_
#define QUIVER_CLIENT_CLI_COMMANDS_H_

#include <string>
#include <vector>

namespace quiver::cli {

// quiver collections create|list|describe|drop|train
int RunCollections(const std::vector<std::string>& args);
// quiver ingest --collection C FILE...
int RunIngest(const std::vector<std::string>& args);
// quiver search --collection C (--vector V | --queries FILE)
int RunSearch(const std::vector<std::string>& args);
// quiver bench --collection C --queries Q --groundtruth GT
int RunBench(const std::vector<std::string>& args);
// quiver health
int RunHealth(const std::vector<std::string>& args);
// quiver get --collection C ID...   /   quiver delete --collection C ID...
int RunGet(const std::vector<std::string>& args);
int RunDelete(const std::vector<std::string>& args);

}  // namespace quiver::cli

#endif  // QUIVER_CLIENT_CLI_COMMANDS_H_
