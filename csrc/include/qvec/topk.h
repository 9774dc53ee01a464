#pragma once
// Batched top-k selection. Results are sorted best-first (smallest distance first); ties go to
// the smaller id; when fewer than k candidates exist, the missing slots hold id -1 and +inf.
#include <cstddef>

#include "qvec/common.h"

namespace qvec {

/// distances: size nq * n, layout (nq, n), row i holds the candidates of query i.
/// Throws std::invalid_argument unless 1 <= k <= kMaxK (qvec/common.h).
/// out_distances, out_ids: size nq * k, layout (nq, k). Candidate ids are column numbers.
void topk_smallest(const float* distances, size_t nq, size_t n, size_t k, float* out_distances,
                   idx_t* out_ids);

/// Per-query results of a range search, in caller memory, that persist across the range calls
/// of one batch of queries (Pq8Queries, FastScanQueries): `keep` entries per query, each array
/// of layout (nq, keep). Between calls their contents belong to the search (a max-heap per
/// query); the search's init() prepares them and its finish() turns them into results.
struct RangeResults {
  float* distances;           // size nq * keep
  idx_t* ids;                 // size nq * keep
  float* rescored = nullptr;  // size nq * keep where the search says it needs it, else unused
};

}  // namespace qvec
