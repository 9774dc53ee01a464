#pragma once
// The extended-RaBitQ kernel family: inner products of a float query with multi-bit codes
// stored as bit planes, for the candidates that survive the 1-bit pass of the extended
// search (rabitq_extended_search.cpp). One table per SIMD level (exrabitq_scalar.cpp,
// exrabitq_avx2.cpp, exrabitq_avx512.cpp), chosen in dispatch.cpp; only POD types cross this
// boundary (see dense.h).
#include <cstddef>
#include <cstdint>

#include "qvec/simd.h"

namespace qvec::detail {

struct ExRabitqKernels {
  SimdLevel level;

  /// Inner products of one query with nrows codes of nlevels bit planes:
  ///   out[i] = sum_{l < nlevels} 2^(nlevels - 1 - l) sum_{j < 8 nbytes} bit(i, l, j) query[j]
  /// where code i starts at codes + rows[i] * stride, its plane l at code i + l * nbytes, and
  /// bit(i, l, j) is bit j % 8 (least significant first) of byte j / 8 of that plane. (For
  /// numpy.packbits planes, pass the query with each group of 8 coordinates reversed.)
  /// query: size 8 * nbytes; rows: size nrows; out: size nrows, written. 1 <= nlevels <= 8.
  void (*code_dots)(const float* query, size_t nbytes, size_t nlevels, const uint8_t* codes,
                    size_t stride, const uint32_t* rows, size_t nrows, float* out);
};

}  // namespace qvec::detail
