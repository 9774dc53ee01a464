// Skylake-SP / Cascade Lake extended-RaBitQ kernels (AVX-512 F, BW, DQ, VL, CD):
// exrabitq_avx512.cpp needs nothing beyond that set (masked float adds), so the same source is
// built again with this file's (skx) flags as the avx512_skx table.
#define QVEC_AVX512_TABLE exrabitq_avx512_skx_kernels
#define QVEC_AVX512_LEVEL SimdLevel::AVX512_SKX
#include "kernels/exrabitq_avx512.cpp"
