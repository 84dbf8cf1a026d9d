// Reader factory, shared checks and the binary formats (TEXMEX vecs, .npy;
// HDF5 is in hdf5_reader.cc).
#include "client/readers.h"

#include <google/protobuf/stubs/common.h>
#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/readers_internal.h"
#include "common/status.h"

namespace quiver::client {

using readers_internal::FilePtr;

namespace readers_internal {

absl::StatusOr<FilePtr> OpenInput(const std::string& path, uint64_t* size) {
  struct stat st = {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    const std::string msg =
        absl::StrCat("cannot open ", path, ": ", std::strerror(err));
    if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(msg);
    if (err == EACCES) return absl::PermissionDeniedError(msg);
    return absl::UnavailableError(msg);
  }
  if (S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", path, ": it is a directory"));
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    const int err = errno;
    const std::string msg =
        absl::StrCat("cannot open ", path, ": ", std::strerror(err));
    if (err == EACCES) return absl::PermissionDeniedError(msg);
    return absl::UnavailableError(msg);
  }
  std::setvbuf(f, nullptr, _IOFBF, 1 << 20);
  *size = static_cast<uint64_t>(st.st_size);
  return FilePtr(f);
}

absl::Status ParseFloatField(absl::string_view text, float* out) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  if (t.empty()) return absl::InvalidArgumentError("empty value");
  absl::string_view num = t;
  if (num[0] == '+') num.remove_prefix(1);
  const auto res = std::from_chars(num.data(), num.data() + num.size(), *out);
  if (res.ec == std::errc() && res.ptr == num.data() + num.size()) {
    return absl::OkStatus();
  }
  if (res.ec == std::errc::result_out_of_range &&
      res.ptr == num.data() + num.size()) {
    const double d = std::strtod(std::string(num).c_str(), nullptr);
    if (std::isfinite(d) && std::fabs(d) < 1.0) {
      *out = static_cast<float>(d);  // underflow: rounds towards zero
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(
        absl::StrCat("'", t, "' is out of float32 range"));
  }
  return absl::InvalidArgumentError(absl::StrCat("'", t, "' is not a number"));
}

}  // namespace readers_internal

absl::StatusOr<Format> ParseFormat(absl::string_view name) {
  const std::string n = absl::AsciiStrToLower(name);
  if (n == "fvecs") return Format::kFvecs;
  if (n == "bvecs") return Format::kBvecs;
  if (n == "ivecs") return Format::kIvecs;
  if (n == "npy") return Format::kNpy;
  if (n == "csv") return Format::kCsv;
  if (n == "tsv") return Format::kTsv;
  if (n == "jsonl" || n == "ndjson") return Format::kJsonl;
  if (n == "hdf5" || n == "h5") return Format::kHdf5;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown format '", name,
      "' (expected fvecs, bvecs, ivecs, npy, csv, tsv, jsonl or hdf5)"));
}

absl::StatusOr<Format> FormatFromPath(absl::string_view path) {
  const size_t slash = path.find_last_of('/');
  const absl::string_view base =
      slash == absl::string_view::npos ? path : path.substr(slash + 1);
  const size_t dot = base.find_last_of('.');
  if (dot == absl::string_view::npos || dot + 1 == base.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot tell the format of ", path,
                     ": no file extension (use --format)"));
  }
  absl::StatusOr<Format> f = ParseFormat(base.substr(dot + 1));
  if (!f.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot tell the format of ", path, ": unknown extension '",
        base.substr(dot), "' (use --format)"));
  }
  return f;
}

const char* FormatName(Format format) {
  switch (format) {
    case Format::kFvecs:
      return "fvecs";
    case Format::kBvecs:
      return "bvecs";
    case Format::kIvecs:
      return "ivecs";
    case Format::kNpy:
      return "npy";
    case Format::kCsv:
      return "csv";
    case Format::kTsv:
      return "tsv";
    case Format::kJsonl:
      return "jsonl";
    case Format::kHdf5:
      return "hdf5";
  }
  return "?";
}

RowReader::RowReader(std::string path, Format format, size_t expected_dimension)
    : path_(std::move(path)), format_(format) {
  if (expected_dimension > 0) {
    dimension_ = expected_dimension;
    dimension_fixed_ = true;
  }
}

