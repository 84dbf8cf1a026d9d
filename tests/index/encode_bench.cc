// Ingest-speed benchmark of IvfPqIndex::Encode (not a test; not run by
// ctest): trains an index on synthetic clustered data, then encodes batches
// of the sizes the server sees (one upsert batch per call) on one thread and
// reports vectors per second.
//
//   build-idx/tests/index/index_encode_bench [dim nlist m nbits batch threads]
//   defaults: 96 1024 24 8 500 1 (threads: training and Encode; 0 = all)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "index/ivf_pq_index.h"
#include "index/simd.h"

namespace {

std::vector<float> Clustered(size_t n, size_t dim, size_t centres,
                             uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> c(centres * dim);
  for (float& v : c) v = 4.0f * g(gen);
  std::vector<float> x(n * dim);
  std::uniform_int_distribution<size_t> pick(0, centres - 1);
  for (size_t i = 0; i < n; ++i) {
    const float* ci = c.data() + pick(gen) * dim;
    for (size_t t = 0; t < dim; ++t) x[i * dim + t] = ci[t] + g(gen);
  }
  return x;
}

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  using quiver::index::IvfPqIndex;
  using quiver::index::IvfPqParams;
  auto arg = [&](int i, size_t def) {
    return argc > i ? static_cast<size_t>(std::atol(argv[i])) : def;
  };
  IvfPqParams p;
  p.dim = static_cast<uint32_t>(arg(1, 96));
  p.nlist = static_cast<uint32_t>(arg(2, 1024));
  p.m = static_cast<uint32_t>(arg(3, 24));
  p.nbits = static_cast<uint32_t>(arg(4, 8));
  const size_t batch = arg(5, 500);
  p.niter = 4;
  p.threads = static_cast<int>(arg(6, 1));
  const size_t ntrain = std::max<size_t>(20 * p.nlist, 4096);
  const std::vector<float> train = Clustered(ntrain, p.dim, 3000, 1);
  double t0 = Now();
  auto index = IvfPqIndex::Train(p, train.data(), ntrain);
  if (!index.ok()) {
    std::fprintf(stderr, "%s\n", index.status().ToString().c_str());
    return 1;
  }
  const double train_s = Now() - t0;
  const size_t n = 40000;
  const std::vector<float> x = Clustered(n, p.dim, 3000, 2);
  std::vector<uint32_t> lists(n);
  std::vector<uint8_t> codes(n * (*index)->code_size());
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    t0 = Now();
    for (size_t b = 0; b < n; b += batch) {
      const size_t nb = std::min(batch, n - b);
      (*index)->Encode(x.data() + b * p.dim, nb, lists.data() + b,
                       codes.data() + b * (*index)->code_size());
    }
    best = std::min(best, Now() - t0);
  }
  std::printf(
      "simd %s dim %u nlist %u m %u nbits %u batch %zu threads %d: train "
      "%.2f s (%zu vectors, 4 iterations), encode %.0f vectors/s\n",
      std::string(quiver::index::SimdLevelName()).c_str(), p.dim, p.nlist, p.m,
      p.nbits, batch, p.threads, train_s, ntrain,
      static_cast<double>(n) / best);
  return 0;
}
