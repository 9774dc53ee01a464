// Batched top-k of a dense distance matrix: each (query block x column range) task scans its
// columns into the queries' heaps, then the partial lists are merged (search/topk_merge.h).
#include "qvec/topk.h"

#include "search/collector.h"
#include "search/topk_merge.h"

namespace qvec {

void topk_smallest(const float* distances, size_t nq, size_t n, size_t k, float* out_distances,
                   idx_t* out_ids) {
  check_k(k);
  detail::grid_search(
      nq, n, k, 16, 4096,
      [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
        for (size_t q = q0; q < q1; ++q) {
          detail::HeapView heap = heaps.at(q - q0);
          const float* row = distances + q * n;
          for (size_t i = b0; i < b1; ++i)
            if (row[i] <= heap.threshold()) heap.push(row[i], static_cast<idx_t>(i));
        }
      },
      out_distances, out_ids);
}

}  // namespace qvec
