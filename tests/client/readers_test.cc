// Tests of the client's vector file readers on small hand-made files,
// including malformed ones (the exact error text: file, row/line, reason).
#include "client/readers.h"

#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "client/readers_internal.h"
#include "tests/testing/testing.h"

namespace quiver::client {
namespace {

using ::quiver::testing::TempDir;

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

template <typename T>
void AppendRaw(std::string* out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out->append(b, sizeof(T));
}

// One TEXMEX row: int32 dimension, then the values as T.
template <typename T>
std::string VecsRow(const std::vector<T>& values) {
  std::string out;
  AppendRaw<int32_t>(&out, static_cast<int32_t>(values.size()));
  for (T v : values) AppendRaw<T>(&out, v);
  return out;
}

// Reads rows until the end or a fatal error; collects good rows and errors.
struct ReadResult {
  std::vector<Row> rows;
  std::vector<std::string> errors;
  bool fatal = false;
};
ReadResult ReadAll(RowReader& reader) {
  ReadResult r;
  Row row;
  while (true) {
    absl::StatusOr<bool> more = reader.Next(&row);
    if (!more.ok()) {
      r.errors.emplace_back(more.status().message());
      EXPECT_EQ(more.status().code(), absl::StatusCode::kInvalidArgument)
          << more.status();
      if (reader.fatal()) {
        r.fatal = true;
        break;
      }
      continue;
    }
    if (!*more) break;
    r.rows.push_back(row);
  }
  return r;
}

std::unique_ptr<RowReader> Open(const std::string& path,
                                ReaderOptions options = {}) {
  absl::StatusOr<std::unique_ptr<RowReader>> r = OpenRowReader(path, options);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? std::move(*r) : nullptr;
}

TEST(ReaderFormatTest, ByExtensionAndName) {
  EXPECT_EQ(*FormatFromPath("/a/b/base.fvecs"), Format::kFvecs);
  EXPECT_EQ(*FormatFromPath("x.BVECS"), Format::kBvecs);
  EXPECT_EQ(*FormatFromPath("gt.ivecs"), Format::kIvecs);
  EXPECT_EQ(*FormatFromPath("a.npy"), Format::kNpy);
  EXPECT_EQ(*FormatFromPath("a.csv"), Format::kCsv);
  EXPECT_EQ(*FormatFromPath("a.tsv"), Format::kTsv);
  EXPECT_EQ(*FormatFromPath("a.jsonl"), Format::kJsonl);
  EXPECT_EQ(*FormatFromPath("a.ndjson"), Format::kJsonl);
  EXPECT_EQ(*FormatFromPath("glove-25-angular.hdf5"), Format::kHdf5);
  EXPECT_EQ(*FormatFromPath("a.H5"), Format::kHdf5);
  EXPECT_EQ(*ParseFormat("hdf5"), Format::kHdf5);
  EXPECT_STREQ(FormatName(Format::kHdf5), "hdf5");
  absl::StatusOr<Format> bad = FormatFromPath("dir.v2/data.parquet");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "cannot tell the format of dir.v2/data.parquet: unknown extension "
            "'.parquet' (use --format)");
  EXPECT_FALSE(FormatFromPath("dir.v2/noext").ok());
  EXPECT_FALSE(ParseFormat("xml").ok());
}

TEST(ReaderTest, MissingFileIsNotFound) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<RowReader>> r =
      OpenRowReader(dir.Sub("nope.fvecs"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "cannot open " + dir.Sub("nope.fvecs") +
                                      ": No such file or directory");
}

TEST(FvecsTest, ReadsRowsAndCounts) {
  TempDir dir;
  const std::string p = dir.Sub("a.fvecs");
  WriteFile(p, VecsRow<float>({1, 2, 3, 4}) + VecsRow<float>({5, 6, 7, 8}) +
                   VecsRow<float>({-1, 0.5f, 0, 9}));
  auto reader = Open(p);
  ASSERT_NE(reader, nullptr);
  ASSERT_TRUE(reader->total_rows().has_value());
  EXPECT_EQ(*reader->total_rows(), 3u);
  ReadResult r = ReadAll(*reader);
  EXPECT_TRUE(r.errors.empty());
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[2].index, 2u);
  EXPECT_EQ(r.rows[2].vector, (std::vector<float>{-1, 0.5f, 0, 9}));
  EXPECT_TRUE(r.rows[0].id.empty());
  EXPECT_EQ(reader->dimension(), 4u);
  EXPECT_EQ(reader->bytes_consumed(), 60u);
}

TEST(FvecsTest, TruncatedRowIsFatalWithOffset) {
  TempDir dir;
  const std::string p = dir.Sub("t.fvecs");
  std::string data = VecsRow<float>({1, 2, 3, 4}) +
                     VecsRow<float>({5, 6, 7, 8}) +
                     VecsRow<float>({9, 9, 9, 9});
  data.resize(data.size() - 9);  // the last row keeps 7 of its 16 value bytes
  WriteFile(p, data);
  auto reader = Open(p);
  ASSERT_NE(reader, nullptr);
  ReadResult r = ReadAll(*reader);
  EXPECT_EQ(r.rows.size(), 2u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(r.fatal);
  EXPECT_EQ(r.errors[0],
            p + ": row 2 (byte offset 40): truncated: the header "
                "says 4 values (16 bytes) but only 7 bytes follow");
  // Further calls repeat the error.
  Row row;
  EXPECT_FALSE(reader->Next(&row).ok());
}

TEST(FvecsTest, TruncatedHeader) {
  TempDir dir;
  const std::string p = dir.Sub("h.fvecs");
  WriteFile(p, VecsRow<float>({1, 2}) + std::string("\x02\x00", 2));
  auto reader = Open(p);
  ReadResult r = ReadAll(*reader);
  EXPECT_EQ(r.rows.size(), 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0],
            p + ": row 1 (byte offset 12): truncated row header: 2 of 4 bytes");
}

TEST(FvecsTest, WrongDimensionRowIsSkippable) {
  TempDir dir;
  const std::string p = dir.Sub("d.fvecs");
  WriteFile(p, VecsRow<float>({1, 2, 3, 4}) + VecsRow<float>({1, 2, 3}) +
                   VecsRow<float>({5, 6, 7, 8}));
  auto reader = Open(p);
  ReadResult r = ReadAll(*reader);
  EXPECT_FALSE(r.fatal);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0],
            p + ": row 1 (byte offset 20): vector has 3 values, expected 4");
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[1].index, 2u);
  EXPECT_EQ(r.rows[1].vector[0], 5);
}

