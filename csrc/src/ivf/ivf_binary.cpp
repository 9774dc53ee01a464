// IVF searches of binary-code lists (ivf_binary_pack_rows rows: code, factors, and the sign
// dot of extended codes): each probed list is one range of the quantizer's block scanners, the
// bit-plane estimator of the quantized query (ivf_search_binary) or the extended search of
// the float query (ivf_search_binary_float), fed by the query side built once per call.
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "binary_extended_scan.h"
#include "binary_scan.h"
#include "ivf_binary_queries.h"
#include "list_scan.h"
#include "qvec/error.h"
#include "qvec/ivf.h"
#include "search/topk_merge.h"

namespace qvec {
namespace {

/// What both scans share: the lists, the query side, the range of a group's list.
class BinaryScanBase : public detail::ListScan {
 protected:
  BinaryScanBase(const IvfLists& lists, const BinaryQuantizer& bq, const float* centroids,
                 const float* queries, size_t nq, const IvfProbes& probes, size_t k,
                 size_t query_bits, float eps, const IdFilter* filter)
      : lists_(lists), bq_(bq), k_(k), filter_(filter),
        queries_(bq, centroids, lists.nlist, queries, nq, probes, query_bits, eps) {}

  detail::BinaryRows rows(size_t list) const {
    return detail::BinaryRows::ivf(bq_, lists_.list_codes(list));
  }
  detail::RowRange range(size_t list) const {
    detail::check_binary_range(0, lists_.size(list));
    return {0, lists_.size(list), lists_.list_ids(list), filter_};
  }

  const IvfLists& lists_;
  const BinaryQuantizer& bq_;
  size_t k_;
  const IdFilter* filter_;
  detail::IvfBinaryQueries queries_;
};

/// The bit-plane estimator of each pair's quantized query.
class BinaryListScan final : public BinaryScanBase {
 public:
  BinaryListScan(const IvfLists& lists, const BinaryQuantizer& bq, const float* centroids,
                 const float* queries, size_t nq, const IvfProbes& probes, size_t k,
                 size_t query_bits, const IdFilter* filter)
      : BinaryScanBase(lists, bq, centroids, queries, nq, probes, k, query_bits, 0.0f, filter) {}

  void scan(const detail::ListGroup& group, const RangeResults& results) const override {
    const detail::GroupTables tables = queries_.tables_of(group);
    detail::rabitq_scan(bq_, tables.side(), 0, group.count, rows(group.list), range(group.list),
                        detail::heap_rows(results, k_));
  }
};

/// The extended search of each pair's float query, pruned by the sign bits when eps is finite.
class BinaryFloatListScan final : public BinaryScanBase {
 public:
  BinaryFloatListScan(const IvfLists& lists, const BinaryQuantizer& bq, const float* centroids,
                      const float* queries, size_t nq, const IvfProbes& probes, size_t k,
                      float eps, const IdFilter* filter)
      : BinaryScanBase(lists, bq, centroids, queries, nq, probes, k, 0, eps, filter) {}

  void scan(const detail::ListGroup& group, const RangeResults& results) const override {
    detail::extended_scan(bq_, queries_.extended_of(group), group.count, rows(group.list),
                          range(group.list), detail::heap_rows(results, k_));
  }
};

void check_binary_lists(const IvfLists& lists, const BinaryQuantizer& bq, size_t nq,
                        const IvfProbes& probes, size_t k) {
  check_k(k);
  bq.require_trained();
  detail::check_probes(probes, nq, lists.nlist);  // before the probed lists index the centroids
}

}  // namespace

size_t ivf_binary_row_factors(const BinaryQuantizer& bq) {
  return detail::geometric_scales(bq) ? BinaryQuantizer::kFixedFactors + 1 : bq.num_factors();
}

size_t ivf_binary_row_bytes(const BinaryQuantizer& bq) {
  const size_t dot = detail::geometric_scales(bq) ? sizeof(float) : 0;
  return bq.factor_offset() + ivf_binary_row_factors(bq) * sizeof(float) + dot;
}

void ivf_binary_pack_rows(const BinaryQuantizer& bq, const uint8_t* codes, const float* factors,
                          const float* sign_dots, size_t n, uint8_t* rows) {
  const bool dots = detail::geometric_scales(bq);
  QVEC_CHECK_ARG(!dots || sign_dots != nullptr || n == 0,
                 "extended codes of more than one bit need their sign dots");
  const size_t stride = ivf_binary_row_bytes(bq), code_size = bq.code_size();
  const size_t off = bq.factor_offset(), kept = ivf_binary_row_factors(bq) * sizeof(float);
  for (size_t i = 0; i < n; ++i) {
    uint8_t* dst = rows + i * stride;
    std::memcpy(dst, codes + i * code_size, code_size);
    std::memset(dst + code_size, 0, off - code_size);
    std::memcpy(dst + off, factors + i * bq.num_factors(), kept);
    if (dots) std::memcpy(dst + off + kept, sign_dots + i, sizeof(float));
  }
}

void ivf_search_binary(const IvfLists& lists, const BinaryQuantizer& bq, const float* centroids,
                       const float* queries, size_t nq, const IvfProbes& probes, size_t k,
                       size_t query_bits, float* distances, idx_t* ids,
                       const IdFilter* filter) {
  check_binary_lists(lists, bq, nq, probes, k);
  detail::check_query_bits(query_bits);
  const BinaryListScan scan(lists, bq, centroids, queries, nq, probes, k, query_bits, filter);
  detail::ivf_run(lists, nq, probes, k, scan, distances, ids);
  if (bq.metric() == Metric::IP) detail::negate(distances, nq * k);
}

void ivf_search_binary_float(const IvfLists& lists, const BinaryQuantizer& bq,
                             const float* centroids, const float* queries, size_t nq,
                             const IvfProbes& probes, size_t k, float eps, float* distances,
                             idx_t* ids, const IdFilter* filter) {
  check_binary_lists(lists, bq, nq, probes, k);
  QVEC_CHECK_ARG(bq.form() == BinaryCodeForm::Extended || bq.bits() == 1,
                 "the float-query search needs extended codes (method 'extended') or 1-bit codes");
  QVEC_CHECK_ARG(eps > 0.0f, "eps must be > 0; got " + std::to_string(eps));
  const BinaryFloatListScan scan(lists, bq, centroids, queries, nq, probes, k, eps, filter);
  detail::ivf_run(lists, nq, probes, k, scan, distances, ids);
  if (bq.metric() == Metric::IP) detail::negate(distances, nq * k);
}

}  // namespace qvec
