// Status helpers shared by every module (Debian's Abseil 20220623 has no
// status macros). Header-only; depends on Abseil only.
//
//   absl::StatusOr<int> Parse(std::string_view s);
//   absl::Status Use() {
//     QUIVER_ASSIGN_OR_RETURN(int v, Parse("42"));
//     QUIVER_RETURN_IF_ERROR(Check(v));
//     return absl::OkStatus();
//   }
#ifndef QUIVER_COMMON_STATUS_H_
#define QUIVER_COMMON_STATUS_H_

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define QUIVER_STATUS_CONCAT_INNER_(a, b) a##b
#define QUIVER_STATUS_CONCAT_(a, b) QUIVER_STATUS_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function if `expr` is not OK.
#define QUIVER_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status _quiver_status = (expr);          \
    if (!_quiver_status.ok()) return _quiver_status; \
  } while (0)

// `lhs` = value of the StatusOr `rexpr`, or returns its status.
#define QUIVER_ASSIGN_OR_RETURN(lhs, rexpr) \
  QUIVER_ASSIGN_OR_RETURN_IMPL_(            \
      QUIVER_STATUS_CONCAT_(_quiver_statusor_, __LINE__), lhs, rexpr)

#define QUIVER_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()

// Always-on invariant check: aborts with file:line and the condition. For
// broken invariants (our bugs), never for caller input.
#define QUIVER_CHECK(cond)                                               \
  do {                                                                   \
    if (!(cond)) {                                                       \
      std::fprintf(stderr, "%s:%d: QUIVER_CHECK failed: %s\n", __FILE__, \
                   __LINE__, #cond);                                     \
      std::abort();                                                      \
    }                                                                    \
  } while (0)

#ifdef NDEBUG
#define QUIVER_DCHECK(cond) \
  do {                      \
  } while (false && (cond))
#else
#define QUIVER_DCHECK(cond) QUIVER_CHECK(cond)
#endif

#endif  // QUIVER_COMMON_STATUS_H_