TEST(FvecsTest, ExpectedDimensionFromCollection) {
  TempDir dir;
  const std::string p = dir.Sub("e.fvecs");
  WriteFile(p, VecsRow<float>({1, 2, 3, 4}));
  ReaderOptions o;
  o.expected_dimension = 8;
  auto reader = Open(p, o);
  ReadResult r = ReadAll(*reader);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0],
            p + ": row 0 (byte offset 0): vector has 4 values, expected 8");
}

TEST(FvecsTest, InvalidHeaderDimensionIsFatal) {
  TempDir dir;
  const std::string p = dir.Sub("n.fvecs");
  std::string data = VecsRow<float>({1, 2});
  AppendRaw<int32_t>(&data, -5);
  data += VecsRow<float>({1, 2});
  WriteFile(p, data);
  auto reader = Open(p);
  ReadResult r = ReadAll(*reader);
  EXPECT_TRUE(r.fatal);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0], p + ": row 1 (byte offset 12): invalid dimension -5 "
                             "in the row header (not a fvecs file?)");
}

TEST(FvecsTest, NonFiniteValues) {
  TempDir dir;
  const std::string p = dir.Sub("nan.fvecs");
  WriteFile(p,
            VecsRow<float>({1, 2, std::nanf("")}) +
                VecsRow<float>({std::numeric_limits<float>::infinity(), 0, 0}) +
                VecsRow<float>({1, 1, 1}));
  auto reader = Open(p);
  ReadResult r = ReadAll(*reader);
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0], p + ": row 0 (byte offset 0): value 2 is NaN");
  EXPECT_EQ(r.errors[1], p + ": row 1 (byte offset 16): value 0 is infinite");
  EXPECT_EQ(r.rows.size(), 1u);
}

TEST(FvecsTest, SkipSeeksWholeRows) {
  TempDir dir;
  const std::string p = dir.Sub("s.fvecs");
  std::string data;
  for (int i = 0; i < 10; ++i) data += VecsRow<float>({float(i), 0});
  WriteFile(p, data);
  auto reader = Open(p);
  absl::StatusOr<uint64_t> skipped = reader->Skip(7);
  ASSERT_TRUE(skipped.ok());
  EXPECT_EQ(*skipped, 7u);
  ReadResult r = ReadAll(*reader);
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0].index, 7u);
  EXPECT_EQ(r.rows[0].vector[0], 7);
  auto again = Open(p);
  EXPECT_EQ(*again->Skip(100), 10u);
}

TEST(BvecsTest, BytesBecomeFloats) {
  TempDir dir;
  const std::string p = dir.Sub("a.bvecs");
  WriteFile(p, VecsRow<uint8_t>({0, 7, 255}) + VecsRow<uint8_t>({1, 2, 3}));
  auto reader = Open(p);
  ReadResult r = ReadAll(*reader);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].vector, (std::vector<float>{0, 7, 255}));
  EXPECT_EQ(*reader->total_rows(), 2u);
}

TEST(IvecsTest, VectorsAndExactIds) {
  TempDir dir;
  const std::string p = dir.Sub("gt.ivecs");
  WriteFile(p,
            VecsRow<int32_t>({3, 1, 16777217}) + VecsRow<int32_t>({0, 2, 4}));
  auto reader = Open(p);
  ReadResult r = ReadAll(*reader);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[1].vector, (std::vector<float>{0, 2, 4}));
  absl::StatusOr<Matrix<int32_t>> m = ReadIvecs(p);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->rows, 2u);
  EXPECT_EQ(m->dim, 3u);
  EXPECT_EQ(m->row(0)[2], 16777217);  // exact, not rounded through float
  absl::StatusOr<Matrix<int32_t>> one = ReadIvecs(p, 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->rows, 1u);
}

// A .npy file: magic, version, header padded so data starts at a multiple
// of 64 bytes, then the data.
std::string Npy(const std::string& dict, const std::string& data,
                int major = 1) {
  std::string header = dict;
  const size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  std::string out = "\x93NUMPY";
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  if (major == 1) {
    AppendRaw<uint16_t>(&out, static_cast<uint16_t>(header.size()));
  } else {
    AppendRaw<uint32_t>(&out, static_cast<uint32_t>(header.size()));
  }
  return out + header + data;
}

template <typename T>
std::string Raw(const std::vector<T>& v) {
  std::string out;
  for (T x : v) AppendRaw<T>(&out, x);
  return out;
}

TEST(NpyTest, Float32AndFloat64) {
  TempDir dir;
  const std::string p32 = dir.Sub("a.npy");
  WriteFile(p32, Npy("{'descr': '<f4', 'fortran_order': False, "
                     "'shape': (2, 3), }",
                     Raw<float>({1, 2, 3, 4, 5, 6})));
  auto r32 = Open(p32);
  ASSERT_NE(r32, nullptr);
  EXPECT_EQ(*r32->total_rows(), 2u);
  ReadResult a = ReadAll(*r32);
  ASSERT_EQ(a.rows.size(), 2u);
  EXPECT_EQ(a.rows[1].vector, (std::vector<float>{4, 5, 6}));

  const std::string p64 = dir.Sub("b.npy");
  WriteFile(p64, Npy("{'descr': '<f8', 'fortran_order': False, "
                     "'shape': (3, 2), }",
                     Raw<double>({0.5, 1, 2, 3, 4, 5}), /*major=*/2));
  auto r64 = Open(p64);
  ASSERT_NE(r64, nullptr);
  ASSERT_EQ(*r64->Skip(1), 1u);
  ReadResult b = ReadAll(*r64);
  ASSERT_EQ(b.rows.size(), 2u);
  EXPECT_EQ(b.rows[0].index, 1u);
  EXPECT_EQ(b.rows[0].vector, (std::vector<float>{2, 3}));
}

