#pragma once
// Batched top-k selection. Results are sorted best-first (smallest distance first); ties go to
// the smaller id; when fewer than k candidates exist, the missing slots hold id -1 and +inf.
#include <cstddef>

#include "qvec/common.h"
#include "qvec/id_filter.h"

namespace qvec {

/// distances: size nq * n, layout (nq, n), row i holds the candidates of query i.
/// Throws std::invalid_argument unless 1 <= k <= kMaxK (qvec/common.h).
/// out_distances, out_ids: size nq * k, layout (nq, k). Candidate ids are column numbers.
void topk_smallest(const float* distances, size_t nq, size_t n, size_t k, float* out_distances,
                   idx_t* out_ids);

/// Per-query results of a range search, in caller memory, that persist across the range calls
/// of one batch of queries: keep() entries per query, each array of layout (nq, keep()).
/// Between calls their contents belong to the search (a max-heap per query); the search's
/// init() prepares them and its finish() turns them into results.
struct RangeResults {
  float* distances;           // size nq * keep
  idx_t* ids;                 // size nq * keep
  float* rescored = nullptr;  // size nq * keep when needs_rescored(), else unused
};

/// The range-search contract every codec's prepared queries follow (Pq8Queries in qvec/pq.h,
/// FastScanQueries in qvec/fastscan.h), so an inverted list, a shard or one of several code
/// arrays is "just a range": init() once, search_range() for each range, in any order, then
/// finish() writes the top-k of the union of every range scanned, equal to one search over
/// all those rows with the same ids (ties to the smaller id).
///
///   std::vector<float> d(nq * s.keep()), r(s.needs_rescored() ? nq * s.keep() : 0);
///   std::vector<idx_t> i(nq * s.keep());
///   RangeResults state{d.data(), i.data(), r.data()};
///   s.init(state);
///   for (const auto& list : lists) s.search_range(list.codes, 0, list.n, list.ids, state);
///   // (or s.search_range(..., state, &filter) to return only ids the IdFilter allows)
///   s.finish(state, distances, ids);   // (nq, k), best first
class RangeSearch {
 public:
  virtual ~RangeSearch() = default;

  size_t nq() const { return nq_; }
  size_t k() const { return k_; }
  /// Entries per query of the RangeResults arrays (>= k).
  virtual size_t keep() const = 0;
  /// True when RangeResults::rescored must hold nq * keep() floats.
  virtual bool needs_rescored() const { return false; }

  /// Empties the per-query results.
  virtual void init(const RangeResults& results) const = 0;
  /// Adds the candidates of rows [begin, end) of `codes` (the codec's scan layout of at least
  /// `end` vectors). ids: null (the id of row r is r) or size end - begin, the id of row r at
  /// ids[r - begin], in any order (ids >= 0). filter: null (every id) or the ids that may be
  /// returned (qvec/id_filter.h), tested on the id of each row (ids[r - begin] with a map),
  /// inside the scan: referenced during the call only. Query blocks run in parallel. Throws
  /// std::invalid_argument when begin > end.
  virtual void search_range(const uint8_t* codes, size_t begin, size_t end, const idx_t* ids,
                            const RangeResults& results,
                            const IdFilter* filter = nullptr) const = 0;
  /// Writes the best k of each query: distances, ids of size nq * k, layout (nq, k), best
  /// first, in the search's units; missing results are id -1 and +inf. Leaves `results`
  /// unusable for further ranges.
  virtual void finish(const RangeResults& results, float* distances, idx_t* ids) const = 0;

 protected:
  RangeSearch(size_t nq, size_t k) : nq_(nq), k_(k) {}
  size_t nq_, k_;
};

}  // namespace qvec
