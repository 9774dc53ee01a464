// IVF-PQ search: per (query, list) tables from the query's own tables plus the list's
// precomputed term, scanned with Pq8Queries (8-bit) or FastScanQueries in exact mode (4-bit),
// whose collectors hold float ADC distances and so persist across lists with different tables.
#include <algorithm>
#include <vector>

#include "kernels/dispatch.h"
#include "list_scan.h"
#include "qvec/error.h"
#include "qvec/exact.h"
#include "qvec/ivf.h"
#include "search/topk_merge.h"

namespace qvec {
namespace {

/// Query tables of one batch, and the scan of one list for a group of its queries.
class PqListScan final : public detail::ListScan {
 public:
  PqListScan(const IvfPqSearch& ivf, const ProductQuantizer& pq, const IvfLists& lists,
             const float* tables, const float* norms, size_t k)
      : ivf_(ivf), pq_(pq), lists_(lists), tables_(tables), norms_(norms), k_(k) {}

  void scan(const detail::ListGroup& group, const RangeResults& results) const override {
    const size_t size = pq_.m() * pq_.ksub();
    std::vector<float> tables(group.count * size);
    for (size_t i = 0; i < group.count; ++i) {
      const size_t q = group.queries[i];
      ivf_.pair_table(tables_ + q * size, norms_[q], group.list, group.coarse[i],
                      tables.data() + i * size);
    }
    const uint8_t* codes = lists_.list_codes(group.list);
    const size_t n = lists_.size(group.list);
    const idx_t* ids = lists_.list_ids(group.list);
    if (pq_.nbits() == 8) {
      Pq8Queries(tables.data(), group.count, pq_.m(), k_).search_range(codes, 0, n, ids, results);
    } else {
      FastScanSearchOptions exact;
      exact.exact = true;
      FastScanQueries(tables.data(), group.count, pq_.m(), k_, exact)
          .search_range(codes, 0, n, ids, results);
    }
  }

 private:
  const IvfPqSearch& ivf_;
  const ProductQuantizer& pq_;
  const IvfLists& lists_;
  const float* tables_;  // (nq, m, ksub) of the batch
  const float* norms_;   // (nq,) ||q||^2
  size_t k_;
};

/// Query tables held at once are bounded (8-bit tables of large m are big).
constexpr size_t kMaxTableFloats = size_t(1) << 24;

}  // namespace

IvfPqSearch::IvfPqSearch(const ProductQuantizer& pq, const float* centroids, size_t nlist,
                         bool by_residual)
    : pq_(&pq), nlist_(nlist), by_residual_(by_residual),
      centroids_(centroids, centroids + nlist * pq.dim()) {
  QVEC_CHECK_ARG(pq.is_trained(), "the product quantizer is not trained");
  QVEC_CHECK_ARG(nlist >= 1, "nlist must be >= 1");
  if (!by_residual || pq.metric() != Metric::L2) return;
  // list term of list l, subquantizer j, centroid c: 2 <c_lj, p_jc>
  const size_t m = pq.m(), ksub = pq.ksub(), dsub = pq.dsub();
  list_terms_.resize(nlist * m * ksub);
  const float* book = pq.centroids().data();
  detail::parallel_for(nlist, [&](size_t l) {
    const detail::DenseKernels& kern = detail::dense_kernels();
    for (size_t j = 0; j < m; ++j) {
      const float* c = centroids_.data() + l * pq.dim() + j * dsub;
      float* out = list_terms_.data() + (l * m + j) * ksub;
      for (size_t s = 0; s < ksub; ++s) out[s] = 2.0f * kern.dot(c, book + (j * ksub + s) * dsub, dsub);
    }
  });
}

IvfPqSearch::~IvfPqSearch() = default;

void IvfPqSearch::pair_table(const float* query_table, float query_norm, size_t list,
                             float coarse, float* out) const {
  const size_t size = pq_->m() * pq_->ksub(), ksub = pq_->ksub();
  if (!by_residual_) {
    std::copy(query_table, query_table + size, out);
    return;
  }
  if (pq_->metric() == Metric::L2) {
    const float* term = list_terms_.data() + list * size;
    for (size_t i = 0; i < size; ++i) out[i] = query_table[i] + term[i];
    const float shift = coarse - query_norm;  // ||q - c_l||^2 - ||q||^2, in subquantizer 0
    for (size_t c = 0; c < ksub; ++c) out[c] += shift;
  } else {
    std::copy(query_table, query_table + size, out);
    for (size_t c = 0; c < ksub; ++c) out[c] -= coarse;  // -<q, c_l>
  }
}

void IvfPqSearch::search(const IvfLists& lists, const float* queries, size_t nq,
                         const IvfProbes& probes, size_t k, float* distances,
                         idx_t* ids) const {
  check_k(k);
  QVEC_CHECK_ARG(lists.nlist == nlist_, "the lists must number nlist");
  detail::check_probes(probes, nq, nlist_);
  const size_t size = pq_->m() * pq_->ksub(), dim = pq_->dim();
  const size_t batch = std::max<size_t>(1, kMaxTableFloats / size);
  std::vector<float> tables(std::min(nq, batch) * size), norms(std::min(nq, batch));
  for (size_t q0 = 0; q0 < nq; q0 += batch) {
    const size_t count = std::min(batch, nq - q0);
    pq_->compute_tables(queries + q0 * dim, count, tables.data());
    squared_norms(queries + q0 * dim, count, dim, norms.data());
    const PqListScan scan(*this, *pq_, lists, tables.data(), norms.data(), k);
    const IvfProbes part{probes.nprobe, probes.lists + q0 * probes.nprobe,
                         probes.coarse + q0 * probes.nprobe};
    detail::ivf_run(lists, count, part, k, scan, distances + q0 * k, ids + q0 * k);
  }
  if (pq_->metric() == Metric::IP) detail::negate(distances, nq * k);
}

}  // namespace qvec
