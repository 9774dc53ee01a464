#pragma once
// The table quantization family: the IVF 4-bit pair table of a (query, list) pair, the query's
// float table plus the list's term, quantized row by row to uint8 with the query's scale; and
// the row ranges and rounding of every other LUT quantization (lut_quantizer.cpp). Both run
// once per probed list (the 8-bit IVF pair tables of 256-entry rows, L2 by residual), so at
// short lists they cost as much as the scan. One table per
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

  /// The LUT quantizer's two passes (search/lut_quantizer.cpp), for rows of ksub floats (a
  /// multiple of 16; 16 and 256 in use), t finite. row_ranges: lows[j] = min_c t[j * ksub + c],
  /// highs[j] = max_c, for j < m. quantize_rows: lut[j * ksub + c] =
  /// int(min(255, max(0, (t[j * ksub + c] - lows[j]) * s + 0.5f))) (float mul, then add).
  void (*row_ranges)(const float* t, size_t m, size_t ksub, float* lows, float* highs);
  void (*quantize_rows)(const float* t, size_t m, size_t ksub, const float* lows, float s,
                        uint8_t* lut);

  /// The 8-bit IVF pair table of L2 by residual, its list term computed, not read (a stored
  /// term table is 64 KiB per list at m = 64, one DRAM read per pair): out[j * ksub + c] =
  /// a[j * ksub + c] + 2 s_jc, s_jc the sum in increasing t < dsub of the rounded products
  /// centroid[j * dsub + t] * books_t[(j * dsub + t) * ksub + c] (added after rounding: no
  /// FMA). books_t: the codebooks as (m, dsub, ksub); ksub a multiple of 8.
  void (*pair_rows)(const float* a, const float* centroid, const float* books_t, size_t m,
                    size_t ksub, size_t dsub, float* out);
};

}  // namespace qvec::detail
