// The coarse quantizer: k-means centroids on a seeded sample, nearest-centroid assignment,
// and the lists each query probes.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "ivf_probe_select.h"
#include "kernels/dispatch.h"
#include "parallel.h"

#include "qvec/error.h"
#include "qvec/exact.h"
#include "qvec/ivf.h"
#include "qvec/kmeans.h"
#include "qvec/validate.h"
#include "rng.h"

namespace qvec {
namespace {

// The nprobe nearest centroids of one query by direct l2sqr (the values exact_search's heaps
// hold, so the lists and their order, ties to the smaller list, are the same), best first;
// -1 and +inf past nlist. dist: scratch of nlist floats.
void probe_direct_l2(const float* query, size_t dim, const float* centroids, size_t nlist,
                     size_t nprobe, float* dist, float* coarse, idx_t* lists) {
  detail::dense_kernels().l2sqr_rows(query, centroids, dim, nlist, dim, dist);
  if (!all_finite(dist, nlist))
    throw std::invalid_argument("queries or centroids contain NaN or infinity (or values "
                                "too large for float32 distances)");
  std::fill(coarse, coarse + nprobe, INFINITY);
  std::fill(lists, lists + nprobe, idx_t(-1));
  detail::smallest(dist, nlist, std::min(nprobe, nlist), coarse, lists);
}

// The nprobe largest inner products of nq <= kDirectRows queries: dot_direct over all nlist
// centroids with the queries in one call, as exact_search's few-query scan makes it (so the
// lists, their order and values are its answer), without its heaps, base splits and merge
// (1 query, 1024 x 384 centroids, nprobe 64: 77 us through exact_search).
static_assert(detail::kDirectProbeQueries <= detail::kDirectRows,
              "the direct IP probe passes all its queries to one dot_direct call");
void probe_direct_ip(const float* queries, size_t nq, size_t dim, const float* centroids,
                     size_t nlist, size_t nprobe, float* coarse, idx_t* lists) {
  std::vector<float> dots(nq * nlist);
  detail::dense_kernels().dot_direct(queries, dim, nq, centroids, dim, nlist, dim, dots.data(),
                                     nlist);
  for (size_t q = 0; q < nq; ++q) {
    float* dist = dots.data() + q * nlist;
    for (size_t l = 0; l < nlist; ++l) dist[l] = -dist[l];
    if (!all_finite(dist, nlist))
      throw std::invalid_argument("queries or centroids contain NaN or infinity (or values "
                                  "too large for float32 products)");
    float* qc = coarse + q * nprobe;
    idx_t* ql = lists + q * nprobe;
    std::fill(qc, qc + nprobe, INFINITY);
    std::fill(ql, ql + nprobe, idx_t(-1));
    detail::smallest(dist, nlist, std::min(nprobe, nlist), qc, ql);
    for (size_t j = 0; j < nprobe; ++j) qc[j] = -qc[j];
  }
}

}  // namespace

void ivf_train_centroids(const float* x, size_t n, size_t dim, size_t nlist, size_t max_train,
                         size_t iters, uint64_t seed, bool spherical, float* centroids) {
  QVEC_CHECK_ARG(dim >= 1, "dim must be >= 1");
  QVEC_CHECK_ARG(nlist >= 1 && nlist <= n,
                 "training needs 1 <= nlist <= n; got nlist = " + std::to_string(nlist) +
                     ", n = " + std::to_string(n));
  if (max_train == 0) max_train = 256 * nlist;
  max_train = std::max(max_train, nlist);
  KMeansOptions options;
  options.iters = iters;
  options.seed = seed;
  options.random_init = true;
  options.spherical = spherical;
  if (n <= max_train) {
    kmeans(x, n, dim, dim, nlist, options, centroids);
    return;
  }
  // A seeded partial Fisher-Yates shuffle picks the sample; rows kept in input order.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  detail::SplitMix64 rng(seed ^ 0x1F5A3C7Eull);
  for (size_t i = 0; i < max_train; ++i)
    std::swap(order[i], order[i + rng.below(n - i)]);
  std::sort(order.begin(), order.begin() + max_train);
  std::vector<float> sample(max_train * dim);
  for (size_t i = 0; i < max_train; ++i)
    std::copy(x + order[i] * dim, x + (order[i] + 1) * dim, sample.data() + i * dim);
  kmeans(sample.data(), max_train, dim, dim, nlist, options, centroids);
}

void ivf_assign(const float* x, size_t n, size_t dim, const float* centroids, size_t nlist,
                int32_t* assign) {
  QVEC_CHECK_ARG(nlist >= 1 && nlist < (size_t(1) << 31), "nlist must be in [1, 2^31)");
  QVEC_CHECK_ARG(dim >= 1, "dim must be >= 1");
  // k-means' own assignment step: one pass of the fused nearest-centroid kernel, 5x the
  // exact top-1 search it replaced (200k x 1024 x 128: 2.8 s -> 0.6 s at 2 threads).
  nearest_centroids(x, n, dim, dim, centroids, nlist, assign, nullptr);
}

void ivf_residuals(const float* x, size_t n, size_t dim, const float* centroids, size_t nlist,
                   int32_t* assign, float* residuals) {
  ivf_assign(x, n, dim, centroids, nlist, assign);
  constexpr size_t kRowsPerTask = 1024;
  detail::parallel_for((n + kRowsPerTask - 1) / kRowsPerTask, [&](size_t task) {
    const size_t end = std::min(n, (task + 1) * kRowsPerTask);
    for (size_t i = task * kRowsPerTask; i < end; ++i) {
      const float* row = x + i * dim;
      const float* c = centroids + static_cast<size_t>(assign[i]) * dim;
      float* out = residuals + i * dim;
      for (size_t t = 0; t < dim; ++t) out[t] = row[t] - c[t];
    }
  });
}

void ivf_probe(const float* queries, size_t nq, size_t dim, const float* centroids,
               size_t nlist, Metric metric, size_t nprobe, float* coarse, idx_t* lists) {
  check_k(nprobe);
  QVEC_CHECK_ARG(nlist >= 1, "nlist must be >= 1");
  // Few queries: below this, exact_search's grid, heaps and packing cost more than the
  // distances (1 query, 1024 x 128 centroids: 17 us through exact_search, ~7 us direct).
  if (nq <= detail::kDirectProbeQueries) {
    if (metric != Metric::L2) {
      probe_direct_ip(queries, nq, dim, centroids, nlist, nprobe, coarse, lists);
      return;
    }
    std::vector<float> dist(nlist);
    for (size_t q = 0; q < nq; ++q)
      probe_direct_l2(queries + q * dim, dim, centroids, nlist, nprobe, dist.data(),
                      coarse + q * nprobe, lists + q * nprobe);
    return;
  }
  exact_search(queries, nq, centroids, nlist, dim, metric, nprobe, coarse, lists);
}

}  // namespace qvec
