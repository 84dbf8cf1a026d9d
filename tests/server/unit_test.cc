// Unit tests of the RPC edge's pure parts: status and proto <-> engine
// conversion, request validation. (The engine has its own tests under
// tests/engine/.)
#include <grpcpp/support/status.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/convert.h"
#include "server/validate.h"
#include "tests/testing/testing.h"

namespace quiver::server {
namespace {

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

TEST(ConvertTest, AttributesAreSortedAndRoundTrip) {
  google::protobuf::Map<std::string, std::string> m;
  m["zeta"] = "last";
  m["alpha"] = "";
  m["mid"] = std::string("bin\0ary", 7);
  const engine::Attributes attrs = FromProto(m);
  ASSERT_EQ(attrs.size(), 3u);
  EXPECT_EQ(attrs[0].first, "alpha");  // sorted
  EXPECT_EQ(attrs[2].first, "zeta");
  google::protobuf::Map<std::string, std::string> back;
  google::protobuf::Map<std::string, v1::Value> typed;
  ToProto(attrs, &back, &typed);
  EXPECT_EQ(back.size(), 3u);
  EXPECT_TRUE(typed.empty());
  EXPECT_EQ(back["mid"], m["mid"]);
}

TEST(ConvertTest, TypedAttributesRoundTripAndConflictsAreRejected) {
  v1::Document d;
  (*d.mutable_attributes())["lang"] = "en";
  (*d.mutable_typed_attributes())["year"].set_int_value(-2024);
  (*d.mutable_typed_attributes())["price"].set_double_value(9.5);
  (*d.mutable_typed_attributes())["new"].set_bool_value(true);
  auto* tags = (*d.mutable_typed_attributes())["tags"].mutable_tags();
  tags->add_values("a");
  tags->add_values("b");
  (*d.mutable_typed_attributes())["title"].set_string_value("t");
  absl::StatusOr<engine::Attributes> attrs = AttributesFromProto(d);
  QUIVER_ASSERT_OK(attrs);
  ASSERT_EQ(attrs->size(), 6u);
  EXPECT_EQ((*attrs)[0].first, "lang");  // sorted across both maps
  EXPECT_EQ(std::get<int64_t>(*engine::FindAttribute(*attrs, "year")), -2024);
  EXPECT_EQ(std::get<engine::Tags>(*engine::FindAttribute(*attrs, "tags")),
            (engine::Tags{"a", "b"}));
  v1::Document back;
  ToProto(*attrs, back.mutable_attributes(), back.mutable_typed_attributes());
  // Strings (from either map) come back in `attributes`, the rest typed.
  EXPECT_EQ(back.attributes().size(), 2u);
  EXPECT_EQ(back.attributes().at("title"), "t");
  EXPECT_EQ(back.typed_attributes().size(), 4u);
  EXPECT_DOUBLE_EQ(back.typed_attributes().at("price").double_value(), 9.5);
  EXPECT_TRUE(back.typed_attributes().at("new").bool_value());

  (*d.mutable_typed_attributes())["lang"].set_string_value("de");
  EXPECT_EQ(AttributesFromProto(d).status().code(),
            absl::StatusCode::kInvalidArgument);
  d.mutable_typed_attributes()->erase("lang");
  (*d.mutable_typed_attributes())["empty"];  // a Value with nothing set
  absl::Status s = AttributesFromProto(d).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'empty'"), std::string::npos) << s;
}

TEST(ConvertTest, FiltersConvertAndLimitsAreEnforced) {
  v1::Filter f;
  auto* all = f.mutable_all();
  auto* eq = all->add_filters()->mutable_eq();
  eq->set_key("lang");
  eq->mutable_value()->set_string_value("en");
  auto* range = all->add_filters()->mutable_range();
  range->set_key("year");
  range->mutable_gte()->set_int_value(2020);
  range->mutable_lt()->set_double_value(2024.5);
  auto* in = all->add_filters()->mutable_negate()->mutable_in_set();
  in->set_key("tier");
  in->add_values()->set_int_value(1);
  in->add_values()->set_int_value(2);
  absl::StatusOr<engine::Filter> e = FromProto(f);
  QUIVER_ASSERT_OK(e);
  EXPECT_EQ(e->ToString(),
            "(lang = \"en\" and (year >= 2020 and year < 2024.5) and not tier "
            "in [1, 2])");
  // No operator, both gt and gte, a bound without a value.
  EXPECT_EQ(FromProto(v1::Filter()).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::Filter both;
  both.mutable_range()->set_key("x");
  both.mutable_range()->mutable_gt()->set_int_value(1);
  both.mutable_range()->mutable_gte()->set_int_value(1);
  EXPECT_EQ(FromProto(both).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Depth: not(not(...)) 17 levels deep is refused while converting.
  v1::Filter deep;
  v1::Filter* cur = &deep;
  for (int i = 0; i < 17; ++i) cur = cur->mutable_negate();
  cur->set_exists("x");
  absl::Status s = FromProto(deep).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("deeper than 16"), std::string::npos) << s;
}

TEST(ConvertTest, IndexParamsRoundTrip) {
  v1::IndexParams p;
  p.set_nlist(64);
  p.set_pq_m(8);
  p.set_pq_bits(4);
  p.set_train_size(5000);
  p.set_nprobe(3);
  p.set_rerank(2);
  p.set_balanced(true);
  p.set_auto_train_threshold(777);
  p.set_target_recall(0.9);
  v1::IndexParams back;
  ToProto(FromProto(p), &back);
  EXPECT_EQ(back.SerializeAsString(), p.SerializeAsString());
}

TEST(ValidateTest, SearchRequest) {
  v1::SearchRequest req;
  req.set_k(10);
  req.add_queries()->mutable_values()->Add(1.f);
  QUIVER_EXPECT_OK(ValidateSearchRequest(req, 1, index::Metric::kL2));
  req.set_k(0);
  EXPECT_EQ(ValidateSearchRequest(req, 1, index::Metric::kL2).code(),
            absl::StatusCode::kInvalidArgument);
  req.set_k(1025);
  EXPECT_EQ(ValidateSearchRequest(req, 1, index::Metric::kL2).code(),
            absl::StatusCode::kInvalidArgument);
  req.set_k(5);
  // nprobe above nlist is clamped by the engine, not rejected here.
  req.set_nprobe(65536);
  QUIVER_EXPECT_OK(ValidateSearchRequest(req, 1, index::Metric::kL2));
  req.set_nprobe(65537);
  EXPECT_EQ(ValidateSearchRequest(req, 1, index::Metric::kL2).code(),
            absl::StatusCode::kInvalidArgument);
  req.set_nprobe(16);
  EXPECT_EQ(ValidateSearchRequest(req, 2, index::Metric::kL2).code(),
            absl::StatusCode::kInvalidArgument);
  (*req.mutable_filter())[""] = "x";
  EXPECT_EQ(ValidateSearchRequest(req, 1, index::Metric::kL2).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ValidateTest, DocumentsAndIds) {
  v1::Document d;
  d.set_id("a");
  d.add_vector(1.f);
  d.add_vector(2.f);
  QUIVER_EXPECT_OK(ValidateDocument(d, 2, index::Metric::kL2));
  EXPECT_EQ(ValidateDocument(d, 3, index::Metric::kL2).code(),
            absl::StatusCode::kInvalidArgument);
  (*d.mutable_attributes())["k"] = std::string(1025, 'v');
  EXPECT_EQ(ValidateDocument(d, 2, index::Metric::kL2).code(),
            absl::StatusCode::kInvalidArgument);
  google::protobuf::RepeatedPtrField<std::string> ids;
  *ids.Add() = "ok";
  QUIVER_EXPECT_OK(ValidateIds(ids));
  *ids.Add() = "";
  EXPECT_EQ(ValidateIds(ids).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quiver::server
