// AVX2 fast-scan kernels. Built with this file's own -m flags; only reached after dispatch.cpp
// has checked the CPU. Internal linkage and no std templates, so nothing leaks into baseline code.
//
// A 256-bit register holds the 16-byte tables of subquantizers j and j + 1 in its two lanes;
// one 32-byte load of codes gives, after masking the low and the high nibbles, the codes of
// vectors 0-15 and 16-31 for both subquantizers, so two shuffles look up 64 codes. Bytes are
// summed in 16-bit lanes without unpacking: `a` accumulates each 16-bit word as it comes
// (low byte + 256 * high byte) and `b` the high bytes alone, so mod 2^16 the low-byte sum is
// a - 256 * b and the high-byte sum is b.
#include <immintrin.h>

#include "kernels/dispatch.h"

namespace qvec::detail {
namespace pq4_avx2 {
namespace {

// Adds the 2 lanes of (even, odd) word sums: the 16 sums in vector order, as two halves.
inline void lane_sums(__m256i a, __m256i b, __m128i* first, __m128i* second) {
  __m256i even = _mm256_sub_epi16(a, _mm256_slli_epi16(b, 8));
  __m256i s = _mm256_add_epi16(_mm256_permute2x128_si256(even, b, 0x20),
                               _mm256_permute2x128_si256(even, b, 0x31));
  __m128i e = _mm256_castsi256_si128(s), o = _mm256_extracti128_si256(s, 1);
  *first = _mm_unpacklo_epi16(e, o);
  *second = _mm_unpackhi_epi16(e, o);
}

// Bit i set iff word i of (x0, x1) <= limit (unsigned); 16 bits.
inline uint32_t le_mask(__m128i x0, __m128i x1, __m128i limit) {
  __m128i le0 = _mm_cmpeq_epi16(_mm_min_epu16(x0, limit), x0);
  __m128i le1 = _mm_cmpeq_epi16(_mm_min_epu16(x1, limit), x1);
  return static_cast<uint32_t>(_mm_movemask_epi8(_mm_packs_epi16(le0, le1)));
}

// acc += x in 16-bit lanes, by inline asm: GCC 12 compiles the intrinsic on the eight
// accumulators of the loop below as an add into a new register and a copy back (eight moves per
// code load in the disassembly, and the nibble mask spilled to the stack); "+x" keeps each
// accumulator in its register.
inline void add_to(__m256i& acc, __m256i x) { asm("vpaddw %1, %0, %0" : "+x"(acc) : "x"(x)); }

// Two queries at a time: 8 accumulators + codes + tables fit the 16 ymm registers.
template <int Q>
uint32_t scan_queries(const uint8_t* const* luts, const uint8_t* codes, size_t nblocks,
                  size_t m2, const uint16_t* thresholds, uint16_t* out, size_t ldo,
                  uint32_t* masks) {
  const __m256i nibble = _mm256_set1_epi8(0x0f);
  uint32_t any = 0;
  __m128i limit[Q];
  for (int q = 0; q < Q; ++q) limit[q] = _mm_set1_epi16(static_cast<short>(thresholds[q]));
  for (size_t blk = 0; blk < nblocks; ++blk) {
    const uint8_t* block = codes + blk * m2 * 16;
    __m256i alo[Q], blo[Q], ahi[Q], bhi[Q];
    for (int q = 0; q < Q; ++q) alo[q] = blo[q] = ahi[q] = bhi[q] = _mm256_setzero_si256();
    for (size_t j = 0; j < m2; j += 2) {
      __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + j * 16));
      __m256i lo = _mm256_and_si256(c, nibble);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(c, 4), nibble);
      for (int q = 0; q < Q; ++q) {
        __m256i t = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(luts[q] + j * 16));
        __m256i r = _mm256_shuffle_epi8(t, lo);
        add_to(alo[q], r);
        add_to(blo[q], _mm256_srli_epi16(r, 8));
        r = _mm256_shuffle_epi8(t, hi);
        add_to(ahi[q], r);
        add_to(bhi[q], _mm256_srli_epi16(r, 8));
      }
    }
    for (int q = 0; q < Q; ++q) {
      __m128i x0, x1, x2, x3;
      lane_sums(alo[q], blo[q], &x0, &x1);
      lane_sums(ahi[q], bhi[q], &x2, &x3);
      __m128i* dst = reinterpret_cast<__m128i*>(out + q * ldo + blk * kFsBlock);
      _mm_storeu_si128(dst, x0);
      _mm_storeu_si128(dst + 1, x1);
      _mm_storeu_si128(dst + 2, x2);
      _mm_storeu_si128(dst + 3, x3);
      uint32_t mask = le_mask(x0, x1, limit[q]) | (le_mask(x2, x3, limit[q]) << 16);
      masks[q * nblocks + blk] = mask;
      if (mask != 0) any |= uint32_t(1) << q;
    }
  }
  return any;
}

uint32_t scan(const uint8_t* const* luts, size_t nq, const uint8_t* codes, size_t nblocks,
              size_t m2, const uint16_t* thresholds, uint16_t* out, size_t ldo,
              uint32_t* masks) {
  uint32_t any = 0;
  size_t q = 0;
  for (; q + 2 <= nq; q += 2)
    any |= scan_queries<2>(luts + q, codes, nblocks, m2, thresholds + q, out + q * ldo, ldo,
                    masks + q * nblocks) << q;
  if (q < nq)
    any |= scan_queries<1>(luts + q, codes, nblocks, m2, thresholds + q, out + q * ldo, ldo,
                    masks + q * nblocks) << q;
  return any;
}

}  // namespace
}  // namespace pq4_avx2

const Pq4Kernels* pq4_avx2_kernels() {
  static const Pq4Kernels table = {SimdLevel::AVX2, pq4_avx2::scan};
  return &table;
}

}  // namespace qvec::detail
