#pragma once
// The block scanner of the extended-RaBitQ search with the float query (the stage under
// BinaryQuantizer::search_extended and the IVF lists' float-query scan): the query side built
// from rotated queries, and the scan of one row range into per-query heaps.
#include <cstddef>
#include <vector>

#include "binary_scan.h"
#include "qvec/binary.h"
#include "search/collector.h"
#include "search/range.h"

namespace qvec::detail {

/// Query bits of the 1-bit pass: one set of nibble tables. 8 bits (two sets) shrink the
/// rounding term of the bound but cost more than the extra candidates they save (measured at
/// 2, 4 and 7 bits on 50k x 384).
constexpr size_t kPassBits = 4;

/// The query side of a block of queries.
struct ExtendedQueries {
  size_t lanes = 0;            // 8 * level_bytes
  std::vector<float> q;        // (nq, lanes): q_r, each group of 8 reversed (the kernel's order)
  std::vector<float> offset;   // (2^bits - 1) / 2 * sum_j q_r[j]
  std::vector<float> base;     // the distance's query term
  std::vector<float> err;      // eps * m * ||q_r|| / sqrt(dim - 1)
  std::vector<float> round;    // eps * m * delta * sqrt(dim / 12)
  BinaryQueryTables tables;    // kPassBits planes of the 1-bit pass (only when pruning)
};

/// The query side of nq rotated queries qr = (q - mean) R (size nq * dim). ip_base (Metric::IP
/// only; size nq): each query's distance term, -<mean, q> (ip_query_base) plus any constant of
/// the pair; L2 uses ||q_r||^2. pass: the kPassBits tables of the same queries (their
/// constants shifted by the same pair constant), or empty (nq 0) to score every code in full.
ExtendedQueries prepare_extended_rotated(const BinaryQuantizer& bq, const float* qr, size_t nq,
                                         const float* ip_base, float eps, BinaryQueryTables pass);

/// Rows `rows` (size count) of e, in that order, each query's distances shifted by shifts[i]
/// (null: none): the base and the pass tables' constant.
ExtendedQueries select_extended_rows(const ExtendedQueries& e, const size_t* rows, size_t count,
                                     const float* shifts);

/// Scans `range` of `data` for the nq queries of e into heaps (row i: query i), on the calling
/// thread: pruned by the sign bits (data's sign dots, or none at one bit) when e has pass
/// tables, else every code scored in full.
void extended_scan(const BinaryQuantizer& bq, const ExtendedQueries& e, size_t nq,
                   const BinaryRows& data, const RowRange& range, const HeapRows& heaps);

}  // namespace qvec::detail
