// Line-based formats: CSV/TSV (a record may span lines inside quotes) and
// JSON Lines.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/json.h"
#include "client/readers.h"
#include "client/readers_internal.h"
#include "common/status.h"

namespace quiver::client::readers_internal {
namespace {

// Reads lines (without the "\n" or "\r\n") from a file it owns.
class LineReader {
 public:
  explicit LineReader(FilePtr file) : file_(std::move(file)) {}
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;
  ~LineReader() { std::free(buf_); }

  // true with *line set (valid until the next call); false at end of file.
  absl::StatusOr<bool> Next(absl::string_view* line, const std::string& path) {
    errno = 0;
    const ssize_t n = ::getline(&buf_, &cap_, file_.get());
    if (n < 0) {
      if (std::ferror(file_.get())) {
        return absl::UnavailableError(absl::StrCat(
            path, ":", line_no_ + 1, ": read error: ", std::strerror(errno)));
      }
      return false;
    }
    ++line_no_;
    bytes_ += static_cast<uint64_t>(n);
    absl::string_view l(buf_, static_cast<size_t>(n));
    if (!l.empty() && l.back() == '\n') l.remove_suffix(1);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (line_no_ == 1 && l.substr(0, 3) == "\xEF\xBB\xBF") l.remove_prefix(3);
    *line = l;
    return true;
  }
  // 1-based number of the last line returned.
  uint64_t line_no() const { return line_no_; }
  uint64_t bytes() const { return bytes_; }

 private:
  FilePtr file_;
  char* buf_ = nullptr;
  size_t cap_ = 0;
  uint64_t line_no_ = 0;
  uint64_t bytes_ = 0;
};

bool IsBlank(absl::string_view line) {
  return absl::StripAsciiWhitespace(line).empty();
}

// Where byte `off` of a CSV record is: "column 5" on the record's first
// line, "line 9, column 5" on a later one (a quoted field held a newline).
std::string Position(absl::string_view record, size_t off,
                     uint64_t first_line) {
  const absl::string_view before = record.substr(0, off);
  const size_t nl = before.rfind('\n');
  if (nl == absl::string_view::npos) return absl::StrCat("column ", off + 1);
  const uint64_t line = first_line + static_cast<uint64_t>(std::count(
                                         before.begin(), before.end(), '\n'));
  return absl::StrCat("line ", line, ", column ", off - nl);
}

// Splits one CSV record (a line, or several joined by "\n" when a quoted
// field holds newlines) into fields (see CsvOptions in readers.h). Quoted
// fields lose their quotes; unquoted ones are trimmed of spaces. first_line:
// the file line the record starts on (for positions on later lines).
absl::Status SplitFields(absl::string_view line, char delim,
                         std::vector<std::string>* fields,
                         uint64_t first_line) {
  fields->clear();
  size_t p = 0;
  auto is_space = [&](char c) { return (c == ' ' || c == '\t') && c != delim; };
  while (true) {
    std::string field;
    while (p < line.size() && is_space(line[p])) ++p;
    if (p < line.size() && line[p] == '"') {
      const size_t open = p;
      ++p;
      bool closed = false;
      while (p < line.size()) {
        if (line[p] == '"') {
          if (p + 1 < line.size() && line[p + 1] == '"') {
            field.push_back('"');
            p += 2;
            continue;
          }
          ++p;
          closed = true;
          break;
        }
        field.push_back(line[p++]);
      }
      if (!closed) {
        return absl::InvalidArgumentError(
            absl::StrCat("field ", fields->size() + 1,
                         ": unterminated quoted field starting at ",
                         Position(line, open, first_line),
                         " (no closing quote before the end of the file)"));
      }
      while (p < line.size() && is_space(line[p])) ++p;
      if (p < line.size() && line[p] != delim) {
        return absl::InvalidArgumentError(
            absl::StrCat("field ", fields->size() + 1,
                         ": unexpected character after the closing quote at ",
                         Position(line, p, first_line)));
      }
    } else {
      const size_t start = p;
      int depth = 0;
      while (p < line.size() && (line[p] != delim || depth > 0)) {
        if (line[p] == '[') ++depth;
        if (line[p] == ']' && depth > 0) --depth;
        ++p;
      }
      if (depth > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("field ", fields->size() + 1, ": unclosed '['"));
      }
      field = std::string(
          absl::StripAsciiWhitespace(line.substr(start, p - start)));
    }
    fields->push_back(std::move(field));
    if (p >= line.size()) break;
    ++p;  // the delimiter
  }
  return absl::OkStatus();
}

// Tells, line by line, whether a CSV record goes on: whether a quoted field
// is still open at the end of the text fed so far. Follows SplitFields: a
// quote opens a field only as its first non-blank character; inside
// [...] or an unquoted field, quotes are plain characters.
class RecordScanner {
 public:
  explicit RecordScanner(char delim) : delim_(delim) {}

