// Skylake-SP / Cascade Lake MaxSim kernels (AVX-512 F, BW, DQ, VL, CD): maxsim_avx512.cpp
// needs nothing beyond that set, so the same source is built again with this file's (skx)
// flags as the avx512_skx table.
#define QVEC_AVX512_TABLE maxsim_avx512_skx_kernels
#define QVEC_AVX512_LEVEL SimdLevel::AVX512_SKX
#include "kernels/maxsim_avx512.cpp"
