// IVF searches of float32 lists (exact distances) and of binary-code lists (the quantizer's
// asymmetric estimator over each list as a range; with centroids, on the residual q - c_l).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "list_scan.h"
#include "qvec/error.h"
#include "qvec/ivf.h"
#include "search/collector.h"
#include "search/topk_merge.h"

namespace qvec {
namespace {

class FlatListScan final : public detail::ListScan {
 public:
  FlatListScan(const IvfLists& lists, size_t dim, Metric metric, const float* queries, size_t k)
      : lists_(lists), dim_(dim), l2_(metric == Metric::L2), queries_(queries), k_(k) {}

  void scan(const detail::ListGroup& group, const RangeResults& results) const override {
    const detail::DenseKernels& kern = detail::dense_kernels();
    const float* rows = reinterpret_cast<const float*>(lists_.list_codes(group.list));
    const size_t n = lists_.size(group.list);
    const idx_t* ids = lists_.list_ids(group.list);
    for (size_t i = 0; i < group.count; ++i) {
      const float* q = queries_ + group.queries[i] * dim_;
      detail::HeapView heap{results.distances + i * k_, results.ids + i * k_, k_};
      for (size_t r = 0; r < n; ++r) {
        const float* x = rows + r * dim_;
        const float d = l2_ ? kern.l2sqr(q, x, dim_) : -kern.dot(q, x, dim_);
        QVEC_CHECK_ARG(std::isfinite(d), "a distance is not finite (NaN or inf in the data)");
        heap.push(d, ids[r]);
      }
    }
  }

 private:
  const IvfLists& lists_;
  size_t dim_;
  bool l2_;
  const float* queries_;
  size_t k_;
};

class BinaryListScan final : public detail::ListScan {
 public:
  BinaryListScan(const IvfLists& lists, const BinaryQuantizer& bq, const float* centroids,
                 const float* queries, size_t k, size_t query_bits)
      : lists_(lists), bq_(bq), centroids_(centroids), queries_(queries), k_(k),
        query_bits_(query_bits) {}

  void scan(const detail::ListGroup& group, const RangeResults& results) const override {
    const size_t dim = bq_.dim();
    std::vector<float> q(group.count * dim);
    for (size_t i = 0; i < group.count; ++i) {
      const float* src = queries_ + group.queries[i] * dim;
      float* dst = q.data() + i * dim;
      if (centroids_) {
        const float* c = centroids_ + group.list * dim;
        for (size_t t = 0; t < dim; ++t) dst[t] = src[t] - c[t];
      } else {
        std::copy(src, src + dim, dst);
      }
    }
    BinaryQueries(bq_, q.data(), group.count, k_, query_bits_)
        .search_range(lists_.list_codes(group.list), 0, lists_.size(group.list),
                      lists_.list_ids(group.list), results);
  }

 private:
  const IvfLists& lists_;
  const BinaryQuantizer& bq_;
  const float* centroids_;
  const float* queries_;
  size_t k_, query_bits_;
};

}  // namespace

void ivf_search_flat(const IvfLists& lists, size_t dim, Metric metric, const float* queries,
                     size_t nq, const IvfProbes& probes, size_t k, float* distances,
                     idx_t* ids) {
  check_k(k);
  QVEC_CHECK_ARG(dim >= 1, "dim must be >= 1");
  const FlatListScan scan(lists, dim, metric, queries, k);
  detail::ivf_run(lists, nq, probes, k, scan, distances, ids);
  if (metric == Metric::IP) detail::negate(distances, nq * k);
}

void ivf_search_binary(const IvfLists& lists, const BinaryQuantizer& bq, const float* centroids,
                       const float* queries, size_t nq, const IvfProbes& probes, size_t k,
                       size_t query_bits, float* distances, idx_t* ids) {
  check_k(k);
  bq.require_trained();
  QVEC_CHECK_ARG(query_bits >= 1 && query_bits <= BinaryQuantizer::kMaxQueryBits,
                 "query_bits must be in [1, " + std::to_string(BinaryQuantizer::kMaxQueryBits) +
                     "]");
  QVEC_CHECK_ARG(!centroids || bq.metric() == Metric::L2,
                 "residual binary codes need Metric::L2");
  const BinaryListScan scan(lists, bq, centroids, queries, k, query_bits);
  detail::ivf_run(lists, nq, probes, k, scan, distances, ids);
  if (bq.metric() == Metric::IP) detail::negate(distances, nq * k);
}

}  // namespace qvec
