// AVX-512 (F/BW) filter kernels: compares straight into mask registers. Built with this file's own
// -m flags; only reached after dispatch.cpp has checked the CPU. Internal linkage and no std
// templates, so nothing leaks into baseline code.
#include <immintrin.h>

#include "kernels/dispatch.h"
#include "kernels/filter_hits.h"

namespace qvec::detail {
namespace {

size_t le_u16(const uint16_t* values, size_t n, uint16_t threshold, uint32_t* out) {
  const __m512i limit = _mm512_set1_epi16(static_cast<short>(threshold));
  size_t count = 0, i = 0;
  for (; i + 32 <= n; i += 32)
    count = append_hits(_mm512_cmple_epu16_mask(_mm512_loadu_si512(values + i), limit), i, out,
                        count);
  return append_le(values, i, n, threshold, out, count);
}

size_t le_i32(const int32_t* values, size_t n, int32_t threshold, uint32_t* out) {
  const __m512i limit = _mm512_set1_epi32(threshold);
  size_t count = 0, i = 0;
  for (; i + 16 <= n; i += 16)
    count = append_hits(_mm512_cmple_epi32_mask(_mm512_loadu_si512(values + i), limit), i, out,
                        count);
  return append_le(values, i, n, threshold, out, count);
}

size_t le_f32(const float* values, size_t n, float threshold, uint32_t* out) {
  const __m512 limit = _mm512_set1_ps(threshold);
  size_t count = 0, i = 0;
  for (; i + 16 <= n; i += 16)
    count = append_hits(_mm512_cmp_ps_mask(_mm512_loadu_ps(values + i), limit, _CMP_LE_OQ), i,
                        out, count);
  return append_le(values, i, n, threshold, out, count);
}

}  // namespace

// filter_avx512_skx.cpp compiles this file again with the Skylake-SP flags, under its own names:
// keep it to AVX-512 F/BW/DQ/VL/CD.
#if !defined(QVEC_AVX512_TABLE)
#define QVEC_AVX512_TABLE filter_avx512_kernels
#define QVEC_AVX512_LEVEL SimdLevel::AVX512
#endif
const FilterKernels* QVEC_AVX512_TABLE() {
  static const FilterKernels table = {QVEC_AVX512_LEVEL, le_u16, le_i32, le_f32};
  return &table;
}

}  // namespace qvec::detail
