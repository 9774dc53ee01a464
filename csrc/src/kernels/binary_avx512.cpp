// AVX-512 kernels for binary codes (VPOPCNTDQ: one popcount per 64-bit lane). Built with this
// file's own -m flags; only reached after simd.cpp has checked the CPU. Internal linkage and
// no std templates, so no AVX-512 code can leak into baseline callers.
#include <immintrin.h>

#include "kernels/binary.h"
#include "kernels/filter_hits.h"

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

// S[v] = sum_p 2^p popcount(planes[p] AND word-block of v), 8 vectors as 8 x int64.
template <int P>
inline __m512i plane_counts(const uint64_t* planes, const uint64_t* block, size_t nwords) {
  __m512i acc[P];
  for (int p = 0; p < P; ++p) acc[p] = _mm512_setzero_si512();
  for (size_t w = 0; w < nwords; ++w) {
    __m512i c = _mm512_loadu_si512(block + w * kBinaryBlock);
    for (int p = 0; p < P; ++p) {
      __m512i q = _mm512_set1_epi64(static_cast<long long>(planes[p * nwords + w]));
      acc[p] = _mm512_add_epi64(acc[p], _mm512_popcnt_epi64(_mm512_and_si512(c, q)));
    }
  }
  __m512i sum = acc[P - 1];
  for (int p = P - 2; p >= 0; --p) sum = _mm512_add_epi64(_mm512_slli_epi64(sum, 1), acc[p]);
  return sum;
}

// The same S from nibble tables: each code byte's two nibbles index 128-entry byte tables
// (VPERMT2B) whose entries already hold the weighted sum over 4 dimensions (<= 60), so one
// word of 8 vectors costs two lookups instead of P AND + POPCNT pairs. Two words (<= 240 per
// byte) are summed in bytes, then VPSADBW adds the 8 bytes of each vector.
inline __m512i lut_counts(const uint8_t* luts, const uint64_t* block, size_t nwords) {
  // Byte i of every 64-bit lane holds i << 4: selects the byte position's 16-entry table.
  const __m512i position = _mm512_set1_epi64(0x7060504030201000LL);
  const __m512i nibble = _mm512_set1_epi8(0x0f);
  __m512i acc = _mm512_setzero_si512();
  for (size_t w = 0; w < nwords; w += 2) {
    __m512i bytes = _mm512_setzero_si512();
    size_t end = w + 2 < nwords ? w + 2 : nwords;
    for (size_t v = w; v < end; ++v) {
      __m512i c = _mm512_loadu_si512(block + v * kBinaryBlock);
      const uint8_t* t = luts + v * 256;
      // (c & 0x0f) | position, and the same for the high nibble.
      __m512i lo_idx = _mm512_ternarylogic_epi64(c, nibble, position, 0xEA);
      __m512i hi_idx = _mm512_ternarylogic_epi64(_mm512_srli_epi64(c, 4), nibble, position, 0xEA);
      __m512i lo = _mm512_permutex2var_epi8(_mm512_loadu_si512(t), lo_idx,
                                            _mm512_loadu_si512(t + 64));
      __m512i hi = _mm512_permutex2var_epi8(_mm512_loadu_si512(t + 128), hi_idx,
                                            _mm512_loadu_si512(t + 192));
      bytes = _mm512_add_epi8(bytes, _mm512_add_epi8(lo, hi));
    }
    acc = _mm512_add_epi64(acc, _mm512_sad_epu8(bytes, _mm512_setzero_si512()));
  }
  return acc;
}

