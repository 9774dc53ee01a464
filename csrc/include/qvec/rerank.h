#pragma once
// Exact re-ranking of a shortlist: the step after a quantized search (binary or PQ) that
// searched k' = 10 * k codes, with the original vectors.
#include <cstddef>

#include "qvec/common.h"

namespace qvec {

/// For each query, the exact metric to each candidate base[candidate_ids[q, j]] (ids -1
/// skipped, duplicates counted once), and the best k of them best-first, ties to the smaller
/// id; missing results hold id -1 and +inf (L2) or -inf (IP).
/// queries: size nq * d; candidate_ids: size nq * ncand, layout (nq, ncand), each -1 or in
/// [0, n), else std::out_of_range; base: size n * d; distances, ids: size nq * k.
/// A candidate row with NaN or inf (a non-finite distance) throws std::invalid_argument.
void rerank(const float* queries, size_t nq, const idx_t* candidate_ids, size_t ncand,
            const float* base, size_t n, size_t d, Metric metric, size_t k, float* distances,
            idx_t* ids);

}  // namespace qvec
