// Tests of the `quiver` tool's internals: flag parsing, the ingest state
// file and watermark, progress text, bench statistics and the SVG plot.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/cli/bench_stats.h"
#include "client/cli/common.h"
#include "client/cli/flags.h"
#include "client/cli/ingest_state.h"
#include "client/cli/plot.h"
#include "client/cli/progress.h"
#include "client/filter.h"
#include "tests/testing/testing.h"

namespace quiver::cli {
namespace {

using ::quiver::testing::TempDir;

TEST(FlagSetTest, ParsesEveryKind) {
  std::string s = "def";
  int64_t n = 1;
  double d = 0;
  bool b = false, c = true;
  absl::Duration t = absl::Seconds(1);
  std::vector<std::string> list = {"x"};
  FlagSet f("quiver test", "[flags]");
  f.String("name", &s, "a string");
  f.Int("batch_size", &n, "an int");
  f.Double("rate", &d, "a double");
  f.Bool("on", &b, "a bool");
  f.Bool("color", &c, "a bool");
  f.Duration("timeout", &t, "a duration");
  f.StringList("filter", &list, "a list");
  QUIVER_ASSERT_OK(f.Parse({"--name", "abc", "pos1", "--batch-size=7",
                            "-rate=2.5", "--on", "--nocolor", "--timeout=250ms",
                            "--filter", "a=1", "--filter=b=2", "--", "--x"}));
  EXPECT_EQ(s, "abc");
  EXPECT_EQ(n, 7);
  EXPECT_EQ(d, 2.5);
  EXPECT_TRUE(b);
  EXPECT_FALSE(c);
  EXPECT_EQ(t, absl::Milliseconds(250));
  EXPECT_EQ(list, (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_EQ(f.positional(), (std::vector<std::string>{"pos1", "--x"}));
  EXPECT_TRUE(f.IsSet("batch_size"));
  EXPECT_FALSE(f.help_requested());
}

TEST(FlagSetTest, Errors) {
  int64_t n = 0;
  bool b = false;
  absl::Duration t;
  {
    FlagSet f("quiver x", "");
    f.Int("k", &n, "k");
    EXPECT_EQ(f.Parse({"--k=abc"}).message(), "--k: 'abc' is not an integer");
  }
  {
    FlagSet f("quiver x", "");
    f.Int("k", &n, "k");
    EXPECT_EQ(f.Parse({"--k"}).message(), "--k needs a value (N)");
  }
  {
    FlagSet f("quiver x", "");
    EXPECT_EQ(f.Parse({"--bogus=1"}).message(),
              "unknown flag --bogus (see quiver x --help)");
  }
  {
    FlagSet f("quiver x", "");
    f.Bool("b", &b, "b");
    EXPECT_EQ(f.Parse({"--b=maybe"}).message(),
              "--b: 'maybe' is not true or false");
  }
  {
    FlagSet f("quiver x", "");
    f.Duration("t", &t, "t");
    EXPECT_FALSE(f.Parse({"--t=soon"}).ok());
    QUIVER_EXPECT_OK(f.Parse({"--t=2"}));
    EXPECT_EQ(t, absl::Seconds(2));
  }
}

TEST(FlagSetTest, HelpListsFlagsAndDefaults) {
  int64_t n = 1000;
  GlobalFlags g;
  FlagSet f("quiver ingest", "--collection C FILE...", "Loads files.");
  f.Int("batch_size", &n, "rows per batch");
  AddGlobalFlags(&f, &g);
  FlagSet h("quiver ingest", "--collection C FILE...", "Loads files.");
  h.Int("batch_size", &n, "rows per batch");
  QUIVER_ASSERT_OK(h.Parse({"--help", "--unknown"}));
  EXPECT_TRUE(h.help_requested());
  const std::string usage = f.Usage();
  EXPECT_NE(usage.find("Usage: quiver ingest --collection C FILE..."),
            std::string::npos);
  EXPECT_NE(usage.find("--batch_size N"), std::string::npos);
  EXPECT_NE(usage.find("[default: 1000]"), std::string::npos);
  EXPECT_NE(usage.find("--server ADDR"), std::string::npos);
  EXPECT_NE(usage.find("Global flags"), std::string::npos);
}

TEST(FlagSetTest, IntList) {
  std::vector<int64_t> v;
  QUIVER_ASSERT_OK(ParseIntList("1, 2,16", "nprobe", &v));
  EXPECT_EQ(v, (std::vector<int64_t>{1, 2, 16}));
  EXPECT_EQ(ParseIntList("1,,2", "nprobe", &v).message(),
            "--nprobe: '' is not an integer (expected a list like 1,2,4)");
}

TEST(CliCommonTest, MetricsAndFormatting) {
  EXPECT_EQ(*ParseMetric("L2"), v1::METRIC_L2);
  EXPECT_EQ(*ParseMetric("ip"), v1::METRIC_INNER_PRODUCT);
  EXPECT_EQ(*ParseMetric("cosine"), v1::METRIC_COSINE);
  EXPECT_EQ(ParseMetric("hamming").status().message(),
            "unknown metric 'hamming' (expected l2, ip or cosine)");
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(999), "999");
  EXPECT_EQ(FormatCount(1000), "1,000");
  EXPECT_EQ(FormatCount(12345678), "12,345,678");
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatSeconds(42), "42s");
  EXPECT_EQ(FormatSeconds(185), "3m05s");
  EXPECT_EQ(FormatSeconds(3720), "1h02m");
}

TEST(CliCommonTest, IndexFlagsRanges) {
  IndexFlags f;
  f.nlist = 64;
  f.pq_bits = 4;
  f.balanced = true;
  v1::IndexParams p;
  QUIVER_ASSERT_OK(ToIndexParams(f, &p));
  EXPECT_EQ(p.nlist(), 64u);
  EXPECT_EQ(p.pq_bits(), 4u);
  EXPECT_TRUE(p.balanced());
  f.nprobe = -1;
  EXPECT_EQ(ToIndexParams(f, &p).message(),
            "--nprobe must be in [0, 4294967295], got -1");
}

TEST(CliCommonTest, CollectionJson) {
  v1::CollectionInfo info;
  info.set_name("a\"b");
  info.set_dimension(128);
  info.set_metric(v1::METRIC_COSINE);
  info.set_count(10000);
  info.set_state(v1::COLLECTION_STATE_READY);
  info.mutable_index()->set_nlist(64);
  const std::string json = CollectionJson(info);
  EXPECT_NE(json.find("\"name\":\"a\\\"b\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"count\":10000"), std::string::npos) << json;
  EXPECT_NE(json.find("\"state\":\"ready\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"metric\":\"cosine\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"nlist\":64"), std::string::npos) << json;
}

TEST(SearchFilterFlagsTest, LegacyShorthandRule) {
  std::string k, v;
  EXPECT_TRUE(IsLegacyFilter("lang=en", &k, &v));
  EXPECT_EQ(k, "lang");
  EXPECT_EQ(v, "en");
  EXPECT_TRUE(IsLegacyFilter("a:b=c/d=e", &k, &v));
  EXPECT_EQ(k, "a:b");
  EXPECT_EQ(v, "c/d=e");
  EXPECT_TRUE(IsLegacyFilter("k=", &k, &v));
  EXPECT_EQ(v, "");
  EXPECT_TRUE(IsLegacyFilter("v=12abc", &k, &v));
  EXPECT_EQ(v, "12abc");
  // Numbers, booleans, quotes, spaces and operators make expressions.
  for (const char* expr :
       {"year=2020", "x=-2.5", "x=1e3", "ok=true", "ok=FALSE", "lang=\"en\"",
        "lang = en", "lang= en", "year>=2020", "a!=b", "a==b", "=x", "noeq",
        "lang=en and x=1", "(a)=b"}) {
    EXPECT_FALSE(IsLegacyFilter(expr, &k, &v)) << expr;
  }
}

TEST(SearchFilterFlagsTest, ShorthandsGoToTheMapExpressionsToWhere) {
  v1::SearchRequest r;
  QUIVER_ASSERT_OK(AddFilterFlags({"lang=en", "color=blue"}, &r));
  EXPECT_EQ(r.filter().size(), 2u);
  EXPECT_EQ(r.filter().at("lang"), "en");
  EXPECT_FALSE(r.has_where());

  v1::SearchRequest one;
  QUIVER_ASSERT_OK(AddFilterFlags({"year >= 2020"}, &one));
  EXPECT_TRUE(one.filter().empty());
  EXPECT_EQ(client::FilterToString(one.where()), "year >= 2020");

  v1::SearchRequest mixed;
  QUIVER_ASSERT_OK(
      AddFilterFlags({"lang=en", "year=2020",
                      "tags contains \"news\" or exists hot", "lang=fr"},
                     &mixed));
  EXPECT_EQ(mixed.filter().size(), 1u);
  EXPECT_EQ(mixed.filter().at("lang"), "en");
  // ANDed; a second value for a shorthand key joins the expression.
  EXPECT_EQ(client::FilterToString(mixed.where()),
            "year = 2020 and (tags contains \"news\" or exists hot) and "
            "lang = \"fr\"");

  v1::SearchRequest bad;
  absl::Status s = AddFilterFlags({"lang=en", "year >= "}, &bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "--filter 'year >= ': at column 9: expected a value after '>=', "
            "found end of input");
  s = AddFilterFlags({"title = hello"}, &bad);
  EXPECT_EQ(s.message(),
            "--filter 'title = hello': at column 9: expected a value after "
            "'=', found 'hello' (strings take double quotes: \"hello\")");
  // The limits hold for the combined filter too.
  std::vector<std::string> many;
  for (int i = 0; i < 256; ++i) many.push_back(absl::StrCat("exists k", i));
  s = AddFilterFlags(many, &bad);
  EXPECT_EQ(s.message(),
            "--filter: the filter has more than 256 parts (the limit)");
}

TEST(CliCommonTest, TypedAttributesTextAndJson) {
  v1::Document d;
  (*d.mutable_attributes())["lang"] = "en \"x\"";
  SetValue(int64_t{2020}, &(*d.mutable_typed_attributes())["year"]);
  SetValue(2.0, &(*d.mutable_typed_attributes())["price"]);
  SetValue(true, &(*d.mutable_typed_attributes())["active"]);
  SetValue(std::vector<std::string>{"news", "a\"b"},
           &(*d.mutable_typed_attributes())["tags"]);
  EXPECT_EQ(d.typed_attributes().at("year").int_value(), 2020);
  EXPECT_EQ(d.typed_attributes().at("tags").tags().values_size(), 2);
  EXPECT_EQ(AttributesText(d.attributes(), d.typed_attributes()),
            "active=true lang=en \"x\" price=2.0 tags=[\"news\", \"a\\\"b\"] "
            "year=2020");
  EXPECT_EQ(AttributesJson(d.attributes(), d.typed_attributes()),
            "{\"active\":true,\"lang\":\"en \\\"x\\\"\",\"price\":2,"
            "\"tags\":[\"news\",\"a\\\"b\"],\"year\":2020}");
  EXPECT_EQ(AttributesJson({}, {}), "{}");
}

TEST(CliCommonTest, PlanTextAndJson) {
  v1::SearchPlan plan;
  plan.set_strategy("ivf-filtered");
  plan.set_matching(1234);
  plan.set_count(10000);
  plan.set_nprobe(32);
  plan.set_rerank(4);
  plan.set_detail("the filter matches 12% of the documents");
  EXPECT_EQ(PlanText(plan),
            "plan: ivf-filtered, 1,234 of 10,000 documents match, nprobe 32, "
            "rerank 4: the filter matches 12% of the documents");
  EXPECT_EQ(PlanJson(plan),
            "{\"strategy\":\"ivf-filtered\",\"matching\":1234,\"count\":"
            "10000,\"nprobe\":32,\"rerank\":4,\"detail\":\"the filter "
            "matches 12% of the documents\"}");
  EXPECT_EQ(PlanText(v1::SearchPlan()),
            "plan: (none reported), 0 of 0 documents match");
}

TEST(IngestStateTest, SaveLoadRoundTrip) {
  TempDir dir;
  IngestState s;
  s.collection = "docs";
  s.id_prefix = "p-";
  s.files.push_back({"/data/a b.fvecs", 5160000, 4000, false});
  s.files.push_back({"rel/c.csv", 12, 7, true});
  const std::string path = dir.Sub("docs.ingest-state");
  QUIVER_ASSERT_OK(SaveIngestState(path, s));
  absl::StatusOr<IngestState> l = LoadIngestState(path);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->collection, "docs");
  EXPECT_EQ(l->id_prefix, "p-");
  ASSERT_EQ(l->files.size(), 2u);
  EXPECT_EQ(l->files[0].path, "/data/a b.fvecs");
  EXPECT_EQ(l->files[0].size, 5160000u);
  EXPECT_EQ(l->files[0].done_rows, 4000u);
  EXPECT_FALSE(l->files[0].complete);
  EXPECT_TRUE(l->files[1].complete);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(IngestStateTest, MissingAndMalformed) {
  TempDir dir;
  EXPECT_EQ(LoadIngestState(dir.Sub("none")).status().code(),
            absl::StatusCode::kNotFound);
  const std::string p = dir.Sub("bad");
  std::ofstream(p) << "quiver-ingest-state 1\ncollection c\nfile 0 x 0 1 a\n";
  EXPECT_EQ(LoadIngestState(p).status().message(),
            p + ":3: malformed ingest state: expected 'file INDEX DONE_ROWS "
                "COMPLETE SIZE PATH'");
  std::ofstream(p) << "something else\n";
  EXPECT_EQ(LoadIngestState(p).status().message(),
            p + ":1: malformed ingest state: expected 'quiver-ingest-state 1'");
}

TEST(RowWatermarkTest, ContiguousPrefixFromOutOfOrderRanges) {
  RowWatermark w(100);
  w.MarkDone(200, 300);
  EXPECT_EQ(w.done(), 100u);
  w.MarkDone(300, 350);
  EXPECT_EQ(w.done(), 100u);
  EXPECT_EQ(w.pending_ranges(), 2u);
  w.MarkDone(100, 200);
  EXPECT_EQ(w.done(), 350u);
  EXPECT_EQ(w.pending_ranges(), 0u);
  w.MarkDone(360, 370);  // a gap at 350..360 (e.g. a rejected row, stop mode)
  EXPECT_EQ(w.done(), 350u);
  w.MarkDone(355, 355);  // empty ranges change nothing
  EXPECT_EQ(w.done(), 350u);
}

TEST(ProgressTest, Lines) {
  EXPECT_EQ(ProgressLine(4520, 0.452, 2.0, false),
            " 45.2%  4,520 rows  2,260 rows/s  ETA 2s");
  EXPECT_EQ(ProgressLine(10, -1, 5.0, true), "10 rows  2 rows/s  5s elapsed");
  const std::string bar = ProgressLine(50, 0.5, 1.0, true);
  EXPECT_EQ(bar.substr(0, 27), "[############............] ");
}

TEST(BenchStatsTest, RecallAndPercentiles) {
  client::Matrix<int32_t> gt;
  gt.rows = 2;
  gt.dim = 3;
  gt.data = {5, 6, 7, 1, 2, 3};
  std::vector<std::vector<int64_t>> found = {{5, 9, 7}, {-1, 3, 8}};
  EXPECT_DOUBLE_EQ(RecallAtK(found, gt, 1), 0.5);
  EXPECT_DOUBLE_EQ(RecallAtK(found, gt, 3), (2.0 / 3 + 1.0 / 3) / 2);
  std::vector<double> lat;
  for (int i = 100; i >= 1; --i) lat.push_back(i);
  EXPECT_EQ(Percentile(lat, 50), 50);
  EXPECT_EQ(Percentile(lat, 95), 95);
  EXPECT_EQ(Percentile(lat, 99), 99);
  EXPECT_EQ(Percentile(lat, 100), 100);
  std::vector<double> empty;
  EXPECT_EQ(Percentile(empty, 50), 0);
}

TEST(BenchStatsTest, CsvColumns) {
  EXPECT_EQ(BenchCsvHeader(),
            "nprobe,rerank,concurrency,recall_at_1,recall_at_10,qps,p50_ms,"
            "p95_ms,p99_ms\n");
  BenchRow r{8, 2, 4, 0.97, 0.955, 1234.56, 0.5, 0.9, 1.25};
  EXPECT_EQ(BenchCsvLine(r), "8,2,4,0.9700,0.9550,1234.6,0.500,0.900,1.250\n");
}

void ExpectTicks(const std::vector<double>& got,
                 const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], 1e-12 * std::max(1.0, want[i])) << i;
  }
}