  void Feed(absl::string_view text) {
    for (const char c : text) {
      switch (state_) {
        case State::kFieldStart:
          if (c == '"') {
            state_ = State::kQuoted;
          } else if (c == delim_) {
            // another empty field
          } else if (c == ' ' || c == '\t') {
            // leading blanks
          } else {
            state_ = State::kUnquoted;
            depth_ = c == '[' ? 1 : 0;
          }
          break;
        case State::kQuoted:
          if (c == '"') state_ = State::kQuoteSeen;
          break;
        case State::kQuoteSeen:  // "" is an escaped quote
          state_ = c == '"'      ? State::kQuoted
                   : c == delim_ ? State::kFieldStart
                                 : State::kAfterQuote;
          break;
        case State::kAfterQuote:
          if (c == delim_) state_ = State::kFieldStart;
          break;
        case State::kUnquoted:
          if (c == '[') {
            ++depth_;
          } else if (c == ']' && depth_ > 0) {
            --depth_;
          } else if (c == delim_ && depth_ == 0) {
            state_ = State::kFieldStart;
          }
          break;
      }
    }
  }
  bool quote_open() const { return state_ == State::kQuoted; }

 private:
  enum class State { kFieldStart, kQuoted, kQuoteSeen, kAfterQuote, kUnquoted };
  char delim_;
  State state_ = State::kFieldStart;
  int depth_ = 0;
};

bool IsNumber(absl::string_view s) {
  float v;
  return ParseFloatText(s, &v);
}

// A field that can only be a vector: bracketed, or several numbers.
bool IsVectorField(absl::string_view s) {
  s = absl::StripAsciiWhitespace(s);
  if (s.empty()) return false;
  absl::StatusOr<std::vector<float>> v = ParseVectorText(s);
  return v.ok() && (s.front() == '[' || v->size() > 1);
}

// A JSON number's text (valid JSON syntax) as an int64 when it has no
// fraction or exponent and fits, else as a double (infinite when out of
// range; tiny values round towards zero).
TypedValue JsonNumberValue(absl::string_view n) {
  if (n.find_first_of(".eE") == absl::string_view::npos) {
    int64_t i = 0;
    const auto res = std::from_chars(n.data(), n.data() + n.size(), i);
    if (res.ec == std::errc() && res.ptr == n.data() + n.size()) return i;
  }
  return std::strtod(std::string(n).c_str(), nullptr);
}

// The type of a CSV attribute column (a header "name:TYPE").
enum class ColumnType { kString, kInt, kDouble, kBool, kTags };

// The type a header names and, in *name, the attribute's name: "year:int"
// is kInt "year"; a header without a known type suffix is kString, its
// name unchanged.
ColumnType SplitTypedHeader(const std::string& header, std::string* name) {
  *name = header;
  const size_t colon = header.rfind(':');
  if (colon == std::string::npos) return ColumnType::kString;
  const std::string suffix = absl::AsciiStrToLower(
      absl::StripAsciiWhitespace(absl::string_view(header).substr(colon + 1)));
  ColumnType type;
  if (suffix == "string" || suffix == "str") {
    type = ColumnType::kString;
  } else if (suffix == "int" || suffix == "int64") {
    type = ColumnType::kInt;
  } else if (suffix == "double" || suffix == "float") {
    type = ColumnType::kDouble;
  } else if (suffix == "bool") {
    type = ColumnType::kBool;
  } else if (suffix == "tags") {
    type = ColumnType::kTags;
  } else {
    return ColumnType::kString;
  }
  *name = std::string(
      absl::StripAsciiWhitespace(absl::string_view(header).substr(0, colon)));
  return type;
}

// A field of a typed (non-string) column: nullopt when empty (the
// attribute is left out), InvalidArgument with the reason when it does not
// parse.
absl::StatusOr<std::optional<TypedValue>> ParseTypedField(
    absl::string_view field, ColumnType type) {
  const absl::string_view f = absl::StripAsciiWhitespace(field);
  if (f.empty()) return std::nullopt;
  switch (type) {
    case ColumnType::kInt: {
      absl::string_view digits = f;
      if (digits.front() == '+') digits.remove_prefix(1);
      int64_t v = 0;
      const auto res =
          std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (res.ec == std::errc::result_out_of_range) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", f, "' does not fit in an int64"));
      }
      if (res.ec != std::errc() || res.ptr != digits.data() + digits.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", f, "' is not an integer"));
      }
      return std::optional<TypedValue>(v);
    }
    case ColumnType::kDouble: {
      absl::string_view num = f;
      if (num.front() == '+') num.remove_prefix(1);
      double v = 0;
      const auto res = std::from_chars(num.data(), num.data() + num.size(), v);
      if (res.ec == std::errc::result_out_of_range) {
        v = std::strtod(std::string(num).c_str(), nullptr);  // underflow: ~0
      } else if (res.ec != std::errc() || res.ptr != num.data() + num.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", f, "' is not a number"));
      }
      if (!std::isfinite(v)) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", f, "' is not a finite number"));
      }
      return std::optional<TypedValue>(v);
    }
    case ColumnType::kBool: {
      if (absl::EqualsIgnoreCase(f, "true") || f == "1") {
        return std::optional<TypedValue>(true);
      }
      if (absl::EqualsIgnoreCase(f, "false") || f == "0") {
        return std::optional<TypedValue>(false);
      }
      return absl::InvalidArgumentError(
          absl::StrCat("'", f, "' is not a boolean (true, false, 1 or 0)"));
    }
    case ColumnType::kTags: {
      std::vector<std::string> tags;
      for (absl::string_view t : absl::StrSplit(f, '|')) {
        t = absl::StripAsciiWhitespace(t);
        if (!t.empty()) tags.emplace_back(t);
      }
      return std::optional<TypedValue>(std::move(tags));
    }
    case ColumnType::kString:
      break;
  }
  return std::optional<TypedValue>();
}

