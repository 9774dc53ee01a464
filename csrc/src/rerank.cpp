// Exact re-ranking of candidate lists with the original vectors.
#include "qvec/rerank.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "search/collector.h"
#include "parallel.h"
#include "search/topk_merge.h"

namespace qvec {
namespace {

/// Candidate rows are scattered over the base: each one's first read misses the caches, a
/// memory latency per candidate that the distance arithmetic cannot hide. Reading the row a
/// few candidates ahead overlaps those misses.
constexpr size_t kPrefetchAhead = 4;

void prefetch_row(const float* row, size_t d) {
  const char* p = reinterpret_cast<const char*>(row);
  for (size_t off = 0; off < d * sizeof(float); off += 64) __builtin_prefetch(p + off);
}

}  // namespace

void rerank(const float* queries, size_t nq, const idx_t* candidate_ids, size_t ncand,
            const float* base, size_t n, size_t d, Metric metric, size_t k, float* distances,
            idx_t* ids) {
  check_k(k);
  for (size_t i = 0; i < nq * ncand; ++i) {
    idx_t id = candidate_ids[i];
    if (id < -1 || id >= static_cast<idx_t>(n))
      throw std::out_of_range("candidate_ids[" + std::to_string(i / ncand) + ", " +
                              std::to_string(i % ncand) + "] = " + std::to_string(id) +
                              " is out of range for base with " + std::to_string(n) + " rows");
  }
  const detail::DenseKernels& kern = detail::dense_kernels();
  const bool l2 = metric == Metric::L2;
  constexpr size_t kBlock = 16;
  detail::parallel_for((nq + kBlock - 1) / kBlock, [&](size_t block) {
    std::vector<idx_t> cand(ncand);
    size_t q1 = std::min(nq, (block + 1) * kBlock);
    for (size_t q = block * kBlock; q < q1; ++q) {
      const idx_t* row = candidate_ids + q * ncand;
      size_t m = 0;
      for (size_t j = 0; j < ncand; ++j)
        if (row[j] >= 0) cand[m++] = row[j];
      std::sort(cand.begin(), cand.begin() + m);
      m = static_cast<size_t>(std::unique(cand.begin(), cand.begin() + m) - cand.begin());
      detail::HeapView heap{distances + q * k, ids + q * k, k};
      heap.clear();
      const float* query = queries + q * d;
      for (size_t j = 0; j < m; ++j) {
        if (j + kPrefetchAhead < m) prefetch_row(base + static_cast<size_t>(cand[j + kPrefetchAhead]) * d, d);
        const float* v = base + static_cast<size_t>(cand[j]) * d;
        float dist = l2 ? kern.l2sqr(query, v, d) : -kern.dot(query, v, d);
        // Only the candidate rows are read, so they are checked here rather than the whole
        // base up front (a full pass would cost more than the re-ranking itself).
        if (!(std::fabs(dist) <= std::numeric_limits<float>::max()))
          throw std::invalid_argument("base row " + std::to_string(cand[j]) +
                                      " contains NaN or infinity (or values too large for "
                                      "float32 distances)");
        heap.push(dist, cand[j]);
      }
      heap.sort();
      if (!l2) detail::negate(distances + q * k, k);
    }
  });
}

}  // namespace qvec
