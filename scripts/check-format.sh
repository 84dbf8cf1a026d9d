#!/usr/bin/env bash
# Checks that every C++ source (*.cc, *.h) is formatted as .clang-format says.
# Changes nothing; exits non-zero and lists the offending files if any differ.
# Fix them with: clang-format -i FILE...
#
# The files: in a git checkout, the tracked and untracked-but-not-ignored ones
# (so build directories, third_party/ etc. are skipped through .gitignore);
# elsewhere, every *.cc/*.h outside build*/, third_party/ and dot-directories.
#
# Environment:
#   CLANG_FORMAT   the clang-format binary (default: clang-format)
set -euo pipefail
cd "$(dirname "$0")/.."

CLANG_FORMAT="${CLANG_FORMAT:-clang-format}"
if ! command -v "$CLANG_FORMAT" >/dev/null 2>&1; then
  echo "check-format: $CLANG_FORMAT not found (scripts/setup.sh installs clang-format)" >&2
  exit 2
fi

files=()
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  while IFS= read -r -d '' f; do
    [ -f "$f" ] && files+=("$f")
  done < <(git ls-files -z --cached --others --exclude-standard -- '*.cc' '*.h')
else
  while IFS= read -r -d '' f; do
    files+=("$f")
  done < <(find . \( -name 'build*' -o -name third_party -o -name '.?*' \) -prune \
             -o -type f \( -name '*.cc' -o -name '*.h' \) -print0 | sort -z)
fi

if [ ${#files[@]} -eq 0 ]; then
  echo "check-format: no *.cc/*.h files found" >&2
  exit 2
fi

bad=()
for f in "${files[@]}"; do
  if ! "$CLANG_FORMAT" --dry-run --Werror "$f" >/dev/null 2>&1; then
    bad+=("$f")
  fi
done

if [ ${#bad[@]} -ne 0 ]; then
  echo "check-format: ${#bad[@]} of ${#files[@]} files are not clang-formatted:"
  printf '  %s\n' "${bad[@]}"
  echo "check-format: first differences:"
  "$CLANG_FORMAT" --dry-run --Werror "${bad[@]}" 2>&1 | head -n 40 || true
  echo "fix with: $CLANG_FORMAT -i ${bad[*]}"
  exit 1
fi
echo "check-format: ${#files[@]} files OK ($("$CLANG_FORMAT" --version | head -n 1))"
