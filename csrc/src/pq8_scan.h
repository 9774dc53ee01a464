#pragma once
// The 8-bit ADC block scanner: one batch of queries over ONE row range of one pq8 scan-layout
// array (search/range.h), into the queries' float collectors (search/collector.h). The flat
// search runs it on a grid of query block x row range tasks, Pq8Queries::search_range on
// caller-supplied ranges, and IVF on each inverted list with the query tables it quantized
// once for all the lists a query probes.
#include <cstddef>
#include <cstdint>

#include "search/collector.h"
#include "search/lut_quantizer.h"
#include "search/range.h"

namespace qvec::detail {

/// What the scanner reads: float tables of a batch of queries (nq, m, 256) and their
/// quantization. Scanned query q is batch query query_of[q] (null: q), and every distance it
/// collects is its table sum plus shifts[q] (null: 0), e.g. an inverted list's -<query, centroid>.
struct Pq8Batch {
  const float* tables;
  const QueryLuts* luts;
  size_t m;
  const size_t* query_of = nullptr;
  const float* shifts = nullptr;

  /// The batch query (row of tables / luts) and the distance shift of scanned query q.
  size_t query(size_t q) const { return query_of ? query_of[q] : q; }
  float shift(size_t q) const { return shifts ? shifts[q] : 0.0f; }
};

/// Scanned queries [q0, q1) over `range` of `packed` into the collectors rows.at(q - q0) of
/// float ADC distances (any earlier content kept): they end holding the exact float ADC top
/// keep of what they held and the range (the LUT error bound only skips rows that cannot enter).
void pq8_scan_range(const Pq8Batch& batch, size_t q0, size_t q1, const uint8_t* packed,
                    const RowRange& range, const HeapRows& rows);

}  // namespace qvec::detail
