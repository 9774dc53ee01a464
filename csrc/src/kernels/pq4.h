#pragma once
// The 4-bit PQ (fast-scan) kernel family: 16-entry uint8 lookup tables held in SIMD
// registers, looked up with byte shuffles and summed in 16-bit lanes. One table per SIMD level
// (pq4_scalar.cpp, pq4_avx2.cpp, pq4_avx512.cpp), chosen in dispatch.cpp; only POD types
// cross this boundary (see dense.h).
//
// Code layout ("fast-scan blocks"), fixed for every level: vectors in blocks of 32, m2
// (even) subquantizers; block b, subquantizer j occupies 16 bytes at codes + (b * m2 + j) * 16,
// and byte t holds the code of vector t in its low nibble and of vector t + 16 in its high
// nibble. So a 32-byte load covers subquantizers (j, j + 1) of 32 vectors and one 256-bit
// shuffle looks up 32 codes against the two tables in its two lanes; a 64-byte load covers
// four subquantizers for the 512-bit shuffle.
#include <cstddef>
#include <cstdint>

#include "qvec/simd.h"

namespace qvec::detail {

/// Vectors per fast-scan block.
constexpr size_t kFsBlock = 32;
/// Most queries one scan call handles (they share each code load).
constexpr size_t kFsMaxQueries = 8;

struct Pq4Kernels {
  SimdLevel level;

  /// For q < nq <= kFsMaxQueries, b < nblocks, v < 32:
  ///   out[q * ldo + b * 32 + v] = (sum_{j < m2} luts[q][j * 16 + code(b, j, v)]) mod 2^16
  /// with code(b, j, v) = (codes[(b * m2 + j) * 16 + v % 16] >> (4 * (v / 16))) & 15, and
  ///   bit v of masks[q * nblocks + b] set iff out[q * ldo + b * 32 + v] <= thresholds[q].
  /// luts: nq pointers, each to a table of m2 * 16 bytes, layout (m2, 16) (tables anywhere,
  /// so callers holding a query's table elsewhere need not copy it); m2 even, >= 2.
  /// codes: size nblocks * m2 * 16 (fast-scan blocks); out: rows of nblocks * 32, stride ldo;
  /// thresholds: size nq; masks: size nq * nblocks, layout (nq, nblocks).
  /// Returns a bit set: bit q is set iff some mask of query q is non-zero.
  uint32_t (*scan)(const uint8_t* const* luts, size_t nq, const uint8_t* codes, size_t nblocks,
                   size_t m2, const uint16_t* thresholds, uint16_t* out, size_t ldo,
                   uint32_t* masks);
};

}  // namespace qvec::detail