std::string NpyOpenError(const TempDir& dir, const std::string& name,
                         const std::string& bytes) {
  const std::string p = dir.Sub(name);
  WriteFile(p, bytes);
  absl::StatusOr<std::unique_ptr<RowReader>> r = OpenRowReader(p, {});
  EXPECT_FALSE(r.ok());
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

TEST(NpyTest, BadHeaders) {
  TempDir dir;
  EXPECT_EQ(NpyOpenError(dir, "magic.npy", "PK\x03\x04 not numpy at all"),
            dir.Sub("magic.npy") +
                ": bad .npy header: missing the \\x93NUMPY magic (not a .npy "
                "file)");
  EXPECT_EQ(NpyOpenError(dir, "int.npy",
                         Npy("{'descr': '<i4', 'fortran_order': False, "
                             "'shape': (1, 2), }",
                             Raw<int32_t>({1, 2}))),
            dir.Sub("int.npy") +
                ": bad .npy header: dtype '<i4' is not supported (need "
                "little-endian float32 '<f4', float64 '<f8' or float16 "
                "'<f2')");
  EXPECT_EQ(NpyOpenError(dir, "f.npy",
                         Npy("{'descr': '<f4', 'fortran_order': True, "
                             "'shape': (1, 2), }",
                             Raw<float>({1, 2}))),
            dir.Sub("f.npy") +
                ": bad .npy header: Fortran-order arrays are not supported "
                "(save np.ascontiguousarray(x))");
  EXPECT_EQ(NpyOpenError(dir, "3d.npy",
                         Npy("{'descr': '<f4', 'fortran_order': False, "
                             "'shape': (1, 2, 2), }",
                             Raw<float>({1, 2, 3, 4}))),
            dir.Sub("3d.npy") +
                ": bad .npy header: shape has 3 dimensions, need a 2-D array "
                "(rows, dimension)");
  EXPECT_EQ(NpyOpenError(
                dir, "nokey.npy",
                Npy("{'descr': '<f4', 'shape': (1, 2), }", Raw<float>({1, 2}))),
            dir.Sub("nokey.npy") +
                ": bad .npy header: needs 'descr', 'fortran_order' and "
                "'shape'");
  std::string short_len = "\x93NUMPY";
  short_len += std::string("\x01\x00\xff\x7f", 4);
  EXPECT_EQ(NpyOpenError(dir, "len.npy", short_len),
            dir.Sub("len.npy") +
                ": bad .npy header: header length 32767 exceeds the file size "
                "10");
}

TEST(NpyTest, TruncatedData) {
  TempDir dir;
  EXPECT_EQ(NpyOpenError(dir, "t.npy",
                         Npy("{'descr': '<f4', 'fortran_order': False, "
                             "'shape': (4, 2), }",
                             Raw<float>({1, 2, 3, 4, 5}))),
            dir.Sub("t.npy") +
                ": truncated: the header declares 4 x 2 float32 (32 bytes of "
                "data) but only 20 bytes follow the header");
}

TEST(CsvTest, PlainComponentsWithoutHeader) {
  TempDir dir;
  const std::string p = dir.Sub("a.csv");
  WriteFile(p, "1,2,3\n\n4, 5 ,6\r\n+7,8e1,-9\n");
  auto reader = Open(p);
  ReadResult r = ReadAll(*reader);
  EXPECT_TRUE(r.errors.empty()) << r.errors[0];
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[1].vector, (std::vector<float>{4, 5, 6}));
  EXPECT_EQ(r.rows[2].vector, (std::vector<float>{7, 80, -9}));
  EXPECT_EQ(r.rows[2].index, 2u);
  EXPECT_TRUE(r.rows[0].id.empty());
}

TEST(CsvTest, HeaderWithIdColumn) {
  TempDir dir;
  const std::string p = dir.Sub("h.csv");
  WriteFile(p, "id,x0,x1\ndoc-a,0.5,1\n\"doc,b\",2,3\n");
  auto reader = Open(p);
  ReadResult r = ReadAll(*reader);
  ASSERT_TRUE(r.errors.empty()) << r.errors[0];
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].id, "doc-a");
  EXPECT_EQ(r.rows[0].index, 0u);
  EXPECT_EQ(r.rows[1].id, "doc,b");
  EXPECT_EQ(r.rows[1].vector, (std::vector<float>{2, 3}));
}

TEST(CsvTest, HeaderWithVectorColumnAndAttributes) {
  TempDir dir;
  const std::string p = dir.Sub("v.csv");
  WriteFile(p,
            "id,vector,color\n"
            "a,\"[0.1, 0.2, 0.3]\",red\n"
            "b,[1,2,3],\"dark \"\"blue\"\"\"\n"
            "c,4 5 6,green\n");
  auto reader = Open(p);
  ReadResult r = ReadAll(*reader);
  ASSERT_TRUE(r.errors.empty()) << r.errors[0];
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0].vector, (std::vector<float>{0.1f, 0.2f, 0.3f}));
  EXPECT_EQ(r.rows[1].vector, (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(r.rows[2].vector, (std::vector<float>{4, 5, 6}));
  ASSERT_EQ(r.rows[1].attributes.size(), 1u);
  EXPECT_EQ(r.rows[1].attributes[0].first, "color");
  EXPECT_EQ(r.rows[1].attributes[0].second, "dark \"blue\"");
}

TEST(CsvTest, HeaderlessIdAndVectorField) {
  TempDir dir;
  const std::string p = dir.Sub("iv.csv");
  WriteFile(p, "doc1,[0.5,1.5]\ndoc2,\"2;3\"\n");
  auto reader = Open(p);
  ReadResult r = ReadAll(*reader);
  ASSERT_TRUE(r.errors.empty()) << r.errors[0];
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].id, "doc1");
  EXPECT_EQ(r.rows[1].vector, (std::vector<float>{2, 3}));
}

TEST(CsvTest, OneVectorColumnPerLine) {
  TempDir dir;
  const std::string p = dir.Sub("one.csv");
  WriteFile(p, "0.1 0.2\n[0.3 0.4]\n");
  auto reader = Open(p);
  ReadResult r = ReadAll(*reader);
  ASSERT_TRUE(r.errors.empty()) << r.errors[0];
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[1].vector, (std::vector<float>{0.3f, 0.4f}));
}

TEST(CsvTest, TsvAndIdColumnOptions) {
  TempDir dir;
  const std::string p = dir.Sub("a.tsv");
  WriteFile(p, "7\t1\t2\n8\t3\t4\n");
  auto plain = Open(p);
  ReadResult r = ReadAll(*plain);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].vector.size(), 3u);  // a numeric first field is a value
  ReaderOptions o;
  o.csv.id_column = CsvOptions::IdColumn::kFirst;
  auto with_id = Open(p, o);
  ReadResult s = ReadAll(*with_id);
  ASSERT_EQ(s.rows.size(), 2u);
  EXPECT_EQ(s.rows[1].id, "8");
  EXPECT_EQ(s.rows[1].vector, (std::vector<float>{3, 4}));
}

