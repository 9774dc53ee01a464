// AVX-512 (BW + VBMI) 8-bit ADC scan. Built with this file's own -m flags; only reached after
// dispatch.cpp has checked the CPU. Internal linkage and no std templates, so nothing leaks into
// baseline code.
#include <immintrin.h>

#include "kernels/dispatch.h"

namespace qvec::detail {
namespace {

// 256-entry byte lookup of 64 codes at once: two 128-entry VBMI permutes, then bit 7 of each
// code picks which half answered.
inline __m512i lookup256(const uint8_t* table, __m512i idx) {
  __m512i lo = _mm512_permutex2var_epi8(_mm512_loadu_si512(table), idx,
                                        _mm512_loadu_si512(table + 64));
  __m512i hi = _mm512_permutex2var_epi8(_mm512_loadu_si512(table + 128), idx,
                                        _mm512_loadu_si512(table + 192));
  return _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi);
}

void scan(const uint8_t* lut, const uint8_t* codes, size_t nblocks, size_t m,
                 uint16_t* out) {
  const __m512i low_bytes = _mm512_set1_epi16(0x00ff);
  // Even and odd code positions accumulate in separate 16-bit lanes; these indices
  // interleave them back into code order when the block is stored.
  static const uint16_t kInterleave[32] = {0, 32, 1, 33, 2, 34, 3, 35, 4, 36, 5, 37, 6, 38, 7, 39,
                                            8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46,
                                            15, 47};
  const __m512i first_half = _mm512_loadu_si512(kInterleave);
  const __m512i second_half = _mm512_add_epi16(first_half, _mm512_set1_epi16(16));
  for (size_t b = 0; b < nblocks; ++b) {
    const uint8_t* block = codes + b * m * kCodeBlock;
    __m512i even = _mm512_setzero_si512(), odd = _mm512_setzero_si512();
    for (size_t j = 0; j < m; ++j) {
      __m512i v = lookup256(lut + j * 256, _mm512_loadu_si512(block + j * kCodeBlock));
      even = _mm512_add_epi16(even, _mm512_and_si512(v, low_bytes));
      odd = _mm512_add_epi16(odd, _mm512_srli_epi16(v, 8));
    }
    _mm512_storeu_si512(out + b * kCodeBlock, _mm512_permutex2var_epi16(even, first_half, odd));
    _mm512_storeu_si512(out + b * kCodeBlock + 32,
                        _mm512_permutex2var_epi16(even, second_half, odd));
  }
}

void scan_pair(const uint8_t* lut0, const uint8_t* lut1, const uint8_t* codes, size_t nblocks,
               size_t m, uint16_t* out0, uint16_t* out1) {
  scan(lut0, codes, nblocks, m, out0);
  scan(lut1, codes, nblocks, m, out1);
}

}  // namespace

const Pq8Kernels* pq8_avx512_kernels() {
  static const Pq8Kernels table = {SimdLevel::AVX512, scan, scan_pair};
  return &table;
}

}  // namespace qvec::detail
