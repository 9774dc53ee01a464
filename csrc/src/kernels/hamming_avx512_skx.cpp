// Skylake-SP / Cascade Lake Hamming kernels (AVX-512 F, BW, DQ, VL, CD): no VPOPCNTDQ, so the
// popcount is by byte shuffles (see popcount_avx512_skx.h). Built with this file's own -m flags;
// only reached after dispatch.cpp has checked the CPU. Internal linkage and no std templates,
// so nothing leaks into baseline code.
#include <immintrin.h>

#include "kernels/dispatch.h"
#include "kernels/popcount_avx512_skx.h"

namespace qvec::detail {
namespace {

// R queries against one block of 8 vectors at a time: each code word is loaded once and XORed
// with R broadcast query words; the byte counts of a run of words are summed in bytes, then
// VPSADBW turns them into the 8 lane sums.
template <int R>
void hamming_rows(const uint64_t* queries, const uint64_t* tile, size_t nblocks, size_t nwords,
                  int32_t* out, size_t ldo) {
  const __m512i table = nibble_popcounts();
  for (size_t b = 0; b < nblocks; ++b) {
    const uint64_t* block = tile + b * nwords * kBinaryBlock;
    __m512i acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_si512();
    for (size_t w0 = 0; w0 < nwords; w0 += kSkxRunWords) {
      const size_t end = nwords - w0 < kSkxRunWords ? nwords : w0 + kSkxRunWords;
      __m512i bytes[R];
      for (int r = 0; r < R; ++r) bytes[r] = _mm512_setzero_si512();
      for (size_t w = w0; w < end; ++w) {
        const __m512i c = _mm512_loadu_si512(block + w * kBinaryBlock);
        const __m512i c_high = _mm512_srli_epi64(c, 4);
        for (int r = 0; r < R; ++r) {
          __m512i q = _mm512_set1_epi64(static_cast<long long>(queries[r * nwords + w]));
          bytes[r] = _mm512_add_epi8(bytes[r], byte_popcounts<kSkxXor>(c, c_high, q, table));
        }
      }
      for (int r = 0; r < R; ++r) acc[r] = _mm512_add_epi64(acc[r], lane_sums(bytes[r]));
    }
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
