#pragma once
// The quantized 4-bit scan of IVF lists: every table of one query (one per probed list) is
// quantized with ONE scale, the query's, chosen so every one of its lists' tables fits
// (entries <= 255, sums < 2^16). A list's quantized sum S then stands for the table-unit
// distance bias(list) + S / scale, comparable across lists, so one float collector per query
// persists across its lists without re-scoring candidates with float tables (the FAISS
// IVF fast-scan scheme). Distances are those approximations, as fast-scan's rescore = 0 gives.
#include <cstddef>

#include "list_scan.h"
#include "qvec/ivf.h"

namespace qvec::detail {

/// One query's shared scale: the largest s such that, for each probed list l (span bounds
/// max_span[l] of one subquantizer and sum_span[l] of all m, table units),
/// s * max_span[l] <= 255 and s * sum_span[l] <= 65535 - m; 1 when every span is 0.
float shared_scale(const float* max_span, const float* sum_span, size_t count, size_t m);

/// Each query's quantized table when no list adds a term of its own (IP, or codes not by
/// residual): one table for all its lists, quantized once instead of once per probed list
/// (lists of a few dozen codes cost less to scan than their table does to quantize).
/// tables: (nq, m, 16); scales: (nq,); luts: size nq * padded m * 16, written (padding 0);
/// biases: size nq, written.
void quantize_query_tables(const float* tables, size_t nq, size_t m, const float* scales,
                           uint8_t* luts, float* biases);

class Pq4ListScan final : public ListScan {
 public:
  /// tables: the batch's query tables (nq, m, 16); norms: ||q||^2 (nq,); scales: each query's
  /// shared_scale (nq,); keep: collector entries per query. luts, biases: the batch's
  /// quantize_query_tables output when no list has a term (null: quantized per pair).
  Pq4ListScan(const IvfPqSearch& ivf, const ProductQuantizer& pq, const IvfLists& lists,
              const float* tables, const float* norms, const float* scales, size_t keep,
              const IdFilter* filter, const uint8_t* luts = nullptr,
              const float* biases = nullptr)
      : ivf_(ivf), pq_(pq), lists_(lists), tables_(tables), norms_(norms), scales_(scales),
        keep_(keep), filter_(filter), luts_(luts), biases_(biases) {}

  void scan(const ListGroup& group, const RangeResults& results) const override;

 private:
  const IvfPqSearch& ivf_;
  const ProductQuantizer& pq_;
  const IvfLists& lists_;
  const float* tables_;
  const float* norms_;
  const float* scales_;
  size_t keep_;
  const IdFilter* filter_;  // null: every id
  const uint8_t* luts_;     // null: quantized per (query, list)
  const float* biases_;
};

}  // namespace qvec::detail