TEST(CsvTest, MalformedRowsNameLineRowAndField) {
  TempDir dir;
  const std::string p = dir.Sub("bad.csv");
  WriteFile(p,
            "id,x0,x1\n"    // line 1
            "a,1,2\n"       // line 2, row 0
            "\n"            // line 3 (blank)
            "b,1,abc\n"     // line 4, row 1
            "c,1\n"         // line 5, row 2
            "d,1,2,3\n"     // line 6, row 3
            "e,\"1\"x,2\n"  // line 7, row 4
            "f,1e99,2\n"    // line 8, row 5
            ",1,2\n"        // line 9, row 6
            "g,3,4\n");     // line 10, row 7
  auto reader = Open(p);
  ReadResult r = ReadAll(*reader);
  EXPECT_FALSE(r.fatal);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[1].id, "g");
  EXPECT_EQ(r.rows[1].index, 7u);
  ASSERT_EQ(r.errors.size(), 6u);
  EXPECT_EQ(r.errors[0],
            p + ":4 (row 1): field 3 (\"x1\"): 'abc' is not a number");
  EXPECT_EQ(r.errors[1],
            p + ":5 (row 2): expected 3 fields (id + 2 values), found 2");
  EXPECT_EQ(r.errors[2],
            p + ":6 (row 3): expected 3 fields (id + 2 values), found 4");
  EXPECT_EQ(r.errors[3], p + ":7 (row 4): field 2: unexpected character after "
                             "the closing quote at column 6");
  EXPECT_EQ(r.errors[4],
            p + ":8 (row 5): field 2 (\"x0\"): '1e99' is out of float32 range");
  EXPECT_EQ(r.errors[5], p + ":9 (row 6): field 1 (\"id\"): empty id");
}

TEST(CsvTest, BadVectorFieldAndDimension) {
  TempDir dir;
  const std::string p = dir.Sub("bv.csv");
  WriteFile(p, "a,[1,2]\nb,[1,x]\nc,[1,2,3]\nd,[1,2\n");
  auto reader = Open(p);
  ReadResult r = ReadAll(*reader);
  ASSERT_EQ(r.rows.size(), 1u);
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_EQ(r.errors[0],
            p + ":2 (row 1): field 2: element 1: 'x' is not a number");
  EXPECT_EQ(r.errors[1], p + ":3 (row 2): vector has 3 values, expected 2");
  EXPECT_EQ(r.errors[2], p + ":4 (row 3): field 2: unclosed '['");
}

TEST(JsonlTest, ReadsIdsVectorsAttributes) {
  TempDir dir;
  const std::string p = dir.Sub("a.jsonl");
  WriteFile(p,
            "{\"id\": \"x\", \"vector\": [0.5, -1, 2e0], \"attributes\": "
            "{\"lang\": \"en\", \"n\": 3, \"ok\": true}}\n"
            "\n"
            "{\"vector\":[1,2,3],\"id\":12345678901234567890,\"extra\":{\"a\":"
            "[1,{}]}}\n"
            "{\"vector\":[4,5,6]}\n");
  auto reader = Open(p);
  ReadResult r = ReadAll(*reader);
  ASSERT_TRUE(r.errors.empty()) << r.errors[0];
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0].id, "x");
  EXPECT_EQ(r.rows[0].vector, (std::vector<float>{0.5f, -1, 2}));
  ASSERT_EQ(r.rows[0].attributes.size(), 1u);
  EXPECT_EQ(r.rows[0].attributes[0],
            (std::pair<std::string, std::string>{"lang", "en"}));
  // Numbers and booleans keep their types.
  ASSERT_EQ(r.rows[0].typed_attributes.size(), 2u);
  EXPECT_EQ(r.rows[0].typed_attributes[0].first, "n");
  EXPECT_EQ(r.rows[0].typed_attributes[0].second, TypedValue(int64_t{3}));
  EXPECT_EQ(r.rows[0].typed_attributes[1].first, "ok");
  EXPECT_EQ(r.rows[0].typed_attributes[1].second, TypedValue(true));
  EXPECT_EQ(r.rows[1].id, "12345678901234567890");  // not rounded
  EXPECT_EQ(r.rows[1].index, 1u);
  EXPECT_TRUE(r.rows[2].id.empty());
}

TEST(JsonlTest, MalformedLines) {
  TempDir dir;
  const std::string p = dir.Sub("bad.jsonl");
  WriteFile(p,
            "{\"vector\": [1, 2]}\n"      // line 1, row 0
            "{\"vector\": [1, 2 x]}\n"    // line 2, row 1
            "{\"id\": \"a\"}\n"           // line 3, row 2
            "{\"vector\": [1, \"2\"]}\n"  // line 4, row 3
            "{\"vector\": [1, 2], \"attributes\": {\"k\": [1]}}\n"  // 5, row 4
            "[1, 2]\n"                              // line 6, row 5
            "{\"vector\": [1, 2]} trailing\n"       // line 7, row 6
            "{\"vector\": [1, 2, 3]}\n"             // line 8, row 7
            "{\"id\": null, \"vector\": [1, 2]}\n"  // line 9, row 8
            "{\"vector\": [1, 2],}\n"               // line 10, row 9
            "{\"vector\": [3, 4]}\n");              // line 11, row 10
  auto reader = Open(p);
  ReadResult r = ReadAll(*reader);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[1].index, 10u);
  ASSERT_EQ(r.errors.size(), 9u);
  EXPECT_EQ(r.errors[0],
            p + ":2 (row 1): column 18: expected ',' or ']' in array, found "
                "'x'");
  EXPECT_EQ(r.errors[1], p + ":3 (row 2): missing \"vector\"");
  EXPECT_EQ(r.errors[2], p + ":4 (row 3): column 16: \"vector\" element 1 must "
                             "be a number, found string");
  EXPECT_EQ(r.errors[3], p + ":5 (row 4): column 41: attribute \"k\": "
                             "element 0 must be a string (an array is a list "
                             "of tags), found number");
  EXPECT_EQ(r.errors[4], p + ":6 (row 5): column 1: expected '{', found '['");
  EXPECT_EQ(r.errors[5], p + ":7 (row 6): column 20: unexpected 't' after the "
                             "JSON value");
  EXPECT_EQ(r.errors[6], p + ":8 (row 7): vector has 3 values, expected 2");
  EXPECT_EQ(r.errors[7], p + ":9 (row 8): column 8: \"id\" must be a string or "
                             "a number, found null");
  EXPECT_EQ(r.errors[8],
            p + ":10 (row 9): column 19: trailing comma in object");
}

