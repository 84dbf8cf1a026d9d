// Test helpers shared by Quiver's tests: status assertions, temporary
// directories, the real data sets under ../shared/data, TEXMEX readers and
// recall.
#ifndef QUIVER_TESTS_TESTING_TESTING_H_
#define QUIVER_TESTS_TESTING_TESTING_H_

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define QUIVER_ASSERT_OK(expr)                                    \
  do {                                                            \
    const ::absl::Status _st = ::quiver::testing::ToStatus(expr); \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st;                \
  } while (0)
#define QUIVER_EXPECT_OK(expr)                                    \
  do {                                                            \
    const ::absl::Status _st = ::quiver::testing::ToStatus(expr); \
    EXPECT_TRUE(_st.ok()) << #expr << ": " << _st;                \
  } while (0)

namespace quiver::testing {

inline absl::Status ToStatus(const absl::Status& s) { return s; }
template <typename T>
absl::Status ToStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

// A fresh directory under $TMPDIR, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "quiver-test-XXXXXX")
            .string();
    char* p = mkdtemp(tmpl.data());
    if (p == nullptr) {
      ADD_FAILURE() << "mkdtemp failed";
    }
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Root of the shared real data sets: $QUIVER_DATA_DIR, else
// <source dir>/../shared/data. Empty if absent.
inline std::string DataRoot() {
  if (const char* env = std::getenv("QUIVER_DATA_DIR"); env && *env) return env;
#ifdef QUIVER_SOURCE_DIR
  std::filesystem::path p =
      std::filesystem::path(QUIVER_SOURCE_DIR) / ".." / "shared" / "data";
  if (std::filesystem::exists(p)) return p.lexically_normal().string();
#endif
  return "";
}

// Path of a data set folder (e.g. "siftsmall"), or "" if absent.
inline std::string DataSet(const std::string& name) {
  const std::string root = DataRoot();
  if (root.empty()) return "";
  const std::string p = root + "/" + name;
  return std::filesystem::exists(p) ? p : "";
}

#define QUIVER_SKIP_IF_NO_DATA(var, name)                   \
  const std::string var = ::quiver::testing::DataSet(name); \
  if (var.empty())                                          \
  GTEST_SKIP() << "data set '" << name                      \
               << "' not found under ../shared/data (or $QUIVER_DATA_DIR)"

// Reads a TEXMEX .fvecs (T=float) or .ivecs (T=int32_t) file into a row-major
// matrix; *dim receives the dimension. Fails the test on malformed input.
// Not client/readers.h: that lives in quiver_client (gRPC, generated proto),
// which the index, storage and engine tests must not link.
template <typename T>
std::vector<T> ReadVecs(const std::string& path, size_t* dim,
                        size_t max_rows = SIZE_MAX) {
  std::vector<T> out;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot open " << path;
    return out;
  }
  *dim = 0;
  size_t rows = 0;
  while (rows < max_rows) {
    int32_t d = 0;
    if (!in.read(reinterpret_cast<char*>(&d), 4)) break;
    if (d <= 0 || (*dim != 0 && static_cast<size_t>(d) != *dim)) {
      ADD_FAILURE() << path << ": bad dimension " << d << " at row " << rows;
      return {};
    }
    *dim = d;
    const size_t old = out.size();
    out.resize(old + d);
    if (!in.read(reinterpret_cast<char*>(out.data() + old), d * sizeof(T))) {
      ADD_FAILURE() << path << ": truncated at row " << rows;
      return {};
    }
    ++rows;
  }
  return out;
}

// Mean over queries of |found[i][:k] ∩ truth[i][:k]| / k. truth: nq rows of
// gt_dim ids (ivecs ground truth).
template <typename Ids>
double RecallAtK(const std::vector<Ids>& found,
                 const std::vector<int32_t>& truth, size_t gt_dim, size_t k) {
  if (found.empty()) return 0;
  double sum = 0;
  for (size_t q = 0; q < found.size(); ++q) {
    std::set<int64_t> gt;
    for (size_t j = 0; j < k && j < gt_dim; ++j)
      gt.insert(truth[q * gt_dim + j]);
    size_t hit = 0;
    for (size_t j = 0; j < k && j < found[q].size(); ++j) {
      hit += gt.count(static_cast<int64_t>(found[q][j]));
    }
    sum += static_cast<double>(hit) / k;
  }
  return sum / found.size();
}

}  // namespace quiver::testing

#endif  // QUIVER_TESTS_TESTING_TESTING_H_