absl::StatusOr<uint64_t> RowReader::Skip(uint64_t n) {
  Row row;
  uint64_t skipped = 0;
  while (skipped < n) {
    absl::StatusOr<bool> more = Next(&row);
    if (!more.ok()) {
      if (fatal_) return more.status();
    } else if (!*more) {
      break;
    }
    ++skipped;
  }
  return skipped;
}

absl::Status RowReader::CheckVector(const std::vector<float>& v,
                                    absl::FunctionRef<std::string()> where) {
  if (v.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where(), ": empty vector"));
  }
  if (!dimension_fixed_) {
    dimension_ = v.size();
    dimension_fixed_ = true;
  } else if (v.size() != dimension_) {
    return absl::InvalidArgumentError(absl::StrCat(
        where(), ": vector has ", v.size(), " values, expected ", dimension_));
  }
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), ": value ", i, " is ",
                       std::isnan(v[i]) ? "NaN" : "infinite"));
    }
  }
  return absl::OkStatus();
}

absl::Status RowReader::CheckText(const Row& row,
                                  absl::FunctionRef<std::string()> where) {
  auto check = [&](const std::string& s, absl::string_view what) {
    const int valid = google::protobuf::internal::UTF8SpnStructurallyValid(
        google::protobuf::StringPiece(s.data(), s.size()));
    if (static_cast<size_t>(valid) == s.size()) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(where(), ": ", what, " is not valid UTF-8 (byte ",
                     valid + 1, " of ", s.size(), ")"));
  };
  QUIVER_RETURN_IF_ERROR(check(row.id, "the id"));
  for (const auto& [key, value] : row.attributes) {
    QUIVER_RETURN_IF_ERROR(check(key, "an attribute name"));
    QUIVER_RETURN_IF_ERROR(check(value, absl::StrCat("attribute '", key, "'")));
  }
  for (const auto& [key, value] : row.typed_attributes) {
    QUIVER_RETURN_IF_ERROR(check(key, "an attribute name"));
    if (const auto* tags = std::get_if<std::vector<std::string>>(&value)) {
      for (const std::string& tag : *tags) {
        QUIVER_RETURN_IF_ERROR(
            check(tag, absl::StrCat("a tag of attribute '", key, "'")));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status RowReader::Fail(absl::Status status) {
  fatal_ = true;
  fatal_status_ = status;
  return status;
}

namespace {

// IEEE 754 binary16 to float32 (exact: every half is a float).
float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {  // infinity or NaN
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {  // normal
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  } else if (mant == 0) {  // zero
    bits = sign;
  } else {  // subnormal: normalise
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400) == 0);
    bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) |
           ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// TEXMEX .fvecs / .bvecs / .ivecs.
class VecsReader final : public RowReader {
 public:
  VecsReader(std::string path, Format format, size_t expected_dimension,
             FilePtr file, uint64_t size)
      : RowReader(std::move(path), format, expected_dimension),
        file_(std::move(file)),
        elem_size_(format == Format::kBvecs ? 1 : 4) {
    total_bytes_ = size;
  }

  // Reads the first row header to learn the row size (and so the row count).
  void Peek() {
    int32_t d = 0;
    if (total_bytes_ >= 4 && std::fread(&d, 4, 1, file_.get()) == 1 && d > 0 &&
        d <= kMaxDim) {
      row_bytes_ = 4 + static_cast<uint64_t>(d) * elem_size_;
      total_rows_ = total_bytes_ / row_bytes_;
    }
    std::rewind(file_.get());
  }

  // Reads one row's raw values into *raw (d * elem_size bytes) and *d.
  // false at end of file.
  absl::StatusOr<bool> NextRaw(std::vector<char>* raw, int32_t* d) {
    if (fatal_) return fatal_status_;
    const uint64_t offset = bytes_consumed_;
    char header[4];
    const size_t got = std::fread(header, 1, 4, file_.get());
    if (got == 0 && !std::ferror(file_.get())) return false;
    if (got < 4) {
      return Fail(Error(
          offset, absl::StrCat("truncated row header: ", got, " of 4 bytes")));
    }
    std::memcpy(d, header, 4);
    if (*d <= 0 || *d > kMaxDim) {
      return Fail(Error(offset, absl::StrCat("invalid dimension ", *d,
                                             " in the row header (not a ",
                                             FormatName(format_), " file?)")));
    }
    const size_t want = static_cast<size_t>(*d) * elem_size_;
    raw->resize(want);
    const size_t n = std::fread(raw->data(), 1, want, file_.get());
    if (n < want) {
      return Fail(Error(
          offset, absl::StrCat("truncated: the header says ", *d, " values (",
                               want, " bytes) but only ", n, " bytes follow")));
    }
    bytes_consumed_ += 4 + want;
    return true;
  }

  absl::StatusOr<bool> Next(Row* row) override {
    const uint64_t offset = bytes_consumed_;
    int32_t d = 0;
    QUIVER_ASSIGN_OR_RETURN(bool more, NextRaw(&raw_, &d));
    if (!more) return false;
    row->index = next_row_++;
    row->id.clear();
    row->attributes.clear();
    row->typed_attributes.clear();
    row->vector.resize(d);
    switch (format_) {
      case Format::kFvecs:
        std::memcpy(row->vector.data(), raw_.data(), raw_.size());
        break;
      case Format::kBvecs:
        for (int32_t i = 0; i < d; ++i) {
          row->vector[i] = static_cast<unsigned char>(raw_[i]);
        }
        break;
      default: {
        for (int32_t i = 0; i < d; ++i) {
          int32_t x;
          std::memcpy(&x, raw_.data() + 4 * static_cast<size_t>(i), 4);
          row->vector[i] = static_cast<float>(x);
        }
      }
    }
    QUIVER_RETURN_IF_ERROR(
        CheckVector(row->vector, [&] { return Where(row->index, offset); }));
    return true;
  }

  absl::StatusOr<uint64_t> Skip(uint64_t n) override {
    if (row_bytes_ == 0 || fatal_) return RowReader::Skip(n);
    const uint64_t left = (total_bytes_ - bytes_consumed_) / row_bytes_;
    const uint64_t k = std::min(n, left);
    if (k > 0) {
      const uint64_t to = bytes_consumed_ + k * row_bytes_;
      if (fseeko(file_.get(), static_cast<off_t>(to), SEEK_SET) != 0) {
        return Fail(absl::UnavailableError(
            absl::StrCat(path_, ": seek failed: ", std::strerror(errno))));
      }
      bytes_consumed_ = to;
      next_row_ += k;
    }
    if (k < n) {
      // A partial last row: let Next report it.
      QUIVER_ASSIGN_OR_RETURN(uint64_t more, RowReader::Skip(n - k));
      return k + more;
    }
    return k;
  }

 private:
  static constexpr int32_t kMaxDim = 1 << 24;

  std::string Where(uint64_t row, uint64_t offset) const {
    return absl::StrCat(path_, ": row ", row, " (byte offset ", offset, ")");
  }
  absl::Status Error(uint64_t offset, absl::string_view reason) const {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(next_row_, offset), ": ", reason));
  }

  FilePtr file_;
  size_t elem_size_;
  uint64_t row_bytes_ = 0;  // 0 until known
  std::vector<char> raw_;
};

// NumPy .npy: a header dict, then rows * cols little-endian values.
class NpyReader final : public RowReader {
 public:
  NpyReader(std::string path, size_t expected_dimension, FilePtr file,
            uint64_t size)
      : RowReader(std::move(path), Format::kNpy, expected_dimension),
        file_(std::move(file)) {
    total_bytes_ = size;
  }

  absl::Status ReadHeader() {
    char magic[8];
    if (std::fread(magic, 1, 8, file_.get()) != 8 ||
        std::memcmp(magic, "\x93NUMPY", 6) != 0) {
      return HeaderError("missing the \\x93NUMPY magic (not a .npy file)");
    }
    const int major = static_cast<unsigned char>(magic[6]);
    uint32_t header_len = 0;
    size_t prefix = 0;
    if (major == 1) {
      unsigned char b[2];
      if (std::fread(b, 1, 2, file_.get()) != 2) {
        return HeaderError("truncated header length");
      }
      header_len = b[0] | (b[1] << 8);
      prefix = 10;
    } else if (major == 2 || major == 3) {
      unsigned char b[4];
      if (std::fread(b, 1, 4, file_.get()) != 4) {
        return HeaderError("truncated header length");
      }
      header_len = b[0] | (b[1] << 8) | (b[2] << 16) |
                   (static_cast<uint32_t>(b[3]) << 24);
      prefix = 12;
    } else {
      return HeaderError(absl::StrCat("unsupported format version ", major, ".",
                                      static_cast<int>(magic[7])));
    }
    if (header_len > (1u << 20) || prefix + header_len > total_bytes_) {
      return HeaderError(absl::StrCat("header length ", header_len,
                                      " exceeds the file size ", total_bytes_));
    }
    std::string header(header_len, '\0');
    if (std::fread(header.data(), 1, header_len, file_.get()) != header_len) {
      return HeaderError("truncated header");
    }
    QUIVER_RETURN_IF_ERROR(ParseDict(header));
    data_offset_ = prefix + header_len;
    bytes_consumed_ = data_offset_;
    const uint64_t row_bytes = cols_ * item_size_;  // cols_ <= 2^24
    const uint64_t have = total_bytes_ - data_offset_;
    // By division: rows_ * row_bytes may not fit in 64 bits (a wrapped
    // product let a header declare 2^37 rows over a few bytes of data).
    if (rows_ > have / row_bytes) {
      const std::string need = rows_ > UINT64_MAX / row_bytes
                                   ? std::string("over 2^64")
                                   : absl::StrCat(rows_ * row_bytes);
      return absl::InvalidArgumentError(absl::StrCat(
          path_, ": truncated: the header declares ", rows_, " x ", cols_, " ",
          DtypeName(), " (", need, " bytes of data) but only ", have,
          " bytes follow the header"));
    }
    total_rows_ = rows_;
    return absl::OkStatus();
  }

  absl::StatusOr<bool> Next(Row* row) override {
    if (fatal_) return fatal_status_;
    if (next_row_ >= rows_) return false;
    const size_t want = cols_ * item_size_;
    raw_.resize(want);
    if (std::fread(raw_.data(), 1, want, file_.get()) != want) {
      return Fail(absl::DataLossError(absl::StrCat(
          path_, ": row ", next_row_, ": read failed: file shrank?")));
    }
    bytes_consumed_ += want;
    row->index = next_row_++;
    row->id.clear();
    row->attributes.clear();
    row->typed_attributes.clear();
    row->vector.resize(cols_);
    if (item_size_ == 4) {
      std::memcpy(row->vector.data(), raw_.data(), want);
    } else if (item_size_ == 2) {
      for (size_t i = 0; i < cols_; ++i) {
        uint16_t x;
        std::memcpy(&x, raw_.data() + 2 * i, 2);
        row->vector[i] = HalfToFloat(x);
      }
    } else {
      for (size_t i = 0; i < cols_; ++i) {
        double x;
        std::memcpy(&x, raw_.data() + 8 * i, 8);
        row->vector[i] = static_cast<float>(x);
      }
    }
    QUIVER_RETURN_IF_ERROR(CheckVector(row->vector, [&] {
      return absl::StrCat(path_, ": row ", row->index);
    }));
    return true;
  }

  absl::StatusOr<uint64_t> Skip(uint64_t n) override {
    if (fatal_) return fatal_status_;
    const uint64_t k = std::min<uint64_t>(n, rows_ - next_row_);
    const uint64_t to = bytes_consumed_ + k * cols_ * item_size_;
    if (fseeko(file_.get(), static_cast<off_t>(to), SEEK_SET) != 0) {
      return Fail(absl::UnavailableError(
          absl::StrCat(path_, ": seek failed: ", std::strerror(errno))));
    }
    bytes_consumed_ = to;
    next_row_ += k;
    return k;
  }

 private:
  absl::Status HeaderError(absl::string_view reason) const {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": bad .npy header: ", reason));
  }

  const char* DtypeName() const {
    return item_size_ == 2   ? "float16"
           : item_size_ == 4 ? "float32"
                             : "float64";
  }

  // Parses NumPy's header, a Python dict literal such as
  // {'descr': '<f4', 'fortran_order': False, 'shape': (10, 3), }
  absl::Status ParseDict(absl::string_view h) {
    size_t p = 0;
    auto ws = [&] {
      while (p < h.size() && (h[p] == ' ' || h[p] == '\n' || h[p] == '\t')) {
        ++p;
      }
    };
    auto quoted = [&](std::string* out) -> bool {
      ws();
      if (p >= h.size() || (h[p] != '\'' && h[p] != '"')) return false;
      const char q = h[p++];
      const size_t end = h.find(q, p);
      if (end == absl::string_view::npos) return false;
      *out = std::string(h.substr(p, end - p));
      p = end + 1;
      return true;
    };
    ws();
    if (p >= h.size() || h[p] != '{') return HeaderError("expected '{'");
    ++p;
    std::string descr;
    bool have_descr = false, have_order = false, have_shape = false;
    bool fortran = false;
    std::vector<uint64_t> shape;
    while (true) {
      ws();
      if (p < h.size() && h[p] == '}') break;
      std::string key;
      if (!quoted(&key)) return HeaderError("expected a quoted key");
      ws();
      if (p >= h.size() || h[p] != ':') {
        return HeaderError(absl::StrCat("expected ':' after '", key, "'"));
      }
      ++p;
      ws();
      if (key == "descr") {
        if (!quoted(&descr)) return HeaderError("'descr' must be a string");
        have_descr = true;
      } else if (key == "fortran_order") {
        if (h.substr(p, 4) == "True") {
          fortran = true;
          p += 4;
        } else if (h.substr(p, 5) == "False") {
          p += 5;
        } else {
          return HeaderError("'fortran_order' must be True or False");
        }
        have_order = true;
      } else if (key == "shape") {
        if (p >= h.size() || h[p] != '(') {
          return HeaderError("'shape' must be a tuple");
        }
        ++p;
        while (true) {
          ws();
          if (p < h.size() && h[p] == ')') {
            ++p;
            break;
          }
          uint64_t v = 0;
          const auto res =
              std::from_chars(h.data() + p, h.data() + h.size(), v);
          if (res.ec != std::errc()) {
            return HeaderError("'shape' must hold non-negative integers");
          }
          shape.push_back(v);
          p = res.ptr - h.data();
          ws();
          if (p < h.size() && h[p] == ',') ++p;
        }
        have_shape = true;
      } else {
        return HeaderError(absl::StrCat("unexpected key '", key, "'"));
      }
      ws();
      if (p < h.size() && h[p] == ',') ++p;
    }
    if (!have_descr || !have_order || !have_shape) {
      return HeaderError("needs 'descr', 'fortran_order' and 'shape'");
    }
    if (descr == "<f4" || descr == "=f4") {
      item_size_ = 4;
    } else if (descr == "<f8" || descr == "=f8") {
      item_size_ = 8;
    } else if (descr == "<f2" || descr == "=f2") {
      item_size_ = 2;
    } else {
      return HeaderError(absl::StrCat(
          "dtype '", descr,
          "' is not supported (need little-endian float32 '<f4', float64 "
          "'<f8' or float16 '<f2')"));
    }
    if (fortran) {
      return HeaderError(
          "Fortran-order arrays are not supported (save "
          "np.ascontiguousarray(x))");
    }
    if (shape.size() != 2) {
      return HeaderError(absl::StrCat("shape has ", shape.size(),
                                      " dimensions, need a 2-D array "
                                      "(rows, dimension)"));
    }
    rows_ = shape[0];
    cols_ = shape[1];
    if (cols_ == 0 || cols_ > (1u << 24)) {
      return HeaderError(absl::StrCat("invalid row dimension ", cols_));
    }
    return absl::OkStatus();
  }

  FilePtr file_;
  uint64_t data_offset_ = 0;
  uint64_t rows_ = 0;
  size_t cols_ = 0;
  size_t item_size_ = 4;
  std::vector<char> raw_;
};

}  // namespace

