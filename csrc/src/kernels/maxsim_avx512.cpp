// AVX-512 MaxSim kernels: a block's 16 query tokens are one zmm register; four document tokens
// are summed at once (independent add chains), each in the scalar order. Built with this file's
// own -m flags; internal linkage and no std templates (see dense.h).
#include <immintrin.h>

#include "kernels/dispatch.h"

namespace qvec::detail {
namespace {

constexpr size_t L = kMaxSimLanes;

inline __m512 entry(const float* block, size_t j, uint8_t c) {
  return _mm512_loadu_ps(block + (j * 256 + c) * L);
}

void byte_block(const float* block, const uint8_t* codes, size_t m, size_t ntok, float* best) {
  __m512 top = _mm512_set1_ps(-__builtin_huge_valf());
  size_t r = 0;
  for (; r + 4 <= ntok; r += 4) {
    const uint8_t* c = codes + r * m;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t j = 0; j < m; ++j) {
      a0 = _mm512_add_ps(a0, entry(block, j, c[j]));
      a1 = _mm512_add_ps(a1, entry(block, j, c[m + j]));
      a2 = _mm512_add_ps(a2, entry(block, j, c[2 * m + j]));
      a3 = _mm512_add_ps(a3, entry(block, j, c[3 * m + j]));
    }
    top = _mm512_max_ps(_mm512_max_ps(top, a0), _mm512_max_ps(a1, _mm512_max_ps(a2, a3)));
  }
  for (; r < ntok; ++r) {
    const uint8_t* c = codes + r * m;
    __m512 a = _mm512_setzero_ps();
    for (size_t j = 0; j < m; ++j) a = _mm512_add_ps(a, entry(block, j, c[j]));
    top = _mm512_max_ps(top, a);
  }
  _mm512_storeu_ps(best, top);
}

void weighted_block(const float* block, const uint8_t* codes, size_t m, size_t groups,
                    const float* weights, size_t weight_stride, size_t ntok, float* best) {
  const size_t run = m / groups;
  __m512 top = _mm512_set1_ps(-__builtin_huge_valf());
  for (size_t r = 0; r < ntok; ++r) {
    const uint8_t* c = codes + r * m;
    const float* w = weights + r * weight_stride;
    __m512 acc = _mm512_setzero_ps();
    for (size_t g = 0; g < groups; ++g) {
      __m512 part = _mm512_setzero_ps();
      for (size_t j = g * run; j < (g + 1) * run; ++j)
        part = _mm512_add_ps(part, entry(block, j, c[j]));
      acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_set1_ps(w[g]), part));
    }
    top = _mm512_max_ps(top, acc);
  }
  _mm512_storeu_ps(best, top);
}

void float_block(const float* block, const float* tokens, size_t dim, size_t ntok,
                 float* best) {
  __m512 top = _mm512_set1_ps(-__builtin_huge_valf());
  size_t r = 0;
  for (; r + 4 <= ntok; r += 4) {
    const float* x = tokens + r * dim;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t d = 0; d < dim; ++d) {
      const __m512 q = _mm512_loadu_ps(block + d * L);
      a0 = _mm512_add_ps(a0, _mm512_mul_ps(_mm512_set1_ps(x[d]), q));
      a1 = _mm512_add_ps(a1, _mm512_mul_ps(_mm512_set1_ps(x[dim + d]), q));
      a2 = _mm512_add_ps(a2, _mm512_mul_ps(_mm512_set1_ps(x[2 * dim + d]), q));
      a3 = _mm512_add_ps(a3, _mm512_mul_ps(_mm512_set1_ps(x[3 * dim + d]), q));
    }
    top = _mm512_max_ps(_mm512_max_ps(top, a0), _mm512_max_ps(a1, _mm512_max_ps(a2, a3)));
  }
  for (; r < ntok; ++r) {
    const float* x = tokens + r * dim;
    __m512 a = _mm512_setzero_ps();
    for (size_t d = 0; d < dim; ++d)
      a = _mm512_add_ps(a, _mm512_mul_ps(_mm512_set1_ps(x[d]), _mm512_loadu_ps(block + d * L)));
    top = _mm512_max_ps(top, a);
  }
  _mm512_storeu_ps(best, top);
}

}  // namespace

const MaxSimKernels* maxsim_avx512_kernels() {
  static const MaxSimKernels table = {SimdLevel::AVX512, byte_block, weighted_block,
                                      float_block};
  return &table;
}

}  // namespace qvec::detail
