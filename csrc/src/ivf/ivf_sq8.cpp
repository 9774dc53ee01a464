// IVF search of int8 scalar-quantized lists: each (list, queries) group is one Sq8Queries
// range search over the list, the queries made residual where the codes are (L2: q - c_l, so a
// residual code scores as the full vector it decodes to; IP: the query unchanged and the
// coarse <q, c_l> folded into each query's constant).
#include <string>
#include <vector>

#include "list_scan.h"
#include "parallel.h"
#include "qvec/error.h"
#include "qvec/ivf.h"
#include "qvec/scalar.h"
#include "search/topk_merge.h"

namespace qvec {
namespace {

class Sq8ListScan final : public detail::ListScan {
 public:
  Sq8ListScan(const IvfLists& lists, const ScalarQuantizer& sq, const float* centroids,
              const float* queries, size_t k, const IdFilter* filter)
      : lists_(lists), sq_(sq), centroids_(centroids), queries_(queries), k_(k),
        filter_(filter) {}

  void scan(const detail::ListGroup& group, const RangeResults& results) const override {
    const size_t dim = sq_.dim();
    const bool residual_l2 = centroids_ && sq_.metric() == Metric::L2;
    std::vector<float> q(group.count * dim), offsets(group.count, 0.0f);
    for (size_t i = 0; i < group.count; ++i) {
      const float* src = queries_ + group.queries[i] * dim;
      float* dst = q.data() + i * dim;
      const float* c = centroids_ ? centroids_ + group.list * dim : nullptr;
      for (size_t t = 0; t < dim; ++t) dst[t] = residual_l2 ? src[t] - c[t] : src[t];
      // IP distances are negated inner products: -<q, c_l + r> = -coarse - <q, r>.
      if (centroids_ && !residual_l2) offsets[i] = -group.coarse[i];
    }
    Sq8Queries(sq_, q.data(), group.count, k_, offsets.data())
        .search_range(lists_.list_codes(group.list), 0, lists_.size(group.list),
                      lists_.list_ids(group.list), results, filter_);
  }

 private:
  const IvfLists& lists_;
  const ScalarQuantizer& sq_;
  const float* centroids_;
  const float* queries_;
  size_t k_;
  const IdFilter* filter_;
};

}  // namespace

void ivf_sq8_fill_norms(const IvfLists& lists, const ScalarQuantizer& sq, uint8_t* packed) {
  QVEC_CHECK_ARG(sq.is_trained(), "the scalar quantizer has no ranges");
  const size_t dim = sq.dim();
  detail::parallel_for(lists.nlist, [&](size_t l) {
    const size_t n = lists.size(l);
    if (n == 0) return;
    std::vector<int8_t> codes(n * dim);
    uint8_t* out = packed + lists.code_offsets[l];
    sq8_unpack(out, n, dim, codes.data());
    sq.pack(codes.data(), n, out);  // the same codes, now with their norms
  });
}

void ivf_search_sq8(const IvfLists& lists, const ScalarQuantizer& sq, const float* centroids,
                    const float* queries, size_t nq, const IvfProbes& probes, size_t k,
                    float* distances, idx_t* ids, const IdFilter* filter) {
  check_k(k);
  QVEC_CHECK_ARG(sq.is_trained(), "the scalar quantizer has no ranges: call set_ranges or train_minmax");
  const Sq8ListScan scan(lists, sq, centroids, queries, k, filter);
  detail::ivf_run(lists, nq, probes, k, scan, distances, ids);
  if (sq.metric() == Metric::IP) detail::negate(distances, nq * k);
}

}  // namespace qvec