TEST(JsonlTest, TypedAttributes) {
  TempDir dir;
  const std::string p = dir.Sub("typed.jsonl");
  WriteFile(
      p,
      "{\"vector\": [1], \"attributes\": {\"s\": \"x\", \"i\": -42, "
      "\"big\": 9223372036854775807, \"huge\": 9223372036854775808, "
      "\"d\": 2.5, \"e\": 1e3, \"f\": 3.0, \"t\": true, \"no\": false, "
      "\"tags\": [\"news\", \"sport\"], \"none\": [], \"gone\": null}}\n"
      "{\"vector\": [2], \"attributes\": {\"o\": {\"a\": 1}}}\n"
      "{\"vector\": [3], \"attributes\": {\"x\": 1e999}}\n"
      "{\"vector\": [4], \"attributes\": {\"t\": [\"a\", null]}}\n"
      "{\"vector\": [5], \"attributes\": {\"t\": [\"\\ud83d\\ude00\"]}}\n");
  auto reader = Open(p);
  ReadResult r = ReadAll(*reader);
  ASSERT_EQ(r.rows.size(), 2u);
  const Row& row = r.rows[0];
  EXPECT_EQ(row.attributes,
            (std::vector<std::pair<std::string, std::string>>{{"s", "x"}}));
  using Tags = std::vector<std::string>;
  const std::vector<std::pair<std::string, TypedValue>> want = {
      {"i", int64_t{-42}},
      {"big", int64_t{9223372036854775807}},
      {"huge", 9223372036854775808.0},  // does not fit: a double
      {"d", 2.5},
      {"e", 1000.0},  // an exponent makes a double
      {"f", 3.0},     // so does a fraction
      {"t", true},
      {"no", false},
      {"tags", Tags{"news", "sport"}},
      {"none", Tags{}},
  };
  EXPECT_EQ(row.typed_attributes, want);
  EXPECT_EQ(r.rows[1].typed_attributes[0].second,
            TypedValue(Tags{"\xF0\x9F\x98\x80"}));
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_EQ(r.errors[0],
            p + ":2 (row 1): column 37: attribute \"o\" must be a string, "
                "number, boolean or array of strings, found object");
  EXPECT_EQ(r.errors[1], p + ":3 (row 2): column 37: attribute \"x\": number "
                             "1e999 is out of range");
  EXPECT_EQ(r.errors[2], p + ":4 (row 3): column 43: attribute \"t\": "
                             "element 1 must be a string (an array is a list "
                             "of tags), found null");
}

TEST(CsvTest, TypedColumns) {
  TempDir dir;
  const std::string p = dir.Sub("typed.csv");
  WriteFile(p,
            "id,vector,lang,year:int,price:DOUBLE,active:bool,tags:tags,"
            "note:string,a:b\n"
            "d1,\"[1,2]\",en,2020,9.5,true,news|sport,x,y\n"
            "d2,\"[3,4]\",fr, -7 ,1e3,0, a | |b ,,\n"
            "d3,\"[5,6]\",de,,,,,,\n"
            "d4,\"[7,8]\",en,20.5,1,true,,,\n"
            "d5,\"[7,8]\",en,1,x,true,,,\n"
            "d6,\"[7,8]\",en,1,1,yes,,,\n"
            "d7,\"[7,8]\",en,99999999999999999999,1,1,,,\n"
            "d8,\"[7,8]\",en,1,inf,1,,,\n");
  auto reader = Open(p);
  ReadResult r = ReadAll(*reader);
  ASSERT_EQ(r.rows.size(), 3u);
  using Strings = std::vector<std::pair<std::string, std::string>>;
  using Typed = std::vector<std::pair<std::string, TypedValue>>;
  using Tags = std::vector<std::string>;
  EXPECT_EQ(r.rows[0].attributes,
            (Strings{{"lang", "en"}, {"note", "x"}, {"a:b", "y"}}));
  EXPECT_EQ(r.rows[0].typed_attributes,
            (Typed{{"year", int64_t{2020}},
                   {"price", 9.5},
                   {"active", true},
                   {"tags", Tags{"news", "sport"}}}));
  EXPECT_EQ(r.rows[1].attributes,
            (Strings{{"lang", "fr"}, {"note", ""}, {"a:b", ""}}));
  EXPECT_EQ(r.rows[1].typed_attributes, (Typed{{"year", int64_t{-7}},
                                               {"price", 1000.0},
                                               {"active", false},
                                               {"tags", Tags{"a", "b"}}}));
  // Empty typed fields leave the attribute out.
  EXPECT_TRUE(r.rows[2].typed_attributes.empty());
  ASSERT_EQ(r.errors.size(), 5u);
  EXPECT_EQ(r.errors[0], p + ":5 (row 3): field 4 (\"year:int\"): '20.5' is "
                             "not an integer");
  EXPECT_EQ(r.errors[1], p + ":6 (row 4): field 5 (\"price:DOUBLE\"): 'x' is "
                             "not a number");
  EXPECT_EQ(r.errors[2], p + ":7 (row 5): field 6 (\"active:bool\"): 'yes' is "
                             "not a boolean (true, false, 1 or 0)");
  EXPECT_EQ(r.errors[3], p + ":8 (row 6): field 4 (\"year:int\"): "
                             "'99999999999999999999' does not fit in an int64");
  EXPECT_EQ(r.errors[4], p + ":9 (row 7): field 5 (\"price:DOUBLE\"): 'inf' is "
                             "not a finite number");

  const std::string bad = dir.Sub("noname.csv");
  WriteFile(bad, "id,vector,:int\nx,\"[1]\",3\n");
  auto bad_reader = Open(bad);
  ReadResult b = ReadAll(*bad_reader);
  ASSERT_EQ(b.errors.size(), 1u);
  EXPECT_EQ(b.errors[0], bad + ":1: column 3 (\":int\"): no attribute name");
}

