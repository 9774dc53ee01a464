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

}  // namespace qvec
