// Private to storage/: Debian's Abseil 20220623 is built with its own
// absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0), which does not
// convert from std::string_view. Sv() bridges the two for absl::StrCat and
// friends.
#ifndef QUIVER_STORAGE_STRINGS_H_
#define QUIVER_STORAGE_STRINGS_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace quiver::storage {

inline absl::string_view Sv(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

}  // namespace quiver::storage

#endif  // QUIVER_STORAGE_STRINGS_H_