namespace readers_internal {

absl::StatusOr<std::unique_ptr<RowReader>> OpenVecsReader(
    const std::string& path, Format format, const ReaderOptions& options) {
  uint64_t size = 0;
  QUIVER_ASSIGN_OR_RETURN(FilePtr f, OpenInput(path, &size));
  auto r = std::make_unique<VecsReader>(
      path, format, options.expected_dimension, std::move(f), size);
  r->Peek();
  return r;
}

absl::StatusOr<std::unique_ptr<RowReader>> OpenNpyReader(
    const std::string& path, const ReaderOptions& options) {
  uint64_t size = 0;
  QUIVER_ASSIGN_OR_RETURN(FilePtr f, OpenInput(path, &size));
  auto r = std::make_unique<NpyReader>(path, options.expected_dimension,
                                       std::move(f), size);
  QUIVER_RETURN_IF_ERROR(r->ReadHeader());
  return r;
}

}  // namespace readers_internal

absl::StatusOr<std::unique_ptr<RowReader>> OpenRowReader(
    const std::string& path, const ReaderOptions& options) {
  Format format;
  if (options.format.has_value()) {
    format = *options.format;
  } else {
    QUIVER_ASSIGN_OR_RETURN(format, FormatFromPath(path));
  }
  switch (format) {
    case Format::kFvecs:
    case Format::kBvecs:
    case Format::kIvecs:
      return readers_internal::OpenVecsReader(path, format, options);
    case Format::kNpy:
      return readers_internal::OpenNpyReader(path, options);
    case Format::kCsv:
    case Format::kTsv:
      return readers_internal::OpenCsvReader(path, format, options);
    case Format::kJsonl:
      return readers_internal::OpenJsonlReader(path, options);
    case Format::kHdf5:
      return readers_internal::OpenHdf5Reader(path, options);
  }
  return absl::InternalError("unreachable format");
}

