// Unit tests of the server's pure parts: status conversion, attribute
// encoding, automatic index parameters, request validation; and the
// collection registry in-process (real RocksDB in a temp dir).
#include <grpcpp/support/status.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/collections.h"
#include "server/convert.h"
#include "server/params.h"
#include "server/validate.h"
#include "tests/testing/testing.h"

namespace quiver::server {
namespace {

CollectionConfig Config(const std::string& name, uint32_t dim,
                        index::Metric metric = index::Metric::kL2) {
  CollectionConfig c;
  c.name = name;
  c.dimension = dim;
  c.metric = metric;
  return c;
}

TEST(ConvertTest, EveryStatusCodeMapsToTheSameGrpcCode) {
  // absl and gRPC number the 17 canonical codes identically; ToGrpcStatus
  // relies on it.
  const std::vector<std::pair<absl::StatusCode, grpc::StatusCode>> pairs = {
      {absl::StatusCode::kOk, grpc::StatusCode::OK},
      {absl::StatusCode::kCancelled, grpc::StatusCode::CANCELLED},
      {absl::StatusCode::kUnknown, grpc::StatusCode::UNKNOWN},
      {absl::StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
      {absl::StatusCode::kDeadlineExceeded,
       grpc::StatusCode::DEADLINE_EXCEEDED},
      {absl::StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND},
      {absl::StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS},
      {absl::StatusCode::kPermissionDenied,
       grpc::StatusCode::PERMISSION_DENIED},
      {absl::StatusCode::kResourceExhausted,
       grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::StatusCode::kFailedPrecondition,
       grpc::StatusCode::FAILED_PRECONDITION},
      {absl::StatusCode::kAborted, grpc::StatusCode::ABORTED},
      {absl::StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE},
      {absl::StatusCode::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED},
      {absl::StatusCode::kInternal, grpc::StatusCode::INTERNAL},
      {absl::StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
      {absl::StatusCode::kDataLoss, grpc::StatusCode::DATA_LOSS},
      {absl::StatusCode::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED},
  };
  ASSERT_EQ(pairs.size(), 17u);
  for (const auto& [a, g] : pairs) {
    EXPECT_EQ(static_cast<int>(a), static_cast<int>(g));
    const absl::Status s(a, a == absl::StatusCode::kOk ? "" : "boom");
    const grpc::Status gs = ToGrpcStatus(s);
    EXPECT_EQ(gs.error_code(), g);
    if (!s.ok()) {
      EXPECT_EQ(gs.error_message(), "boom");
    }
    EXPECT_EQ(FromGrpcStatus(gs), s);
  }
}

TEST(ConvertTest, MetricRoundTripAndUnspecifiedRejected) {
  for (v1::Metric m :
       {v1::METRIC_L2, v1::METRIC_INNER_PRODUCT, v1::METRIC_COSINE}) {
    absl::StatusOr<index::Metric> d = FromProto(m);
    QUIVER_ASSERT_OK(d);
    EXPECT_EQ(ToProto(*d), m);
  }
  absl::StatusOr<index::Metric> bad = FromProto(v1::METRIC_UNSPECIFIED);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("METRIC_UNSPECIFIED"),
            std::string::npos);
}

TEST(ConvertTest, AttributesRoundTripAndCorruptionIsDataLoss) {
  google::protobuf::Map<std::string, std::string> m;
  m["zeta"] = "last";
  m["alpha"] = "";
  m["mid"] = std::string("bin\0ary", 7);
  const Attributes attrs = FromProto(m);
  ASSERT_EQ(attrs.size(), 3u);
  EXPECT_EQ(attrs[0].first, "alpha");  // sorted
  const std::string bytes = EncodeAttributes(attrs);
  absl::StatusOr<Attributes> back = DecodeAttributes(bytes);
  QUIVER_ASSERT_OK(back);
  EXPECT_EQ(*back, attrs);
  EXPECT_EQ(EncodeAttributes({}), "");
  QUIVER_ASSERT_OK(DecodeAttributes(""));
  for (size_t cut = 1; cut < bytes.size(); ++cut) {
    EXPECT_EQ(DecodeAttributes(bytes.substr(0, cut)).status().code(),
              absl::StatusCode::kDataLoss)
        << cut;
  }
  EXPECT_EQ(DecodeAttributes(bytes + "x").status().code(),
            absl::StatusCode::kDataLoss);
}

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
  EXPECT_EQ(AutoPqM(50, 8), 10u);  // 12 does not divide 50
  EXPECT_EQ(AutoPqM(7, 8), 1u);
  EXPECT_EQ(AutoPqM(1, 8), 1u);
  for (uint32_t d = 1; d < 300; ++d) EXPECT_EQ(d % AutoPqM(d, 8), 0u) << d;

  IndexConfig c;
  EXPECT_EQ(AutoTrainThreshold(c), 1000u);
  c.nlist = 1024;
  EXPECT_EQ(AutoTrainThreshold(c), 39u * 1024);
  c.auto_train_threshold = 77;
  EXPECT_EQ(AutoTrainThreshold(c), 77u);
  EXPECT_EQ(DefaultNprobe({}, 256), 16u);
  EXPECT_EQ(DefaultNprobe({}, 4), 4u);
  EXPECT_EQ(DefaultRerank({}), kDefaultRerank);
}

TEST(ParamsTest, ResolveTrainParams) {
  CollectionConfig c = Config("c", 128);
  absl::StatusOr<index::IvfPqParams> p = ResolveTrainParams(c, 10000, 1);
  QUIVER_ASSERT_OK(p);
  EXPECT_EQ(p->nlist, 256u);
  EXPECT_EQ(p->m, 32u);
  EXPECT_EQ(p->nbits, 8u);
  EXPECT_EQ(TrainSampleSize(c.index, *p, 10000), 10000u);
  EXPECT_EQ(ResolveTrainParams(c, 255, 1).status().code(),
            absl::StatusCode::kFailedPrecondition);
  c.index.pq_bits = 4;
  p = ResolveTrainParams(c, 100, 1);
  QUIVER_ASSERT_OK(p);
  EXPECT_EQ(p->m, 64u);
  EXPECT_EQ(p->nlist, 2u);
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
  bad.index.pq_bits = 6;
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
  bad = c;
  bad.index.nlist = 8;
  bad.index.nprobe = 9;
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
}

TEST(ValidateTest, VectorsIdsAndSearch) {
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

  v1::SearchRequest req;
  req.set_k(10);
  req.add_queries()->mutable_values()->Add(1.f);
  QUIVER_EXPECT_OK(ValidateSearchRequest(req, 1, index::Metric::kL2, 0));
  req.set_k(0);
  EXPECT_EQ(ValidateSearchRequest(req, 1, index::Metric::kL2, 0).code(),
            absl::StatusCode::kInvalidArgument);
  req.set_k(1025);
  EXPECT_EQ(ValidateSearchRequest(req, 1, index::Metric::kL2, 0).code(),
            absl::StatusCode::kInvalidArgument);
  req.set_k(5);
  req.set_nprobe(17);
  EXPECT_EQ(ValidateSearchRequest(req, 1, index::Metric::kL2, 16).code(),
            absl::StatusCode::kInvalidArgument);
  req.set_nprobe(16);
  QUIVER_EXPECT_OK(ValidateSearchRequest(req, 1, index::Metric::kL2, 16));
  EXPECT_EQ(ValidateSearchRequest(req, 2, index::Metric::kL2, 16).code(),
            absl::StatusCode::kInvalidArgument);
}

// The registry in-process: create, write, search exactly, reopen.
TEST(RegistryTest, PersistsAndRecoversInProcess) {
  testing::TempDir dir;
  RegistryOptions ro;
  ro.store.path = dir.Sub("db");
  const uint32_t dim = 8;
  std::mt19937 rng(3);
  std::normal_distribution<float> g;
  std::vector<DocumentInput> docs(200);
  for (size_t i = 0; i < docs.size(); ++i) {
    docs[i].id = absl::StrCat("doc", i);
    docs[i].vector.resize(dim);
    for (float& x : docs[i].vector) x = g(rng);
    docs[i].attributes = {{"parity", i % 2 ? "odd" : "even"}};
  }
  const std::vector<float> query = docs[17].vector;
  {
    auto registry = CollectionRegistry::Open(ro);
    QUIVER_ASSERT_OK(registry);
    auto c = (*registry)->Create(Config("c", dim));
    QUIVER_ASSERT_OK(c);
    absl::StatusOr<uint64_t> n = (*c)->Upsert(docs);
    QUIVER_ASSERT_OK(n);
    EXPECT_EQ(*n, 200u);
    EXPECT_EQ((*registry)->Create(Config("c", dim)).status().code(),
              absl::StatusCode::kAlreadyExists);
  }
  auto registry = CollectionRegistry::Open(ro);
  QUIVER_ASSERT_OK(registry);
  auto c = (*registry)->Get("c");
  QUIVER_ASSERT_OK(c);
  EXPECT_EQ((*c)->count(), 200u);
  SearchQuery q;
  q.queries = query.data();
  q.nq = 1;
  q.k = 3;
  q.filter = {{"parity", "odd"}};
  q.include_attributes = true;
  auto hits = (*c)->Search(q);
  QUIVER_ASSERT_OK(hits);
  ASSERT_EQ(hits->size(), 1u);
  ASSERT_EQ((*hits)[0].size(), 3u);
  EXPECT_EQ((*hits)[0][0].id, "doc17");
  EXPECT_FLOAT_EQ((*hits)[0][0].distance, 0.f);
  for (const SearchHit& h : (*hits)[0]) {
    ASSERT_EQ(h.attributes.size(), 1u);
    EXPECT_EQ(h.attributes[0].second, "odd");
  }
  EXPECT_EQ((*registry)->Get("nope").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace quiver::server
