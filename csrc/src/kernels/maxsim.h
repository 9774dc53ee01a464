#pragma once
// The MaxSim kernel family (multi-vector late interaction, csrc/src/multivector): the best
// similarity, over a run of document tokens, of each of kMaxSimLanes query tokens, from
// transposed per-query-token tables (byte codes) or transposed float query tokens. One table
// per SIMD level (maxsim_scalar.cpp, maxsim_avx2.cpp, maxsim_avx512.cpp), chosen in
// dispatch.cpp; only POD types cross this boundary (see dense.h).
//
// Every level sums in the same order (code byte j or dimension d ascending), so byte_block is
// identical to scalar at every level; weighted_block and float_block may differ in the last
// bits where the compiler fuses a product and its sum into an FMA in the ISA files.
#include <cstddef>
#include <cstdint>

#include "qvec/simd.h"

namespace qvec::detail {

/// Query tokens of one transposed block (one 64-byte line of floats).
constexpr size_t kMaxSimLanes = 16;

struct MaxSimKernels {
  SimdLevel level;

  /// best[u] = max over tokens r < ntok of sum_{j < m} block[(j * 256 + codes[r * m + j]) * 16
  /// + u], u < 16 (-inf when ntok == 0). block: size m * 256 * 16, layout (m, 256, 16);
  /// codes: size ntok * m, layout (ntok, m).
  void (*byte_block)(const float* block, const uint8_t* codes, size_t m, size_t ntok,
                     float* best);

  /// As byte_block with the m bytes in `groups` equal runs, run g of token r scaled by
  /// weights[r * weight_stride + g]: sum_g w_g * (sum of run g's entries).
  void (*weighted_block)(const float* block, const uint8_t* codes, size_t m, size_t groups,
                         const float* weights, size_t weight_stride, size_t ntok, float* best);

  /// best[u] = max over tokens r < ntok of sum_{d < dim} tokens[r * dim + d] * block[d * 16 + u].
  /// block: size dim * 16, layout (dim, 16); tokens: size ntok * dim, layout (ntok, dim).
  void (*float_block)(const float* block, const float* tokens, size_t dim, size_t ntok,
                      float* best);
};

}  // namespace qvec::detail
