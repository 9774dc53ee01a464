// AVX2 extended-RaBitQ code inner products: each code byte is spread over 8 lanes (one bit
// per lane), compared into a lane mask and ANDed with 8 query floats. Built with this file's
// own -m flags; only reached after dispatch.cpp has checked the CPU. Internal linkage and no
// std templates, so nothing leaks into baseline code.
#include <immintrin.h>

#include "kernels/dispatch.h"

namespace qvec::detail {
namespace {

inline __m256 masked(uint8_t byte, const float* q, __m256i select) {
  const __m256i lanes = _mm256_and_si256(_mm256_set1_epi32(byte), select);
  const __m256i on = _mm256_cmpeq_epi32(lanes, select);
  return _mm256_and_ps(_mm256_castsi256_ps(on), _mm256_loadu_ps(q));
}

inline __m256 plane_sum(const float* query, const uint8_t* plane, size_t nbytes) {
  const __m256i select = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t b = 0;
  for (; b + 2 <= nbytes; b += 2) {
    acc0 = _mm256_add_ps(acc0, masked(plane[b], query + 8 * b, select));
    acc1 = _mm256_add_ps(acc1, masked(plane[b + 1], query + 8 * b + 8, select));
  }
  if (b < nbytes) acc0 = _mm256_add_ps(acc0, masked(plane[b], query + 8 * b, select));
  return _mm256_add_ps(acc0, acc1);
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

void code_dots(const float* query, size_t nbytes, size_t nlevels, const uint8_t* codes,
               size_t stride, const uint32_t* rows, size_t nrows, float* out) {
  for (size_t i = 0; i < nrows; ++i) {
    const uint8_t* code = codes + size_t(rows[i]) * stride;
    __m256 total = _mm256_setzero_ps();
    for (size_t l = 0; l < nlevels; ++l) {
      const __m256 w = _mm256_set1_ps(static_cast<float>(1u << (nlevels - 1 - l)));
      total = _mm256_fmadd_ps(plane_sum(query, code + l * nbytes, nbytes), w, total);
    }
    out[i] = hsum(total);
  }
}

}  // namespace

const ExRabitqKernels* exrabitq_avx2_kernels() {
  static const ExRabitqKernels table = {SimdLevel::AVX2, code_dots};
  return &table;
}

}  // namespace qvec::detail