TEST(ParseVectorTextTest, Forms) {
  EXPECT_EQ(*ParseVectorText("0.1,0.2"), (std::vector<float>{0.1f, 0.2f}));
  EXPECT_EQ(*ParseVectorText(" [1, 2, 3] "), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(*ParseVectorText("1 2\t3"), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(*ParseVectorText("1;2"), (std::vector<float>{1, 2}));
  EXPECT_TRUE(ParseVectorText("[]")->empty());
  EXPECT_EQ(ParseVectorText("1,,2").status().message(), "element 1 is empty");
  EXPECT_EQ(ParseVectorText("1,2,").status().message(), "element 2 is empty");
  EXPECT_EQ(ParseVectorText("[1,2").status().message(), "missing closing ']'");
  EXPECT_EQ(ParseVectorText("1,two").status().message(),
            "element 1: 'two' is not a number");
}

TEST(ReadVectorsTest, LimitAndEmpty) {
  TempDir dir;
  const std::string p = dir.Sub("q.csv");
  WriteFile(p, "1,2\n3,4\n5,6\n");
  absl::StatusOr<Matrix<float>> m = ReadVectors(p, {}, 2);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->rows, 2u);
  EXPECT_EQ(m->dim, 2u);
  EXPECT_EQ(m->row(1)[1], 4);
  WriteFile(dir.Sub("e.csv"), "\n\n");
  EXPECT_EQ(ReadVectors(dir.Sub("e.csv"), {}).status().message(),
            dir.Sub("e.csv") + ": no rows");
}

TEST(TextReaderTest, InvalidUtf8IdOrAttributeIsASkippableRowError) {
  TempDir dir;
  const std::string csv = dir.Sub("bad.csv");
  WriteFile(
      csv,
      "id,vector,tag\na,[1,2],x\nb\xff,[3,4],y\nc,[5,6],z\xfe\nd,[7,8],w\n");
  auto reader = OpenRowReader(csv, {});
  QUIVER_ASSERT_OK(reader.status());
  Row row;
  ASSERT_TRUE(*(*reader)->Next(&row));
  EXPECT_EQ(row.id, "a");
  absl::StatusOr<bool> bad = (*reader)->Next(&row);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("the id is not valid UTF-8 (byte 2"),
            std::string::npos)
      << bad.status();
  bad = (*reader)->Next(&row);
  EXPECT_NE(bad.status().message().find("attribute 'tag' is not valid UTF-8"),
            std::string::npos)
      << bad.status();
  EXPECT_FALSE((*reader)->fatal());
  ASSERT_TRUE(*(*reader)->Next(&row));
  EXPECT_EQ(row.id, "d");

  const std::string jsonl = dir.Sub("bad.jsonl");
  WriteFile(jsonl,
            "{\"id\":\"ok\",\"vector\":[1,2]}\n"
            "{\"id\":\"no\xc3\",\"vector\":[1,2]}\n");
  auto json_reader = OpenRowReader(jsonl, {});
  QUIVER_ASSERT_OK(json_reader.status());
  ASSERT_TRUE(*(*json_reader)->Next(&row));
  bad = (*json_reader)->Next(&row);
  EXPECT_NE(bad.status().message().find("not valid UTF-8"), std::string::npos)
      << bad.status();
}

TEST(NpyTest, Float16IsWidenedToFloat32) {
  TempDir dir;
  const std::string p = dir.Sub("h.npy");
  // 1, -2, 0.5 | 65504 (largest half), 2^-24 (smallest subnormal), -0 |
  // inf (a row error) | 0.099976 (0x2E66) and two more.
  WriteFile(p,
            Npy("{'descr': '<f2', 'fortran_order': False, "
                "'shape': (4, 3), }",
                Raw<uint16_t>({0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000,
                               0x7C00, 0, 0, 0x2E66, 0x4200, 0x03FF})));
  auto reader = Open(p);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(*reader->total_rows(), 4u);
  ReadResult r = ReadAll(*reader);
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0].vector, (std::vector<float>{1, -2, 0.5}));
  EXPECT_EQ(r.rows[1].vector[0], 65504.0f);
  EXPECT_EQ(r.rows[1].vector[1], std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::signbit(r.rows[1].vector[2]));
  EXPECT_EQ(r.rows[2].index, 3u);
  EXPECT_EQ(r.rows[2].vector[0], 0.0999755859375f);
  EXPECT_EQ(r.rows[2].vector[1], 3.0f);
  // Largest subnormal: 1023 * 2^-24.
  EXPECT_EQ(r.rows[2].vector[2], std::ldexp(1023.0f, -24));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0], p + ": row 2: value 0 is infinite");
  EXPECT_FALSE(r.fatal);

  EXPECT_EQ(NpyOpenError(dir, "t16.npy",
                         Npy("{'descr': '<f2', 'fortran_order': False, "
                             "'shape': (2, 2), }",
                             Raw<uint16_t>({1, 2, 3}))),
            dir.Sub("t16.npy") +
                ": truncated: the header declares 2 x 2 float16 (8 bytes of "
                "data) but only 6 bytes follow the header");
  // Skip seeks whole float16 rows.
  auto again = Open(p);
  ASSERT_EQ(*again->Skip(3), 3u);
  ReadResult s = ReadAll(*again);
  ASSERT_EQ(s.rows.size(), 1u);
  EXPECT_EQ(s.rows[0].vector[1], 3.0f);
}

