// A per-subcommand flag parser for the `quiver` tool. Abseil's flags are
// process-global, which would make every subcommand accept (and list in
// --help) every other subcommand's flags; FlagSet keeps each subcommand's
// flags, their help text and their parsing separate.
//
//   std::string name; int64_t dim = 0;
//   FlagSet flags("quiver collections create", "--name NAME --dimension D");
//   flags.String("name", &name, "collection name");
//   flags.Int("dimension", &dim, "vector dimension");
//   absl::Status s = flags.Parse(args);   // args without the command words
//   if (flags.help_requested()) { std::cout << flags.Usage(); return 0; }
//
// Syntax: --name=value or --name value; a single leading '-' works too, and
// '-' and '_' are interchangeable in names. Booleans: --flag, --flag=true,
// --flag=false, --noflag. Repeated flags (StringList) collect every value.
// "--" ends the flags; everything else is a positional argument.
//
// Thread safety: not thread-safe; build and parse on one thread.
#ifndef QUIVER_CLIENT_CLI_FLAGS_H_
#define QUIVER_CLIENT_CLI_FLAGS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace quiver::cli {

class FlagSet {
 public:
  // `command`: e.g. "quiver ingest"; `synopsis`: the rest of the usage line;
  // `description`: a paragraph printed under it.
  FlagSet(std::string command, std::string synopsis,
          std::string description = "");

  // Registers a flag writing into *target (which keeps its value as the
  // default; the default is shown in Usage()). Targets must outlive Parse.
  void String(const std::string& name, std::string* target,
              const std::string& help, const std::string& value_name = "STR");
  void Int(const std::string& name, int64_t* target, const std::string& help);
  void Double(const std::string& name, double* target, const std::string& help);
  void Bool(const std::string& name, bool* target, const std::string& help);
  // A duration: "1.5s", "200ms", "2m", or a plain number of seconds.
  void Duration(const std::string& name, absl::Duration* target,
                const std::string& help);
  // Repeatable: each occurrence appends (defaults are discarded on the
  // first occurrence).
  void StringList(const std::string& name, std::vector<std::string>* target,
                  const std::string& help,
                  const std::string& value_name = "STR");
  // Starts a new titled group in Usage() (e.g. "Global flags").
  void Section(const std::string& title);

  // Parses `args`. InvalidArgument naming the flag for unknown flags,
  // missing values and bad values. --help / -h sets help_requested() and
  // stops parsing with OK.
  absl::Status Parse(const std::vector<std::string>& args);

  bool help_requested() const { return help_; }
  // Whether the flag appeared on the command line.
  bool IsSet(absl::string_view name) const;
  const std::vector<std::string>& positional() const { return positional_; }
  std::string Usage() const;

 private:
  struct Flag {
    std::string name;
    std::string help;
    std::string value_name;  // empty for booleans
    std::string default_text;
    std::string section;
    bool is_bool = false;
    bool is_list = false;
    bool set = false;
    // Applies a value; returns the reason it is invalid.
    std::function<absl::Status(absl::string_view)> apply;
  };
  Flag* Find(absl::string_view name);
  Flag& Add(const std::string& name, const std::string& help,
            const std::string& value_name, std::string default_text);

  std::string command_;
  std::string synopsis_;
  std::string description_;
  std::string section_;
  std::vector<Flag> flags_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

// Splits "1,2,4" into integers; InvalidArgument naming the bad element.
absl::Status ParseIntList(absl::string_view text, const char* flag,
                          std::vector<int64_t>* out);

}  // namespace quiver::cli

#endif  // QUIVER_CLIENT_CLI_FLAGS_H_
