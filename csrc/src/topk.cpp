#include "qvec/topk.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "heap.h"
#include "parallel.h"
#include "search_grid.h"

namespace qvec {
namespace detail {

void HeapView::sort() {
  // Heap sort in place: move the worst entry to the end, re-insert the displaced last entry.
  for (size_t end = k; end > 1; --end) {
    float d = dist[end - 1];
    idx_t id = ids[end - 1];
    dist[end - 1] = dist[0];
    ids[end - 1] = ids[0];
    sift_down(dist, ids, end - 1, d, id);
  }
}

void merge_partial_topk(const float* dist, const idx_t* ids, size_t parts, size_t nq, size_t k,
                        float* out_distances, idx_t* out_ids) {
  parallel_for((nq + 63) / 64, [&](size_t block) {
    size_t q1 = std::min(nq, (block + 1) * 64);
    for (size_t q = block * 64; q < q1; ++q) {
      HeapView heap{out_distances + q * k, out_ids + q * k, k};
      heap.clear();
      for (size_t p = 0; p < parts; ++p) {
        const float* pd = dist + (p * nq + q) * k;
        const idx_t* pi = ids + (p * nq + q) * k;
        for (size_t i = 0; i < k; ++i)
          if (pi[i] >= 0) heap.push(pd[i], pi[i]);
      }
      heap.sort();
    }
  });
}

}  // namespace detail

void topk_smallest(const float* distances, size_t nq, size_t n, size_t k, float* out_distances,
                   idx_t* out_ids) {
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