TEST(CsvTest, QuotedFieldsMayHoldNewlinesAndLineNumbersStayRight) {
  TempDir dir;
  const std::string p = dir.Sub("multi.csv");
  const std::string text =
      "id,note,vector\n"                           // line 1 (header)
      "a,\"two\nlines\",[1,2]\n"                   // lines 2-3, row 0
      "b,\"say \"\"hi\"\"\r\n\r\nbye\",[3,4]\r\n"  // lines 4-6, row 1
      "\n"                                         // line 7 (blank)
      "c,plain,[5,x]\n"                            // line 8, row 2
      "\"d\nd\",\"x\" y,[1,2]\n"                   // lines 9-10, row 3
      "e,\"multi\n\n,line\",[7,8]\n"               // lines 11-13, row 4
      "f,ok,[9,10]\n"                              // line 14, row 5
      "g,\"open,[1,2]\n"                           // line 15, row 6
      "h,x,[1,2]\n";                               // line 16 (inside it)
  WriteFile(p, text);
  auto reader = Open(p);
  ASSERT_NE(reader, nullptr);
  ReadResult r = ReadAll(*reader);
  EXPECT_FALSE(r.fatal);
  ASSERT_EQ(r.rows.size(), 4u);
  EXPECT_EQ(r.rows[0].id, "a");
  EXPECT_EQ(r.rows[0].attributes,
            (std::vector<std::pair<std::string, std::string>>{
                {"note", "two\nlines"}}));
  EXPECT_EQ(r.rows[0].vector, (std::vector<float>{1, 2}));
  EXPECT_EQ(r.rows[1].id, "b");
  EXPECT_EQ(r.rows[1].attributes[0].second, "say \"hi\"\n\nbye");
  EXPECT_EQ(r.rows[1].vector, (std::vector<float>{3, 4}));
  EXPECT_EQ(r.rows[2].index, 4u);
  EXPECT_EQ(r.rows[2].attributes[0].second, "multi\n\n,line");
  EXPECT_EQ(r.rows[3].index, 5u);
  EXPECT_EQ(r.rows[3].id, "f");
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_EQ(r.errors[0], p + ":8 (row 2): field 3 (\"vector\"): element 1: "
                             "'x' is not a number");
  EXPECT_EQ(r.errors[1], p + ":9 (row 3): field 2: unexpected character after "
                             "the closing quote at line 10, column 8");
  EXPECT_EQ(r.errors[2], p + ":15 (row 6): field 2: unterminated quoted field "
                             "starting at column 3 (no closing quote before "
                             "the end of the file)");
  EXPECT_EQ(reader->bytes_consumed(), text.size());

  // A quoted header name may hold a newline too; TSV the same.
  const std::string t = dir.Sub("h.tsv");
  WriteFile(t,
            "\"id\"\tvector\t\"my\nnote\"\n"  // lines 1-2
            "\"x\ty\"\t1 2\t\"a\nb\"\n"       // lines 3-4, row 0
            "z\t1\t\"\n");                    // line 5, row 1

  CsvOptions o;
  o.header = CsvOptions::Header::kYes;
  ReaderOptions ro;
  ro.csv = o;
  auto tsv = Open(t, ro);
  ReadResult tr = ReadAll(*tsv);
  ASSERT_EQ(tr.rows.size(), 1u);
  EXPECT_EQ(tr.rows[0].id, "x\ty");
  EXPECT_EQ(tr.rows[0].vector, (std::vector<float>{1, 2}));
  EXPECT_EQ(
      tr.rows[0].attributes,
      (std::vector<std::pair<std::string, std::string>>{{"my\nnote", "a\nb"}}));
  ASSERT_EQ(tr.errors.size(), 1u);
  EXPECT_EQ(tr.errors[0], t + ":5 (row 1): field 3: unterminated quoted field "
                              "starting at column 5 (no closing quote before "
                              "the end of the file)");
}

// Writes a 2-D (or 1-D) dataset with the HDF5 C API; `chunk_rows` > 0 makes
// it chunked and deflate-compressed.
void WriteDataset(hid_t file, const std::string& name, hid_t file_type,
                  hid_t mem_type, const std::vector<hsize_t>& dims,
                  const void* data, hsize_t chunk_rows = 0) {
  const hid_t space =
      H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  ASSERT_GE(space, 0);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (chunk_rows > 0) {
    std::vector<hsize_t> chunk = dims;
    chunk[0] = chunk_rows;
    ASSERT_GE(H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data()),
              0);
    ASSERT_GE(H5Pset_deflate(dcpl, 6), 0);
  }
  const hid_t ds = H5Dcreate2(file, name.c_str(), file_type, space, H5P_DEFAULT,
                              dcpl, H5P_DEFAULT);
  ASSERT_GE(ds, 0) << name;
  ASSERT_GE(H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0);
  H5Dclose(ds);
  H5Pclose(dcpl);
  H5Sclose(space);
}

// An ann-benchmarks-like file: train 7 x 3 (row i = {i, i + 0.5, -i};
// chunked, compressed), test 2 x 3, neighbors 2 x 4 int32, distances 2 x 4
// float32, plus extras for the error cases.
std::string WriteAnnFile(const TempDir& dir, const std::string& name) {
  const std::string p = dir.Sub(name);
  const hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  EXPECT_GE(f, 0);
  std::vector<float> train;
  for (int i = 0; i < 7; ++i) {
    train.insert(train.end(), {float(i), i + 0.5f, -float(i)});
  }
  WriteDataset(f, "train", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {7, 3},
               train.data(), /*chunk_rows=*/3);
  const std::vector<double> test = {0.1, 0.6, 0, 5.9, 6.4, -6};
  WriteDataset(f, "test", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {2, 3},
               test.data());
  const std::vector<int32_t> nb = {0, 1, 2, 3, 6, 5, 4, 3};
  WriteDataset(f, "neighbors", H5T_STD_I32LE, H5T_NATIVE_INT32, {2, 4},
               nb.data());
  const std::vector<float> dist = {0, 1, 2, 3, 0, 1, 2, 3};
  WriteDataset(f, "distances", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {2, 4},
               dist.data());
  const std::vector<int64_t> nb64 = {5, 4, 3, 2, 1, 0};
  const std::vector<int64_t> big = {1, int64_t{1} << 40};
  const std::vector<float> flat = {1, 2, 3};
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> bad = {1, 2, nan, 4, 5, 6};
  const hid_t g = H5Gcreate2(f, "extra", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  WriteDataset(g, "nb64", H5T_STD_I64LE, H5T_NATIVE_INT64, {3, 2}, nb64.data());
  WriteDataset(g, "big", H5T_STD_I64LE, H5T_NATIVE_INT64, {1, 2}, big.data());
  WriteDataset(g, "flat", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {3}, flat.data());
  WriteDataset(g, "bad", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {3, 2}, bad.data());
  H5Gclose(g);
  H5Fclose(f);
  return p;
}

TEST(Hdf5Test, TrainStreamsInSlabsWithRowNumbers) {
  TempDir dir;
  const std::string p = WriteAnnFile(dir, "ann.hdf5");
  // 2 rows per slab: reads and skips cross slab boundaries.
  const size_t saved = readers_internal::hdf5_slab_bytes;
  readers_internal::hdf5_slab_bytes = 2 * 3 * sizeof(float);
  auto reader = Open(p);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->format(), Format::kHdf5);
  EXPECT_EQ(*reader->total_rows(), 7u);
  ReadResult all = ReadAll(*reader);
  ASSERT_EQ(all.rows.size(), 7u);
  EXPECT_TRUE(all.errors.empty());
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(all.rows[i].index, i);
    EXPECT_EQ(all.rows[i].id, "");
    EXPECT_EQ(all.rows[i].vector,
              (std::vector<float>{float(i), i + 0.5f, -float(i)}));
  }
  EXPECT_EQ(reader->dimension(), 3u);
  EXPECT_EQ(reader->bytes_consumed(), reader->total_bytes());

  auto skipping = Open(p);
  ASSERT_EQ(*skipping->Skip(1), 1u);
  Row row;
  ASSERT_TRUE(*skipping->Next(&row));
  EXPECT_EQ(row.index, 1u);
  ASSERT_EQ(*skipping->Skip(3), 3u);  // into the slab after next
  ASSERT_TRUE(*skipping->Next(&row));
  EXPECT_EQ(row.index, 5u);
  EXPECT_EQ(row.vector, (std::vector<float>{5, 5.5, -5}));
  EXPECT_LT(skipping->bytes_consumed(), skipping->total_bytes());
  EXPECT_EQ(*skipping->Skip(10), 1u);
  EXPECT_FALSE(*skipping->Next(&row));
  readers_internal::hdf5_slab_bytes = saved;

  // A non-finite value is that row's (skippable) error.
  ReaderOptions bad;
  bad.dataset = "/extra/bad";
  auto b = Open(p, bad);
  ReadResult br = ReadAll(*b);
  EXPECT_FALSE(br.fatal);
  ASSERT_EQ(br.rows.size(), 2u);
  EXPECT_EQ(br.rows[1].index, 2u);
  ASSERT_EQ(br.errors.size(), 1u);
  EXPECT_EQ(br.errors[0], p + ": dataset '/extra/bad': row 1: value 0 is NaN");
  // The collection's dimension is checked.
  ReaderOptions four;
  four.expected_dimension = 4;
  auto f = Open(p, four);
  ReadResult fr = ReadAll(*f);
  EXPECT_TRUE(fr.rows.empty());
  ASSERT_EQ(fr.errors.size(), 7u);
  EXPECT_EQ(fr.errors[0],
            p + ": dataset 'train': row 0: vector has 3 values, expected 4");
}

