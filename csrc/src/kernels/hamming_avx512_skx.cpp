// Skylake-SP / Cascade Lake Hamming kernels (AVX-512 F, BW, DQ, VL, CD): no VPOPCNTDQ, so the
// popcount is by byte shuffles (see popcount_avx512_skx.h). Built with this file's own -m flags;
// only reached after dispatch.cpp has checked the CPU. Internal linkage and no std templates,
// so nothing leaks into baseline code.
#include <immintrin.h>

#include "kernels/dispatch.h"
#include "kernels/popcount_avx512_skx.h"

namespace qvec::detail {
namespace {

// R queries against one block of 8 vectors at a time (block_popcounts: each code word loaded
// once and XORed with R broadcast query words).
template <int R>
void hamming_rows(const uint64_t* queries, const uint64_t* tile, size_t nblocks, size_t nwords,
                  int32_t* out, size_t ldo) {
  for (size_t b = 0; b < nblocks; ++b) {
    __m512i acc[R];
    block_popcounts<R, kSkxXor>(queries, tile + b * nwords * kBinaryBlock, nwords, acc);
    for (int r = 0; r < R; ++r)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + r * ldo + b * kBinaryBlock),
                          _mm512_cvtepi64_epi32(acc[r]));
  }
}

void hamming_tile(const uint64_t* queries, size_t nq, const uint64_t* tile, size_t nblocks,
                  size_t nwords, int32_t* out, size_t ldo) {
  const uint64_t* q = queries;
  size_t i = 0;
  for (; i + 4 <= nq; i += 4, q += 4 * nwords)
    hamming_rows<4>(q, tile, nblocks, nwords, out + i * ldo, ldo);
  switch (nq - i) {
    case 3: hamming_rows<3>(q, tile, nblocks, nwords, out + i * ldo, ldo); break;
    case 2: hamming_rows<2>(q, tile, nblocks, nwords, out + i * ldo, ldo); break;
    case 1: hamming_rows<1>(q, tile, nblocks, nwords, out + i * ldo, ldo); break;
    default: break;
  }
}

}  // namespace

const HammingKernels* hamming_avx512_skx_kernels() {
  static const HammingKernels table = {SimdLevel::AVX512_SKX, hamming_tile};
  return &table;
}

}  // namespace qvec::detail
