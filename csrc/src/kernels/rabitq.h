#pragma once
// The RaBitQ kernel family: the asymmetric binary scan, AND + popcount of multi-level binary
// codes against the bit planes of a quantized query. One table per SIMD level
// (rabitq_scalar.cpp, rabitq_avx2.cpp, rabitq_avx512.cpp), chosen in dispatch.cpp; only POD
// types cross this boundary (see dense.h). Codes are in the blocked layout of hamming.h.
#include <cstddef>
#include <cstdint>

#include "kernels/hamming.h"
#include "qvec/simd.h"

namespace qvec::detail {

struct RabitqKernels {
  SimdLevel level;

  /// Asymmetric scan of one query against a tile of nlevels-level codes (level l of the tile
  /// at tile + l * nblocks * nwords * 8, each in the blocked layout of hamming.h). For vector v:
  ///   S_l[v] = sum_{p < nplanes} 2^p * popcount(planes[p] AND level l of v)
  ///   dist[v] = c[0] * sum_l W_l[v] * S_l[v] + c[1] * beta[v] + c[2] * g[v] + h[v] + c[3]
  /// with W_l, beta, g, h the rows of vec_factors, layout (nlevels + 3, nblocks * 8).
  /// planes: size nplanes * nwords, layout (nplanes, nwords), 1 <= nplanes <= 8; c: size 4.
  /// dist: size nblocks * 8, written. The indices v < count with dist[v] <= threshold go to
  /// hits (ascending, size nblocks * 8); returns their number.
  /// luts: nullptr, or the same query as nibble tables, size ceil(nplanes / 4) * nwords * 256,
  /// layout (ceil(nplanes / 4), nwords, 2, 8, 16): with u_s[j] = bits 4s .. 4s+3 of
  /// u[j] = sum_p 2^p bit j of plane p, luts[s][w][0][i][m] = sum_t bit t of m *
  /// u_s[64 w + 8 i + 7 - t] and luts[s][w][1][i][m] = sum_t bit t of m * u_s[64 w + 8 i + 3 - t]:
  /// the low and high nibble of code byte 8 w + i looked up directly, S = sum_s 16^s S_s.
  /// Kernels may use either form; the results are identical.
  size_t (*scan)(const uint64_t* planes, size_t nplanes, const uint8_t* luts,
                 const uint64_t* tile, size_t nlevels, size_t nblocks, size_t nwords,
                 const float* vec_factors, const float* c, size_t count, float threshold,
                 float* dist, uint32_t* hits);
};

}  // namespace qvec::detail
