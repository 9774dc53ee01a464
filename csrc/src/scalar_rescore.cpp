// Int8 rescoring of a candidate shortlist (the second stage of sentence-transformers' binary ->
// int8 recipe): each candidate's code decoded to float32 and scored against the float query by
// the dense kernels, so a score is the one a float search of the decoded vectors computes.
#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "parallel.h"
#include "qvec/error.h"
#include "qvec/scalar.h"
#include "search/collector.h"
#include "stop.h"

namespace qvec {

void ScalarQuantizer::rescore(const float* queries, size_t nq, const idx_t* candidates,
                              size_t ncand, const int8_t* codes, size_t n, size_t k,
                              float* distances, idx_t* ids) const {
  check_k(k);
  require_trained();
  for (size_t i = 0; i < nq * ncand; ++i)
    if (candidates[i] >= 0 && static_cast<size_t>(candidates[i]) >= n)
      throw std::out_of_range("candidate row " + std::to_string(candidates[i]) +
                              " is not in [0, " + std::to_string(n) + ")");
  const bool ip = metric_ == Metric::IP;
  detail::parallel_for(nq, [&](size_t q) {
    if (q % 64 == 0) detail::check_stop();
    const detail::DenseKernels& kern = detail::dense_kernels();
    std::vector<float> x(dim_);
    const float* query = queries + q * dim_;
    detail::HeapView heap{distances + q * k, ids + q * k, k};
    heap.clear();
    for (size_t c = 0; c < ncand; ++c) {
      const idx_t row = candidates[q * ncand + c];
      if (row < 0) continue;
      decode(codes + static_cast<size_t>(row) * dim_, 1, x.data());
      const float d = ip ? -kern.dot(query, x.data(), dim_) : kern.l2sqr(query, x.data(), dim_);
      if (d < std::numeric_limits<float>::infinity()) heap.push(d, row);
    }
    heap.sort();
    if (ip)
      for (size_t j = 0; j < k; ++j) distances[q * k + j] = -distances[q * k + j];
  });
}

}  // namespace qvec
