#include "tests/bench/synthetic.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace quiver::bench {
namespace {

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// A small deterministic RNG (splitmix64) with a Box-Muller normal sampler.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  Rng(uint64_t seed, uint64_t stream, uint64_t index) : state_(seed) {
    state_ = SplitMix64(&state_) ^ (stream * 0xD1B54A32D192ED03ULL);
    state_ = SplitMix64(&state_) ^ (index * 0x8CB92BA72F3D8DD7ULL);
    SplitMix64(&state_);
  }
  // Uniform in [0, 1).
  double Uniform() { return (SplitMix64(&state_) >> 11) * 0x1.0p-53; }
  double Normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = Uniform();
    while (u1 <= 0) u1 = Uniform();
    const double u2 = Uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2 * M_PI * u2);
    has_spare_ = true;
    return r * std::cos(2 * M_PI * u2);
  }

 private:
  uint64_t state_;
  bool has_spare_ = false;
  double spare_ = 0;
};

// y -= 2 u (u . y) for a unit vector u.
void Reflect(const float* u, size_t d, float* y) {
  double dot = 0;
  for (size_t j = 0; j < d; ++j) dot += static_cast<double>(u[j]) * y[j];
  const float f = static_cast<float>(2 * dot);
  for (size_t j = 0; j < d; ++j) y[j] -= f * u[j];
}

}  // namespace

absl::StatusOr<SyntheticSpec> ParseSyntheticSpec(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, ',');
  if (parts.size() != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("--synthetic wants N,D,CLUSTERS,SEED; got '", text, "'"));
  }
  const char* names[4] = {"N", "D", "CLUSTERS", "SEED"};
  uint64_t v[4];
  for (int i = 0; i < 4; ++i) {
    if (!absl::SimpleAtoi(parts[i], &v[i]) || (i < 3 && v[i] == 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--synthetic: bad ", names[i], " '", parts[i], "' in '",
                       text, "' (want a positive integer)"));
    }
  }
  SyntheticSpec s;
  s.n = v[0];
  s.dim = v[1];
  s.clusters = v[2];
  s.seed = v[3];
  return s;
}

SyntheticMixture::SyntheticMixture(size_t dim, size_t clusters, uint64_t seed)
    : dim_(dim), clusters_(clusters), seed_(seed) {
  Rng rng(seed, /*stream=*/0xC0FFEE, /*index=*/0);
  centres_.resize(clusters * dim);
  scales_.resize(clusters * dim);
  reflect_.resize(clusters * 2 * dim);
  cumweight_.resize(clusters);
  double total = 0;
  for (size_t c = 0; c < clusters; ++c) {
    for (size_t j = 0; j < dim; ++j) {
      centres_[c * dim + j] = static_cast<float>(rng.Normal());
    }
    // Cluster width around 0.35 (centres are ~sqrt(2 dim) apart), with
    // per-dimension anisotropy.
    const double width = 0.35 * std::exp(0.25 * rng.Normal());
    for (size_t j = 0; j < dim; ++j) {
      scales_[c * dim + j] =
          static_cast<float>(width * std::exp(0.5 * rng.Normal()));
    }
    for (size_t r = 0; r < 2; ++r) {
      float* u = &reflect_[(c * 2 + r) * dim];
      double norm = 0;
      for (size_t j = 0; j < dim; ++j) {
        u[j] = static_cast<float>(rng.Normal());
        norm += static_cast<double>(u[j]) * u[j];
      }
      const double inv = norm > 0 ? 1 / std::sqrt(norm) : 0;
      for (size_t j = 0; j < dim; ++j) u[j] = static_cast<float>(u[j] * inv);
    }
    total += std::exp(0.7 * rng.Normal());
    cumweight_[c] = total;
  }
  for (double& w : cumweight_) w /= total;
  cumweight_.back() = 1.0;
}

void SyntheticMixture::GenerateRange(uint64_t stream, size_t first,
                                     size_t count, float* out) const {
  const size_t d = dim_;
  for (size_t i = 0; i < count; ++i) {
    Rng rng(seed_, stream, first + i);
    const double u = rng.Uniform();
    const size_t c = std::min<size_t>(
        std::upper_bound(cumweight_.begin(), cumweight_.end(), u) -
            cumweight_.begin(),
        clusters_ - 1);
    float* y = out + i * d;
    for (size_t j = 0; j < d; ++j) {
      y[j] = static_cast<float>(rng.Normal()) * scales_[c * d + j];
    }
    Reflect(&reflect_[(c * 2) * d], d, y);
    Reflect(&reflect_[(c * 2 + 1) * d], d, y);
    for (size_t j = 0; j < d; ++j) y[j] += centres_[c * d + j];
  }
}

void SyntheticMixture::Generate(uint64_t stream, size_t first, size_t count,
                                float* out, int threads) const {
  size_t nt = threads > 0 ? static_cast<size_t>(threads)
                          : std::max(1u, std::thread::hardware_concurrency());
  nt = std::min(nt, std::max<size_t>(1, count / 4096));
  if (nt <= 1) {
    GenerateRange(stream, first, count, out);
    return;
  }
  std::vector<std::thread> workers;
  const size_t chunk = (count + nt - 1) / nt;
  for (size_t t = 0; t < nt; ++t) {
    const size_t b = t * chunk;
    const size_t e = std::min(count, b + chunk);
    if (b >= e) break;
    workers.emplace_back([this, stream, first, b, e, out] {
      GenerateRange(stream, first + b, e - b, out + b * dim_);
    });
  }
  for (std::thread& w : workers) w.join();
}

std::vector<float> SyntheticMixture::Generate(uint64_t stream, size_t first,
                                              size_t count, int threads) const {
  std::vector<float> out(count * dim_);
  Generate(stream, first, count, out.data(), threads);
  return out;
}

}  // namespace quiver::bench
