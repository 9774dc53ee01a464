#pragma once
// The range contract every block scanner follows, so that an inverted list, a shard or a task of
// a batched search is "just a range":
//
// - A scanner scans rows [begin, end) of ONE code array in that codec's scan layout (the layout
//   fixes which bytes hold row r; rows of the array outside the range are never reported).
// - A candidate found at row r is reported with id `ids ? ids[r - begin] : r`: `ids` is an
//   optional caller-supplied row -> id map of size end - begin (an inverted list's ids).
// - Without a map ids grow with rows, so within one range a later row never wins a tie against
//   an earlier one. With a map ids are in any order: a scanner must then admit a candidate whose
//   distance EQUALS its query's threshold and let the collector break the tie by id.
// - The collectors (collector.h) own each query's threshold and persist across ranges: scanning
//   several ranges one after another, in any order, into the same collectors gives the top-k of
//   their union, with the global tie rule (distance, then smaller id).
// - An optional allowed-id filter (qvec/id_filter.h) travels with the range: a scanner hands
//   its candidates through the filter stage (search/filter.h) before any collector sees them,
//   so a row whose id the filter rejects is never reported and never moves a threshold.
#include <cstddef>

#include "qvec/common.h"
#include "qvec/id_filter.h"

namespace qvec::detail {

struct RowRange {
  size_t begin = 0;
  size_t end = 0;
  /// Row -> id map, size end - begin; null: the id of row r is r.
  const idx_t* ids = nullptr;
  /// Ids a candidate may have (tested on id(row)); null: every id.
  const IdFilter* filter = nullptr;

  size_t size() const { return end - begin; }
  idx_t id(size_t row) const { return ids ? ids[row - begin] : static_cast<idx_t>(row); }
  /// True when ids grow with rows, i.e. no map: ties within the range go to the earlier row.
  bool ascending_ids() const { return ids == nullptr; }
};

}  // namespace qvec::detail
