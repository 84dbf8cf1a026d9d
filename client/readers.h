// Streaming readers for the vector file formats `quiver ingest`, `quiver
// search` and `quiver bench` accept. Every reader yields one Row at a time,
// so files larger than memory stream through.
//
//   ReaderOptions opts;                       // format from the extension
//   QUIVER_ASSIGN_OR_RETURN(auto reader, OpenRowReader("base.fvecs", opts));
//   Row row;
//   while (true) {
//     absl::StatusOr<bool> more = reader->Next(&row);
//     if (!more.ok()) { ...; if (reader->fatal()) break; continue; }
//     if (!*more) break;
//     Use(row.index, row.vector);
//   }
//
// Formats (picked by extension, or ReaderOptions::format):
//   .fvecs / .bvecs / .ivecs  TEXMEX: per row an int32 little-endian
//                             dimension d, then d float32 / uint8 / int32.
//   .npy                      NumPy 2-D array, dtype '<f4', '<f8' or
//                             '<f2' (float16, widened to float32), C order
//                             (format versions 1.0, 2.0, 3.0).
//   .hdf5 / .h5               A 2-D dataset of an HDF5 file, such as the
//                             ann-benchmarks files (datasets "train",
//                             "test", "neighbors", "distances"): the dataset
//                             ReaderOptions::dataset names, "train" by
//                             default. Any integer or float element type
//                             (converted to float32); read in slabs of
//                             rows, so large files stream too.
//   .csv / .tsv               One row per record (a line, or several when a
//                             quoted field holds newlines); see CsvOptions.
//   .jsonl / .ndjson          One JSON object per line:
//                             {"id": "a" | 7, "vector": [0.1, ...],
//                              "attributes": {"k": "v" | 1 | 2.5 | true |
//                                             ["tag", ...] | null}}
//                             "id" and "attributes" are optional; other
//                             keys are ignored. Attribute values keep their
//                             type (see Row::typed_attributes): a string is
//                             a string, an integer without fraction or
//                             exponent that fits int64 an int, any other
//                             number a double, true/false a bool, an array
//                             of strings a tag list; null leaves the
//                             attribute out; an object, or an array holding
//                             anything but strings, is an error of the row.
//
// Row numbers (Row::index) are 0-based and count data rows only: vectors in
// binary files; non-blank records after the header in text files.
//
// Errors name the file and the place, then the reason:
//   text files:   "data.csv:7 (row 5): expected 4 fields, found 3" (the line
//                 a record starts on; lines count every line of the file,
//                 including those inside quoted fields)
//   binary files: "base.fvecs: row 12 (byte offset 6192): truncated: ..."
//   HDF5 files:   "ann.hdf5: dataset 'train': row 12: value 3 is NaN"
// A malformed row is InvalidArgument. After it, fatal() says whether the
// reader skipped just that row (false: Next may be called again) or cannot go
// on (true: e.g. a truncated binary file). Open failures are NotFound or
// PermissionDenied (missing/unreadable file) or InvalidArgument (bad header).
//
// Thread safety: a RowReader is used by one thread at a time.
#ifndef QUIVER_CLIENT_READERS_H_
#define QUIVER_CLIENT_READERS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace quiver::client {

enum class Format { kFvecs, kBvecs, kIvecs, kNpy, kCsv, kTsv, kJsonl, kHdf5 };

// "fvecs", "bvecs", "ivecs", "npy", "csv", "tsv", "jsonl" (also "ndjson"),
// "hdf5" (also "h5").
absl::StatusOr<Format> ParseFormat(absl::string_view name);
// The format implied by a path's extension; InvalidArgument naming the
// extension when it is not one of the above.
absl::StatusOr<Format> FormatFromPath(absl::string_view path);
const char* FormatName(Format format);

// An attribute value of a type other than string: an int64, a double, a
// bool or a tag list (a list of strings).
using TypedValue =
    std::variant<int64_t, double, bool, std::vector<std::string>>;

// One record of an input file.
struct Row {
  // 0-based data row within the file.
  uint64_t index = 0;
  // The id stored in the file (CSV id column, JSONL "id"); empty if none.
  std::string id;
  // Exactly dimension() finite values.
  std::vector<float> vector;
  // String attributes (JSONL "attributes"; CSV columns besides id and
  // vector without a type, or typed :string).
  std::vector<std::pair<std::string, std::string>> attributes;
  // Attributes of the other types: JSONL numbers, booleans and arrays of
  // strings; CSV columns typed :int, :double, :bool or :tags. A key is in
  // only one of the two lists.
  std::vector<std::pair<std::string, TypedValue>> typed_attributes;
};

// How CSV/TSV records map to rows.
//
// Fields are separated by the delimiter (',' for .csv, tab for .tsv); a field
// may be double-quoted ("a,b" with "" for a quote), and a delimiter inside
// [...] does not split, so `doc1,[0.1,0.2]` is two fields. A quoted field may
// hold line breaks: the record then goes on over the next lines (each break
// becomes "\n"); a quote still open at the end of the file is an error of
// that record, and one still open after 16 MiB ends the file (fatal). A
// vector field is "[0.1,0.2]", "0.1 0.2" or "0.1;0.2" (brackets optional).
//
// Header (kAuto): the first record is a header when none of its fields is a
// number or a bracketed vector. With a header, the column named "id" (any
// case) holds the id, and a column named "vector", "embedding" or "values"
// holds the whole vector; then every other column becomes an attribute named
// by its header. Without such a column, all non-id columns are the vector's
// components.
// Typed attribute columns: a header "name:TYPE" makes the attribute `name`
// of that type, TYPE being (any case) string (also str), int (int64),
// double (float), bool or tags. An int field is a decimal int64, a double
// field a finite number, a bool field true/false/1/0 (any case), a tags
// field tags separated by '|' ("news|sport"; spaces around a tag are
// trimmed, empty tags dropped). An empty field of a typed column (other
// than string) leaves the attribute out; a field that does not parse is an
// error of its row. Other headers, "a:b" included, name string attributes
// as they are.
// Without a header (kAuto id): the first field is the id when the first row
// has at least two fields and its first field is not a number. Then the rest
// is either one vector field or the components.
struct CsvOptions {
  enum class Header { kAuto, kYes, kNo };
  enum class IdColumn { kAuto, kFirst, kNone };
  char delimiter = 0;  // 0 = by format: ',' for csv, '\t' for tsv
  Header header = Header::kAuto;
  IdColumn id_column = IdColumn::kAuto;
};

