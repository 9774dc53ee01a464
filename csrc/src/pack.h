#pragma once
// Column-packed layout shared by the tile kernels: vectors in groups of 16, each group stored
// as (d, 16) so one SIMD load reads one coordinate of 16 vectors.
#include <cstddef>
#include <limits>

#include "kernels/dense.h"

namespace qvec::detail {

/// rows: size k * d with row stride lda; packed: size ceil(k/16) * d * 16, zero-filled tail;
/// norms (if not null): size ceil(k/16) * 16, tail +inf so padding never wins an argmin.
inline void pack_columns(const float* rows, size_t k, size_t d, size_t lda, float* packed,
                         float* norms) {
  size_t npacks = (k + kPackWidth - 1) / kPackWidth;
  for (size_t i = 0; i < npacks * kPackWidth; ++i) {
    float* dst = packed + (i / kPackWidth) * d * kPackWidth + i % kPackWidth;
    float norm = 0.0f;
    for (size_t t = 0; t < d; ++t) {
      float v = i < k ? rows[i * lda + t] : 0.0f;
      dst[t * kPackWidth] = v;
      norm += v * v;
    }
    if (norms) norms[i] = i < k ? norm : std::numeric_limits<float>::infinity();
  }
}

}  // namespace qvec::detail
