// AVX2 table quantization (pqlut.h): 16 floats in two registers at a time; row minima (and
// maxima) by in-register reductions, then subtract, scale, round, clamp and pack to bytes.
// Multiply and add stay separate instructions (no FMA), as in the scalar reference.
#include <immintrin.h>

#include "kernels/dispatch.h"

namespace qvec::detail {
namespace pqlut_avx2 {
namespace {

/// 16 bytes: (r - lo) * scale + 0.5 of two 8-float halves, clamped to [0, 255], truncated.
inline __m128i round16(__m256 r0, __m256 r1, __m256 lo, __m256 scale) {
  const __m256 half = _mm256_set1_ps(0.5f), top = _mm256_set1_ps(255.0f);
  const __m256 zero = _mm256_setzero_ps();
  __m256 v0 = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(r0, lo), scale), half);
  __m256 v1 = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(r1, lo), scale), half);
  v0 = _mm256_max_ps(_mm256_min_ps(v0, top), zero);
  v1 = _mm256_max_ps(_mm256_min_ps(v1, top), zero);
  // truncation, then 32 -> 16 -> 8 bits; the packs work per lane, so the permute restores
  // the element order
  __m256i w = _mm256_packs_epi32(_mm256_cvttps_epi32(v0), _mm256_cvttps_epi32(v1));
  w = _mm256_permute4x64_epi64(w, _MM_SHUFFLE(3, 1, 2, 0));
  return _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
}

/// Every lane of v set to its smallest (op = min) or largest (op = max) lane.
template <class Op>
inline __m256 spread(__m256 v, Op op) {
  v = op(v, _mm256_permute2f128_ps(v, v, 1));
  v = op(v, _mm256_shuffle_ps(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  return op(v, _mm256_shuffle_ps(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
}

void row_ranges(const float* t, size_t m, size_t ksub, float* lows, float* highs) {
  const auto min8 = [](__m256 x, __m256 y) { return _mm256_min_ps(x, y); };
  const auto max8 = [](__m256 x, __m256 y) { return _mm256_max_ps(x, y); };
  for (size_t j = 0; j < m; ++j) {
    const float* row = t + j * ksub;
    __m256 lo0 = _mm256_loadu_ps(row), lo1 = _mm256_loadu_ps(row + 8);
    __m256 hi0 = lo0, hi1 = lo1;
    for (size_t c = 16; c < ksub; c += 16) {
      const __m256 x0 = _mm256_loadu_ps(row + c), x1 = _mm256_loadu_ps(row + c + 8);
      lo0 = _mm256_min_ps(lo0, x0);
      lo1 = _mm256_min_ps(lo1, x1);
      hi0 = _mm256_max_ps(hi0, x0);
      hi1 = _mm256_max_ps(hi1, x1);
    }
    lows[j] = _mm256_cvtss_f32(spread(_mm256_min_ps(lo0, lo1), min8));
    highs[j] = _mm256_cvtss_f32(spread(_mm256_max_ps(hi0, hi1), max8));
  }
}

void quantize_rows(const float* t, size_t m, size_t ksub, const float* lows, float s,
                   uint8_t* lut) {
  const __m256 scale = _mm256_set1_ps(s);
  for (size_t j = 0; j < m; ++j) {
    const __m256 lo = _mm256_set1_ps(lows[j]);
    for (size_t c = 0; c < ksub; c += 16) {
      const float* x = t + j * ksub + c;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(lut + j * ksub + c),
                       round16(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8), lo, scale));
    }
  }
}

void pair_rows(const float* a, const float* centroid, const float* books_t, size_t m,
               size_t ksub, size_t dsub, float* out) {
  const __m256 two = _mm256_set1_ps(2.0f);
  for (size_t j = 0; j < m; ++j) {
    const float* book = books_t + j * dsub * ksub;
    const float* cj = centroid + j * dsub;
    for (size_t c = 0; c < ksub; c += 8) {
      __m256 s = _mm256_mul_ps(_mm256_set1_ps(cj[0]), _mm256_loadu_ps(book + c));
      for (size_t t = 1; t < dsub; ++t)
        s = _mm256_add_ps(s, _mm256_mul_ps(_mm256_set1_ps(cj[t]),
                                           _mm256_loadu_ps(book + t * ksub + c)));
      _mm256_storeu_ps(out + j * ksub + c,
                       _mm256_add_ps(_mm256_loadu_ps(a + j * ksub + c), _mm256_mul_ps(two, s)));
    }
  }
}

float quantize(const float* a, const float* b, size_t m, float s, uint8_t* lut) {
  const __m256 scale = _mm256_set1_ps(s);
  const auto min8 = [](__m256 x, __m256 y) { return _mm256_min_ps(x, y); };
  double bias = 0.0;
  for (size_t j = 0; j < m; ++j) {
    __m256 r0 = _mm256_loadu_ps(a + j * 16), r1 = _mm256_loadu_ps(a + j * 16 + 8);
    if (b) {
      r0 = _mm256_add_ps(r0, _mm256_loadu_ps(b + j * 16));
      r1 = _mm256_add_ps(r1, _mm256_loadu_ps(b + j * 16 + 8));
    }
    const __m256 lo = spread(_mm256_min_ps(r0, r1), min8);
    bias += _mm256_cvtss_f32(lo);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lut + j * 16), round16(r0, r1, lo, scale));
  }
  return static_cast<float>(bias);
}

}  // namespace
}  // namespace pqlut_avx2

const PqLutKernels* pqlut_avx2_kernels() {
  static const PqLutKernels table = {SimdLevel::AVX2, pqlut_avx2::quantize,
                                     pqlut_avx2::row_ranges, pqlut_avx2::quantize_rows,
                                     pqlut_avx2::pair_rows};
  return &table;
}

}  // namespace qvec::detail
