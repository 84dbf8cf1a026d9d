// Progress reporting on stderr for long-running commands (ingest).
//
//   Console console(isatty(2));
//   console.SetStatus(ProgressLine(rows, fraction, elapsed_s, console.tty()));
//   console.Print("data.csv:7 (row 5): expected 4 fields, found 3");
//
// On a terminal the status is one line redrawn in place ("\r" + erase) and
// messages are printed above it; otherwise each SetStatus prints a plain
// line (callers throttle it).
//
// Thread safety: Console is thread-safe; ProgressLine is a pure function.
#ifndef QUIVER_CLIENT_CLI_PROGRESS_H_
#define QUIVER_CLIENT_CLI_PROGRESS_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace quiver::cli {

class Console {
 public:
  explicit Console(bool tty) : tty_(tty) {}
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  bool tty() const { return tty_; }
  // Prints one message line (above the status line on a terminal).
  void Print(absl::string_view line);
  // Replaces the status line (terminal) or prints it (otherwise).
  void SetStatus(absl::string_view status);
  // Terminal: ends the status line with a newline so later output starts
  // on a fresh line.
  void FinishStatus();

 private:
  const bool tty_;
  absl::Mutex mu_;
  std::string status_ ABSL_GUARDED_BY(mu_);
};

// One progress line: rows done, rate, and, when fraction is in [0, 1], the
// percentage and ETA ("[=====>    ]" bar too when `bar`). Example:
// "[#########.........]  45.2%  4,520 rows  9,812 rows/s  ETA 1s"
std::string ProgressLine(uint64_t rows, double fraction, double elapsed_s,
                         bool bar);

}  // namespace quiver::cli

#endif  // QUIVER_CLIENT_CLI_PROGRESS_H_
