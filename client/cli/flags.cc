#include "client/cli/flags.h"

#include <algorithm>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace quiver::cli {
namespace {

std::string Normalize(absl::string_view name) {
  std::string n(name);
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
}

}  // namespace

FlagSet::FlagSet(std::string command, std::string synopsis,
                 std::string description)
    : command_(std::move(command)),
      synopsis_(std::move(synopsis)),
      description_(std::move(description)) {}

FlagSet::Flag& FlagSet::Add(const std::string& name, const std::string& help,
                            const std::string& value_name,
                            std::string default_text) {
  Flag f;
  f.name = Normalize(name);
  f.help = help;
  f.value_name = value_name;
  f.default_text = std::move(default_text);
  f.section = section_;
  flags_.push_back(std::move(f));
  return flags_.back();
}

void FlagSet::Section(const std::string& title) { section_ = title; }

void FlagSet::String(const std::string& name, std::string* target,
                     const std::string& help, const std::string& value_name) {
  Flag& f = Add(name, help, value_name, *target);
  f.apply = [target](absl::string_view v) {
    *target = std::string(v);
    return absl::OkStatus();
  };
}

void FlagSet::Int(const std::string& name, int64_t* target,
                  const std::string& help) {
  Flag& f = Add(name, help, "N", absl::StrCat(*target));
  const std::string n = f.name;
  f.apply = [target, n](absl::string_view v) {
    int64_t x = 0;
    if (!absl::SimpleAtoi(v, &x)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", n, ": '", v, "' is not an integer"));
    }
    *target = x;
    return absl::OkStatus();
  };
}

void FlagSet::Double(const std::string& name, double* target,
                     const std::string& help) {
  Flag& f = Add(name, help, "X", absl::StrCat(*target));
  const std::string n = f.name;
  f.apply = [target, n](absl::string_view v) {
    double x = 0;
    if (!absl::SimpleAtod(v, &x)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", n, ": '", v, "' is not a number"));
    }
    *target = x;
    return absl::OkStatus();
  };
}

void FlagSet::Bool(const std::string& name, bool* target,
                   const std::string& help) {
  Flag& f = Add(name, help, "", *target ? "true" : "");
  f.is_bool = true;
  const std::string n = f.name;
  f.apply = [target, n](absl::string_view v) {
    bool x = false;
    if (!absl::SimpleAtob(v, &x)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", n, ": '", v, "' is not true or false"));
    }
    *target = x;
    return absl::OkStatus();
  };
}

void FlagSet::Duration(const std::string& name, absl::Duration* target,
                       const std::string& help) {
  Flag& f = Add(name, help, "DURATION", absl::FormatDuration(*target));
  const std::string n = f.name;
  f.apply = [target, n](absl::string_view v) {
    double secs = 0;
    absl::Duration d;
    if (absl::SimpleAtod(v, &secs) && secs >= 0) {
      *target = absl::Seconds(secs);
    } else if (absl::ParseDuration(v, &d) && d >= absl::ZeroDuration()) {
      *target = d;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", n, ": '", v, "' is not a duration (e.g. 30s, 500ms, 2m)"));
    }
    return absl::OkStatus();
  };
}

void FlagSet::StringList(const std::string& name,
                         std::vector<std::string>* target,
                         const std::string& help,
                         const std::string& value_name) {
  Flag& f = Add(name, help, value_name, absl::StrJoin(*target, ","));
  f.is_list = true;
  auto fresh = std::make_shared<bool>(true);  // no occurrence seen yet
  f.apply = [target, fresh](absl::string_view v) {
    if (*fresh) {
      target->clear();
      *fresh = false;
    }
    target->emplace_back(v);
    return absl::OkStatus();
  };
}

FlagSet::Flag* FlagSet::Find(absl::string_view name) {
  const std::string n = Normalize(name);
  for (Flag& f : flags_) {
    if (f.name == n) return &f;
  }
  return nullptr;
}

bool FlagSet::IsSet(absl::string_view name) const {
  const std::string n = Normalize(name);
  for (const Flag& f : flags_) {
    if (f.name == n) return f.set;
  }
  return false;
}

absl::Status FlagSet::Parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      positional_.insert(positional_.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (a.size() < 2 || a[0] != '-') {
      positional_.push_back(a);
      continue;
    }
    absl::string_view body(a);
    body.remove_prefix(body.substr(0, 2) == "--" ? 2 : 1);
    absl::string_view name = body;
    absl::string_view value;
    bool has_value = false;
    if (const size_t eq = body.find('='); eq != absl::string_view::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    if (name == "help" || name == "h") {
      help_ = true;
      return absl::OkStatus();
    }
    Flag* f = Find(name);
    if (f == nullptr && !has_value && absl::StartsWith(name, "no")) {
      Flag* neg = Find(name.substr(2));
      if (neg != nullptr && neg->is_bool) {
        neg->set = true;
        if (absl::Status s = neg->apply("false"); !s.ok()) return s;
        continue;
      }
    }
    if (f == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown flag --", name, " (see ", command_, " --help)"));
    }
    f->set = true;
    if (f->is_bool) {
      if (absl::Status s = f->apply(has_value ? value : "true"); !s.ok()) {
        return s;
      }
      continue;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--", f->name, " needs a value (", f->value_name, ")"));
      }
      value = args[++i];
    }
    if (absl::Status s = f->apply(value); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string FlagSet::Usage() const {
  std::string out = absl::StrCat("Usage: ", command_, " ", synopsis_, "\n");
  if (!description_.empty()) absl::StrAppend(&out, "\n", description_, "\n");
  std::string section = "\x01";
  for (const Flag& f : flags_) {
    if (f.section != section) {
      section = f.section;
      absl::StrAppend(&out, "\n", section.empty() ? "Flags" : section, ":\n");
    }
    std::string head = absl::StrCat("  --", f.name);
    if (!f.is_bool) absl::StrAppend(&head, " ", f.value_name);
    std::string help = f.help;
    if (f.is_list) absl::StrAppend(&help, " (repeatable)");
    if (!f.default_text.empty()) {
      absl::StrAppend(&help, " [default: ", f.default_text, "]");
    }
    if (head.size() < 26) {
      head.resize(26, ' ');
      absl::StrAppend(&out, head, help, "\n");
    } else {
      absl::StrAppend(&out, head, "\n", std::string(26, ' '), help, "\n");
    }
  }
  absl::StrAppend(&out, "  --help                  show this help\n");
  return out;
}

absl::Status ParseIntList(absl::string_view text, const char* flag,
                          std::vector<int64_t>* out) {
  out->clear();
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    part = absl::StripAsciiWhitespace(part);
    int64_t v = 0;
    if (part.empty() || !absl::SimpleAtoi(part, &v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": '", part,
                       "' is not an integer (expected a list "
                       "like 1,2,4)"));
    }
    out->push_back(v);
  }
  return absl::OkStatus();
}

}  // namespace quiver::cli