template <int P>
size_t scan_fixed(const uint64_t* planes, const uint8_t* luts, const uint64_t* tile,
                  size_t nlevels, size_t nblocks, size_t nwords, const float* vec_factors,
                  const float* c, size_t count, float threshold, float* dist, uint32_t* hits) {
  const size_t width = nblocks * kBinaryBlock;
  const float* beta = vec_factors + nlevels * width;
  const float* g = beta + width;
  const float* h = g + width;
  const __m256 c0 = _mm256_set1_ps(c[0]), c1 = _mm256_set1_ps(c[1]), c2 = _mm256_set1_ps(c[2]),
               c3 = _mm256_set1_ps(c[3]), limit = _mm256_set1_ps(threshold);
  size_t nhits = 0;
  for (size_t b = 0; b < nblocks; ++b) {
    const size_t v0 = b * kBinaryBlock;
    __m256 acc = _mm256_setzero_ps();
    for (size_t l = 0; l < nlevels; ++l) {
      const uint64_t* block = tile + (l * nblocks + b) * nwords * kBinaryBlock;
      __m512i s;
      if (luts == nullptr) {
        s = plane_counts<P>(planes, block, nwords);
      } else {
        s = lut_counts(luts, block, nwords);
        if (P > 4)
          s = _mm512_add_epi64(
              s, _mm512_slli_epi64(lut_counts(luts + nwords * 256, block, nwords), 4));
      }
      acc = _mm256_fmadd_ps(_mm512_cvtepi64_ps(s), _mm256_loadu_ps(vec_factors + l * width + v0),
                            acc);
    }
    __m256 d = _mm256_add_ps(_mm256_loadu_ps(h + v0), c3);
    d = _mm256_fmadd_ps(c2, _mm256_loadu_ps(g + v0), d);
    d = _mm256_fmadd_ps(c1, _mm256_loadu_ps(beta + v0), d);
    d = _mm256_fmadd_ps(c0, acc, d);
    _mm256_storeu_ps(dist + v0, d);
    unsigned hit = _mm256_cmp_ps_mask(d, limit, _CMP_LE_OQ);
    if (v0 + kBinaryBlock > count) hit &= (1u << (count - v0)) - 1;
    while (hit) {
      hits[nhits++] = static_cast<uint32_t>(v0 + __builtin_ctz(hit));
      hit &= hit - 1;
    }
  }
  return nhits;
}

size_t binary_scan(const uint64_t* planes, size_t nplanes, const uint8_t* luts,
                   const uint64_t* tile, size_t nlevels, size_t nblocks, size_t nwords,
                   const float* vec_factors, const float* c, size_t count, float threshold,
                   float* dist, uint32_t* hits) {
#define QVEC_SCAN(P)                                                                           \
  case P:                                                                                      \
    return scan_fixed<P>(planes, luts, tile, nlevels, nblocks, nwords, vec_factors, c, count, \
                         threshold, dist, hits);
  switch (nplanes) {
    QVEC_SCAN(1) QVEC_SCAN(2) QVEC_SCAN(3) QVEC_SCAN(4)
    QVEC_SCAN(5) QVEC_SCAN(6) QVEC_SCAN(7) QVEC_SCAN(8)
    default: return 0;
  }
#undef QVEC_SCAN
}

size_t filter_le_f32(const float* values, size_t n, float threshold, uint32_t* out) {
  const __m512 limit = _mm512_set1_ps(threshold);
  size_t count = 0, i = 0;
  for (; i + 16 <= n; i += 16)
    count = append_hits(_mm512_cmp_ps_mask(_mm512_loadu_ps(values + i), limit, _CMP_LE_OQ), i,
                        out, count);
  return append_le(values, i, n, threshold, out, count);
}

size_t filter_le_i32(const int32_t* values, size_t n, int32_t threshold, uint32_t* out) {
  const __m512i limit = _mm512_set1_epi32(threshold);
  size_t count = 0, i = 0;
  for (; i + 16 <= n; i += 16)
    count = append_hits(_mm512_cmple_epi32_mask(_mm512_loadu_si512(values + i), limit), i, out,
                        count);
  return append_le(values, i, n, threshold, out, count);
}

float dot(const float* a, const float* b, size_t d) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t t = 0;
  for (; t + 32 <= d; t += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + t), _mm512_loadu_ps(b + t), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + t + 16), _mm512_loadu_ps(b + t + 16), acc1);
  }
  for (; t < d; t += 16) {
    __mmask16 m = d - t >= 16 ? static_cast<__mmask16>(0xffff)
                              : static_cast<__mmask16>((1u << (d - t)) - 1);
    acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + t), _mm512_maskz_loadu_ps(m, b + t), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

float l2sqr(const float* a, const float* b, size_t d) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t t = 0;
  for (; t + 32 <= d; t += 32) {
    __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + t), _mm512_loadu_ps(b + t));
    __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + t + 16), _mm512_loadu_ps(b + t + 16));
    acc0 = _mm512_fmadd_ps(d0, d0, acc0);
    acc1 = _mm512_fmadd_ps(d1, d1, acc1);
  }
  for (; t < d; t += 16) {
    __mmask16 m = d - t >= 16 ? static_cast<__mmask16>(0xffff)
                              : static_cast<__mmask16>((1u << (d - t)) - 1);
    __m512 d0 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + t), _mm512_maskz_loadu_ps(m, b + t));
    acc0 = _mm512_fmadd_ps(d0, d0, acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

}  // namespace

const BinaryKernels* binary_avx512_kernels() {
  static const BinaryKernels table = {SimdLevel::AVX512, hamming_tile, binary_scan,
                                      filter_le_f32, filter_le_i32, dot, l2sqr};
  return &table;
}

}  // namespace qvec::detail
