#pragma once
// Popcount without VPOPCNTDQ, for the avx512_skx files (hamming_avx512_skx.cpp,
// rabitq_avx512_skx.cpp): each nibble of (code OP query) looked up in a 16-entry table by
// VPSHUFB (AVX-512BW), the two counts of a byte added in the byte, and the bytes of each 64-bit
// lane summed by VPSADBW only once per run of up to kSkxRunWords words. Include only from files
// built with the skx flags. Internal linkage on purpose: every including file gets its own
// copy, so the linker can never hand baseline code an AVX-512 build of them.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/hamming.h"

namespace qvec::detail {
namespace {

/// Words whose byte counts (<= 8 each) still fit a byte: 31 * 8 = 248.
constexpr size_t kSkxRunWords = 31;
/// VPTERNLOG immediates for (a OP b) AND c: the nibble indices of a XOR b and of a AND b.
constexpr int kSkxXor = 0x28;
constexpr int kSkxAnd = 0x80;

/// The nibble table in every 128-bit lane (VPSHUFB looks up within lanes).
inline __m512i nibble_popcounts() {
  return _mm512_broadcast_i32x4(
      _mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4));
}

/// The popcount of every byte of (c OP q), 0..8. c_high = c >> 4 in 64-bit lanes, computed
/// once per code word for all the queries it meets; OP and the nibble mask are one VPTERNLOG
/// per nibble (shifting q and c apart commutes with OP).
template <int Op>
inline __m512i byte_popcounts(__m512i c, __m512i c_high, __m512i q, __m512i table) {
  const __m512i low = _mm512_set1_epi8(0x0f);
  __m512i lo = _mm512_ternarylogic_epi64(c, q, low, Op);
  __m512i hi = _mm512_ternarylogic_epi64(c_high, _mm512_srli_epi64(q, 4), low, Op);
  return _mm512_add_epi8(_mm512_shuffle_epi8(table, lo), _mm512_shuffle_epi8(table, hi));
}

/// Byte counts summed into each 64-bit lane.
inline __m512i lane_sums(__m512i bytes) { return _mm512_sad_epu8(bytes, _mm512_setzero_si512()); }

/// acc[r] (int64 per vector of the block) = sum over w < nwords of popcount(words[r * nwords + w]
/// OP word w of the block's 8 vectors), for the R rows of `words` (size R * nwords); block:
/// nwords * kBinaryBlock words, layout (nwords, 8). Each code word is loaded once for all R
/// rows; byte counts are summed in bytes over runs of kSkxRunWords words, then by VPSADBW.
template <int R, int Op>
inline void block_popcounts(const uint64_t* words, const uint64_t* block, size_t nwords,
                            __m512i* acc) {
  const __m512i table = nibble_popcounts();
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_si512();
  for (size_t w0 = 0; w0 < nwords; w0 += kSkxRunWords) {
    const size_t end = nwords - w0 < kSkxRunWords ? nwords : w0 + kSkxRunWords;
    __m512i bytes[R];
    for (int r = 0; r < R; ++r) bytes[r] = _mm512_setzero_si512();
    for (size_t w = w0; w < end; ++w) {
      const __m512i c = _mm512_loadu_si512(block + w * kBinaryBlock);
      const __m512i c_high = _mm512_srli_epi64(c, 4);
      for (int r = 0; r < R; ++r) {
        __m512i q = _mm512_set1_epi64(static_cast<long long>(words[r * nwords + w]));
        bytes[r] = _mm512_add_epi8(bytes[r], byte_popcounts<Op>(c, c_high, q, table));
      }
    }
    for (int r = 0; r < R; ++r) acc[r] = _mm512_add_epi64(acc[r], lane_sums(bytes[r]));
  }
}

}  // namespace
}  // namespace qvec::detail