class CsvReader final : public RowReader {
 public:
  CsvReader(std::string path, Format format, const ReaderOptions& options,
            FilePtr file, uint64_t size)
      : RowReader(std::move(path), format, options.expected_dimension),
        lines_(std::move(file)),
        csv_(options.csv) {
    total_bytes_ = size;
    delim_ = csv_.delimiter != 0 ? csv_.delimiter
                                 : (format == Format::kTsv ? '\t' : ',');
  }

  absl::StatusOr<bool> Next(Row* row) override {
    if (fatal_) return fatal_status_;
    absl::Status s;
    while (true) {
      QUIVER_ASSIGN_OR_RETURN(bool more, ReadRecord(&s));
      if (!more) return false;
      if (!layout_known_) {
        absl::StatusOr<bool> was_header = s.ok() ? DecideLayout(fields_) : s;
        if (!was_header.ok()) {
          // Without a layout nothing else can be read.
          return Fail(absl::InvalidArgumentError(absl::StrCat(
              path_, ":", record_line_, ": ", was_header.status().message())));
        }
        if (*was_header) continue;
      }
      break;
    }
    row->index = next_row_++;
    row->id.clear();
    row->attributes.clear();
    row->typed_attributes.clear();
    row->vector.clear();
    const uint64_t index = row->index;
    const uint64_t line_no = record_line_;
    auto where = [&] {
      return absl::StrCat(path_, ":", line_no, " (row ", index, ")");
    };
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), ": ", s.message()));
    }
    if (fields_.size() != num_fields_) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), ": expected ", num_fields_, " fields (",
                       Describe(), "), found ", fields_.size()));
    }
    if (id_col_ >= 0) {
      row->id = fields_[id_col_];
      if (row->id.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where(), ": ", FieldName(id_col_), ": empty id"));
      }
    }
    if (vector_col_ >= 0) {
      absl::StatusOr<std::vector<float>> v =
          ParseVectorText(fields_[vector_col_]);
      if (!v.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where(), ": ", FieldName(vector_col_), ": ", v.status().message()));
      }
      row->vector = std::move(*v);
    } else {
      row->vector.resize(component_cols_.size());
      for (size_t i = 0; i < component_cols_.size(); ++i) {
        const int c = component_cols_[i];
        absl::Status fs = ParseFloatField(fields_[c], &row->vector[i]);
        if (!fs.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat(where(), ": ", FieldName(c), ": ", fs.message()));
        }
      }
    }
    for (int c : attribute_cols_) {
      if (types_[c] == ColumnType::kString) {
        row->attributes.emplace_back(attribute_names_[c], fields_[c]);
        continue;
      }
      absl::StatusOr<std::optional<TypedValue>> v =
          ParseTypedField(fields_[c], types_[c]);
      if (!v.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where(), ": ", FieldName(c), ": ", v.status().message()));
      }
      if (v->has_value()) {
        row->typed_attributes.emplace_back(attribute_names_[c], std::move(**v));
      }
    }
    QUIVER_RETURN_IF_ERROR(CheckVector(row->vector, where));
    QUIVER_RETURN_IF_ERROR(CheckText(*row, where));
    return true;
  }

 private:
  // A record may not grow past this while a quoted field stays open.
  static constexpr size_t kMaxRecordBytes = size_t{16} << 20;

  // Reads the next non-blank record into record_ (lines joined by "\n"
  // while a quoted field is open; record_line_ = its first line) and splits
  // it into fields_, *split = how that went. false at the end of the file.
  absl::StatusOr<bool> ReadRecord(absl::Status* split) {
    absl::string_view line;
    while (true) {
      absl::StatusOr<bool> more = lines_.Next(&line, path_);
      if (!more.ok()) return Fail(more.status());
      bytes_consumed_ = lines_.bytes();
      if (!*more) return false;
      if (!IsBlank(line)) break;
    }
    record_line_ = lines_.line_no();
    record_.assign(line.data(), line.size());
    RecordScanner scan(delim_);
    scan.Feed(line);
    while (scan.quote_open()) {
      absl::StatusOr<bool> more = lines_.Next(&line, path_);
      if (!more.ok()) return Fail(more.status());
      bytes_consumed_ = lines_.bytes();
      if (!*more) break;  // SplitFields reports the unterminated quote
      if (record_.size() + 1 + line.size() > kMaxRecordBytes) {
        return Fail(absl::InvalidArgumentError(
            absl::StrCat(path_, ":", record_line_, " (row ", next_row_,
                         "): a quoted field is still open after ",
                         kMaxRecordBytes >> 20, " MiB (lines ", record_line_,
                         "-", lines_.line_no(), "); a stray '\"'?")));
      }
      record_.push_back('\n');
      record_.append(line.data(), line.size());
      scan.Feed("\n");
      scan.Feed(line);
    }
    *split = SplitFields(record_, delim_, &fields_, record_line_);
    return true;
  }

  // "field 3" or "field 3 ("x2")": 1-based, with the header name.
  std::string FieldName(int c) const {
    if (names_.empty()) return absl::StrCat("field ", c + 1);
    return absl::StrCat("field ", c + 1, " (\"", names_[c], "\")");
  }

  std::string Describe() const {
    std::string d;
    if (id_col_ >= 0) d = "id + ";
    if (vector_col_ >= 0) {
      absl::StrAppend(&d, "a vector field");
    } else {
      absl::StrAppend(&d, component_cols_.size(), " values");
    }
    if (!attribute_cols_.empty()) {
      absl::StrAppend(&d, " + ", attribute_cols_.size(), " attributes");
    }
    return d;
  }

  // Decides the column layout from the first non-blank record's fields;
  // returns whether that record was a header.
  absl::StatusOr<bool> DecideLayout(const std::vector<std::string>& f) {
    bool header = csv_.header == CsvOptions::Header::kYes;
    if (csv_.header == CsvOptions::Header::kAuto) {
      header = true;
      for (const std::string& x : f) {
        if (IsNumber(x) || IsVectorField(x)) header = false;
      }
    }
    num_fields_ = f.size();
    layout_known_ = true;
    if (header) {
      names_ = f;
      for (size_t c = 0; c < f.size(); ++c) {
        const std::string n = absl::AsciiStrToLower(f[c]);
        if (n == "id" && csv_.id_column == CsvOptions::IdColumn::kAuto &&
            id_col_ < 0) {
          id_col_ = static_cast<int>(c);
        }
        if ((n == "vector" || n == "embedding" || n == "values") &&
            vector_col_ < 0) {
          vector_col_ = static_cast<int>(c);
        }
      }
      if (csv_.id_column == CsvOptions::IdColumn::kFirst) id_col_ = 0;
      if (vector_col_ == id_col_) vector_col_ = -1;
      for (size_t c = 0; c < f.size(); ++c) {
        const int ci = static_cast<int>(c);
        if (ci == id_col_ || ci == vector_col_) continue;
        if (vector_col_ >= 0) {
          attribute_cols_.push_back(ci);
        } else {
          component_cols_.push_back(ci);
        }
      }
      if (vector_col_ < 0 && component_cols_.empty()) {
        return absl::InvalidArgumentError("the header names no vector columns");
      }
      types_.assign(f.size(), ColumnType::kString);
      attribute_names_.assign(f.size(), "");
      for (int c : attribute_cols_) {
        types_[c] = SplitTypedHeader(f[c], &attribute_names_[c]);
        if (attribute_names_[c].empty()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "column ", c + 1, " (\"", f[c], "\"): no attribute name"));
        }
      }
      return true;
    }
    size_t first = 0;
    if (csv_.id_column == CsvOptions::IdColumn::kFirst ||
        (csv_.id_column == CsvOptions::IdColumn::kAuto && f.size() >= 2 &&
         !IsNumber(f[0]) && !IsVectorField(f[0]))) {
      id_col_ = 0;
      first = 1;
    }
    if (first >= f.size()) {
      return absl::InvalidArgumentError("the line has no vector fields");
    }
    if (f.size() - first == 1) {
      vector_col_ = static_cast<int>(first);
    } else {
      for (size_t c = first; c < f.size(); ++c) {
        component_cols_.push_back(static_cast<int>(c));
      }
    }
    return false;
  }

  LineReader lines_;
  std::string record_;
  uint64_t record_line_ = 0;
  CsvOptions csv_;
  char delim_ = ',';
  bool layout_known_ = false;
  size_t num_fields_ = 0;
  std::vector<std::string> names_;  // header names, empty without header
  int id_col_ = -1;
  int vector_col_ = -1;
  std::vector<int> component_cols_;
  std::vector<int> attribute_cols_;
  // Per column (with a header): the attribute's type and name.
  std::vector<ColumnType> types_;
  std::vector<std::string> attribute_names_;
  std::vector<std::string> fields_;
};

