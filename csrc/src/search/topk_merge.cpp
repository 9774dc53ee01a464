#include "search/topk_merge.h"

namespace qvec::detail {

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

}  // namespace qvec::detail
