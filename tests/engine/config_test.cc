// Unit tests of the engine's pure parts: automatic index parameters and
// retraining rules, input validation, and the persisted record formats.
#include "server/engine/config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "server/engine/records.h"
#include "server/engine/validate.h"
#include "tests/engine/engine_testing.h"
#include "tests/testing/testing.h"

namespace quiver::engine {
namespace {

TEST(ParamsTest, AutomaticValues) {
  EXPECT_EQ(AutoNlist(10000), 256u);  // 4*sqrt = 400 -> 512, cap 10000/39
  EXPECT_EQ(AutoNlist(1000000), 4096u);
  EXPECT_EQ(AutoNlist(1), 1u);
  EXPECT_EQ(AutoNlist(100), 2u);
  for (uint64_t n : {1ull, 50ull, 999ull, 12345ull, 100000000ull}) {
    const uint32_t nl = AutoNlist(n);
    EXPECT_GE(nl, 1u);
    EXPECT_LE(nl, kMaxNlist);
    EXPECT_EQ(nl & (nl - 1), 0u) << "power of two";
    EXPECT_TRUE(nl == 1 || nl <= n / 39) << n;
  }
  EXPECT_EQ(AutoPqM(128, 8), 32u);
  EXPECT_EQ(AutoPqM(96, 8), 24u);
  EXPECT_EQ(AutoPqM(96, 4), 48u);
  // 4-bit fast-scan holds at most 256 sub-quantizers (768-d: 384 failed to
  // train; 4-bit is also what small collections start with).
  EXPECT_EQ(AutoPqM(768, 4), 256u);
  EXPECT_EQ(AutoPqM(1536, 4), 256u);
  EXPECT_EQ(AutoPqM(1000, 4), 250u);
  for (uint32_t d = 1; d < 4096; d += 7) {
    EXPECT_LE(AutoPqM(d, 4), kMaxPqM4Bit) << d;
    EXPECT_EQ(d % AutoPqM(d, 4), 0u) << d;
  }
  EXPECT_EQ(AutoPqM(50, 8), 10u);  // 12 does not divide 50
  EXPECT_EQ(AutoPqM(7, 8), 1u);
  EXPECT_EQ(AutoPqM(1, 8), 1u);
  for (uint32_t d = 1; d < 300; ++d) EXPECT_EQ(d % AutoPqM(d, 8), 0u) << d;

  IndexConfig c;
  // All automatic: 4-bit fast-scan codes (16 centroids per codebook) at
  // every size, a first training at 1,000 vectors.
  EXPECT_EQ(EffectiveBits(c), 4u);
  EXPECT_EQ(AutoTrainThreshold(c), 1000u);
  // An explicit pq_m above what fast-scan holds keeps 8-bit codes, and
  // their codebooks need ~39 points per centroid: 39 * 256.
  c.pq_m = kMaxPqM4Bit + 128;
  EXPECT_EQ(EffectiveBits(c), 8u);
  EXPECT_EQ(AutoTrainThreshold(c), 9984u);
  c.pq_m = kMaxPqM4Bit;
  EXPECT_EQ(EffectiveBits(c), 4u);
  c.pq_m = 0;
  c.pq_bits = 8;
  EXPECT_EQ(EffectiveBits(c), 8u);
  EXPECT_EQ(AutoTrainThreshold(c), 9984u);
  c.pq_bits = 4;
  EXPECT_EQ(AutoTrainThreshold(c), 39u * 16);
  c.pq_bits = 8;
  c.nlist = 1024;
  EXPECT_EQ(AutoTrainThreshold(c), 39u * 1024);
  c.auto_train_threshold = 77;
  EXPECT_EQ(AutoTrainThreshold(c), 77u);
  EXPECT_EQ(DefaultNprobe({}, {}, 256), 16u);
  EXPECT_EQ(DefaultNprobe({}, {}, 4), 4u);
  EXPECT_EQ(DefaultRerank({}, {}), kDefaultRerank);
  // Measured defaults win over the rule of thumb, explicit ones over both,
  // and every nprobe is clamped to nlist.
  MaintenanceState m;
  m.tuned_nprobe = 3;
  m.tuned_rerank = 8;
  EXPECT_EQ(DefaultNprobe({}, m, 256), 3u);
  EXPECT_EQ(DefaultRerank({}, m), 8u);
  IndexConfig explicit_params;
  explicit_params.nprobe = 500;
  explicit_params.rerank = 2;
  EXPECT_EQ(DefaultNprobe(explicit_params, m, 256), 256u);
  EXPECT_EQ(DefaultRerank(explicit_params, m), 2u);
  EXPECT_DOUBLE_EQ(TargetRecall({}), 0.95);
}

TEST(ParamsTest, ResolveTrainParams) {
  CollectionConfig c = Config("c", 128);
  absl::StatusOr<index::IvfPqParams> p = ResolveTrainParams(c, 10000, 1);
  QUIVER_ASSERT_OK(p);
  EXPECT_EQ(p->nlist, 256u);
  EXPECT_EQ(p->m, 64u);  // automatic: 4-bit codes, dim / 2
  EXPECT_EQ(p->nbits, 4u);
  EXPECT_EQ(TrainSampleSize(c.index, *p, 10000), 10000u);
  // 128 points a list, at least 256 a PQ centroid; an explicit size wins.
  index::IvfPqParams big = *p;
  big.nlist = 4096;
  EXPECT_EQ(TrainSampleSize(c.index, big, 1000000), kTrainPointsPerList * 4096);
  EXPECT_EQ(TrainSampleSize(c.index, big, 400000), 400000u);
  big.nlist = 64;
  big.nbits = 8;
  EXPECT_EQ(TrainSampleSize(c.index, big, 1000000), 256u * 256);
  big.nbits = 4;
  EXPECT_EQ(TrainSampleSize(c.index, big, 1000000), kTrainPointsPerList * 64);
  IndexConfig sized = c.index;
  sized.train_size = 500000;
  EXPECT_EQ(TrainSampleSize(sized, big, 1000000), 500000u);
  EXPECT_EQ(ResolveTrainParams(c, 15, 1).status().code(),
            absl::StatusCode::kFailedPrecondition);  // < 16 centroids
  c.index.pq_bits = 8;
  EXPECT_EQ(ResolveTrainParams(c, 255, 1).status().code(),
            absl::StatusCode::kFailedPrecondition);
  p = ResolveTrainParams(c, 10000, 1);
  QUIVER_ASSERT_OK(p);
  EXPECT_EQ(p->m, 32u);
  EXPECT_EQ(p->nbits, 8u);
  c.index.pq_bits = 4;
  p = ResolveTrainParams(c, 100, 1);
  QUIVER_ASSERT_OK(p);
  EXPECT_EQ(p->m, 64u);
  EXPECT_EQ(p->nlist, 2u);
}

TEST(ParamsTest, TrainingsLeaveACoreFreeUnlessToldOtherwise) {
  const CollectionConfig c = Config("c", 128);
  const unsigned hw = std::thread::hardware_concurrency();
  const int expected = hw > 1 ? static_cast<int>(hw) - 1 : 1;
  EXPECT_EQ(DefaultTrainThreads(), expected);
  absl::StatusOr<index::IvfPqParams> p = ResolveTrainParams(c, 10000, 0);
  QUIVER_ASSERT_OK(p);
  EXPECT_EQ(p->threads, expected);
  p = ResolveTrainParams(c, 10000, 3);
  QUIVER_ASSERT_OK(p);
  EXPECT_EQ(p->threads, 3);
}

TEST(ValidateTest, CollectionConfig) {
  CollectionConfig c = Config("ok-name_1.x", 8);
  QUIVER_EXPECT_OK(ValidateCollectionConfig(c));
  auto code = [](const CollectionConfig& cc) {
    return ValidateCollectionConfig(cc).code();
  };
  CollectionConfig bad = c;
  bad.name = "";
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
  bad.name = "has space";
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
  bad.name = std::string(129, 'a');
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
  bad.name = std::string(128, 'a');
  EXPECT_EQ(code(bad), absl::StatusCode::kOk);
  bad = c;
  bad.dimension = 0;
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
  bad.dimension = 4097;
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
  bad = c;
  bad.index.pq_m = 3;
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ValidateCollectionConfig(bad).message().find("pq_m 3"),
            std::string::npos);
  bad = c;
  bad.placement.shard_count = 2;
  bad.placement.shard = 1;
  EXPECT_EQ(code(bad), absl::StatusCode::kOk);
  bad.placement.shard = 2;  // not below shard_count
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
  bad.placement.shard = 0;
  bad.placement.nodes = {"only-one:1"};  // one node for two shards
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
  bad.placement = {};
  bad.placement.shard = 1;  // a shard without a shard_count
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
  bad = Config("wide", 1024);
  bad.index.pq_bits = 4;
  bad.index.pq_m = 512;
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
  bad.index.pq_m = 256;
  EXPECT_EQ(code(bad), absl::StatusCode::kOk);
  bad = c;
  bad.index.pq_bits = 6;
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
  bad = c;
  bad.index.nlist = 8;
  bad.index.nprobe = 9;  // clamped when used
  EXPECT_EQ(code(bad), absl::StatusCode::kOk);
  bad.index.target_recall = 1.5;
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
  bad.index.target_recall = -0.1;
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
}

TEST(ParamsTest, RetrainReasons) {
  IndexConfig automatic;
  MaintenanceState m;
  // Never trained: no retraining (the first training has its threshold).
  EXPECT_EQ(RetrainReason(automatic, m, 1000000, 0, 0), "");
  m.trained_count = 10000;
  m.train_error = 2.0;
  // 256 lists (39 vectors a centroid at least) until 19,968 documents.
  EXPECT_EQ(RetrainReason(automatic, m, 19967, 0, 0), "");
  EXPECT_NE(RetrainReason(automatic, m, 20000, 0, 0).find("grew"),
            std::string::npos);
  // Growing past a size where a fresh build has twice the lists retrains
  // before doubling, but not before 1.25x the size trained on (AutoNlist:
  // 1,024 lists at 100,000 and 125,000 documents, 2,048 from 131,072).
  ASSERT_EQ(AutoNlist(125000), 1024u);
  ASSERT_EQ(AutoNlist(131072), 2048u);
  m.trained_count = 100000;
  EXPECT_EQ(RetrainReason(automatic, m, 125000, 0, 0), "");
  EXPECT_NE(RetrainReason(automatic, m, 131072, 0, 0).find("nlist 2048"),
            std::string::npos);
  m.trained_count = 110000;  // 1.19x: too soon
  EXPECT_EQ(RetrainReason(automatic, m, 131072, 0, 0), "");
  // Shrinking to a quarter retrains, unless below the first threshold.
  m.trained_count = 100000;
  EXPECT_NE(RetrainReason(automatic, m, 25000, 0, 0).find("shrank"),
            std::string::npos);
  EXPECT_EQ(RetrainReason(automatic, m, 26000, 0, 0), "");
  m.trained_count = 20000;
  EXPECT_EQ(RetrainReason(automatic, m, 999, 0, 0), "");  // below threshold
  // A fixed nlist does not follow the size.
  IndexConfig fixed;
  fixed.nlist = 64;
  m.trained_count = 10000;
  EXPECT_EQ(RetrainReason(fixed, m, 50000, 0, 0), "");
  // Drift: enough recent vectors quantized 1.5x worse than the sample.
  EXPECT_EQ(RetrainReason(fixed, m, 12000, 999, 10.0), "");
  EXPECT_EQ(RetrainReason(fixed, m, 12000, 1000, 2.9), "");
  EXPECT_NE(RetrainReason(fixed, m, 12000, 1000, 3.1).find("worse"),
            std::string::npos);
  m.trained_count = 10000;
  // Half of what was trained on deleted: retrain (and re-tune).
  EXPECT_EQ(RetrainReason(fixed, m, 10000, 0, 0, 4999), "");
  EXPECT_NE(RetrainReason(fixed, m, 10000, 0, 0, 5000).find("deleted"),
            std::string::npos);
}

TEST(ValidateTest, VectorsIdsAndAttributes) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v = {1, 2, 3};
  QUIVER_EXPECT_OK(ValidateVector(v.data(), 3, 3, index::Metric::kL2, "v"));
  EXPECT_EQ(ValidateVector(v.data(), 3, 4, index::Metric::kL2, "v").code(),
            absl::StatusCode::kInvalidArgument);
  v[1] = nan;
  EXPECT_EQ(ValidateVector(v.data(), 3, 3, index::Metric::kL2, "v").code(),
            absl::StatusCode::kInvalidArgument);
  v[1] = inf;
  EXPECT_EQ(ValidateVector(v.data(), 3, 3, index::Metric::kL2, "v").code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<float> zero(3, 0.f);
  QUIVER_EXPECT_OK(ValidateVector(zero.data(), 3, 3, index::Metric::kL2, "v"));
  EXPECT_EQ(
      ValidateVector(zero.data(), 3, 3, index::Metric::kCosine, "v").code(),
      absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(ValidateDocumentId("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateDocumentId(std::string(513, 'x')).code(),
            absl::StatusCode::kInvalidArgument);
  QUIVER_EXPECT_OK(ValidateDocumentId(std::string(512, 'x')));
  EXPECT_EQ(ValidateDocumentId(std::string("a\0b", 3)).code(),
            absl::StatusCode::kInvalidArgument);

  Attributes attrs = {{"a", "1"}, {"b", "2"}};
  QUIVER_EXPECT_OK(ValidateAttributes(attrs));
  attrs = {{"b", "1"}, {"a", "2"}};
  EXPECT_EQ(ValidateAttributes(attrs).code(),
            absl::StatusCode::kInvalidArgument);
  attrs = {{"a", std::string(1025, 'x')}};
  EXPECT_EQ(ValidateAttributes(attrs).code(),
            absl::StatusCode::kInvalidArgument);
  // A squared norm beyond float range would make every distance inf.
  std::vector<float> huge(4, 3e38f);
  EXPECT_EQ(ValidateVector(huge.data(), 4, 4, index::Metric::kL2, "v").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RecordsTest, SchemaRoundTripAndGarbageIsDataLoss) {
  records::SchemaRecord r;
  r.config = Config("docs", 96, index::Metric::kCosine);
  r.config.index.nlist = 512;
  r.config.index.pq_bits = 4;
  r.config.index.balanced = true;
  r.config.index.auto_train_threshold = 1234;
  r.config.index.target_recall = 0.9;
  r.maintenance.tuned_nprobe = 7;
  r.maintenance.tuned_rerank = 4;
  r.maintenance.measured_recall = 0.953;
  r.maintenance.generation = 3;
  r.maintenance.trained_count = 40000;
  r.maintenance.train_error = 12.5;
  r.maintenance.reason = "grew from 10 to 20 documents";
  r.config.placement.shard = 1;
  r.config.placement.shard_count = 3;
  r.config.placement.nodes = {"a:1", "b:2", "c:3"};
  const std::string bytes = records::EncodeSchema(r);
  absl::StatusOr<records::SchemaRecord> back = records::DecodeSchema(bytes);
  QUIVER_ASSERT_OK(back);
  EXPECT_EQ(records::EncodeSchema(*back), bytes);
  EXPECT_EQ(back->config.name, "docs");
  EXPECT_EQ(back->config.metric, index::Metric::kCosine);
  EXPECT_EQ(back->config.index.nlist, 512u);
  EXPECT_TRUE(back->config.index.balanced);
  EXPECT_DOUBLE_EQ(back->config.index.target_recall, 0.9);
  EXPECT_EQ(back->maintenance.tuned_nprobe, 7u);
  EXPECT_DOUBLE_EQ(back->maintenance.measured_recall, 0.953);
  EXPECT_EQ(back->maintenance.trained_count, 40000u);
  EXPECT_EQ(back->maintenance.reason, "grew from 10 to 20 documents");
  EXPECT_EQ(back->config.placement.shard, 1u);
  EXPECT_EQ(back->config.placement.shard_count, 3u);
  EXPECT_EQ(back->config.placement.nodes,
            (std::vector<std::string>{"a:1", "b:2", "c:3"}));
  // Every truncation and every flipped byte is DATA_LOSS, never a crash
  // or a silently different schema.
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_EQ(records::DecodeSchema(bytes.substr(0, cut)).status().code(),
              absl::StatusCode::kDataLoss)
        << cut;
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] ^= 0x5a;
    absl::StatusOr<records::SchemaRecord> d = records::DecodeSchema(bad);
    if (i < 4) continue;  // no magic: read as format 0 (see below)
    EXPECT_EQ(d.status().code(), absl::StatusCode::kDataLoss) << i;
  }
}

// Format 0: the protobuf wire bytes of quiver.v1.CollectionInfo, written by
// hand here (the engine has no proto code).
TEST(RecordsTest, ReadsFormatZeroSchemas) {
  std::string v0;
  v0 += '\x0a';  // field 1, length-delimited: name
  v0 += '\x04';
  v0 += "abcd";
  v0 += '\x10';  // field 2, varint: dimension 200
  v0 += '\xc8';
  v0 += '\x01';
  v0 += '\x18';  // field 3, varint: metric 3 (cosine)
  v0 += '\x03';
  v0 += '\x22';  // field 4, length-delimited: IndexParams
  v0 += '\x06';
  v0 += "\x08\x40";  // nlist 64
  v0 += "\x18\x04";  // pq_bits 4
  v0 += "\x38\x01";  // balanced
  v0 += '\x28';      // field 5 (count), ignored
  v0 += '\x07';
  absl::StatusOr<records::SchemaRecord> r = records::DecodeSchema(v0);
  QUIVER_ASSERT_OK(r);
  EXPECT_EQ(r->config.name, "abcd");
  EXPECT_EQ(r->config.dimension, 200u);
  EXPECT_EQ(r->config.metric, index::Metric::kCosine);
  EXPECT_EQ(r->config.index.nlist, 64u);
  EXPECT_EQ(r->config.index.pq_bits, 4u);
  EXPECT_TRUE(r->config.index.balanced);
  EXPECT_EQ(r->maintenance.trained_count, 0u);
  for (size_t cut = 1; cut < v0.size(); ++cut) {
    absl::StatusOr<records::SchemaRecord> d =
        records::DecodeSchema(v0.substr(0, cut));
    if (d.ok()) {
      // A prefix that ends on a field boundary is a valid message; it must
      // still name a dimension and a metric.
      EXPECT_NE(d->config.dimension, 0u);
    } else {
      EXPECT_EQ(d.status().code(), absl::StatusCode::kDataLoss) << cut;
    }
  }
  EXPECT_EQ(records::DecodeSchema("garbage!").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(records::DecodeSchema("").status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(RecordsTest, QuantizerCodeAndAttributes) {
  const std::string q = records::EncodeQuantizer(9, "blob");
  absl::StatusOr<records::QuantizerRecord> qr = records::DecodeQuantizer(q);
  QUIVER_ASSERT_OK(qr);
  EXPECT_EQ(qr->generation, 9u);
  EXPECT_EQ(qr->blob, "blob");
  EXPECT_EQ(records::DecodeQuantizer("QVQ1abc").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(records::DecodeQuantizer("XXXX1234blob").status().code(),
            absl::StatusCode::kDataLoss);
  // Little-endian generation, as format 0 wrote it.
  EXPECT_EQ(q.substr(4, 4), std::string("\x09\0\0\0", 4));

  // After splits and merges: QVQ2 with a base generation and list epochs.
  records::QuantizerRecord split;
  split.generation = 12;
  split.base_generation = 9;
  split.list_epochs = {9, 12, 10};
  split.blob = "blob2";
  const std::string q2 = records::EncodeQuantizer(split);
  EXPECT_EQ(q2.substr(0, 4), "QVQ2");
  absl::StatusOr<records::QuantizerRecord> q2r = records::DecodeQuantizer(q2);
  QUIVER_ASSERT_OK(q2r);
  EXPECT_EQ(q2r->generation, 12u);
  EXPECT_EQ(q2r->base_generation, 9u);
  EXPECT_EQ(q2r->list_epochs, split.list_epochs);
  EXPECT_EQ(q2r->blob, "blob2");
  // Which codes belong to it: not before the base, not after the
  // generation, not before their list's epoch.
  EXPECT_TRUE(records::CodeIsCurrent(*q2r, 9, 0));
  EXPECT_FALSE(records::CodeIsCurrent(*q2r, 8, 0));
  EXPECT_FALSE(records::CodeIsCurrent(*q2r, 13, 0));
  EXPECT_FALSE(records::CodeIsCurrent(*q2r, 11, 1));
  EXPECT_TRUE(records::CodeIsCurrent(*q2r, 12, 1));
  EXPECT_TRUE(records::CodeIsCurrent(*q2r, 10, 2));
  EXPECT_FALSE(records::CodeIsCurrent(*q2r, 12, 3));  // no such list
  // A full training's record: only its own generation.
  EXPECT_TRUE(records::CodeIsCurrent(*qr, 9, 5));
  EXPECT_FALSE(records::CodeIsCurrent(*qr, 8, 5));
  // No epochs (a full training): written as QVQ1.
  records::QuantizerRecord plain = split;
  plain.base_generation = 12;
  plain.list_epochs.clear();
  EXPECT_EQ(records::EncodeQuantizer(plain),
            records::EncodeQuantizer(12, "blob2"));
  // A QVQ2 record without lists is garbage.
  std::string empty = q2.substr(0, 12) + std::string(4, '\0') + "blob";
  EXPECT_EQ(records::DecodeQuantizer(empty).status().code(),
            absl::StatusCode::kDataLoss);
  // Garbage: every truncation of the header and epochs, epochs out of
  // range, a base after the generation.
  for (size_t cut = 0; cut < 28; ++cut) {
    EXPECT_EQ(records::DecodeQuantizer(q2.substr(0, cut)).status().code(),
              absl::StatusCode::kDataLoss)
        << cut;
  }
  std::string bad = q2;
  bad[16] = 13;  // list 0's epoch after the generation
  EXPECT_EQ(records::DecodeQuantizer(bad).status().code(),
            absl::StatusCode::kDataLoss);
  bad = q2;
  bad[8] = 13;  // base after the generation
  EXPECT_EQ(records::DecodeQuantizer(bad).status().code(),
            absl::StatusCode::kDataLoss);

  const uint8_t code[3] = {1, 2, 255};
  const std::string c = records::EncodeCode(0x01020304, code, 3);
  EXPECT_EQ(c.substr(0, 4), "\x04\x03\x02\x01");
  absl::StatusOr<records::CodeRecord> cr = records::DecodeCode(c);
  QUIVER_ASSERT_OK(cr);
  EXPECT_EQ(cr->generation, 0x01020304u);
  EXPECT_EQ(cr->code, std::string("\x01\x02\xff"));
  EXPECT_EQ(records::DecodeCode("abc").status().code(),
            absl::StatusCode::kDataLoss);

  const Attributes attrs = {
      {"alpha", ""}, {"mid", std::string("bin\0ary", 7)}, {"zeta", "last"}};
  const std::string bytes = records::EncodeAttributes(attrs);
  absl::StatusOr<Attributes> back = records::DecodeAttributes(bytes);
  QUIVER_ASSERT_OK(back);
  EXPECT_EQ(*back, attrs);
  EXPECT_EQ(records::EncodeAttributes({}), "");
  QUIVER_ASSERT_OK(records::DecodeAttributes(""));
  for (size_t cut = 1; cut < bytes.size(); ++cut) {
    EXPECT_EQ(records::DecodeAttributes(bytes.substr(0, cut)).status().code(),
              absl::StatusCode::kDataLoss)
        << cut;
  }
  EXPECT_EQ(records::DecodeAttributes(bytes + "x").status().code(),
            absl::StatusCode::kDataLoss);
  // Keys out of order (not something any writer produces).
  const std::string swapped =
      records::EncodeAttributes({{"zeta", "last"}, {"alpha", ""}});
  EXPECT_EQ(records::DecodeAttributes(swapped).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace quiver::engine
