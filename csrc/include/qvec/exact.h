#pragma once
// Exhaustive (exact) k-nearest-neighbour search: the reference every quantized search is
// measured against, and the re-ranking step.
#include <cstddef>

#include "qvec/common.h"
#include "qvec/id_filter.h"

namespace qvec {

/// queries: size nq * d, layout (nq, d); base: size n * d, layout (n, d).
/// distances, ids: size nq * k, layout (nq, k), filled best-first.
/// L2 gives squared distances (ascending); IP gives inner products (descending).
/// Missing results (k > n) hold id -1 and +inf (L2) or -inf (IP).
/// Throws std::invalid_argument if a distance is not finite (NaN or inf in base or queries).
/// filter: null, or the ids (= rows) that may be returned (qvec/id_filter.h); fewer than k
/// allowed rows pad as above. Rows with no allowed id may be skipped unread.
void exact_search(const float* queries, size_t nq, const float* base, size_t n, size_t d,
                  Metric metric, size_t k, float* distances, idx_t* ids,
                  const IdFilter* filter = nullptr);

/// Row norms: out[i] = sum_j x[i*d + j]^2 for i < n.
void squared_norms(const float* x, size_t n, size_t d, float* out);

}  // namespace qvec
