#pragma once
// The IVF 4-bit table quantization family: the pair table of a (query, list) pair, the query's
// float table plus the list's term, quantized row by row to uint8 with the query's scale. It
// runs once per probed list, so at short lists it costs as much as the scan. One table per
// level (pqlut_scalar.cpp, pqlut_avx2.cpp; AVX-512 uses the AVX2 one: a row is 16 floats).
// Every level computes the same float operations in the same order (no FMA), so the bytes and
// the bias are identical to scalar.
#include <cstddef>
#include <cstdint>

#include "qvec/simd.h"

namespace qvec::detail {

struct PqLutKernels {
  SimdLevel level;

  /// For j < m, c < 16, t = a[j * 16 + c] + (b ? b[j * 16 + c] : 0) and low_j = min_c t:
  ///   lut[j * 16 + c] = int(min(255, max(0, (t - low_j) * s + 0.5f)))  (float mul, then add)
  /// and returns sum_j low_j, summed in double in increasing j. a, b (or null): m rows of 16
  /// floats; lut: m * 16 bytes, written.
  float (*quantize)(const float* a, const float* b, size_t m, float s, uint8_t* lut);
};

}  // namespace qvec::detail
