// AVX-512 sq8 kernels (F + BW): 16 vectors per register, one 32-bit lane per vector. Built with
// this file's own -m flags; only reached after dispatch.cpp has checked the CPU. Internal
// linkage and no std templates, so nothing leaks into baseline code.
#include <immintrin.h>

#include "kernels/dispatch.h"
#include "kernels/sq8_rows.h"

namespace qvec::detail {
namespace {

// Code t of each lane of a group, sign-extended to 32 bits.
template <int T>
inline __m512i lane_byte(__m512i group) {
  return _mm512_srai_epi32(_mm512_slli_epi32(group, 24 - 8 * T), 24);
}

// One group's 4 dimensions for R rows, dimension order kept (the cross-level contract).
template <int R, int T>
inline void fma_dim(const float* w, size_t ldw, size_t t0, __m512i group, __m512* acc) {
  const __m512 c = _mm512_cvtepi32_ps(lane_byte<T>(group));
  for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(w[r * ldw + t0 + T]), c, acc[r]);
}

template <int R>
void dot_f32_rows(const float* w, size_t ldw, const int8_t* block, size_t d4, float* out,
                  size_t ldo) {
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  for (size_t g = 0; g < d4; ++g) {
    const __m512i group = _mm512_loadu_si512(block + g * 64);
    fma_dim<R, 0>(w, ldw, g * 4, group, acc);
    fma_dim<R, 1>(w, ldw, g * 4, group, acc);
    fma_dim<R, 2>(w, ldw, g * 4, group, acc);
    fma_dim<R, 3>(w, ldw, g * 4, group, acc);
  }
  for (int r = 0; r < R; ++r) _mm512_storeu_ps(out + r * ldo, acc[r]);
}

void dot_f32(const float* w, size_t ldw, size_t rows, const int8_t* block, size_t d4,
             float* out, size_t ldo) {
  sq8_with_rows(rows, [&](auto r) { dot_f32_rows<decltype(r)::value>(w, ldw, block, d4, out, ldo); });
}

// Without VNNI: codes 0, 2 and 1, 3 of each lane as 16-bit pairs, multiplied with the query's
// pairs by VPMADDWD (|products| <= 2^14, so the pair sums cannot overflow).
template <int R>
void dot_i8_rows(const int8_t* q, size_t ldq, const int8_t* block, size_t d4, int32_t* out,
                 size_t ldo) {
  __m512i acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_si512();
  for (size_t g = 0; g < d4; ++g) {
    const __m512i group = _mm512_loadu_si512(block + g * 64);
    const __m512i even = _mm512_srai_epi16(_mm512_slli_epi16(group, 8), 8);
    const __m512i odd = _mm512_srai_epi16(group, 8);
    for (int r = 0; r < R; ++r) {
      const int8_t* x = q + r * ldq + g * 4;
      const __m512i qe = _mm512_set1_epi32(int(uint16_t(x[0])) | int(uint32_t(uint16_t(x[2])) << 16));
      const __m512i qo = _mm512_set1_epi32(int(uint16_t(x[1])) | int(uint32_t(uint16_t(x[3])) << 16));
      acc[r] = _mm512_add_epi32(acc[r], _mm512_add_epi32(_mm512_madd_epi16(even, qe),
                                                         _mm512_madd_epi16(odd, qo)));
    }
  }
  for (int r = 0; r < R; ++r) _mm512_storeu_si512(out + r * ldo, acc[r]);
}

void dot_i8(const int8_t* q, size_t ldq, const int32_t* /*qsums*/, size_t rows,
            const int8_t* block, size_t d4, int32_t* out, size_t ldo) {
  sq8_with_rows(rows, [&](auto r) { dot_i8_rows<decltype(r)::value>(q, ldq, block, d4, out, ldo); });
}

}  // namespace

// sq8_avx512_skx.cpp compiles this file again with the Skylake-SP flags, under its own names:
// keep it to AVX-512 F/BW/DQ/VL/CD.
#if !defined(QVEC_AVX512_TABLE)
#define QVEC_AVX512_TABLE sq8_avx512_kernels
#define QVEC_AVX512_LEVEL SimdLevel::AVX512
#endif
const Sq8Kernels* QVEC_AVX512_TABLE() {
  static const Sq8Kernels table = {QVEC_AVX512_LEVEL, false, dot_f32, dot_i8};
  return &table;
}

}  // namespace qvec::detail
