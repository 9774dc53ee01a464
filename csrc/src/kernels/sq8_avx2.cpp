// AVX2 sq8 kernels: a block of 16 vectors is two registers of 8 lanes, one 32-bit lane per
// vector. Built with this file's own -m flags; only reached after dispatch.cpp has checked the
// CPU. Internal linkage and no std templates, so nothing leaks into baseline code.
#include <immintrin.h>

#include "kernels/dispatch.h"
#include "kernels/sq8_rows.h"

namespace qvec::detail {
namespace {

template <int T>
inline __m256 lane_float(__m256i group) {
  return _mm256_cvtepi32_ps(_mm256_srai_epi32(_mm256_slli_epi32(group, 24 - 8 * T), 24));
}

template <int R, int T>
inline void fma_dim(const float* w, size_t ldw, size_t t0, __m256i lo, __m256i hi, __m256* acc) {
  const __m256 c0 = lane_float<T>(lo), c1 = lane_float<T>(hi);
  for (int r = 0; r < R; ++r) {
    const __m256 x = _mm256_set1_ps(w[r * ldw + t0 + T]);
    acc[2 * r] = _mm256_fmadd_ps(x, c0, acc[2 * r]);
    acc[2 * r + 1] = _mm256_fmadd_ps(x, c1, acc[2 * r + 1]);
  }
}

template <int R>
void dot_f32_rows(const float* w, size_t ldw, const int8_t* block, size_t d4, float* out,
                  size_t ldo) {
  __m256 acc[2 * R];
  for (int r = 0; r < 2 * R; ++r) acc[r] = _mm256_setzero_ps();
  for (size_t g = 0; g < d4; ++g) {
    const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + g * 64));
    const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + g * 64 + 32));
    fma_dim<R, 0>(w, ldw, g * 4, lo, hi, acc);
    fma_dim<R, 1>(w, ldw, g * 4, lo, hi, acc);
    fma_dim<R, 2>(w, ldw, g * 4, lo, hi, acc);
    fma_dim<R, 3>(w, ldw, g * 4, lo, hi, acc);
  }
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_ps(out + r * ldo, acc[2 * r]);
    _mm256_storeu_ps(out + r * ldo + 8, acc[2 * r + 1]);
  }
}

// Codes 0, 2 and 1, 3 of each lane as 16-bit pairs for VPMADDWD (exact: |products| <= 2^14).
template <int R>
void dot_i8_rows(const int8_t* q, size_t ldq, const int8_t* block, size_t d4, int32_t* out,
                 size_t ldo) {
  __m256i acc[2 * R];
  for (int r = 0; r < 2 * R; ++r) acc[r] = _mm256_setzero_si256();
  for (size_t g = 0; g < d4; ++g) {
    for (int h = 0; h < 2; ++h) {
      const __m256i group =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + g * 64 + 32 * h));
      const __m256i even = _mm256_srai_epi16(_mm256_slli_epi16(group, 8), 8);
      const __m256i odd = _mm256_srai_epi16(group, 8);
      for (int r = 0; r < R; ++r) {
        const int8_t* x = q + r * ldq + g * 4;
        const __m256i qe = _mm256_set1_epi32(int(uint16_t(x[0])) | int(uint32_t(uint16_t(x[2])) << 16));
        const __m256i qo = _mm256_set1_epi32(int(uint16_t(x[1])) | int(uint32_t(uint16_t(x[3])) << 16));
        acc[2 * r + h] = _mm256_add_epi32(acc[2 * r + h],
                                          _mm256_add_epi32(_mm256_madd_epi16(even, qe),
                                                           _mm256_madd_epi16(odd, qo)));
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + r * ldo), acc[2 * r]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + r * ldo + 8), acc[2 * r + 1]);
  }
}

void dot_f32(const float* w, size_t ldw, size_t rows, const int8_t* block, size_t d4,
             float* out, size_t ldo) {
  // At most 4 rows per pass (the accumulators of more do not fit the 16 registers).
  for (size_t r = 0; r < rows; r += 4)
    sq8_with_rows(rows - r < 4 ? rows - r : 4, [&](auto n) {
      dot_f32_rows<decltype(n)::value>(w + r * ldw, ldw, block, d4, out + r * ldo, ldo);
    });
}

void dot_i8(const int8_t* q, size_t ldq, const int32_t* /*qsums*/, size_t rows,
            const int8_t* block, size_t d4, int32_t* out, size_t ldo) {
  // At most 4 rows per pass (the accumulators of more do not fit the 16 registers).
  for (size_t r = 0; r < rows; r += 4)
    sq8_with_rows(rows - r < 4 ? rows - r : 4, [&](auto n) {
      dot_i8_rows<decltype(n)::value>(q + r * ldq, ldq, block, d4, out + r * ldo, ldo);
    });
}

}  // namespace

const Sq8Kernels* sq8_avx2_kernels() {
  static const Sq8Kernels table = {SimdLevel::AVX2, false, dot_f32, dot_i8};
  return &table;
}

}  // namespace qvec::detail
