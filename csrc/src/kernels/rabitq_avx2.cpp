// AVX2 asymmetric binary (RaBitQ) scan: popcount by nibble lookup (see popcount_avx2.h). Built with
// this file's own -m flags; only reached after dispatch.cpp has checked the CPU. Internal linkage
// and no std templates, so nothing leaks into baseline code.
#include <immintrin.h>

#include "kernels/dispatch.h"
#include "kernels/popcount_avx2.h"

namespace qvec::detail {
namespace {

size_t scan(const uint64_t* planes, size_t nplanes, const uint8_t* /*luts*/,
                   const uint64_t* tile, size_t nlevels,
                   size_t nblocks, size_t nwords, const float* vec_factors, const float* c,
                   size_t count, float threshold, float* dist, uint32_t* hits) {
  const size_t width = nblocks * kBinaryBlock;
  const float* beta = vec_factors + nlevels * width;
  const float* g = beta + width;
  const float* h = g + width;
  const __m256 c0 = _mm256_set1_ps(c[0]), c1 = _mm256_set1_ps(c[1]), c2 = _mm256_set1_ps(c[2]),
               c3 = _mm256_set1_ps(c[3]), limit = _mm256_set1_ps(threshold);
  alignas(32) int32_t counts[kBinaryBlock];
  size_t nhits = 0;
  for (size_t b = 0; b < nblocks; ++b) {
    const size_t v0 = b * kBinaryBlock;
    __m256 acc = _mm256_setzero_ps();
    for (size_t l = 0; l < nlevels; ++l) {
      const uint64_t* block = tile + (l * nblocks + b) * nwords * kBinaryBlock;
      __m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
      for (size_t p = nplanes; p-- > 0;) {
        __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
        for (size_t w = 0; w < nwords; ++w) {
          const uint64_t* words = block + w * kBinaryBlock;
          __m256i q = _mm256_set1_epi64x(static_cast<long long>(planes[p * nwords + w]));
          __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words));
          __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words + 4));
          acc0 = _mm256_add_epi64(acc0, popcount_lanes(_mm256_and_si256(w0, q)));
          acc1 = _mm256_add_epi64(acc1, popcount_lanes(_mm256_and_si256(w1, q)));
        }
        sum0 = _mm256_add_epi64(_mm256_slli_epi64(sum0, 1), acc0);
        sum1 = _mm256_add_epi64(_mm256_slli_epi64(sum1, 1), acc1);
      }
      store_lanes(sum0, sum1, counts);
      __m256 s = _mm256_cvtepi32_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(counts)));
      acc = _mm256_fmadd_ps(s, _mm256_loadu_ps(vec_factors + l * width + v0), acc);
    }
    __m256 d = _mm256_add_ps(_mm256_loadu_ps(h + v0), c3);
    d = _mm256_fmadd_ps(c2, _mm256_loadu_ps(g + v0), d);
    d = _mm256_fmadd_ps(c1, _mm256_loadu_ps(beta + v0), d);
    d = _mm256_fmadd_ps(c0, acc, d);
    _mm256_storeu_ps(dist + v0, d);
    unsigned hit = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(d, limit, _CMP_LE_OQ)));
    if (v0 + kBinaryBlock > count) hit &= (1u << (count - v0)) - 1;
    while (hit) {
      hits[nhits++] = static_cast<uint32_t>(v0 + __builtin_ctz(hit));
      hit &= hit - 1;
    }
  }
  return nhits;
}

}  // namespace

const RabitqKernels* rabitq_avx2_kernels() {
  static const RabitqKernels table = {SimdLevel::AVX2, scan};
  return &table;
}

}  // namespace qvec::detail
