#pragma once
// The filter stage: between a block scanner's threshold test and its collector. A scanner
// hands the rows that passed its threshold (hit lists or 32-row mask words) through these
// before any collector sees them, so a collector's threshold only ever reflects allowed ids
// (qvec/id_filter.h). Each helper returns at once when the range has no filter: the
// unfiltered scans pay one well-predicted branch per block, none per candidate.
//
// The filter applies to ids (RowRange::id), not rows. Without a row -> id map, ids are rows,
// so a scanner may also skip a whole block whose rows hold no allowed id (skip_rows) and
// filter 32 rows with one word (IdFilter::word32).
#include <cstddef>
#include <cstdint>

#include "qvec/id_filter.h"
#include "search/range.h"

namespace qvec::detail {

/// True when rows [r0, r1) of the range hold no allowed id and the scanner may skip them
/// (only decided without a row map; false when the range has no filter).
inline bool skip_rows(const RowRange& range, size_t r0, size_t r1) {
  return range.filter && range.ascending_ids() &&
         !range.filter->any_in(static_cast<idx_t>(r0), static_cast<idx_t>(r1));
}

size_t keep_allowed_hits(uint32_t* hits, size_t count, size_t row0, const RowRange& range);
void keep_allowed_masks(uint32_t* masks, size_t nwords, size_t row0, const RowRange& range);

/// Compacts hits[0, count) (row row0 + hits[i]) to the rows of the range whose id is allowed,
/// in order; returns how many remain. Without a filter: count, hits untouched.
inline size_t allowed_hits(uint32_t* hits, size_t count, size_t row0, const RowRange& range) {
  return range.filter ? keep_allowed_hits(hits, count, row0, range) : count;
}

/// Clears the bits of masks[0, nwords) (bit v of word b: row row0 + 32 b + v, set bits
/// already inside the range) whose id is not allowed. Without a filter: nothing.
inline void allowed_masks(uint32_t* masks, size_t nwords, size_t row0, const RowRange& range) {
  if (range.filter) keep_allowed_masks(masks, nwords, row0, range);
}

}  // namespace qvec::detail
