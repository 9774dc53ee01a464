// AVX2 8-bit ADC scan. Built with this file's own -m flags; only reached after dispatch.cpp has
// checked the CPU. Internal linkage and no std templates, so nothing leaks into baseline code.
#include <immintrin.h>

#include "kernels/dispatch.h"

namespace qvec::detail {
namespace {

// No byte permute spans 256 entries in AVX2, so tables are read with 32-bit gathers whose top
// bytes are masked off (the caller pads the table so the last gather stays in bounds).
void scan(const uint8_t* lut, const uint8_t* codes, size_t nblocks, size_t m,
                 uint16_t* out) {
  const __m256i low_byte = _mm256_set1_epi32(0xff);
  for (size_t b = 0; b < nblocks; ++b) {
    const uint8_t* block = codes + b * m * kCodeBlock;
    for (size_t g = 0; g < kCodeBlock; g += 16) {
      __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
      for (size_t j = 0; j < m; ++j) {
        const int* table = reinterpret_cast<const int*>(lut + j * 256);
        __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + j * kCodeBlock + g));
        __m256i i0 = _mm256_cvtepu8_epi32(c);
        __m256i i1 = _mm256_cvtepu8_epi32(_mm_srli_si128(c, 8));
        acc0 = _mm256_add_epi32(acc0, _mm256_and_si256(_mm256_i32gather_epi32(table, i0, 1), low_byte));
        acc1 = _mm256_add_epi32(acc1, _mm256_and_si256(_mm256_i32gather_epi32(table, i1, 1), low_byte));
      }
      // Sums fit in 16 bits by contract; unsigned saturation cannot trigger.
      __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(acc0, acc1), 0xd8);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + b * kCodeBlock + g), packed);
    }
  }
}

}  // namespace

const Pq8Kernels* pq8_avx2_kernels() {
  static const Pq8Kernels table = {SimdLevel::AVX2, scan};
  return &table;
}

}  // namespace qvec::detail