absl::StatusOr<Matrix<float>> ReadVectors(const std::string& path,
                                          const ReaderOptions& options,
                                          size_t max_rows) {
  QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<RowReader> reader,
                          OpenRowReader(path, options));
  Matrix<float> m;
  Row row;
  while (m.rows < max_rows) {
    QUIVER_ASSIGN_OR_RETURN(bool more, reader->Next(&row));
    if (!more) break;
    m.dim = row.vector.size();
    m.data.insert(m.data.end(), row.vector.begin(), row.vector.end());
    ++m.rows;
  }
  if (m.rows == 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no rows"));
  }
  return m;
}

absl::StatusOr<Matrix<int32_t>> ReadIvecs(const std::string& path,
                                          size_t max_rows) {
  uint64_t size = 0;
  QUIVER_ASSIGN_OR_RETURN(FilePtr f, readers_internal::OpenInput(path, &size));
  VecsReader reader(path, Format::kIvecs, 0, std::move(f), size);
  Matrix<int32_t> m;
  std::vector<char> raw;
  while (m.rows < max_rows) {
    int32_t d = 0;
    QUIVER_ASSIGN_OR_RETURN(bool more, reader.NextRaw(&raw, &d));
    if (!more) break;
    if (m.rows == 0) {
      m.dim = d;
    } else if (static_cast<size_t>(d) != m.dim) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": row ", m.rows, ": row has ", d,
                       " values, expected ", m.dim));
    }
    const size_t old = m.data.size();
    m.data.resize(old + d);
    std::memcpy(m.data.data() + old, raw.data(), raw.size());
    ++m.rows;
  }
  if (m.rows == 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no rows"));
  }
  return m;
}

