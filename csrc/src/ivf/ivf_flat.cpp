// IVF search of float32 lists: exact distances of each probed list's vectors.
#include <cmath>

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
  FlatListScan(const IvfLists& lists, size_t dim, Metric metric, const float* queries, size_t k,
               const IdFilter* filter)
      : lists_(lists), dim_(dim), l2_(metric == Metric::L2), queries_(queries), k_(k),
        filter_(filter) {}

  void scan(const detail::ListGroup& group, const RangeResults& results) const override {
    const detail::DenseKernels& kern = detail::dense_kernels();
    const float* rows = reinterpret_cast<const float*>(lists_.list_codes(group.list));
    const size_t n = lists_.size(group.list);
    const idx_t* ids = lists_.list_ids(group.list);
    for (size_t i = 0; i < group.count; ++i) {
      const float* q = queries_ + group.queries[i] * dim_;
      detail::HeapView heap{results.distances + i * k_, results.ids + i * k_, k_};
      for (size_t r = 0; r < n; ++r) {
        if (filter_ && !filter_->allows(ids[r])) continue;
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
  const IdFilter* filter_;
};

}  // namespace

void ivf_search_flat(const IvfLists& lists, size_t dim, Metric metric, const float* queries,
                     size_t nq, const IvfProbes& probes, size_t k, float* distances,
                     idx_t* ids, const IdFilter* filter) {
  check_k(k);
  QVEC_CHECK_ARG(dim >= 1, "dim must be >= 1");
  const FlatListScan scan(lists, dim, metric, queries, k, filter);
  detail::ivf_run(lists, nq, probes, k, scan, distances, ids);
  if (metric == Metric::IP) detail::negate(distances, nq * k);
}

}  // namespace qvec