TEST(SvgPlotTest, Ticks) {
  ExpectTicks(LinearTicks(0.3, 1.0, 8),
              {0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0});
  ExpectTicks(LinearTicks(0, 95, 5), {0, 20, 40, 60, 80});
  ExpectTicks(LinearTicks(0.81, 0.99, 4), {0.85, 0.9, 0.95});
  ExpectTicks(LogTicks(700, 12000), {1000, 2000, 5000, 10000});
  ExpectTicks(LogTicks(0.5, 20000), {1, 10, 100, 1000, 10000});
  ExpectTicks(LogTicks(1500, 8000), {2000, 3000, 4000, 5000, 6000, 7000, 8000});
  EXPECT_TRUE(LinearTicks(1, 1, 5).empty());
}

TEST(SvgPlotTest, SvgHasAxesSeriesAndEscapedText) {
  std::vector<BenchRow> rows = {
      {1, 0, 1, 0.4, 0.45, 9000, 0.1, 0.2, 0.3},
      {4, 0, 1, 0.8, 0.85, 4000, 0.2, 0.3, 0.4},
      {16, 0, 1, 0.97, 0.98, 1500, 0.6, 0.7, 0.8},
      {4, 2, 1, 0.9, 0.93, 3000, 0.3, 0.4, 0.5},
  };
  const std::string svg = BenchPlotSvg(rows, "bench <sift> & co");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            std::string::npos);
  EXPECT_NE(svg.find("bench &lt;sift&gt; &amp; co"), std::string::npos);
  EXPECT_NE(svg.find(">recall@10</text>"), std::string::npos);
  EXPECT_NE(svg.find("queries per second (log scale)"), std::string::npos);
  EXPECT_NE(svg.find(">rerank 0, 1 client</text>"), std::string::npos);
  EXPECT_NE(svg.find(">rerank 2, 1 client</text>"), std::string::npos);
  EXPECT_NE(svg.find(">16</text>"), std::string::npos);
  EXPECT_NE(svg.find(">point labels: nprobe</text>"), std::string::npos);
  size_t polylines = 0, circles = 0;
  for (size_t p = svg.find("<polyline"); p != std::string::npos;
       p = svg.find("<polyline", p + 1)) {
    ++polylines;
  }
  for (size_t p = svg.find("<circle"); p != std::string::npos;
       p = svg.find("<circle", p + 1)) {
    ++circles;
  }
  EXPECT_EQ(polylines, 2u);
  EXPECT_EQ(circles, 4u + 2u);  // points + legend markers
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
}

TEST(SvgPlotTest, EmptyPlotStillRenders) {
  PlotOptions o;
  o.title = "empty";
  o.log_y = true;
  const std::string svg = RenderSvgPlot({}, o);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(svg.find("<polyline"), std::string::npos);
}

}  // namespace
}  // namespace quiver::cli
