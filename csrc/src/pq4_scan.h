#pragma once
// The 4-bit fast-scan block scanners: one batch of queries over ONE row range of one fast-scan
// array (search/range.h), into the queries' collectors (search/collector.h). Both composed
// searches use them: fastscan_search (a grid of query block x row range tasks) and
// FastScanQueries::search_range (caller-supplied ranges and id maps, e.g. inverted lists).
#include <cstddef>
#include <cstdint>

#include "search/collector.h"
#include "search/lut_quantizer.h"
#include "search/range.h"

namespace qvec::detail {

/// What the scanners read for one batch of queries.
struct Pq4Batch {
  const float* tables;    // float tables, size nq * m * 16, layout (nq, m, 16): the rescorer's
  const QueryLuts* luts;  // their quantization (QueryLuts(tables, nq, m, 16, m2, 0))
  size_t m;
  size_t keep;  // entries of each query's collector
};

/// Quantized modes (rescore 0 or r): the candidates of queries [q0, q1) over `range` of
/// `packed` join the collectors rows.at(q - q0) (keep entries each, distances = quantized sums,
/// any earlier content kept) so that they end holding the best `keep` by (sum, id) of
/// everything they have seen. With rows.payload, every entrant carries its float ADC distance
/// (the re-score), computed while its codes are at hand.
void pq4_scan_quantized(const Pq4Batch& batch, size_t q0, size_t q1, const uint8_t* packed,
                        const RowRange& range, const HeapRows& rows);

/// Exact mode: collectors hold float ADC distances; a candidate is re-scored whenever the LUT
/// error bound says it could still enter, so they end holding the exact float ADC top `keep`.
void pq4_scan_exact(const Pq4Batch& batch, size_t q0, size_t q1, const uint8_t* packed,
                    const RowRange& range, const HeapRows& rows);

}  // namespace qvec::detail
