// AVX-512 extended-RaBitQ code inner products: each 16 bits of a plane are the write mask of
// one masked add of 16 query floats, so a plane costs nbytes / 2 adds and no bit unpacking.
// Built with this file's own -m flags; only reached after dispatch.cpp has checked the CPU.
// Internal linkage and no std templates, so nothing leaks into baseline code.
#include <immintrin.h>

#include <cstring>

#include "kernels/dispatch.h"

namespace qvec::detail {
namespace {

// Sum over the set bits of one plane; two accumulators hide the add latency.
inline __m512 plane_sum(const float* query, const uint8_t* plane, size_t nbytes) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t b = 0;
  for (; b + 4 <= nbytes; b += 4) {
    uint32_t bits;
    std::memcpy(&bits, plane + b, 4);
    acc0 = _mm512_mask_add_ps(acc0, static_cast<__mmask16>(bits), acc0,
                              _mm512_loadu_ps(query + 8 * b));
    acc1 = _mm512_mask_add_ps(acc1, static_cast<__mmask16>(bits >> 16), acc1,
                              _mm512_loadu_ps(query + 8 * b + 16));
  }
  for (; b < nbytes; ++b) {  // the tail, one byte (8 floats) at a time
    const __mmask16 m = plane[b];
    acc0 = _mm512_mask_add_ps(acc0, m, acc0, _mm512_maskz_loadu_ps(0x00ff, query + 8 * b));
  }
  return _mm512_add_ps(acc0, acc1);
}

void code_dots(const float* query, size_t nbytes, size_t nlevels, const uint8_t* codes,
               size_t stride, const uint32_t* rows, size_t nrows, float* out) {
  for (size_t i = 0; i < nrows; ++i) {
    const uint8_t* code = codes + size_t(rows[i]) * stride;
    __m512 total = _mm512_setzero_ps();
    for (size_t l = 0; l < nlevels; ++l) {
      const __m512 w = _mm512_set1_ps(static_cast<float>(1u << (nlevels - 1 - l)));
      total = _mm512_fmadd_ps(plane_sum(query, code + l * nbytes, nbytes), w, total);
    }
    out[i] = _mm512_reduce_add_ps(total);
  }
}

}  // namespace

// exrabitq_avx512_skx.cpp compiles this file again with the Skylake-SP flags, under its own
// names: keep it to AVX-512 F/BW/DQ/VL/CD.
#if !defined(QVEC_AVX512_TABLE)
#define QVEC_AVX512_TABLE exrabitq_avx512_kernels
#define QVEC_AVX512_LEVEL SimdLevel::AVX512
#endif
const ExRabitqKernels* QVEC_AVX512_TABLE() {
  static const ExRabitqKernels table = {QVEC_AVX512_LEVEL, code_dots};
  return &table;
}

}  // namespace qvec::detail
