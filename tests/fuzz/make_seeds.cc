// Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/)
// with the real encoders, so that every seed is a valid input the targets'
// decoders accept, in the layout each target's first bytes expect (see the
// comment at the top of each fuzz_*.cc).
//
//   quiver_fuzz_make_seeds tests/fuzz/corpus
//
// Deterministic: the same build writes the same bytes.
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/status.h"
#include "index/ivf_pq_index.h"
#include "quiver/v1/quiver.pb.h"
#include "server/engine/records.h"
#include "storage/records.h"

namespace quiver {
namespace {

std::string out_dir;

void Write(const std::string& target, const std::string& name,
           std::string_view bytes) {
  const std::string dir = out_dir + "/" + target;
  ::mkdir(out_dir.c_str(), 0755);
  ::mkdir(dir.c_str(), 0755);
  const std::string path = dir + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  QUIVER_CHECK(f != nullptr);
  QUIVER_CHECK(std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size());
  QUIVER_CHECK(std::fclose(f) == 0);
}

std::string Prefixed(uint8_t mode, std::string_view bytes) {
  std::string s(1, static_cast<char>(mode));
  s.append(bytes);
  return s;
}

std::string TrainedBlob(index::Metric metric, uint32_t dim, uint32_t nlist,
                        uint32_t m, uint32_t nbits) {
  index::IvfPqParams p;
  p.metric = metric;
  p.dim = dim;
  p.nlist = nlist;
  p.m = m;
  p.nbits = nbits;
  p.niter = 4;
  p.threads = 1;
  const size_t n = 300;
  std::vector<float> x(n * dim);
  uint32_t state = 12345;
  for (float& v : x) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(state >> 8) / static_cast<float>(1u << 24) - 0.5f;
  }
  absl::StatusOr<std::unique_ptr<index::IvfPqIndex>> idx =
      index::IvfPqIndex::Train(p, x.data(), n);
  QUIVER_CHECK(idx.ok());
  return (*idx)->Serialize();
}

engine::records::SchemaRecord Schema() {
  engine::records::SchemaRecord r;
  r.config.name = "docs";
  r.config.dimension = 8;
  r.config.metric = index::Metric::kCosine;
  r.config.index.nlist = 16;
  r.config.index.pq_m = 4;
  r.config.index.nprobe = 4;
  r.config.index.target_recall = 0.9;
  r.maintenance.tuned_nprobe = 6;
  r.maintenance.measured_recall = 0.93;
  r.maintenance.generation = 2;
  r.maintenance.trained_count = 5000;
  r.maintenance.train_error = 0.25;
  r.maintenance.reason = "grew from 1000 to 5000 documents";
  return r;
}

void Records() {
  namespace er = engine::records;
  namespace sr = storage::records;
  const std::string schema = er::EncodeSchema(Schema());
  Write("fuzz_records", "schema_v1", Prefixed(0, schema));
  // Version 0: the wire form of quiver.v1.CollectionInfo.
  v1::CollectionInfo legacy;
  legacy.set_name("old");
  legacy.set_dimension(4);
  legacy.set_metric(v1::METRIC_L2);
  legacy.mutable_index()->set_nlist(8);
  legacy.mutable_index()->set_balanced(true);
  legacy.set_count(7);
  Write("fuzz_records", "schema_v0", Prefixed(0, legacy.SerializeAsString()));
  // Mode 1 takes the fields only (between the 5-byte header and the
  // checksum).
  Write("fuzz_records", "schema_fields",
        Prefixed(1, std::string_view(schema).substr(5, schema.size() - 9)));
  Write("fuzz_records", "quantizer",
        Prefixed(2, er::EncodeQuantizer(
                        3, TrainedBlob(index::Metric::kL2, 4, 2, 2, 4))));
  const uint8_t code[4] = {1, 2, 3, 250};
  Write("fuzz_records", "code", Prefixed(3, er::EncodeCode(7, code, 4)));
  Write(
      "fuzz_records", "attributes",
      Prefixed(4, er::EncodeAttributes(
                      {{"lang", "en"}, {"source", "wiki"}, {"year", "2024"}})));
  storage::CollectionMeta meta;
  meta.name = "docs";
  meta.id = 3;
  meta.dimension = 8;
  meta.schema = schema;
  std::string in(1, static_cast<char>(meta.name.size()));
  in += meta.name + sr::EncodeCollectionMeta(meta);
  Write("fuzz_records", "collection_meta", Prefixed(5, in));
  const float v[4] = {0.5f, -1.0f, 2.0f, 0.0f};
  Write("fuzz_records", "vector",
        Prefixed(6, std::string(1, 4) +
                        std::string(reinterpret_cast<const char*>(v), 16)));
  std::string code_value;
  sr::AppendCodeValue(&code_value, 5, "\x01\x02\x03\x04");
  Write("fuzz_records", "code_value", Prefixed(7, code_value));
  Write("fuzz_records", "u64", Prefixed(8, sr::EncodeU64(1234567890123ull)));
  Write("fuzz_records", "u32", Prefixed(8, sr::EncodeU32(42)));
}

void IndexBlobs() {
  struct Config {
    const char* name;
    index::Metric metric;
    uint32_t dim, nlist, m, nbits;
  };
  const Config configs[] = {
      {"l2_4bit", index::Metric::kL2, 8, 4, 4, 4},
      {"cosine_4bit", index::Metric::kCosine, 4, 2, 2, 4},
      {"ip_8bit", index::Metric::kInnerProduct, 2, 2, 1, 8},
  };
  for (const Config& c : configs) {
    const std::string blob =
        TrainedBlob(c.metric, c.dim, c.nlist, c.m, c.nbits);
    const std::string name = c.name;
    Write("fuzz_index_blob", name + "_blob", Prefixed(0, blob));
    // Mode 1: the payload (after magic, version and size; before the
    // checksum).
    Write("fuzz_index_blob", name + "_payload",
          Prefixed(1, std::string_view(blob).substr(20, blob.size() - 28)));
    Write("fuzz_index_blob", name + "_record",
          Prefixed(2, engine::records::EncodeQuantizer(1, blob)));
  }
  // Mode 3: 16 op bytes (u32, u64, i32, floats, floats of 2), then data.
  std::string ops = {0, 1, 2, 3, 4 + 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  std::string payload(4 + 8 + 4, '\x07');
  const uint64_t count = 2;
  payload.append(reinterpret_cast<const char*>(&count), 8);
  payload.append(8, '\x3f');
  payload.append(reinterpret_cast<const char*>(&count), 8);
  payload.append(8, '\x40');
  Write("fuzz_index_blob", "reader_ops", Prefixed(3, ops + payload));
}

// Option bytes of fuzz_client_readers: format | explicit << 3 | action << 4 |
// expected-dimension index << 6; header | id << 2 | count << 4; delimiter.
std::string ReaderInput(int format, bool explicit_format, int action,
                        int dim_index, int header, int id, int count,
                        char delim, std::string_view contents) {
  std::string s;
  s.push_back(static_cast<char>(format | (explicit_format ? 8 : 0) |
                                (action << 4) | (dim_index << 6)));
  s.push_back(static_cast<char>(header | (id << 2) | (count << 4)));
  s.push_back(delim);
  s.append(contents);
  return s;
}

void Readers() {
  const std::string t = "fuzz_client_readers";
  std::string fvecs, bvecs, ivecs;
  for (int row = 0; row < 3; ++row) {
    const int32_t d = 4;
    for (std::string* s : {&fvecs, &bvecs, &ivecs}) {
      s->append(reinterpret_cast<const char*>(&d), 4);
    }
    for (int i = 0; i < d; ++i) {
      const float f = 0.25f * static_cast<float>(row * d + i) - 1.0f;
      const int32_t n = row * d + i;
      fvecs.append(reinterpret_cast<const char*>(&f), 4);
      bvecs.push_back(static_cast<char>(10 * n));
      ivecs.append(reinterpret_cast<const char*>(&n), 4);
    }
  }
  Write(t, "fvecs", ReaderInput(0, false, 0, 0, 0, 0, 0, 0, fvecs));
  Write(t, "fvecs_skip", ReaderInput(0, true, 1, 3, 0, 0, 1, 0, fvecs));
  Write(t, "bvecs", ReaderInput(1, true, 0, 0, 0, 0, 0, 0, bvecs));
  Write(t, "ivecs", ReaderInput(2, false, 0, 0, 0, 0, 0, 0, ivecs));
  Write(t, "ivecs_read", ReaderInput(2, false, 3, 0, 0, 0, 2, 0, ivecs));
  // .npy version 1.0, float32, 2 x 3.
  std::string header =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  while ((10 + header.size() + 1) % 16 != 0) header.push_back(' ');
  header.push_back('\n');
  std::string npy = "\x93NUMPY\x01";
  npy.push_back('\0');
  npy.push_back(static_cast<char>(header.size() & 0xff));
  npy.push_back(static_cast<char>(header.size() >> 8));
  npy += header;
  for (int i = 0; i < 6; ++i) {
    const float f = static_cast<float>(i) * 0.5f;
    npy.append(reinterpret_cast<const char*>(&f), 4);
  }
  Write(t, "npy", ReaderInput(3, false, 0, 0, 0, 0, 0, 0, npy));
  Write(t, "npy_read", ReaderInput(3, true, 2, 0, 0, 0, 3, 0, npy));
  Write(t, "csv_header",
        ReaderInput(4, false, 0, 0, 0, 0, 0, 0,
                    "id,vector,lang\n"
                    "doc1,\"[0.1,0.2,0.3]\",en\n"
                    "doc2,[0.4,0.5,0.6],\"d\"\"e\"\n"
                    "\n"
                    "doc3,0.7 0.8 0.9,fr\r\n"));
  Write(t, "csv_components",
        ReaderInput(4, true, 0, 0, 0, 0, 0, 0,
                    "a,1.5,-2e-3,+3\nb,4,5,6\n7,8,9,10\n"));
  Write(t, "csv_no_header",
        ReaderInput(4, true, 0, 2, 2, 2, 0, ';', "0.5;1.5\n2.5;3.5\n"));
  Write(t, "tsv",
        ReaderInput(5, false, 0, 0, 1, 1, 0, 0,
                    "key\tx\ty\nk1\t1\t2\nk2\t3\t4\n"));
  Write(
      t, "jsonl",
      ReaderInput(6, false, 0, 0, 0, 0, 0, 0,
                  "{\"id\": \"a\", \"vector\": [0.1, 0.2], \"attributes\": "
                  "{\"lang\": \"en\", \"n\": 1, \"ok\": true}}\n"
                  "{\"id\": 7, \"vector\": [1e-3, -2.5E2], \"x\": [null, "
                  "{\"y\": \"\\u00e9\\n\"}]}\n"
                  "\xEF\xBB\xBF{\"vector\": [3, 4], \"attributes\": null}\n"));
  Write(t, "ndjson",
        ReaderInput(7, false, 2, 0, 0, 0, 1, 0,
                    "{\"vector\":[1,2,3]}\n{\"vector\":[4,5,6]}"));
  Write(t, "vector_text",
        ReaderInput(4, true, 0, 0, 0, 0, 0, 0, "[0.5, 1e-3; -2 +4]"));
  Write(t, "json_string",
        ReaderInput(6, true, 0, 0, 0, 0, 0, 0,
                    "\"a\\\"b\\\\c\\u0041\\ud83d\\ude00\""));
}

void Requests() {
  const std::string t = "fuzz_request_validation";
  // Byte 1: dimension index 3 (4) | metric << 3.
  auto in = [](uint8_t type, int metric, const std::string& body) {
    std::string s;
    s.push_back(static_cast<char>(type));
    s.push_back(static_cast<char>(3 | (metric << 3)));
    return s + body;
  };
  v1::SearchRequest search;
  search.set_collection("docs");
  search.set_k(10);
  search.set_nprobe(8);
  search.set_rerank(4);
  for (int q = 0; q < 2; ++q) {
    v1::Vector* v = search.add_queries();
    for (int i = 0; i < 4; ++i) v->add_values(0.5f * static_cast<float>(q + i));
  }
  (*search.mutable_filter())["lang"] = "en";
  search.set_include_attributes(true);
  Write(t, "search", in(0, 0, search.SerializeAsString()));
  Write(t, "search_cosine", in(0, 2, search.SerializeAsString()));

  v1::UpsertRequest upsert;
  upsert.set_collection("docs");
  upsert.set_batch_id(1);
  for (int d = 0; d < 2; ++d) {
    v1::Document* doc = upsert.add_documents();
    doc->set_id(d == 0 ? "doc-1" : "doc-2");
    for (int i = 0; i < 4; ++i) doc->add_vector(static_cast<float>(d - i));
    (*doc->mutable_attributes())["lang"] = "en";
    (*doc->mutable_attributes())["year"] = "2024";
  }
  Write(t, "upsert", in(1, 1, upsert.SerializeAsString()));

  v1::GetRequest get;
  get.set_collection("docs");
  get.add_ids("doc-1");
  get.add_ids("doc-2");
  get.set_include_vectors(true);
  Write(t, "get", in(2, 0, get.SerializeAsString()));
  v1::DeleteRequest del;
  del.set_collection("docs");
  del.add_ids("doc-1");
  Write(t, "delete", in(3, 0, del.SerializeAsString()));

  v1::CreateCollectionRequest create;
  create.set_name("docs");
  create.set_dimension(128);
  create.set_metric(v1::METRIC_COSINE);
  v1::IndexParams* p = create.mutable_index();
  p->set_nlist(256);
  p->set_pq_m(32);
  p->set_pq_bits(8);
  p->set_nprobe(16);
  p->set_rerank(4);
  p->set_target_recall(0.95);
  Write(t, "create", in(4, 0, create.SerializeAsString()));
  create.clear_index();
  create.set_dimension(768);
  Write(t, "create_auto", in(4, 0, create.SerializeAsString()));

  v1::TrainRequest train;
  train.set_collection("docs");
  train.mutable_overrides()->set_nlist(64);
  train.mutable_overrides()->set_pq_bits(4);
  train.mutable_overrides()->set_balanced(true);
  Write(t, "train", in(5, 0, train.SerializeAsString()));
}

}  // namespace
}  // namespace quiver

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  quiver::out_dir = argv[1];
  quiver::Records();
  quiver::IndexBlobs();
  quiver::Readers();
  quiver::Requests();
  return 0;
}
