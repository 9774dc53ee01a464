// AVX-512 VNNI sq8 kernel: the int8 dot products with VPDPBUSD (4 byte products per 32-bit lane
// in one instruction). Only the symmetric kernel differs from sq8_avx512.cpp, whose float kernel
// this table shares. Built with this file's own -m flags; dispatch.cpp reaches it only on CPUs
// with AVX512_VNNI. Internal linkage and no std templates.
#include <immintrin.h>

#include "kernels/dispatch.h"

namespace qvec::detail {
namespace {

// VPDPBUSD multiplies unsigned by signed bytes: the query is offset to q + 128 (XOR 0x80) and
// the 128 * sum(code) this adds is taken off again, so the sums stay exact:
//   sum (q + 128) c - 128 sum c = sum q c.
template <int R>
void dot_i8_rows(const int8_t* q, size_t ldq, const int8_t* block, size_t d4, int32_t* out,
                 size_t ldo) {
  const __m512i ones = _mm512_set1_epi8(1);
  __m512i acc[R];
  __m512i sum = _mm512_setzero_si512();
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_si512();
  for (size_t g = 0; g < d4; ++g) {
    const __m512i group = _mm512_loadu_si512(block + g * 64);
    sum = _mm512_dpbusd_epi32(sum, ones, group);
    for (int r = 0; r < R; ++r) {
      int32_t word;
      __builtin_memcpy(&word, q + r * ldq + g * 4, 4);
      const __m512i x = _mm512_set1_epi32(word ^ int32_t(0x80808080u));
      acc[r] = _mm512_dpbusd_epi32(acc[r], x, group);
    }
  }
  const __m512i offset = _mm512_slli_epi32(sum, 7);
  for (int r = 0; r < R; ++r) _mm512_storeu_si512(out + r * ldo, _mm512_sub_epi32(acc[r], offset));
}

void dot_i8(const int8_t* q, size_t ldq, size_t rows, const int8_t* block, size_t d4,
            int32_t* out, size_t ldo) {
  switch (rows) {
    case 8: dot_i8_rows<8>(q, ldq, block, d4, out, ldo); break;
    case 7: dot_i8_rows<7>(q, ldq, block, d4, out, ldo); break;
    case 6: dot_i8_rows<6>(q, ldq, block, d4, out, ldo); break;
    case 5: dot_i8_rows<5>(q, ldq, block, d4, out, ldo); break;
    case 4: dot_i8_rows<4>(q, ldq, block, d4, out, ldo); break;
    case 3: dot_i8_rows<3>(q, ldq, block, d4, out, ldo); break;
    case 2: dot_i8_rows<2>(q, ldq, block, d4, out, ldo); break;
    case 1: dot_i8_rows<1>(q, ldq, block, d4, out, ldo); break;
    default: break;
  }
}

}  // namespace

const Sq8Kernels* sq8_avx512vnni_kernels() {
  static const Sq8Kernels table = {SimdLevel::AVX512, true, sq8_avx512_kernels()->dot_f32,
                                   dot_i8};
  return &table;
}

}  // namespace qvec::detail
