#pragma once
// The Hamming kernel family: XOR + popcount of binary codes, query rows against a tile. One
// table per SIMD level (hamming_scalar.cpp, hamming_avx2.cpp, hamming_avx512.cpp), chosen in
// dispatch.cpp; only POD types cross this boundary (see dense.h).
//
// Blocked code layout ("tile"), also read by the rabitq family: vectors in blocks of
// kBinaryBlock = 8; block b stores word w of its 8 vectors together, so one 512-bit load reads
// word w of 8 vectors:
//   tile[(b * nwords + w) * 8 + lane] = little-endian 64-bit word w of vector b * 8 + lane,
// where word w holds bytes 8w .. 8w+7 of the packed code, zero beyond the code's nbytes.
#include <cstddef>
#include <cstdint>

#include "qvec/simd.h"

namespace qvec::detail {

/// Vectors per block of the blocked binary layout.
constexpr size_t kBinaryBlock = 8;

struct HammingKernels {
  SimdLevel level;

  /// Hamming distances of nq query rows against a tile:
  /// out[q * ldo + v] = popcount(queries[q] XOR vector v), v < nblocks * 8.
  /// queries: size nq * nwords, layout (nq, nwords); tile: size nblocks * nwords * 8, blocked
  /// layout above; out: rows of ldo >= nblocks * 8 int32.
  void (*hamming_tile)(const uint64_t* queries, size_t nq, const uint64_t* tile, size_t nblocks,
                       size_t nwords, int32_t* out, size_t ldo);
};

}  // namespace qvec::detail
