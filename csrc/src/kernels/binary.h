#pragma once
// Kernels for binary codes: Hamming distances, AND-popcount against query bit planes (the
// asymmetric binary scan), threshold filtering and float distances for re-ranking. One table
// per SIMD level (binary_scalar.cpp, binary_avx2.cpp, binary_avx512.cpp), chosen with
// select_kernels. Only POD types cross this boundary.
//
// Blocked code layout ("tile"): vectors in blocks of kBinaryBlock = 8; block b stores word w
// of its 8 vectors together, so one 512-bit load reads word w of 8 vectors:
//   tile[(b * nwords + w) * 8 + lane] = little-endian 64-bit word w of vector b * 8 + lane,
// where word w holds bytes 8w .. 8w+7 of the packed code, zero beyond the code's nbytes.
#include <cstddef>
#include <cstdint>

#include "qvec/simd.h"

namespace qvec::detail {

constexpr size_t kBinaryBlock = 8;

struct BinaryKernels {
  SimdLevel level;

  /// Hamming distances of nq query rows against a tile:
  /// out[q * ldo + v] = popcount(queries[q] XOR vector v), v < nblocks * 8.
  /// queries: size nq * nwords, layout (nq, nwords); tile: size nblocks * nwords * 8, blocked
  /// layout above; out: rows of ldo >= nblocks * 8 int32.
  void (*hamming_tile)(const uint64_t* queries, size_t nq, const uint64_t* tile, size_t nblocks,
                       size_t nwords, int32_t* out, size_t ldo);

  /// Asymmetric scan of one query against a tile of nlevels-level codes (level l of the tile
  /// at tile + l * nblocks * nwords * 8, each in the blocked layout above). For vector v:
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
  size_t (*binary_scan)(const uint64_t* planes, size_t nplanes, const uint8_t* luts,
                        const uint64_t* tile, size_t nlevels, size_t nblocks, size_t nwords,
                        const float* vec_factors, const float* c, size_t count, float threshold,
                        float* dist, uint32_t* hits);

  /// Writes the indices i < n with values[i] <= threshold to out (ascending); returns the count.
  size_t (*filter_le_f32)(const float* values, size_t n, float threshold, uint32_t* out);
  size_t (*filter_le_i32)(const int32_t* values, size_t n, int32_t threshold, uint32_t* out);

  /// <a, b> and ||a - b||^2 over d floats.
  float (*dot)(const float* a, const float* b, size_t d);
  float (*l2sqr)(const float* a, const float* b, size_t d);
};

const BinaryKernels* binary_scalar_kernels();
const BinaryKernels* binary_avx2_kernels();    // nullptr when the build has no AVX2 variant
const BinaryKernels* binary_avx512_kernels();  // nullptr when the build has no AVX-512 variant

/// The binary kernels of the active level.
const BinaryKernels& binary_kernels();

}  // namespace qvec::detail