class JsonlReader final : public RowReader {
 public:
  JsonlReader(std::string path, const ReaderOptions& options, FilePtr file,
              uint64_t size)
      : RowReader(std::move(path), Format::kJsonl, options.expected_dimension),
        lines_(std::move(file)) {
    total_bytes_ = size;
  }

  absl::StatusOr<bool> Next(Row* row) override {
    if (fatal_) return fatal_status_;
    absl::string_view line;
    while (true) {
      absl::StatusOr<bool> more = lines_.Next(&line, path_);
      if (!more.ok()) return Fail(more.status());
      bytes_consumed_ = lines_.bytes();
      if (!*more) return false;
      if (!IsBlank(line)) break;
    }
    row->index = next_row_++;
    row->id.clear();
    row->attributes.clear();
    row->typed_attributes.clear();
    row->vector.clear();
    const uint64_t index = row->index;
    auto where = [&] {
      return absl::StrCat(path_, ":", lines_.line_no(), " (row ", index, ")");
    };
    absl::Status s = ParseLine(line, row);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), ": ", s.message()));
    }
    QUIVER_RETURN_IF_ERROR(CheckVector(row->vector, where));
    QUIVER_RETURN_IF_ERROR(CheckText(*row, where));
    return true;
  }

 private:
  // One member of "attributes", its value kept typed (see readers.h).
  static absl::Status ParseAttribute(JsonCursor& c, std::string name,
                                     Row* row) {
    QUIVER_ASSIGN_OR_RETURN(JsonValue::Type at, c.PeekType());
    switch (at) {
      case JsonValue::Type::kString: {
        std::string value;
        QUIVER_RETURN_IF_ERROR(c.ParseString(&value));
        row->attributes.emplace_back(std::move(name), std::move(value));
        return absl::OkStatus();
      }
      case JsonValue::Type::kNumber: {
        const size_t column = c.column();
        QUIVER_ASSIGN_OR_RETURN(absl::string_view n, c.ParseNumberText());
        TypedValue v = JsonNumberValue(n);
        if (const double* d = std::get_if<double>(&v); d && std::isinf(*d)) {
          return absl::InvalidArgumentError(
              absl::StrCat("column ", column, ": attribute \"", name,
                           "\": number ", n, " is out of range"));
        }
        row->typed_attributes.emplace_back(std::move(name), std::move(v));
        return absl::OkStatus();
      }
      case JsonValue::Type::kBool: {
        JsonValue b;
        QUIVER_RETURN_IF_ERROR(c.ParseLiteral(&b));
        row->typed_attributes.emplace_back(std::move(name), b.boolean);
        return absl::OkStatus();
      }
      case JsonValue::Type::kNull:
        return c.SkipValue();  // null: the attribute is left out
      case JsonValue::Type::kArray: {
        QUIVER_RETURN_IF_ERROR(c.BeginArray());
        std::vector<std::string> tags;
        while (true) {
          QUIVER_ASSIGN_OR_RETURN(bool more, c.NextElement());
          if (!more) break;
          QUIVER_ASSIGN_OR_RETURN(JsonValue::Type et, c.PeekType());
          if (et != JsonValue::Type::kString) {
            return c.Error(absl::StrCat(
                "attribute \"", name, "\": element ", tags.size(),
                " must be a string (an array is a list of tags), found ",
                JsonTypeName(et)));
          }
          QUIVER_RETURN_IF_ERROR(c.ParseString(&tags.emplace_back()));
        }
        row->typed_attributes.emplace_back(std::move(name), std::move(tags));
        return absl::OkStatus();
      }
      case JsonValue::Type::kObject:
        break;
    }
    return c.Error(absl::StrCat("attribute \"", name,
                                "\" must be a string, number, boolean or "
                                "array of strings, found ",
                                JsonTypeName(at)));
  }

  static absl::Status ParseLine(absl::string_view line, Row* row) {
    JsonCursor c(line);
    QUIVER_RETURN_IF_ERROR(c.BeginObject());
    std::string key;
    bool have_vector = false;
    while (true) {
      QUIVER_ASSIGN_OR_RETURN(bool more, c.NextKey(&key));
      if (!more) break;
      if (key == "id") {
        QUIVER_ASSIGN_OR_RETURN(JsonValue::Type t, c.PeekType());
        if (t == JsonValue::Type::kString) {
          QUIVER_RETURN_IF_ERROR(c.ParseString(&row->id));
          if (row->id.empty()) return c.Error("\"id\" is empty");
        } else if (t == JsonValue::Type::kNumber) {
          QUIVER_ASSIGN_OR_RETURN(absl::string_view n, c.ParseNumberText());
          row->id = std::string(n);
        } else {
          return c.Error(
              absl::StrCat("\"id\" must be a string or a number, "
                           "found ",
                           JsonTypeName(t)));
        }
      } else if (key == "vector") {
        QUIVER_ASSIGN_OR_RETURN(JsonValue::Type t, c.PeekType());
        if (t != JsonValue::Type::kArray) {
          return c.Error(
              absl::StrCat("\"vector\" must be an array of "
                           "numbers, found ",
                           JsonTypeName(t)));
        }
        QUIVER_RETURN_IF_ERROR(c.BeginArray());
        row->vector.clear();
        while (true) {
          QUIVER_ASSIGN_OR_RETURN(bool elem, c.NextElement());
          if (!elem) break;
          QUIVER_ASSIGN_OR_RETURN(JsonValue::Type et, c.PeekType());
          if (et != JsonValue::Type::kNumber) {
            return c.Error(
                absl::StrCat("\"vector\" element ", row->vector.size(),
                             " must be a number, found ", JsonTypeName(et)));
          }
          QUIVER_ASSIGN_OR_RETURN(float v, c.ParseFloat());
          row->vector.push_back(v);
        }
        have_vector = true;
      } else if (key == "attributes") {
        QUIVER_ASSIGN_OR_RETURN(JsonValue::Type t, c.PeekType());
        if (t == JsonValue::Type::kNull) {
          QUIVER_RETURN_IF_ERROR(c.SkipValue());
          continue;
        }
        if (t != JsonValue::Type::kObject) {
          return c.Error(
              absl::StrCat("\"attributes\" must be an object, "
                           "found ",
                           JsonTypeName(t)));
        }
        QUIVER_RETURN_IF_ERROR(c.BeginObject());
        std::string name;
        while (true) {
          QUIVER_ASSIGN_OR_RETURN(bool attr, c.NextKey(&name));
          if (!attr) break;
          QUIVER_RETURN_IF_ERROR(ParseAttribute(c, std::move(name), row));
        }
      } else {
        QUIVER_RETURN_IF_ERROR(c.SkipValue());  // unknown keys are ignored
      }
    }
    QUIVER_RETURN_IF_ERROR(c.ExpectEnd());
    if (!have_vector) {
      return absl::InvalidArgumentError("missing \"vector\"");
    }
    return absl::OkStatus();
  }

  LineReader lines_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<RowReader>> OpenCsvReader(
    const std::string& path, Format format, const ReaderOptions& options) {
  uint64_t size = 0;
  QUIVER_ASSIGN_OR_RETURN(FilePtr f, OpenInput(path, &size));
  return std::unique_ptr<RowReader>(
      new CsvReader(path, format, options, std::move(f), size));
}

absl::StatusOr<std::unique_ptr<RowReader>> OpenJsonlReader(
    const std::string& path, const ReaderOptions& options) {
  uint64_t size = 0;
  QUIVER_ASSIGN_OR_RETURN(FilePtr f, OpenInput(path, &size));
  return std::unique_ptr<RowReader>(
      new JsonlReader(path, options, std::move(f), size));
}

}  // namespace quiver::client::readers_internal
