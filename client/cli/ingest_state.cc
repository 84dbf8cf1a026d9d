#include "client/cli/ingest_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace quiver::cli {
namespace {

constexpr char kMagic[] = "quiver-ingest-state 1";

}  // namespace

absl::StatusOr<IngestState> LoadIngestState(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("no ingest state file ", path));
    }
    return absl::UnavailableError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  IngestState state;
  std::string line;
  int line_no = 0;
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":", line_no, ": malformed ingest state: ", why));
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (line_no == 1) {
      if (line != kMagic) return bad(absl::StrCat("expected '", kMagic, "'"));
      continue;
    }
    if (line.empty()) continue;
    const size_t sp = line.find(' ');
    const std::string key = line.substr(0, sp);
    const std::string rest = sp == std::string::npos ? "" : line.substr(sp + 1);
    if (key == "collection") {
      state.collection = rest;
    } else if (key == "id_prefix") {
      state.id_prefix = rest;
    } else if (key == "file") {
      std::vector<std::string> parts =
          absl::StrSplit(rest, absl::MaxSplits(' ', 4));
      FileProgress f;
      uint64_t index = 0, complete = 0;
      if (parts.size() != 5 || !absl::SimpleAtoi(parts[0], &index) ||
          !absl::SimpleAtoi(parts[1], &f.done_rows) ||
          !absl::SimpleAtoi(parts[2], &complete) || complete > 1 ||
          !absl::SimpleAtoi(parts[3], &f.size) || parts[4].empty()) {
        return bad("expected 'file INDEX DONE_ROWS COMPLETE SIZE PATH'");
      }
      if (index != state.files.size()) {
        return bad(absl::StrCat("file index ", index, ", expected ",
                                state.files.size()));
      }
      f.complete = complete == 1;
      f.path = parts[4];
      state.files.push_back(std::move(f));
    } else {
      return bad(absl::StrCat("unknown record '", key, "'"));
    }
  }
  if (line_no == 0) return bad("empty file");
  return state;
}

absl::Status SaveIngestState(const std::string& path,
                             const IngestState& state) {
  std::string text = absl::StrCat(kMagic, "\ncollection ", state.collection,
                                  "\nid_prefix ", state.id_prefix, "\n");
  for (size_t i = 0; i < state.files.size(); ++i) {
    const FileProgress& f = state.files[i];
    absl::StrAppend(&text, "file ", i, " ", f.done_rows, " ",
                    f.complete ? 1 : 0, " ", f.size, " ", f.path, "\n");
  }
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
  }
  size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return absl::UnavailableError(
          absl::StrCat("cannot write ", tmp, ": ", std::strerror(err)));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot flush ", tmp, ": ", std::strerror(errno)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot rename ", tmp, " to ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

void RowWatermark::MarkDone(uint64_t begin, uint64_t end) {
  if (end <= begin) return;
  if (begin == done_) {
    done_ = end;
  } else {
    pending_[begin] = end;
  }
  for (auto it = pending_.begin();
       it != pending_.end() && it->first <= done_;) {
    done_ = std::max(done_, it->second);
    it = pending_.erase(it);
  }
}

}  // namespace quiver::cli
