// AVX-512 VNNI sq8 kernel: the int8 dot products with VPDPBUSD (4 byte products per 32-bit lane
// in one instruction). Only the symmetric kernel differs from sq8_avx512.cpp, whose float kernel
// this table shares. Built with this file's own -m flags; dispatch.cpp reaches it only on CPUs
// with AVX512_VNNI. Internal linkage and no std templates.
#include <immintrin.h>

#include "kernels/dispatch.h"
#include "kernels/sq8_rows.h"

namespace qvec::detail {
namespace {

// VPDPBUSD multiplies unsigned by signed bytes: the codes are offset to c + 128 (XOR 0x80, once
// per group for all rows), the query bytes are the signed operand, read straight from memory as
// a broadcast, and the 128 * sum(q) this adds is taken off at the end, so the sums stay exact:
//   sum (c + 128) q - 128 sum q = sum q c.
template <int R>
void dot_i8_rows(const int8_t* q, size_t ldq, const int32_t* qsums, const int8_t* block,
                 size_t d4, int32_t* out, size_t ldo) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512i acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_si512();
  for (size_t g = 0; g < d4; ++g) {
    const __m512i codes = _mm512_xor_si512(_mm512_loadu_si512(block + g * 64), flip);
    for (int r = 0; r < R; ++r) {
      int32_t word;
      __builtin_memcpy(&word, q + r * ldq + g * 4, 4);
      acc[r] = _mm512_dpbusd_epi32(acc[r], codes, _mm512_set1_epi32(word));
    }
  }
  for (int r = 0; r < R; ++r)
    _mm512_storeu_si512(out + r * ldo, _mm512_sub_epi32(acc[r], _mm512_set1_epi32(qsums[r] * 128)));
}

void dot_i8(const int8_t* q, size_t ldq, const int32_t* qsums, size_t rows,
            const int8_t* block, size_t d4, int32_t* out, size_t ldo) {
  sq8_with_rows(rows, [&](auto r) {
    dot_i8_rows<decltype(r)::value>(q, ldq, qsums, block, d4, out, ldo);
  });
}

}  // namespace

const Sq8Kernels* sq8_avx512vnni_kernels() {
  static const Sq8Kernels table = {SimdLevel::AVX512, true, sq8_avx512_kernels()->dot_f32,
                                   dot_i8};
  return &table;
}

}  // namespace qvec::detail
