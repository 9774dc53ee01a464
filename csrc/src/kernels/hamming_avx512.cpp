// AVX-512 Hamming kernels (VPOPCNTDQ: one popcount per 64-bit lane). Built with this file's own -m
// flags; only reached after dispatch.cpp has checked the CPU. Internal linkage and no std
// templates, so nothing leaks into baseline code.
#include <immintrin.h>

#include "kernels/dispatch.h"

namespace qvec::detail {
namespace {

// R queries against one block of 8 vectors at a time: each code word is loaded once and
// XORed with R broadcast query words.
template <int R>
void hamming_rows(const uint64_t* queries, const uint64_t* tile, size_t nblocks, size_t nwords,
                  int32_t* out, size_t ldo) {
  for (size_t b = 0; b < nblocks; ++b) {
    const uint64_t* block = tile + b * nwords * kBinaryBlock;
    __m512i acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_si512();
    for (size_t w = 0; w < nwords; ++w) {
      __m512i c = _mm512_loadu_si512(block + w * kBinaryBlock);
      for (int r = 0; r < R; ++r) {
        __m512i q = _mm512_set1_epi64(static_cast<long long>(queries[r * nwords + w]));
        acc[r] = _mm512_add_epi64(acc[r], _mm512_popcnt_epi64(_mm512_xor_si512(c, q)));
      }
    }
    for (int r = 0; r < R; ++r)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + r * ldo + b * kBinaryBlock),
                          _mm512_cvtepi64_epi32(acc[r]));
  }
}

void hamming_tile(const uint64_t* queries, size_t nq, const uint64_t* tile, size_t nblocks,
                  size_t nwords, int32_t* out, size_t ldo) {
  size_t q = 0;
  for (; q + 4 <= nq; q += 4) hamming_rows<4>(queries + q * nwords, tile, nblocks, nwords, out + q * ldo, ldo);
  switch (nq - q) {
    case 3: hamming_rows<3>(queries + q * nwords, tile, nblocks, nwords, out + q * ldo, ldo); break;
    case 2: hamming_rows<2>(queries + q * nwords, tile, nblocks, nwords, out + q * ldo, ldo); break;
    case 1: hamming_rows<1>(queries + q * nwords, tile, nblocks, nwords, out + q * ldo, ldo); break;
    default: break;
  }
}

}  // namespace

const HammingKernels* hamming_avx512_kernels() {
  static const HammingKernels table = {SimdLevel::AVX512, hamming_tile};
  return &table;
}

}  // namespace qvec::detail
