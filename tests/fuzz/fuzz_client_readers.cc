// libFuzzer target: the client's vector file readers (client/readers.h)
// over every format, and the text parsers they use (ParseVectorText,
// ParseFloatText, ParseJson).
//
// Input: 3 option bytes, then the file's contents.
//   byte 0  bits 0-2: format (fvecs, bvecs, ivecs, npy, csv, tsv, jsonl;
//             7 = jsonl through its .ndjson extension)
//           bit 3:    pass the format in ReaderOptions (else the file's
//             extension decides, through FormatFromPath)
//           bits 4-5: what to do: read every row with Next(); Skip() some,
//             then Next(); ReadVectors(); ReadIvecs()
//           bits 6-7: expected_dimension 0, 1, 2 or 4
//   byte 1  bits 0-1: CSV header auto / yes / no; bits 2-3: id column
//             auto / first / none; bits 4-7: rows to skip or read at most
//   byte 2  CSV delimiter (0 = by format)
// The contents go to one temporary file per process (rewritten for each
// input, under $TMPDIR). Checked: every row a reader yields has
// dimension() > 0 finite values (the expected dimension when one is set)
// and the next index; every error is InvalidArgument (the file does not
// change while it is read, so a "file shrank" DataLoss means a header check
// let a lie through); after a fatal error the reader keeps answering it;
// each row consumes input (no endless loop); bytes_consumed() never
// exceeds the file size.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/json.h"
#include "client/readers.h"
#include "common/status.h"

namespace quiver::client {
namespace {

constexpr const char* kExtensions[8] = {"fvecs", "bvecs", "ivecs", "npy",
                                        "csv",   "tsv",   "jsonl", "ndjson"};

std::string& TempDir() {
  static std::string* dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string templ =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
        "/quiver_fuzz_readers.XXXXXX";
    QUIVER_CHECK(::mkdtemp(templ.data()) != nullptr);
    return new std::string(templ);
  }();
  return *dir;
}

void RemoveTempDir() {
  for (const char* ext : kExtensions) {
    std::remove((TempDir() + "/input." + ext).c_str());
  }
  ::rmdir(TempDir().c_str());
}

void WriteFile(const std::string& path, std::string_view contents) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  QUIVER_CHECK(f != nullptr);
  QUIVER_CHECK(std::fwrite(contents.data(), 1, contents.size(), f) ==
               contents.size());
  QUIVER_CHECK(std::fclose(f) == 0);
}

void CheckRow(const RowReader& reader, const Row& row, uint64_t index,
              size_t expected_dimension) {
  QUIVER_CHECK(row.index == index);
  QUIVER_CHECK(reader.dimension() > 0);
  QUIVER_CHECK(row.vector.size() == reader.dimension());
  if (expected_dimension > 0) {
    QUIVER_CHECK(reader.dimension() == expected_dimension);
  }
  for (float v : row.vector) QUIVER_CHECK(std::isfinite(v));
}

// Reads rows until the end or a fatal error; Skip(skip) first if skip > 0.
void ReadRows(RowReader& reader, size_t file_size, uint64_t skip,
              size_t expected_dimension) {
  uint64_t next = 0;
  if (skip > 0) {
    absl::StatusOr<uint64_t> skipped = reader.Skip(skip);
    if (!skipped.ok()) {
      QUIVER_CHECK(reader.fatal());
      QUIVER_CHECK(skipped.status().code() ==
                   absl::StatusCode::kInvalidArgument);
      return;
    }
    QUIVER_CHECK(*skipped <= skip);
    next = reader.next_row();
  }
  Row row;
  for (size_t calls = 0;; ++calls) {
    // Every row, good or bad, consumes at least one byte of the file.
    QUIVER_CHECK(calls <= file_size + 1);
    QUIVER_CHECK(reader.bytes_consumed() <= reader.total_bytes());
    absl::StatusOr<bool> more = reader.Next(&row);
    if (!more.ok()) {
      QUIVER_CHECK(more.status().code() == absl::StatusCode::kInvalidArgument);
      if (reader.fatal()) {
        absl::StatusOr<bool> again = reader.Next(&row);
        QUIVER_CHECK(!again.ok() && again.status() == more.status());
        return;
      }
      ++next;
      QUIVER_CHECK(reader.next_row() == next);
      continue;
    }
    if (!*more) {
      // The end stays the end.
      absl::StatusOr<bool> again = reader.Next(&row);
      QUIVER_CHECK(again.ok() && !*again);
      return;
    }
    CheckRow(reader, row, next, expected_dimension);
    ++next;
  }
}

