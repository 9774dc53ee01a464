// AVX-512 fast-scan kernels (BW for byte multiply-adds, VBMI for byte permutes). Built with this
// file's own -m flags; only reached after dispatch.cpp has checked the CPU. Internal linkage and
// no std templates, so nothing leaks into baseline code. The kernel body is
// pq4_avx512_impl.h; this file sums the looked-up bytes without VNNI.
#define PQ4_AVX512_NS qvec::detail::pq4_avx512
#include "kernels/pq4_avx512_impl.h"

namespace qvec::detail {
namespace pq4_avx512 {
namespace {

// Bytes 0 + 1 and 2 + 3 of each dword summed into its two 16-bit words (at most 510 each, so
// the saturating multiply-add never saturates); the words wrap mod 2^16 as the sums may.
struct PairSums {
  static __m512i add(__m512i acc, __m512i bytes) {
    return _mm512_add_epi16(acc, _mm512_maddubs_epi16(bytes, _mm512_set1_epi8(1)));
  }
  static __m512i finish(__m512i lo, __m512i hi) {
    return low_words(_mm512_add_epi16(lo, _mm512_srli_epi32(lo, 16)),
                     _mm512_add_epi16(hi, _mm512_srli_epi32(hi, 16)));
  }
};

}  // namespace
}  // namespace pq4_avx512

const Pq4Kernels* pq4_avx512_kernels() {
  static const Pq4Kernels table = {SimdLevel::AVX512, pq4_avx512::scan<pq4_avx512::PairSums>};
  return &table;
}

}  // namespace qvec::detail
