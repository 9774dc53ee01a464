#pragma once
// The seeded training sample shared by the trainers that work on a copy (OPQ, anisotropic PQ).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "rng.h"

namespace qvec::detail {

/// min(n, limit) rows of x (size n * dim) drawn without replacement for the seed, in input
/// order (sequential reads): size rows * dim.
inline std::vector<float> sample_rows(const float* x, size_t n, size_t dim, size_t limit,
                                      uint64_t seed) {
  std::vector<size_t> rows(n);
  for (size_t i = 0; i < n; ++i) rows[i] = i;
  size_t nt = std::min(n, limit);
  SplitMix64 rng(seed ^ 0x6A09E667F3BCC909ULL);
  for (size_t i = 0; i < nt && nt < n; ++i) std::swap(rows[i], rows[i + rng.below(n - i)]);
  rows.resize(nt);
  std::sort(rows.begin(), rows.end());
  std::vector<float> out(nt * dim);
  for (size_t i = 0; i < nt; ++i)
    std::copy(x + rows[i] * dim, x + (rows[i] + 1) * dim, out.data() + i * dim);
  return out;
}

}  // namespace qvec::detail
