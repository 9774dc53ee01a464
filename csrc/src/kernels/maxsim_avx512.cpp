// AVX-512 MaxSim kernels: a block's 16 query tokens are one zmm register; the loops are
// maxsim_impl.h's. Built with this file's own -m flags; internal linkage and no std templates
// (see dense.h).
#include <immintrin.h>

#include "kernels/dispatch.h"

namespace qvec::detail {
namespace {

using Lanes = __m512;

inline Lanes zero() { return _mm512_setzero_ps(); }
inline Lanes lowest() { return _mm512_set1_ps(-__builtin_huge_valf()); }
inline Lanes load(const float* p) { return _mm512_loadu_ps(p); }
inline Lanes add(Lanes a, Lanes b) { return _mm512_add_ps(a, b); }
inline Lanes max(Lanes a, Lanes b) { return _mm512_max_ps(a, b); }
inline Lanes scaled(float w, Lanes a) { return _mm512_mul_ps(_mm512_set1_ps(w), a); }
inline void store(float* p, Lanes a) { _mm512_storeu_ps(p, a); }

#include "kernels/maxsim_impl.h"

}  // namespace

// maxsim_avx512_skx.cpp compiles this file again with the Skylake-SP flags, under its own names:
// keep it to AVX-512 F/BW/DQ/VL/CD.
#if !defined(QVEC_AVX512_TABLE)
#define QVEC_AVX512_TABLE maxsim_avx512_kernels
#define QVEC_AVX512_LEVEL SimdLevel::AVX512
#endif
const MaxSimKernels* QVEC_AVX512_TABLE() {
  static const MaxSimKernels table = {QVEC_AVX512_LEVEL, byte_block, weighted_block,
                                      float_block};
  return &table;
}

}  // namespace qvec::detail