struct ReaderOptions {
  // Unset: from the file's extension.
  std::optional<Format> format;
  // Every row must have this many values; 0 = whatever the first row has.
  size_t expected_dimension = 0;
  CsvOptions csv;
  // HDF5: the dataset to read (a path inside the file, e.g. "test" or
  // "/group/x"); empty = "train".
  std::string dataset;
};

// A forward-only reader over one file. Owns its file handle.
class RowReader {
 public:
  virtual ~RowReader() = default;
  RowReader(const RowReader&) = delete;
  RowReader& operator=(const RowReader&) = delete;

  // Reads the next row into *row (its previous contents are replaced).
  // true: a row was read; false: end of file. InvalidArgument for a
  // malformed row (see the file comment); after a fatal error every further
  // call returns the same error.
  virtual absl::StatusOr<bool> Next(Row* row) = 0;

  // Skips up to n rows without validating them (for resuming); returns how
  // many were skipped (fewer at the end of the file).
  virtual absl::StatusOr<uint64_t> Skip(uint64_t n);

  // Whether the last error ended the file.
  bool fatal() const { return fatal_; }
  // Row dimension: the expected one, else the first row's; 0 until known.
  size_t dimension() const { return dimension_; }
  const std::string& path() const { return path_; }
  Format format() const { return format_; }
  // Index the next row will get.
  uint64_t next_row() const { return next_row_; }
  // Progress: bytes consumed so far and the file's size.
  uint64_t bytes_consumed() const { return bytes_consumed_; }
  uint64_t total_bytes() const { return total_bytes_; }
  // Number of rows when the format tells it up front (binary formats).
  std::optional<uint64_t> total_rows() const { return total_rows_; }

 protected:
  RowReader(std::string path, Format format, size_t expected_dimension);

  // Checks row.vector's size against dimension() (fixing it on the first
  // row) and that every value is finite. `where` makes the message prefix
  // (called only on error).
  absl::Status CheckVector(const std::vector<float>& v,
                           absl::FunctionRef<std::string()> where);
  // Checks that the row's id and attributes are valid UTF-8 (the server's
  // strings must be; a row that is not is malformed, so --on_error skip
  // skips it instead of the server refusing the batch).
  static absl::Status CheckText(const Row& row,
                                absl::FunctionRef<std::string()> where);
  // Marks the reader failed with `status` and returns it.
  absl::Status Fail(absl::Status status);

  std::string path_;
  Format format_;
  size_t dimension_ = 0;
  bool dimension_fixed_ = false;  // set by expected_dimension or first row
  bool fatal_ = false;
  absl::Status fatal_status_;
  uint64_t next_row_ = 0;
  uint64_t bytes_consumed_ = 0;
  uint64_t total_bytes_ = 0;
  std::optional<uint64_t> total_rows_;
};

absl::StatusOr<std::unique_ptr<RowReader>> OpenRowReader(
    const std::string& path, const ReaderOptions& options);

// A dense row-major matrix read whole (queries, ground truth).
template <typename T>
struct Matrix {
  size_t rows = 0;
  size_t dim = 0;
  std::vector<T> data;  // rows * dim
  const T* row(size_t i) const { return data.data() + i * dim; }
};

// Reads up to max_rows rows of any format into memory; the first error
// (even a recoverable one) is returned.
absl::StatusOr<Matrix<float>> ReadVectors(const std::string& path,
                                          const ReaderOptions& options,
                                          size_t max_rows = SIZE_MAX);

// Reads an .ivecs file (e.g. ground-truth neighbour ids) exactly as int32.
absl::StatusOr<Matrix<int32_t>> ReadIvecs(const std::string& path,
                                          size_t max_rows = SIZE_MAX);

// Reads ground-truth neighbour ids: an HDF5 file (by extension .hdf5/.h5)
// through its integer dataset `dataset` (empty = "neighbors", as in the
// ann-benchmarks files; any integer type whose values fit in int32), any
// other path as .ivecs (ReadIvecs).
absl::StatusOr<Matrix<int32_t>> ReadNeighbors(const std::string& path,
                                              size_t max_rows = SIZE_MAX,
                                              const std::string& dataset = "");

// Parses a vector written as "[0.1,0.2]", "0.1,0.2", "0.1 0.2" or "0.1;0.2".
// InvalidArgument naming the bad element ("element 2: 'x' is not a
// number").
absl::StatusOr<std::vector<float>> ParseVectorText(absl::string_view text);

// Parses one decimal number (surrounding spaces allowed, optional '+').
bool ParseFloatText(absl::string_view text, float* out);

}  // namespace quiver::client

#endif  // QUIVER_CLIENT_READERS_H_
