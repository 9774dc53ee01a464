// The caller-owned top-k buffers of the binary range scans (see qvec/binary.h).
#include "binary_collect.h"

#include "qvec/binary.h"
#include "search_grid.h"

namespace qvec {

void topk_buffers_init(size_t nq, size_t k, float* distances, idx_t* ids) {
  check_k(k);
  for (size_t q = 0; q < nq; ++q) detail::HeapView{distances + q * k, ids + q * k, k}.clear();
}

void topk_buffers_finish(size_t nq, size_t k, Metric metric, float* distances, idx_t* ids) {
  check_k(k);
  for (size_t q = 0; q < nq; ++q) detail::HeapView{distances + q * k, ids + q * k, k}.sort();
  if (metric == Metric::IP) detail::negate(distances, nq * k);
}

}  // namespace qvec
