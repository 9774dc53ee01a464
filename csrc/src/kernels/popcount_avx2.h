#pragma once
// AVX2 popcount helpers shared by hamming_avx2.cpp and rabitq_avx2.cpp: popcount by nibble
// lookup (VPSHUFB over a 16-entry table) with per-lane sums by VPSADBW. Include only from
// files built with the AVX2 flags. Internal linkage on purpose: every including file gets its
// own copy, so the linker can never hand baseline code an AVX2 build of them.
#include <immintrin.h>

#include <cstdint>

namespace qvec::detail {
namespace {

// Popcount of each 64-bit lane of x.
inline __m256i popcount_lanes(__m256i x) {
  const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1,
                                         2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(x, low));
  __m256i hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(x, 4), low));
  return _mm256_sad_epu8(_mm256_add_epi8(lo, hi), _mm256_setzero_si256());
}

// Packs the low 32 bits of the 64-bit lanes of a (vectors 0..3) and b (4..7) into out[0..8).
inline void store_lanes(__m256i a, __m256i b, int32_t* out) {
  const __m256i pick = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  __m128i lo = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(a, pick));
  __m128i hi = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(b, pick));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), lo);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 4), hi);
}

}  // namespace
}  // namespace qvec::detail
