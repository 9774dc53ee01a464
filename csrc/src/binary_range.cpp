// The half of the quantizer's range searches (BinaryRangeSearch) that does not depend on the
// scanner: results, ranges, code layouts and query blocks.
#include "binary_scan.h"
#include "qvec/binary.h"

namespace qvec {

BinaryRangeSearch::BinaryRangeSearch(const BinaryQuantizer& bq, size_t nq, size_t k)
    : RangeSearch(nq, k), bq_(&bq) {
  bq.require_trained();
  check_k(k);
}

void BinaryRangeSearch::init(const RangeResults& results) const {
  detail::clear_results(results, nq_, k_);
}

void BinaryRangeSearch::search_range(const uint8_t* rows, size_t begin, size_t end,
                                     const idx_t* ids, const RangeResults& results,
                                     const IdFilter* filter) const {
  search_rows(detail::BinaryRows::packed(*bq_, rows), begin, end, ids, results, filter);
}

void BinaryRangeSearch::search_range(const uint8_t* codes, const float* factors, size_t begin,
                                     size_t end, const idx_t* ids,
                                     const RangeResults& results,
                                     const IdFilter* filter) const {
  search_rows(detail::BinaryRows::arrays(*bq_, codes, factors), begin, end, ids, results,
              filter);
}

void BinaryRangeSearch::search_rows(const detail::BinaryRows& data, size_t begin, size_t end,
                                    const idx_t* ids, const RangeResults& results,
                                    const IdFilter* filter) const {
  detail::scan_query_blocks(nq_, k_, begin, end, ids, filter, results,
                            [&](size_t q0, size_t q1, const detail::RowRange& range,
                                const detail::HeapRows& heaps) {
                              scan(q0, q1, data, range, heaps);
                            });
}

void BinaryRangeSearch::finish(const RangeResults& results, float* distances, idx_t* ids) const {
  detail::finish_results(results, nq_, k_, distances, ids);
}

}  // namespace qvec
