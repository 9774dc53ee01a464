#pragma once
// The AVX-512 fast-scan kernel body, shared by pq4_avx512.cpp (BW + VBMI) and
// pq4_avx512vnni.cpp: each includes it in its own TU, inside its own namespace, with a `Sum`
// policy that adds one register of looked-up bytes into the per-vector accumulators. Only
// include it from an ISA file built with the AVX-512 flags.
//
// One 64-byte load holds four subquantizers (16-byte lanes j) of the block's codes. A byte
// permute (VBMI) transposes it so that dword v holds the four codes of vector v (and, in the
// high nibbles, of vector v + 16); a second byte permute per query looks all 64 up at once in
// the four 16-entry tables (index 16 j + code). The four looked-up bytes of a vector then sit
// side by side, so one multiply-add against ones sums them: half the additions and shifts of
// per-lane 16-bit sums, and no cross-lane reduction at the end of each block. Up to eight
// queries share each code load and its transpose: their 16 accumulators, the two index
// registers and the constants fit the 32 zmm registers, and the per-query work (two permutes,
// two sums per load) is what remains per lookup.
#include <immintrin.h>

#include "kernels/dispatch.h"

namespace PQ4_AVX512_NS {
namespace {

using qvec::detail::kFsBlock;

// out byte 4 v + j = in byte 16 j + v: vector v's codes of the four subquantizers, adjacent.
inline __m512i transpose_index() {
  alignas(64) static const uint8_t kIndex[64] = {
      0, 16, 32, 48, 1, 17, 33, 49, 2,  18, 34, 50, 3,  19, 35, 51, 4,  20, 36, 52, 5,  21,
      37, 53, 6, 22, 38, 54, 7, 23, 39, 55, 8,  24, 40, 56, 9,  25, 41, 57, 10, 26, 42, 58,
      11, 27, 43, 59, 12, 28, 44, 60, 13, 29, 45, 61, 14, 30, 46, 62, 15, 31, 47, 63};
  return _mm512_load_si512(kIndex);
}

// One 64-byte group of codes (four subquantizers, or two with zero codes above) against the
// tables of Q queries; keep masks the tables alike.
template <class Sum, int Q>
inline void accumulate(__m512i c, const uint8_t* const* luts, size_t offset, __mmask64 keep,
                       __m512i* lo, __m512i* hi) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i lane = _mm512_set1_epi32(0x30201000);  // 16 j in byte j of every dword
  c = _mm512_permutexvar_epi8(transpose_index(), c);
  // (x & 0x0f) | 16 j: the table index of each code.
  const __m512i ilo = _mm512_ternarylogic_epi32(c, low4, lane, 0xEA);
  const __m512i ihi = _mm512_ternarylogic_epi32(_mm512_srli_epi16(c, 4), low4, lane, 0xEA);
  for (int q = 0; q < Q; ++q) {
    const __m512i tab = _mm512_maskz_loadu_epi8(keep, luts[q] + offset);
    lo[q] = Sum::add(lo[q], _mm512_permutexvar_epi8(ilo, tab));
    hi[q] = Sum::add(hi[q], _mm512_permutexvar_epi8(ihi, tab));
  }
}

template <class Sum, int Q>
uint32_t scan_queries(const uint8_t* const* luts, const uint8_t* codes, size_t nblocks,
                      size_t m2, const uint16_t* thresholds, uint16_t* out, size_t ldo,
                      uint32_t* masks) {
  const __mmask64 all = ~__mmask64(0), half = 0xffffffffULL;
  const size_t m4 = m2 & ~size_t(3);
  uint32_t any = 0;
  __m512i limit[Q];
  for (int q = 0; q < Q; ++q) limit[q] = _mm512_set1_epi16(static_cast<short>(thresholds[q]));
  for (size_t blk = 0; blk < nblocks; ++blk) {
    const uint8_t* block = codes + blk * m2 * 16;
    __m512i lo[Q], hi[Q];  // vectors 0-15 and 16-31
    for (int q = 0; q < Q; ++q) lo[q] = hi[q] = _mm512_setzero_si512();
    for (size_t j = 0; j < m4; j += 4)
      accumulate<Sum, Q>(_mm512_loadu_si512(block + j * 16), luts, j * 16, all, lo, hi);
    // A last pair of subquantizers (m2 % 4 == 2): zero codes above it, looked up in tables
    // zeroed there.
    if (m4 < m2)
      accumulate<Sum, Q>(_mm512_maskz_loadu_epi8(half, block + m4 * 16), luts, m4 * 16, half,
                         lo, hi);
    for (int q = 0; q < Q; ++q) {
      const __m512i sums = Sum::finish(lo[q], hi[q]);
      _mm512_storeu_si512(out + q * ldo + blk * kFsBlock, sums);
      const uint32_t mask = _mm512_cmple_epu16_mask(sums, limit[q]);
      masks[q * nblocks + blk] = mask;
      if (mask != 0) any |= uint32_t(1) << q;
    }
  }
  return any;
}

template <class Sum>
uint32_t scan(const uint8_t* const* luts, size_t nq, const uint8_t* codes, size_t nblocks,
              size_t m2, const uint16_t* thresholds, uint16_t* out, size_t ldo,
              uint32_t* masks) {
  switch (nq) {
    case 8: return scan_queries<Sum, 8>(luts, codes, nblocks, m2, thresholds, out, ldo, masks);
    case 7: return scan_queries<Sum, 7>(luts, codes, nblocks, m2, thresholds, out, ldo, masks);
    case 6: return scan_queries<Sum, 6>(luts, codes, nblocks, m2, thresholds, out, ldo, masks);
    case 5: return scan_queries<Sum, 5>(luts, codes, nblocks, m2, thresholds, out, ldo, masks);
    case 4: return scan_queries<Sum, 4>(luts, codes, nblocks, m2, thresholds, out, ldo, masks);
    case 3: return scan_queries<Sum, 3>(luts, codes, nblocks, m2, thresholds, out, ldo, masks);
    case 2: return scan_queries<Sum, 2>(luts, codes, nblocks, m2, thresholds, out, ldo, masks);
    case 1: return scan_queries<Sum, 1>(luts, codes, nblocks, m2, thresholds, out, ldo, masks);
    default: return 0;
  }
}

// The low 16 bits of each 32-bit lane of lo (vectors 0-15) then hi (16-31): the block's 32 sums
// mod 2^16 in vector order.
inline __m512i low_words(__m512i lo, __m512i hi) {
  alignas(64) static const uint16_t kEven[32] = {0,  2,  4,  6,  8,  10, 12, 14, 16, 18, 20,
                                                 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 42,
                                                 44, 46, 48, 50, 52, 54, 56, 58, 60, 62};
  return _mm512_permutex2var_epi16(lo, _mm512_load_si512(kEven), hi);
}

}  // namespace
}  // namespace PQ4_AVX512_NS
