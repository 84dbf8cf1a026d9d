// gen_synthetic: writes a seeded synthetic data set (see synthetic.h) as
// TEXMEX files, with exact ground truth computed by faiss::IndexFlat (BLAS).
//
//   gen_synthetic --n 1000000 --dim 96 --clusters 1000 --seed 1
//       --queries 1000 --out /tmp/synth-1m
//   -> DIR/base.fvecs, DIR/query.fvecs, DIR/groundtruth.ivecs (top --gt_k,
//      0-based ids, nearest first), DIR/README.txt (the parameters)
#include <omp.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "tests/bench/bench_core.h"
#include "tests/bench/faiss_runner.h"
#include "tests/bench/synthetic.h"
#include "tests/bench/vecs_io.h"

ABSL_FLAG(int64_t, n, 1000000, "Base vectors");
ABSL_FLAG(int, dim, 96, "Dimension");
ABSL_FLAG(int, clusters, 1000, "Gaussian clusters in the mixture");
ABSL_FLAG(uint64_t, seed, 1, "Seed (same seed = same files)");
ABSL_FLAG(int, queries, 1000, "Query vectors (fresh draws, not in base)");
ABSL_FLAG(int, gt_k, 100, "Ground-truth neighbours per query");
ABSL_FLAG(std::string, metric, "l2",
          "Ground-truth metric: l2 or ip (vectors are written as generated)");
ABSL_FLAG(std::string, out, "", "Output directory (created if missing)");
ABSL_FLAG(int, threads, 0, "Threads (0 = all cores)");

namespace quiver::bench {
namespace {

absl::Status Run() {
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return absl::InvalidArgumentError("--out DIR is required");
  const int64_t n = absl::GetFlag(FLAGS_n);
  const int dim = absl::GetFlag(FLAGS_dim);
  const int clusters = absl::GetFlag(FLAGS_clusters);
  const int nq = absl::GetFlag(FLAGS_queries);
  const int gt_k = absl::GetFlag(FLAGS_gt_k);
  if (n <= 0 || dim <= 0 || clusters <= 0 || nq <= 0 || gt_k <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--n, --dim, --clusters, --queries and --gt_k must be positive; got ",
        n, ", ", dim, ", ", clusters, ", ", nq, ", ", gt_k));
  }
  const std::string metric_name = absl::GetFlag(FLAGS_metric);
  if (metric_name != "l2" && metric_name != "ip") {
    return absl::InvalidArgumentError(
        absl::StrCat("--metric must be l2 or ip; got '", metric_name, "'"));
  }
  const BenchMetric metric =
      metric_name == "l2" ? BenchMetric::kL2 : BenchMetric::kInnerProduct;
  int threads = absl::GetFlag(FLAGS_threads);
  if (threads <= 0) {
    threads =
        static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create '", out, "': ", ec.message()));
  }

  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  SyntheticMixture mix(dim, clusters, seed);
  double t = NowSeconds();
  const std::vector<float> base = mix.Generate(kBaseStream, 0, n, threads);
  const std::vector<float> queries = mix.Generate(kQueryStream, 0, nq, threads);
  std::printf("generated %lld x %d base + %d queries in %.2f s\n",
              static_cast<long long>(n), dim, nq, NowSeconds() - t);

  t = NowSeconds();
  QUIVER_ASSIGN_OR_RETURN(
      std::vector<int32_t> gt,
      FaissGroundTruth(metric, base.data(), n, queries.data(), nq, dim, gt_k,
                       threads));
  const size_t k = gt.size() / nq;
  std::printf("exact top-%zu ground truth (%s, faiss::IndexFlat) in %.2f s\n",
              k, metric_name.c_str(), NowSeconds() - t);

  QUIVER_RETURN_IF_ERROR(
      WriteFloatVecs(out + "/base.fvecs", base.data(), n, dim));
  QUIVER_RETURN_IF_ERROR(
      WriteFloatVecs(out + "/query.fvecs", queries.data(), nq, dim));
  QUIVER_RETURN_IF_ERROR(
      WriteIntVecs(out + "/groundtruth.ivecs", gt.data(), nq, k));
  std::FILE* readme = std::fopen((out + "/README.txt").c_str(), "w");
  if (readme != nullptr) {
    std::fprintf(readme,
                 "Synthetic Gaussian mixture (quiver tests/bench/synthetic.h)\n"
                 "gen_synthetic --n %lld --dim %d --clusters %d --seed %llu "
                 "--queries %d --gt_k %d --metric %s\n",
                 static_cast<long long>(n), dim, clusters,
                 static_cast<unsigned long long>(seed), nq, gt_k,
                 metric_name.c_str());
    std::fclose(readme);
  }
  std::printf("wrote %s/{base.fvecs,query.fvecs,groundtruth.ivecs}\n",
              out.c_str());
  return absl::OkStatus();
}

}  // namespace
}  // namespace quiver::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "gen_synthetic --n N --dim D --clusters C --seed S --queries Q --out "
      "DIR");
  absl::ParseCommandLine(argc, argv);
  const absl::Status st = quiver::bench::Run();
  if (!st.ok()) {
    std::fprintf(stderr, "gen_synthetic: %s\n", st.ToString().c_str());
    return 1;
  }
  return 0;
}
