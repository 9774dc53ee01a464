#pragma once
// The IVF search driver: the (query, list) pairs of a batch, grouped by list so each list is
// scanned once for every query of a task that probes it, into per-query collectors that
// persist across lists. Each codec supplies a ListScan that turns one group into one
// search_range call of its RangeSearch (or an exact scan).
#include <cstddef>

#include "qvec/ivf.h"
#include "qvec/topk.h"

namespace qvec::detail {

/// The queries of one task that probe one list.
struct ListGroup {
  size_t list = 0;
  size_t count = 0;
  const size_t* queries = nullptr;  // size count: indices into the batch, ascending
  const float* coarse = nullptr;    // size count: each query's coarse value for this list
};

class ListScan {
 public:
  virtual ~ListScan() = default;
  /// Scans list group.list for the group's queries into their collectors: results rows i of
  /// (count, keep) arrays (distances, ids; heaps of smaller-is-better distances, already
  /// holding what earlier lists left).
  virtual void scan(const ListGroup& group, const RangeResults& results) const = 0;
};

/// Runs the search: keep entries per query, smaller-is-better distances; writes the best keep
/// of every query best first (id -1 / +inf padding). distances, ids: size nq * keep.
void ivf_run(const IvfLists& lists, size_t nq, const IvfProbes& probes, size_t keep,
             const ListScan& scan, float* distances, idx_t* ids);

/// Throws std::out_of_range unless every probed list is -1 or in [0, nlist).
void check_probes(const IvfProbes& probes, size_t nq, size_t nlist);

}  // namespace qvec::detail
