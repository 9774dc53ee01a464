// AVX2 IVF table quantization (pqlut.h): one row of 16 floats in two registers; the row
// minimum by in-register reductions, then subtract, scale, round, clamp and pack to bytes.
// Multiply and add stay separate instructions (no FMA), as in the scalar reference.
#include <immintrin.h>

#include "kernels/dispatch.h"

namespace qvec::detail {
namespace pqlut_avx2 {
namespace {

float quantize(const float* a, const float* b, size_t m, float s, uint8_t* lut) {
  const __m256 scale = _mm256_set1_ps(s), half = _mm256_set1_ps(0.5f);
  const __m256 top = _mm256_set1_ps(255.0f), zero = _mm256_setzero_ps();
  double bias = 0.0;
  for (size_t j = 0; j < m; ++j) {
    __m256 r0 = _mm256_loadu_ps(a + j * 16), r1 = _mm256_loadu_ps(a + j * 16 + 8);
    if (b) {
      r0 = _mm256_add_ps(r0, _mm256_loadu_ps(b + j * 16));
      r1 = _mm256_add_ps(r1, _mm256_loadu_ps(b + j * 16 + 8));
    }
    __m256 lo = _mm256_min_ps(r0, r1);
    lo = _mm256_min_ps(lo, _mm256_permute2f128_ps(lo, lo, 1));
    lo = _mm256_min_ps(lo, _mm256_shuffle_ps(lo, lo, _MM_SHUFFLE(1, 0, 3, 2)));
    lo = _mm256_min_ps(lo, _mm256_shuffle_ps(lo, lo, _MM_SHUFFLE(2, 3, 0, 1)));
    bias += _mm256_cvtss_f32(lo);
    __m256 v0 = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(r0, lo), scale), half);
    __m256 v1 = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(r1, lo), scale), half);
    v0 = _mm256_max_ps(_mm256_min_ps(v0, top), zero);
    v1 = _mm256_max_ps(_mm256_min_ps(v1, top), zero);
    // truncation, then 32 -> 16 -> 8 bits; the packs work per lane, so the permute restores
    // the element order
    __m256i w = _mm256_packs_epi32(_mm256_cvttps_epi32(v0), _mm256_cvttps_epi32(v1));
    w = _mm256_permute4x64_epi64(w, _MM_SHUFFLE(3, 1, 2, 0));
    const __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(w),
                                           _mm256_extracti128_si256(w, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lut + j * 16), bytes);
  }
  return static_cast<float>(bias);
}

}  // namespace
}  // namespace pqlut_avx2

const PqLutKernels* pqlut_avx2_kernels() {
  static const PqLutKernels table = {SimdLevel::AVX2, pqlut_avx2::quantize};
  return &table;
}

}  // namespace qvec::detail
