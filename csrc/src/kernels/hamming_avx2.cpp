// AVX2 Hamming kernels: popcount by nibble lookup (see popcount_avx2.h). Built with this file's own
// -m flags; only reached after dispatch.cpp has checked the CPU. Internal linkage and no std
// templates, so nothing leaks into baseline code.
#include <immintrin.h>

#include "kernels/dispatch.h"
#include "kernels/popcount_avx2.h"

namespace qvec::detail {
namespace {

template <int R>
void hamming_rows(const uint64_t* queries, const uint64_t* tile, size_t nblocks, size_t nwords,
                  int32_t* out, size_t ldo) {
  for (size_t b = 0; b < nblocks; ++b) {
    const uint64_t* block = tile + b * nwords * kBinaryBlock;
    __m256i acc0[R], acc1[R];
    for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm256_setzero_si256();
    for (size_t w = 0; w < nwords; ++w) {
      const uint64_t* words = block + w * kBinaryBlock;
      __m256i c0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words));
      __m256i c1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words + 4));
      for (int r = 0; r < R; ++r) {
        __m256i q = _mm256_set1_epi64x(static_cast<long long>(queries[r * nwords + w]));
        acc0[r] = _mm256_add_epi64(acc0[r], popcount_lanes(_mm256_xor_si256(c0, q)));
        acc1[r] = _mm256_add_epi64(acc1[r], popcount_lanes(_mm256_xor_si256(c1, q)));
      }
    }
    for (int r = 0; r < R; ++r) store_lanes(acc0[r], acc1[r], out + r * ldo + b * kBinaryBlock);
  }
}

void hamming_tile(const uint64_t* queries, size_t nq, const uint64_t* tile, size_t nblocks,
                  size_t nwords, int32_t* out, size_t ldo) {
  size_t q = 0;
  for (; q + 2 <= nq; q += 2) hamming_rows<2>(queries + q * nwords, tile, nblocks, nwords, out + q * ldo, ldo);
  if (q < nq) hamming_rows<1>(queries + q * nwords, tile, nblocks, nwords, out + q * ldo, ldo);
}

}  // namespace

const HammingKernels* hamming_avx2_kernels() {
  static const HammingKernels table = {SimdLevel::AVX2, hamming_tile};
  return &table;
}

}  // namespace qvec::detail
