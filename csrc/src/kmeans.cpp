// Lloyd's k-means. Assignment is parallel and per point, the update is serial in a fixed
// order, so the result depends on the seed alone, never on the thread count.
#include "qvec/kmeans.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/dispatch.h"
#include "nearest_check.h"
#include "pack.h"
#include "parallel.h"
#include "qvec/error.h"
#include "rng.h"
#include "stop.h"

namespace qvec {
namespace {

using detail::kPackWidth;

constexpr size_t kAssignChunk = 1024;
// k-means++ runs on a sample: its k sequential passes would otherwise cost more than the
// Lloyd iterations that follow, for no measurable gain in the final codebook.
constexpr size_t kSeedSamplePerCentroid = 16;

// Writes the mean of rows x[i * lda .. + d) (summed in double) to mean and the rows minus it to
// out (layout (n, d)). Throws when their squared distances cannot all be float32: every
// centred row and centroid (a mean of centred rows) then has squared norm <= FLT_MAX / 4, so
// ||x - c||^2 <= 2 (||x||^2 + ||c||^2) stays finite.
void centre_rows(const float* x, size_t n, size_t d, size_t lda, float* mean, float* out) {
  std::vector<double> sum(d, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (size_t t = 0; t < d; ++t) sum[t] += x[i * lda + t];
  for (size_t t = 0; t < d; ++t) mean[t] = static_cast<float>(sum[t] / static_cast<double>(n));
  const float limit = std::numeric_limits<float>::max() / 4;
  bool ok = true;
  for (size_t i = 0; i < n; ++i) {
    float norm = 0.0f;
    for (size_t t = 0; t < d; ++t) {
      float v = x[i * lda + t] - mean[t];
      out[i * d + t] = v;
      norm += v * v;
    }
    ok &= norm <= limit;  // false for NaN and inf too
  }
  QVEC_CHECK_ARG(ok, "x contains NaN or infinity, or values too large for float32 distances");
}

// D^2 of every sample point to its nearest chosen centroid, lowered by the newest one, in the
// direct form sum (x_t - c_t)^2 (the dense kernel's l2sqr): the expansion
// ||x||^2 + ||c||^2 - 2 <x, c> cancels when the clusters lie far apart, and then weighs the
// chosen cluster's own points as if they were far, seeding it twice. Returns the new total.
// Serial on purpose: a round is ~0.5 ms of work (16 k points x 128 dims), and k rounds of a
// parallel_for each wait for every thread; on a loaded machine that wait (a descheduled
// worker) cost more than the round itself (1024 rounds: 2.2 s at 2 threads, 0.6 s at 1).
double lower_nearest(const float* rows, size_t ns, size_t d, const float* centroid,
                     double* nearest) {
  const auto l2sqr = detail::dense_kernels().l2sqr;
  double total = 0.0;
  for (size_t i = 0; i < ns; ++i) {
    const float dist = l2sqr(rows + i * d, centroid, d);
    nearest[i] = std::min(nearest[i], static_cast<double>(dist));
    total += nearest[i];
  }
  return total;
}

// k-means++ on a seeded sample. Each of the k rounds is one pass over the sample: distances
// to the new centroid (SIMD), then the weighted pick.
void kmeans_plus_plus(const float* x, size_t n, size_t d, size_t lda, size_t k,
                      detail::SplitMix64& rng, float* centroids) {
  std::vector<size_t> sample(n);
  for (size_t i = 0; i < n; ++i) sample[i] = i;
  size_t ns = std::min(n, std::max(k, k * kSeedSamplePerCentroid));
  for (size_t i = 0; i < ns; ++i) std::swap(sample[i], sample[i + rng.below(n - i)]);
  sample.resize(ns);
  // The sample's rows, contiguous.
  std::vector<float> rows(ns * d);
  for (size_t i = 0; i < ns; ++i)
    std::copy(x + sample[i] * lda, x + sample[i] * lda + d, rows.data() + i * d);
  std::vector<double> nearest(ns, INFINITY);
  size_t pick = rng.below(ns);
  for (size_t c = 0; c < k; ++c) {
    detail::check_stop();
    std::copy(rows.data() + pick * d, rows.data() + (pick + 1) * d, centroids + c * d);
    const double total = lower_nearest(rows.data(), ns, d, centroids + c * d, nearest.data());
    if (c + 1 == k) break;
    if (total <= 0.0) {  // every sample point is already a centroid: any point will do
      pick = rng.below(ns);
      continue;
    }
    double target = rng.uniform() * total, run = 0.0;
    pick = ns - 1;
    for (size_t i = 0; i < ns; ++i) {
      run += nearest[i];
      if (run > target) {
        pick = i;
        break;
      }
    }
  }
}

// k distinct rows of x picked by a seeded partial Fisher-Yates shuffle (serial: the same rows
// at every thread count).
void random_seeds(const float* x, size_t n, size_t d, size_t lda, size_t k,
                  detail::SplitMix64& rng, float* centroids) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  for (size_t c = 0; c < k; ++c) {
    std::swap(order[c], order[c + rng.below(n - c)]);
    std::copy(x + order[c] * lda, x + order[c] * lda + d, centroids + c * d);
  }
}

// Moves each empty centroid next to a populated one picked with probability proportional to
// its size, and splits that cluster between the two (the remedy FAISS uses).
void resplit_empty(std::vector<double>& counts, size_t n, size_t k, size_t d,
                   detail::SplitMix64& rng, float* centroids) {
  constexpr float kEps = 1.0f / 1024.0f;
  for (size_t ci = 0; ci < k; ++ci) {
    if (counts[ci] != 0) continue;
    size_t cj;
    for (;;) {
      cj = rng.below(k);
      double p = (counts[cj] - 1.0) / static_cast<double>(n - k);
      if (counts[cj] > 1 && rng.uniform() < p) break;
    }
    for (size_t t = 0; t < d; ++t) {
      float v = centroids[cj * d + t];
      float sign = (t % 2 == 0) ? 1.0f : -1.0f;
      centroids[ci * d + t] = v * (1 + sign * kEps) + sign * kEps * kEps;
      centroids[cj * d + t] = v * (1 - sign * kEps) - sign * kEps * kEps;
    }
    counts[ci] = counts[cj] / 2;
    counts[cj] -= counts[ci];
  }
}

// sums[c] = the sum of the rows assigned to c (in double), counts[c] their number. Each
// cluster's rows are added in row order, so every sum is the serial one whatever the thread
// count; grouping the rows by cluster first keeps each sum in L1 while its rows stream past
// (a single pass into all k sums at once missed cache on every row: 1024 x 384 doubles are
// 3 MiB, and that pass was ~10% of a k-means iteration).
void sum_clusters(const float* x, size_t n, size_t d, const int32_t* assign, size_t k,
                  double* sums, double* counts) {
  constexpr size_t kClustersPerTask = 16;
  std::vector<size_t> start(k + 1, 0), order(n);
  for (size_t i = 0; i < n; ++i) ++start[static_cast<size_t>(assign[i]) + 1];
  for (size_t c = 0; c < k; ++c) start[c + 1] += start[c];
  std::vector<size_t> next(start.begin(), start.end() - 1);
  for (size_t i = 0; i < n; ++i) order[next[assign[i]]++] = i;
  detail::parallel_for((k + kClustersPerTask - 1) / kClustersPerTask, [&](size_t task) {
    const size_t c1 = std::min(k, (task + 1) * kClustersPerTask);
    for (size_t c = task * kClustersPerTask; c < c1; ++c) {
      double* s = sums + c * d;
      std::fill(s, s + d, 0.0);
      for (size_t r = start[c]; r < start[c + 1]; ++r) {
        const float* row = x + order[r] * d;
        for (size_t t = 0; t < d; ++t) s[t] += row[t];
      }
      counts[c] = static_cast<double>(start[c + 1] - start[c]);
    }
  });
}

// Spherical k-means on centred rows: each centroid c (centred) becomes (c + mean) / ||c + mean||
// - mean, so that c + mean, the centroid the caller gets back, has unit norm. A zero centroid
// (no direction to keep) is left as it is.
void unit_centroids(size_t k, size_t d, const float* mean, float* centroids) {
  for (size_t c = 0; c < k; ++c) {
    float* row = centroids + c * d;
    double norm = 0.0;
    for (size_t t = 0; t < d; ++t) {
      const double v = static_cast<double>(row[t]) + mean[t];
      norm += v * v;
    }
    if (!(norm > 0.0)) continue;
    const double scale = 1.0 / std::sqrt(norm);
    for (size_t t = 0; t < d; ++t)
      row[t] = static_cast<float>((static_cast<double>(row[t]) + mean[t]) * scale - mean[t]);
  }
}

}  // namespace

namespace {

// The nearest kernel over n rows in chunks on all threads; each chunk's outputs handed to
// finish(begin, rows, best, second) while they are in its buffers.
template <class Finish>
void nearest_chunks(const float* x, size_t n, size_t d, size_t lda, const float* centroids,
                    size_t k, int32_t* assign, Finish&& finish) {
  QVEC_ASSERT(k >= 1 && d >= 1 && lda >= d);
  const detail::DenseKernels& kern = detail::dense_kernels();
  // Past one pack, an even count: the wide AVX-512 kernel takes packs in pairs (padding
  // columns never win, and one more pack costs less than the pairs gain from three up).
  size_t npacks = (k + kPackWidth - 1) / kPackWidth;
  if (npacks > 1) npacks += npacks % 2;
  std::vector<float> packed(npacks * d * kPackWidth), norms(npacks * kPackWidth);
  detail::pack_columns(centroids, k, d, d, packed.data(), norms.data());
  detail::parallel_for((n + kAssignChunk - 1) / kAssignChunk, [&](size_t chunk) {
    const size_t begin = chunk * kAssignChunk, rows = std::min(n, begin + kAssignChunk) - begin;
    float best[kAssignChunk], second[kAssignChunk];
    kern.nearest(x + begin * lda, lda, rows, packed.data(), norms.data(), npacks, d,
                 assign + begin, best, second);
    finish(begin, rows, best, second);
  });
}

}  // namespace

void nearest_centroids(const float* x, size_t n, size_t d, size_t lda, const float* centroids,
                       size_t k, int32_t* assign, float* distances) {
  nearest_chunks(x, n, d, lda, centroids, k, assign,
                 [&](size_t begin, size_t rows, const float* best, const float* second) {
                   detail::settle_nearest(x + begin * lda, lda, x + begin * lda, lda, rows,
                                          centroids, k, d, assign + begin, best, second,
                                          distances ? distances + begin : nullptr);
                 });
}

void nearest_candidates(const float* x, size_t n, size_t d, const float* centroids, size_t k,
                        int32_t* best_index, float* best_value, float* second_value) {
  nearest_chunks(x, n, d, d, centroids, k, best_index,
                 [&](size_t begin, size_t rows, const float* best, const float* second) {
                   std::copy(best, best + rows, best_value + begin);
                   std::copy(second, second + rows, second_value + begin);
                 });
}

double kmeans(const float* x, size_t n, size_t d, size_t lda, size_t k,
              const KMeansOptions& options, float* centroids) {
  QVEC_ASSERT(k >= 1 && n >= k && d >= 1 && lda >= d);
  // Every iteration streams all points twice, so work on a contiguous copy (a strided slice,
  // one PQ subspace of wide rows, would touch a cache line per point for a few bytes), centred
  // on the mean: the assignment's ||c||^2 - 2 <x, c> then cancels at the scale of the data's
  // spread, not of its distance from the origin (at 1000 + N(0, 1) it would pick a wrong
  // centroid for one point in five). Centroids move back by the mean at the end.
  std::vector<float> mean(d), compact(n * d);
  centre_rows(x, n, d, lda, mean.data(), compact.data());
  x = compact.data();
  lda = d;
  detail::SplitMix64 rng(options.seed * 0x2545F4914F6CDD1DULL + 0x9E3779B97F4A7C15ULL);
  if (options.warm_start) {
    for (size_t c = 0; c < k; ++c)
      for (size_t t = 0; t < d; ++t) centroids[c * d + t] -= mean[t];
  } else if (options.random_init) {
    random_seeds(x, n, d, lda, k, rng, centroids);
  } else {
    kmeans_plus_plus(x, n, d, lda, k, rng, centroids);
  }
  if (options.spherical) unit_centroids(k, d, mean.data(), centroids);

  std::vector<int32_t> assign(n);
  std::vector<float> dist(n);
  std::vector<double> sums(k * d), counts(k);

  for (size_t iter = 0; iter < std::max<size_t>(options.iters, 1); ++iter) {
    detail::check_stop();
    nearest_centroids(x, n, d, lda, centroids, k, assign.data(), dist.data());
    sum_clusters(x, n, d, assign.data(), k, sums.data(), counts.data());
    for (size_t c = 0; c < k; ++c)
      if (counts[c] > 0)
        for (size_t t = 0; t < d; ++t)
          centroids[c * d + t] = static_cast<float>(sums[c * d + t] / counts[c]);
    if (n > k) resplit_empty(counts, n, k, d, rng, centroids);
    if (options.spherical) unit_centroids(k, d, mean.data(), centroids);
  }
  for (size_t c = 0; c < k; ++c)
    for (size_t t = 0; t < d; ++t) centroids[c * d + t] += mean[t];
  // Adding the mean back rounds at its scale; one more rescale makes the norms 1 to float32.
  if (options.spherical) {
    const std::vector<float> origin(d, 0.0f);
    unit_centroids(k, d, origin.data(), centroids);
  }
  double objective = 0.0;  // of the last assignment
  for (size_t i = 0; i < n; ++i) objective += dist[i];
  return objective / static_cast<double>(n);
}

}  // namespace qvec
