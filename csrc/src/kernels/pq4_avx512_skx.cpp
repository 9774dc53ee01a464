// Skylake-SP / Cascade Lake fast-scan kernels (AVX-512 F, BW, DQ, VL, CD): pq4_avx512.cpp
// needs nothing beyond that set, so the same source is built again with this file's (skx)
// flags as the avx512_skx table.
#define QVEC_AVX512_TABLE pq4_avx512_skx_kernels
#define QVEC_AVX512_LEVEL SimdLevel::AVX512_SKX
#include "kernels/pq4_avx512.cpp"
