// Skylake-SP / Cascade Lake fast-scan kernels (AVX-512 F, BW, DQ, VL, CD), the avx512_skx table:
// the per-lane byte-shuffle scan that served the avx512 level before its VBMI / VNNI kernel
// (pq4_avx512_impl.h), which Skylake-SP cannot run.
// Built with this file's own -m flags; only reached after dispatch.cpp has checked the CPU.
// Internal linkage and no std templates, so nothing leaks into baseline code.
//
// A 512-bit register holds the 16-byte tables of four subquantizers, one per lane; one 64-byte
// load of codes gives (low and high nibbles) the codes of vectors 0-15 and 16-31 of those four
// subquantizers, so each shuffle looks up 64 codes. Byte sums use the same 16-bit trick as the
// AVX2 file: a accumulates whole words, b the high bytes, low-byte sum = a - 256 * b (mod 2^16).
// Up to four queries share each code load (a call with more runs them four at a time).
#include <immintrin.h>

#include "kernels/dispatch.h"

namespace qvec::detail {
namespace pq4_avx512_skx {
namespace {

// Sums the four lanes of (even, odd) word sums for vectors 0-15 (alo, blo) and 16-31 (ahi, bhi):
// the 32 sums in vector order.
inline __m512i block_sums(__m512i alo, __m512i blo, __m512i ahi, __m512i bhi, __m512i order) {
  __m512i elo = _mm512_sub_epi16(alo, _mm512_slli_epi16(blo, 8));
  __m512i ehi = _mm512_sub_epi16(ahi, _mm512_slli_epi16(bhi, 8));
  // s = [elo0+elo2, elo1+elo3, blo0+blo2, blo1+blo3], t likewise for the high half.
  __m512i s = _mm512_add_epi16(_mm512_shuffle_i64x2(elo, blo, 0x44),
                               _mm512_shuffle_i64x2(elo, blo, 0xEE));
  __m512i t = _mm512_add_epi16(_mm512_shuffle_i64x2(ehi, bhi, 0x44),
                               _mm512_shuffle_i64x2(ehi, bhi, 0xEE));
  // u = [even 0-15, odd 0-15, even 16-31, odd 16-31], each summed over the four lanes.
  __m512i u = _mm512_add_epi16(_mm512_shuffle_i64x2(s, t, 0x88), _mm512_shuffle_i64x2(s, t, 0xDD));
  return _mm512_permutexvar_epi16(order, u);
}

// One 64-byte group of codes (four subquantizers, or two with the upper half zero) against
// the tables of Q queries.
template <int Q>
inline void accumulate(__m512i c, const uint8_t* const* luts, size_t offset, __mmask64 keep,
                       __m512i* alo, __m512i* blo, __m512i* ahi, __m512i* bhi) {
  const __m512i nibble = _mm512_set1_epi8(0x0f);
  __m512i lo = _mm512_and_si512(c, nibble);
  __m512i hi = _mm512_and_si512(_mm512_srli_epi16(c, 4), nibble);
  for (int q = 0; q < Q; ++q) {
    __m512i tab = _mm512_maskz_loadu_epi8(keep, luts[q] + offset);
    __m512i r = _mm512_shuffle_epi8(tab, lo);
    alo[q] = _mm512_add_epi16(alo[q], r);
    blo[q] = _mm512_add_epi16(blo[q], _mm512_srli_epi16(r, 8));
    r = _mm512_shuffle_epi8(tab, hi);
    ahi[q] = _mm512_add_epi16(ahi[q], r);
    bhi[q] = _mm512_add_epi16(bhi[q], _mm512_srli_epi16(r, 8));
  }
}

template <int Q>
uint32_t scan_queries(const uint8_t* const* luts, const uint8_t* codes, size_t nblocks,
                  size_t m2, const uint16_t* thresholds, uint16_t* out, size_t ldo,
                  uint32_t* masks) {
  // Word i of the output is vector i: even vectors come from lane 0 (16-31: lane 2), odd ones
  // from lane 1 (lane 3).
  static const uint16_t kOrder[32] = {0,  8,  1,  9,  2,  10, 3,  11, 4,  12, 5,  13, 6,  14, 7,  15,
                                      16, 24, 17, 25, 18, 26, 19, 27, 20, 28, 21, 29, 22, 30, 23, 31};
  const __m512i order = _mm512_loadu_si512(kOrder);
  const __mmask64 all = ~__mmask64(0), half = 0xffffffffULL;
  const size_t m4 = m2 & ~size_t(3);
  uint32_t any = 0;
  __m512i limit[Q];
  for (int q = 0; q < Q; ++q) limit[q] = _mm512_set1_epi16(static_cast<short>(thresholds[q]));
  for (size_t blk = 0; blk < nblocks; ++blk) {
    const uint8_t* block = codes + blk * m2 * 16;
    __m512i alo[Q], blo[Q], ahi[Q], bhi[Q];
    for (int q = 0; q < Q; ++q) alo[q] = blo[q] = ahi[q] = bhi[q] = _mm512_setzero_si512();
    for (size_t j = 0; j < m4; j += 4)
      accumulate<Q>(_mm512_loadu_si512(block + j * 16), luts, j * 16, all, alo, blo, ahi, bhi);
    // A last pair of subquantizers (m2 % 4 == 2) goes in the low half, zero tables above.
    if (m4 < m2)
      accumulate<Q>(_mm512_maskz_loadu_epi8(half, block + m4 * 16), luts, m4 * 16, half,
                    alo, blo, ahi, bhi);
    for (int q = 0; q < Q; ++q) {
      __m512i sums = block_sums(alo[q], blo[q], ahi[q], bhi[q], order);
      _mm512_storeu_si512(out + q * ldo + blk * kFsBlock, sums);
      uint32_t mask = _mm512_cmple_epu16_mask(sums, limit[q]);
      masks[q * nblocks + blk] = mask;
      if (mask != 0) any |= uint32_t(1) << q;
    }
  }
  return any;
}

// Four queries per pass: their 16 accumulators fill half the registers; more would spill.
uint32_t scan_four(const uint8_t* const* luts, size_t nq, const uint8_t* codes,
                   size_t nblocks, size_t m2, const uint16_t* thresholds, uint16_t* out,
                   size_t ldo, uint32_t* masks) {
  switch (nq) {
    case 4: return scan_queries<4>(luts, codes, nblocks, m2, thresholds, out, ldo, masks);
    case 3: return scan_queries<3>(luts, codes, nblocks, m2, thresholds, out, ldo, masks);
    case 2: return scan_queries<2>(luts, codes, nblocks, m2, thresholds, out, ldo, masks);
    case 1: return scan_queries<1>(luts, codes, nblocks, m2, thresholds, out, ldo, masks);
    default: return 0;
  }
}

uint32_t scan(const uint8_t* const* luts, size_t nq, const uint8_t* codes, size_t nblocks,
              size_t m2, const uint16_t* thresholds, uint16_t* out, size_t ldo,
              uint32_t* masks) {
  uint32_t any = 0;
  for (size_t q = 0; q < nq; q += 4)
    any |= scan_four(luts + q, nq - q < 4 ? nq - q : 4, codes, nblocks, m2,
                     thresholds + q, out + q * ldo, ldo, masks + q * nblocks)
           << q;
  return any;
}

}  // namespace
}  // namespace pq4_avx512_skx

const Pq4Kernels* pq4_avx512_skx_kernels() {
  static const Pq4Kernels table = {SimdLevel::AVX512_SKX, pq4_avx512_skx::scan};
  return &table;
}

}  // namespace qvec::detail
