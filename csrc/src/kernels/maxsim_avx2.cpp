// AVX2 MaxSim kernels: a block's 16 query tokens are two ymm registers; the loops are
// maxsim_impl.h's. Built with this file's own -m flags; internal linkage and no std templates
// (see dense.h).
#include <immintrin.h>

#include "kernels/dispatch.h"

namespace qvec::detail {
namespace {

struct Lanes {
  __m256 lo, hi;
};

inline Lanes zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
inline Lanes lowest() {
  const __m256 v = _mm256_set1_ps(-__builtin_huge_valf());
  return {v, v};
}
inline Lanes load(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
inline Lanes add(Lanes a, Lanes b) {
  return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)};
}
inline Lanes max(Lanes a, Lanes b) {
  return {_mm256_max_ps(a.lo, b.lo), _mm256_max_ps(a.hi, b.hi)};
}
inline Lanes scaled(float w, Lanes a) {
  const __m256 s = _mm256_set1_ps(w);
  return {_mm256_mul_ps(s, a.lo), _mm256_mul_ps(s, a.hi)};
}
inline void store(float* p, Lanes a) {
  _mm256_storeu_ps(p, a.lo);
  _mm256_storeu_ps(p + 8, a.hi);
}

#include "kernels/maxsim_impl.h"

}  // namespace

const MaxSimKernels* maxsim_avx2_kernels() {
  static const MaxSimKernels table = {SimdLevel::AVX2, byte_block, weighted_block,
                                      float_block};
  return &table;
}

}  // namespace qvec::detail
