#include "client/cli/progress.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/cli/common.h"

namespace quiver::cli {

void Console::Print(absl::string_view line) {
  absl::MutexLock lock(&mu_);
  std::string out;
  if (tty_ && !status_.empty()) out = "\r\x1b[K";
  absl::StrAppend(&out, line, "\n");
  if (tty_ && !status_.empty()) absl::StrAppend(&out, status_);
  std::fwrite(out.data(), 1, out.size(), stderr);
  std::fflush(stderr);
}

void Console::SetStatus(absl::string_view status) {
  absl::MutexLock lock(&mu_);
  std::string out;
  if (tty_) {
    status_ = std::string(status);
    out = absl::StrCat("\r\x1b[K", status_);
  } else {
    out = absl::StrCat(status, "\n");
  }
  std::fwrite(out.data(), 1, out.size(), stderr);
  std::fflush(stderr);
}

void Console::FinishStatus() {
  absl::MutexLock lock(&mu_);
  if (tty_ && !status_.empty()) {
    std::fputc('\n', stderr);
    std::fflush(stderr);
  }
  status_.clear();
}

std::string ProgressLine(uint64_t rows, double fraction, double elapsed_s,
                         bool bar) {
  const double rate = elapsed_s > 0 ? rows / elapsed_s : 0;
  std::string out;
  const bool known = fraction >= 0 && fraction <= 1;
  if (known && bar) {
    constexpr int kWidth = 24;
    const int fill = static_cast<int>(std::lround(fraction * kWidth));
    out = absl::StrCat("[", std::string(fill, '#'),
                       std::string(kWidth - fill, '.'), "] ");
  }
  if (known)
    absl::StrAppend(&out, absl::StrFormat("%5.1f%%  ", 100 * fraction));
  absl::StrAppend(&out, FormatCount(rows), " rows  ",
                  FormatCount(static_cast<uint64_t>(rate)), " rows/s");
  if (known && fraction > 0 && fraction < 1) {
    absl::StrAppend(&out, "  ETA ",
                    FormatSeconds(elapsed_s * (1 - fraction) / fraction));
  } else if (!known || fraction == 0) {
    absl::StrAppend(&out, "  ", FormatSeconds(elapsed_s), " elapsed");
  }
  return out;
}

}  // namespace quiver::cli
