// Line-based formats: CSV/TSV (a record may span lines inside quotes) and
// JSON Lines.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
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
      row->attributes.emplace_back(names_[c], fields_[c]);
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
          QUIVER_ASSIGN_OR_RETURN(JsonValue::Type at, c.PeekType());
          std::string value;
          if (at == JsonValue::Type::kString) {
            QUIVER_RETURN_IF_ERROR(c.ParseString(&value));
          } else if (at == JsonValue::Type::kNumber) {
            QUIVER_ASSIGN_OR_RETURN(absl::string_view n, c.ParseNumberText());
            value = std::string(n);
          } else if (at == JsonValue::Type::kBool) {
            JsonValue b;
            QUIVER_RETURN_IF_ERROR(c.ParseLiteral(&b));
            value = b.boolean ? "true" : "false";
          } else {
            return c.Error(
                absl::StrCat("attribute \"", name,
                             "\" must be a string, number or boolean, found ",
                             JsonTypeName(at)));
          }
          row->attributes.emplace_back(std::move(name), std::move(value));
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
