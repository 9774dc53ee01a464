// AVX2 filter kernels: compare, move the mask out, append its set bits. Built with this file's own
// -m flags; only reached after dispatch.cpp has checked the CPU. Internal linkage and no std
// templates, so nothing leaks into baseline code.
#include <immintrin.h>

#include "kernels/dispatch.h"
#include "kernels/filter_hits.h"

namespace qvec::detail {
namespace {

size_t le_u16(const uint16_t* values, size_t n, uint16_t threshold, uint32_t* out) {
  const __m256i limit = _mm256_set1_epi16(static_cast<short>(threshold));
  size_t count = 0, i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(values + i));
    // v <= limit (unsigned) exactly when min(v, limit) == v.
    __m256i le = _mm256_cmpeq_epi16(_mm256_min_epu16(v, limit), v);
    // One mask bit per 16-bit lane: narrow the lanes to bytes (packs works per 128-bit half,
    // leaving lanes 0-7 in bits 0-7 and lanes 8-15 in bits 16-23 of the byte mask).
    unsigned bytes = static_cast<unsigned>(
        _mm256_movemask_epi8(_mm256_packs_epi16(le, _mm256_setzero_si256())));
    count = append_hits((bytes & 0xffu) | ((bytes >> 8) & 0xff00u), i, out, count);
  }
  return append_le(values, i, n, threshold, out, count);
}

size_t le_i32(const int32_t* values, size_t n, int32_t threshold, uint32_t* out) {
  const __m256i limit = _mm256_set1_epi32(threshold);
  size_t count = 0, i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(values + i));
    // v <= limit  <=>  not (v > limit)
    unsigned hit = ~static_cast<unsigned>(_mm256_movemask_ps(
                       _mm256_castsi256_ps(_mm256_cmpgt_epi32(v, limit)))) & 0xffu;
    count = append_hits(hit, i, out, count);
  }
  return append_le(values, i, n, threshold, out, count);
}

size_t le_f32(const float* values, size_t n, float threshold, uint32_t* out) {
  const __m256 limit = _mm256_set1_ps(threshold);
  size_t count = 0, i = 0;
  for (; i + 8 <= n; i += 8)
    count = append_hits(static_cast<unsigned>(_mm256_movemask_ps(
                            _mm256_cmp_ps(_mm256_loadu_ps(values + i), limit, _CMP_LE_OQ))),
                        i, out, count);
  return append_le(values, i, n, threshold, out, count);
}

}  // namespace

const FilterKernels* filter_avx2_kernels() {
  static const FilterKernels table = {SimdLevel::AVX2, le_u16, le_i32, le_f32};
  return &table;
}

}  // namespace qvec::detail
