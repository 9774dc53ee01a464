#pragma once
// The 8-bit PQ kernel family: ADC over 256-entry uint8 lookup tables, summed in 16-bit lanes.
// One table per SIMD level (pq8_scalar.cpp, pq8_avx2.cpp, pq8_avx512.cpp), chosen in
// dispatch.cpp; only POD types cross this boundary (see dense.h).
//
// Code layout ("transposed blocks"), fixed for every level: vectors in blocks of kCodeBlock,
// code j of vector v of block b at codes[(b * m + j) * kCodeBlock + v].
#include <cstddef>
#include <cstdint>

#include "qvec/simd.h"

namespace qvec::detail {

/// Vectors per block of the transposed 8-bit code layout.
constexpr size_t kCodeBlock = 64;
/// Extra readable bytes callers allocate after an 8-bit lookup table (gathers read 4 bytes).
constexpr size_t kLutPadding = 64;

struct Pq8Kernels {
  SimdLevel level;

  /// Quantized ADC: out[b * 64 + v] = sum_j lut[j * 256 + code(b, j, v)] as uint16, where
  /// code(b, j, v) = codes[(b * m + j) * 64 + v]. lut: size m * 256 + kLutPadding; the caller
  /// guarantees the sums fit in 16 bits. codes: size nblocks * m * 64; out: nblocks * 64.
  void (*scan)(const uint8_t* lut, const uint8_t* codes, size_t nblocks, size_t m,
               uint16_t* out);
  /// Two queries in one pass over the codes: out0 as scan(lut0, ...), out1 as scan(lut1, ...)
  /// (out0, out1: nblocks * 64 each). Levels that look codes up in registers call scan twice;
  /// AVX2's scalar loads share each code's extraction between the two tables.
  void (*scan_pair)(const uint8_t* lut0, const uint8_t* lut1, const uint8_t* codes,
                    size_t nblocks, size_t m, uint16_t* out0, uint16_t* out1);
};

}  // namespace qvec::detail
