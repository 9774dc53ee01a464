// Skylake-SP / Cascade Lake asymmetric binary (RaBitQ) scan (AVX-512 F, BW, DQ, VL, CD): AND +
// popcount over the query's bit planes with the popcount by byte shuffles (popcount_avx512_skx.h);
// the nibble tables (luts) of the avx512 file need VBMI's 128-entry byte permutes, so this file
// ignores them. Built with this file's own -m flags; only reached after dispatch.cpp has checked
// the CPU. Internal linkage and no std templates, so nothing leaks into baseline code.
#include <immintrin.h>

#include "kernels/dispatch.h"
#include "kernels/popcount_avx512_skx.h"

namespace qvec::detail {
namespace {

// S[v] = sum_p 2^p popcount(planes[p] AND word-block of v), 8 vectors as 8 x int64.
template <int P>
inline __m512i plane_counts(const uint64_t* planes, const uint64_t* block, size_t nwords) {
  __m512i acc[P];
  block_popcounts<P, kSkxAnd>(planes, block, nwords, acc);
  __m512i sum = acc[P - 1];
  for (int p = P - 2; p >= 0; --p) sum = _mm512_add_epi64(_mm512_slli_epi64(sum, 1), acc[p]);
  return sum;
}

template <int P>
size_t scan_fixed(const uint64_t* planes, const uint64_t* tile, size_t nlevels, size_t nblocks,
                  size_t nwords, const float* vec_factors, const float* c, size_t count,
                  float threshold, float* dist, uint32_t* hits) {
  const size_t width = nblocks * kBinaryBlock;
  const float* beta = vec_factors + nlevels * width;
  const float* g = beta + width;
  const float* h = g + width;
  const __m256 c0 = _mm256_set1_ps(c[0]), c1 = _mm256_set1_ps(c[1]), c2 = _mm256_set1_ps(c[2]),
               c3 = _mm256_set1_ps(c[3]), limit = _mm256_set1_ps(threshold);
  size_t nhits = 0;
  for (size_t b = 0; b < nblocks; ++b) {
    const size_t v0 = b * kBinaryBlock;
    __m256 acc = _mm256_setzero_ps();
    for (size_t l = 0; l < nlevels; ++l) {
      const uint64_t* block = tile + (l * nblocks + b) * nwords * kBinaryBlock;
      __m512i s = plane_counts<P>(planes, block, nwords);
      acc = _mm256_fmadd_ps(_mm512_cvtepi64_ps(s), _mm256_loadu_ps(vec_factors + l * width + v0),
                            acc);
    }
    // The same operation order as the other levels (the cross-level contract).
    __m256 d = _mm256_add_ps(_mm256_loadu_ps(h + v0), c3);
    d = _mm256_fmadd_ps(c2, _mm256_loadu_ps(g + v0), d);
    d = _mm256_fmadd_ps(c1, _mm256_loadu_ps(beta + v0), d);
    d = _mm256_fmadd_ps(c0, acc, d);
    _mm256_storeu_ps(dist + v0, d);
    unsigned hit = _mm256_cmp_ps_mask(d, limit, _CMP_LE_OQ);
    if (v0 + kBinaryBlock > count) hit &= (1u << (count - v0)) - 1;
    while (hit) {
      hits[nhits++] = static_cast<uint32_t>(v0 + __builtin_ctz(hit));
      hit &= hit - 1;
    }
  }
  return nhits;
}

size_t scan(const uint64_t* planes, size_t nplanes, const uint8_t* /*luts*/,
            const uint64_t* tile, size_t nlevels, size_t nblocks, size_t nwords,
            const float* vec_factors, const float* c, size_t count, float threshold,
            float* dist, uint32_t* hits) {
#define QVEC_SCAN(P)                                                                      \
  case P:                                                                                 \
    return scan_fixed<P>(planes, tile, nlevels, nblocks, nwords, vec_factors, c, count,   \
                         threshold, dist, hits);
  switch (nplanes) {
    QVEC_SCAN(1) QVEC_SCAN(2) QVEC_SCAN(3) QVEC_SCAN(4)
    QVEC_SCAN(5) QVEC_SCAN(6) QVEC_SCAN(7) QVEC_SCAN(8)
    default: return 0;
  }
#undef QVEC_SCAN
}

}  // namespace

const RabitqKernels* rabitq_avx512_skx_kernels() {
  static const RabitqKernels table = {SimdLevel::AVX512_SKX, scan};
  return &table;
}

}  // namespace qvec::detail