void CheckText(absl::string_view text) {
  float f = 0;
  if (ParseFloatText(text, &f)) QUIVER_CHECK(std::isfinite(f));
  absl::StatusOr<std::vector<float>> v = ParseVectorText(text);
  if (v.ok()) {
    for (float x : *v) QUIVER_CHECK(std::isfinite(x));
  } else {
    QUIVER_CHECK(v.status().code() == absl::StatusCode::kInvalidArgument);
  }
  absl::StatusOr<JsonValue> json = ParseJson(text);
  if (!json.ok()) {
    QUIVER_CHECK(json.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  if (json->type == JsonValue::Type::kString) {
    // A decoded string quotes back to JSON that decodes to it.
    absl::StatusOr<JsonValue> again = ParseJson(JsonQuote(json->text));
    QUIVER_CHECK(again.ok() && again->type == JsonValue::Type::kString &&
                 again->text == json->text);
  }
}

void Run(const uint8_t* data, size_t size) {
  if (size < 3) return;
  const uint8_t b0 = data[0], b1 = data[1], b2 = data[2];
  const std::string_view contents(reinterpret_cast<const char*>(data + 3),
                                  size - 3);
  const int ext = b0 & 7;
  const std::string path = TempDir() + "/input." + kExtensions[ext];
  WriteFile(path, contents);

  ReaderOptions options;
  if (b0 & 8) {
    absl::StatusOr<Format> f = ParseFormat(kExtensions[ext]);
    QUIVER_CHECK(f.ok());
    options.format = *f;
  }
  static constexpr size_t kDims[4] = {0, 1, 2, 4};
  options.expected_dimension = kDims[b0 >> 6];
  options.csv.header = static_cast<CsvOptions::Header>((b1 & 3) % 3);
  options.csv.id_column =
      static_cast<CsvOptions::IdColumn>(((b1 >> 2) & 3) % 3);
  options.csv.delimiter = static_cast<char>(b2);
  const uint64_t count = b1 >> 4;

  switch ((b0 >> 4) & 3) {
    case 0:
    case 1: {
      absl::StatusOr<std::unique_ptr<RowReader>> reader =
          OpenRowReader(path, options);
      if (!reader.ok()) {
        QUIVER_CHECK(reader.status().code() ==
                     absl::StatusCode::kInvalidArgument);
        break;
      }
      QUIVER_CHECK((*reader)->total_bytes() == contents.size());
      ReadRows(**reader, contents.size(), ((b0 >> 4) & 3) == 1 ? count : 0,
               options.expected_dimension);
      break;
    }
    case 2: {
      absl::StatusOr<Matrix<float>> m = ReadVectors(path, options, count + 1);
      if (!m.ok()) {
        QUIVER_CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
        break;
      }
      QUIVER_CHECK(m->rows >= 1 && m->rows <= count + 1 && m->dim > 0);
      QUIVER_CHECK(m->data.size() == m->rows * m->dim);
      break;
    }
    default: {
      absl::StatusOr<Matrix<int32_t>> m = ReadIvecs(path, count + 1);
      if (!m.ok()) {
        QUIVER_CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
        break;
      }
      QUIVER_CHECK(m->rows >= 1 && m->rows <= count + 1 && m->dim > 0);
      QUIVER_CHECK(m->data.size() == m->rows * m->dim);
      break;
    }
  }
  // The same bytes as one line of text.
  CheckText(absl::string_view(contents.data(),
                              std::min<size_t>(contents.size(), 4096)));
}

}  // namespace
}  // namespace quiver::client

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  quiver::client::TempDir();
  std::atexit(quiver::client::RemoveTempDir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  quiver::client::Run(data, size);
  return 0;
}