absl::StatusOr<Matrix<int32_t>> ReadNeighbors(const std::string& path,
                                              size_t max_rows,
                                              const std::string& dataset) {
  absl::StatusOr<Format> format = FormatFromPath(path);
  if (format.ok() && *format == Format::kHdf5) {
    return readers_internal::ReadHdf5Ids(
        path, dataset.empty() ? "neighbors" : dataset, max_rows);
  }
  return ReadIvecs(path, max_rows);
}

absl::StatusOr<std::vector<float>> ParseVectorText(absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  if (!t.empty() && t.front() == '[') {
    if (t.back() != ']') {
      return absl::InvalidArgumentError("missing closing ']'");
    }
    t = absl::StripAsciiWhitespace(t.substr(1, t.size() - 2));
  }
  std::vector<float> out;
  if (t.empty()) return out;
  size_t p = 0;
  while (true) {
    // One element ends at ',', ';' or whitespace.
    size_t e = p;
    while (e < t.size() && t[e] != ',' && t[e] != ';' &&
           !absl::ascii_isspace(static_cast<unsigned char>(t[e]))) {
      ++e;
    }
    const absl::string_view elem = t.substr(p, e - p);
    if (elem.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("element ", out.size(), " is empty"));
    }
    float v = 0;
    absl::Status s = readers_internal::ParseFloatField(elem, &v);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("element ", out.size(), ": ", s.message()));
    }
    out.push_back(v);
    // Skip the separator: whitespace, optionally around one ',' or ';'.
    while (e < t.size() &&
           absl::ascii_isspace(static_cast<unsigned char>(t[e]))) {
      ++e;
    }
    if (e >= t.size()) break;
    if (t[e] == ',' || t[e] == ';') {
      ++e;
      while (e < t.size() &&
             absl::ascii_isspace(static_cast<unsigned char>(t[e]))) {
        ++e;
      }
      if (e >= t.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("element ", out.size(), " is empty"));
      }
    }
    p = e;
  }
  return out;
}

bool ParseFloatText(absl::string_view text, float* out) {
  return readers_internal::ParseFloatField(text, out).ok();
}

}  // namespace quiver::client
