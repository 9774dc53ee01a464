#pragma once
// The filter kernel family: the indices of the values <= a threshold, for the scanners that
// turn a block of distances or sums into candidates. One table per SIMD level
// (filter_scalar.cpp, filter_avx2.cpp, filter_avx512.cpp), chosen in dispatch.cpp; only POD
// types cross this boundary (see dense.h). filter_hits.h holds the part every level shares.
#include <cstddef>
#include <cstdint>

#include "qvec/simd.h"

namespace qvec::detail {

struct FilterKernels {
  SimdLevel level;

  /// Write the indices i < n with values[i] <= threshold to out (ascending, size >= n); return
  /// their count.
  size_t (*le_u16)(const uint16_t* values, size_t n, uint16_t threshold, uint32_t* out);
  size_t (*le_i32)(const int32_t* values, size_t n, int32_t threshold, uint32_t* out);
  size_t (*le_f32)(const float* values, size_t n, float threshold, uint32_t* out);
};

}  // namespace qvec::detail