TEST(Hdf5Test, BenchReadsTestAndNeighbors) {
  TempDir dir;
  const std::string p = WriteAnnFile(dir, "ann.h5");
  ReaderOptions o;
  o.dataset = "test";
  absl::StatusOr<Matrix<float>> q = ReadVectors(p, o);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->rows, 2u);
  EXPECT_EQ(q->dim, 3u);
  EXPECT_EQ(q->row(1)[0], 5.9f);  // float64 in the file
  absl::StatusOr<Matrix<float>> one = ReadVectors(p, o, 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->rows, 1u);

  absl::StatusOr<Matrix<int32_t>> gt = ReadNeighbors(p);
  ASSERT_TRUE(gt.ok()) << gt.status();
  EXPECT_EQ(gt->rows, 2u);
  EXPECT_EQ(gt->dim, 4u);
  EXPECT_EQ(std::vector<int32_t>(gt->row(1), gt->row(1) + 4),
            (std::vector<int32_t>{6, 5, 4, 3}));
  absl::StatusOr<Matrix<int32_t>> gt64 = ReadNeighbors(p, 2, "extra/nb64");
  ASSERT_TRUE(gt64.ok()) << gt64.status();
  EXPECT_EQ(gt64->rows, 2u);
  EXPECT_EQ(gt64->data, (std::vector<int32_t>{5, 4, 3, 2}));

  EXPECT_EQ(ReadNeighbors(p, SIZE_MAX, "distances").status().message(),
            p + ": dataset 'distances': holds floating-point values, need "
                "integer neighbour ids");
  EXPECT_EQ(ReadNeighbors(p, SIZE_MAX, "extra/big").status().message(),
            p + ": dataset 'extra/big': row 0: id 1099511627776 does not fit "
                "in int32");
  // Not HDF5: still the .ivecs path.
  const std::string iv = dir.Sub("gt.ivecs");
  WriteFile(iv, VecsRow<int32_t>({3, 1}));
  ASSERT_TRUE(ReadNeighbors(iv).ok());
  EXPECT_EQ(ReadNeighbors(iv)->data, (std::vector<int32_t>{3, 1}));
}

TEST(Hdf5Test, OpenErrors) {
  TempDir dir;
  const std::string p = WriteAnnFile(dir, "ann.hdf5");
  auto open_error = [](const std::string& path, const std::string& dataset) {
    ReaderOptions o;
    o.dataset = dataset;
    absl::StatusOr<std::unique_ptr<RowReader>> r = OpenRowReader(path, o);
    EXPECT_FALSE(r.ok());
    return r.ok() ? absl::OkStatus() : r.status();
  };
  EXPECT_EQ(open_error(p, "nope").message(),
            p + ": no dataset 'nope' (the file has: distances, extra, "
                "neighbors, test, train)");
  EXPECT_EQ(open_error(p, "extra/none").message(),
            p + ": no dataset 'extra/none' (the file has: distances, extra, "
                "neighbors, test, train)");
  EXPECT_EQ(open_error(p, "extra").message().substr(0, p.size() + 26),
            p + ": 'extra' is not a dataset");
  EXPECT_EQ(open_error(p, "extra/flat").message(),
            p + ": dataset 'extra/flat': has 1 dimensions, need a 2-D array "
                "(rows, dimension)");
  absl::Status missing = open_error(dir.Sub("gone.hdf5"), "");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  const std::string text = dir.Sub("text.hdf5");
  WriteFile(text, "1,2,3\n");
  absl::Status not_hdf5 = open_error(text, "");
  EXPECT_EQ(not_hdf5.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(not_hdf5.message(),
            text + ": not an HDF5 file (no HDF5 signature)");
  // A truncated file: the signature is there, the rest is not.
  std::ifstream in(p, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  const std::string cut = dir.Sub("cut.hdf5");
  WriteFile(cut, bytes.substr(0, 1200));
  absl::Status truncated = open_error(cut, "");
  EXPECT_EQ(truncated.code(), absl::StatusCode::kInvalidArgument) << truncated;
  EXPECT_NE(truncated.message().find(cut + ": "), std::string::npos)
      << truncated;
}

}  // namespace
}  // namespace quiver::client
