// AVX2 kernels for binary codes: popcount by nibble lookup (VPSHUFB over a 16-entry table)
// and per-lane sums with VPSADBW. Built with this file's own -m flags; internal linkage, no std
// templates.
#include <immintrin.h>

#include "kernels/binary.h"
#include "kernels/filter_hits.h"

namespace qvec::detail {
namespace {

// Popcount of each 64-bit lane of x.
inline __m256i popcount_lanes(__m256i x) {
  const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1,
                                         2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(x, low));
  __m256i hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(x, 4), low));
  return _mm256_sad_epu8(_mm256_add_epi8(lo, hi), _mm256_setzero_si256());
}

// Packs the low 32 bits of the 64-bit lanes of a (vectors 0..3) and b (4..7) into out[0..8).
inline void store_lanes(__m256i a, __m256i b, int32_t* out) {
  const __m256i pick = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  __m128i lo = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(a, pick));
  __m128i hi = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(b, pick));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), lo);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 4), hi);
}

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

size_t binary_scan(const uint64_t* planes, size_t nplanes, const uint8_t* /*luts*/,
                   const uint64_t* tile, size_t nlevels,
                   size_t nblocks, size_t nwords, const float* vec_factors, const float* c,
                   size_t count, float threshold, float* dist, uint32_t* hits) {
  const size_t width = nblocks * kBinaryBlock;
  const float* beta = vec_factors + nlevels * width;
  const float* g = beta + width;
  const float* h = g + width;
  const __m256 c0 = _mm256_set1_ps(c[0]), c1 = _mm256_set1_ps(c[1]), c2 = _mm256_set1_ps(c[2]),
               c3 = _mm256_set1_ps(c[3]), limit = _mm256_set1_ps(threshold);
  alignas(32) int32_t counts[kBinaryBlock];
  size_t nhits = 0;
  for (size_t b = 0; b < nblocks; ++b) {
    const size_t v0 = b * kBinaryBlock;
    __m256 acc = _mm256_setzero_ps();
    for (size_t l = 0; l < nlevels; ++l) {
      const uint64_t* block = tile + (l * nblocks + b) * nwords * kBinaryBlock;
      __m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
      for (size_t p = nplanes; p-- > 0;) {
        __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
        for (size_t w = 0; w < nwords; ++w) {
          const uint64_t* words = block + w * kBinaryBlock;
          __m256i q = _mm256_set1_epi64x(static_cast<long long>(planes[p * nwords + w]));
          __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words));
          __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words + 4));
          acc0 = _mm256_add_epi64(acc0, popcount_lanes(_mm256_and_si256(w0, q)));
          acc1 = _mm256_add_epi64(acc1, popcount_lanes(_mm256_and_si256(w1, q)));
        }
        sum0 = _mm256_add_epi64(_mm256_slli_epi64(sum0, 1), acc0);
        sum1 = _mm256_add_epi64(_mm256_slli_epi64(sum1, 1), acc1);
      }
      store_lanes(sum0, sum1, counts);
      __m256 s = _mm256_cvtepi32_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(counts)));
      acc = _mm256_fmadd_ps(s, _mm256_loadu_ps(vec_factors + l * width + v0), acc);
    }
    __m256 d = _mm256_add_ps(_mm256_loadu_ps(h + v0), c3);
    d = _mm256_fmadd_ps(c2, _mm256_loadu_ps(g + v0), d);
    d = _mm256_fmadd_ps(c1, _mm256_loadu_ps(beta + v0), d);
    d = _mm256_fmadd_ps(c0, acc, d);
    _mm256_storeu_ps(dist + v0, d);
    unsigned hit = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(d, limit, _CMP_LE_OQ)));
    if (v0 + kBinaryBlock > count) hit &= (1u << (count - v0)) - 1;
    while (hit) {
      hits[nhits++] = static_cast<uint32_t>(v0 + __builtin_ctz(hit));
      hit &= hit - 1;
    }
  }
  return nhits;
}

size_t filter_le_f32(const float* values, size_t n, float threshold, uint32_t* out) {
  const __m256 limit = _mm256_set1_ps(threshold);
  size_t count = 0, i = 0;
  for (; i + 8 <= n; i += 8)
    count = append_hits(static_cast<unsigned>(_mm256_movemask_ps(
                            _mm256_cmp_ps(_mm256_loadu_ps(values + i), limit, _CMP_LE_OQ))),
                        i, out, count);
  return append_le(values, i, n, threshold, out, count);
}

size_t filter_le_i32(const int32_t* values, size_t n, int32_t threshold, uint32_t* out) {
  const __m256i limit = _mm256_set1_epi32(threshold);
  size_t count = 0, i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(values + i));
    // v <= limit  <=>  not (v > limit)
    unsigned hit = ~static_cast<unsigned>(_mm256_movemask_ps(
                       _mm256_castsi256_ps(_mm256_cmpgt_epi32(v, limit)))) & 0xffu;
    count = append_hits(hit, i, out, count);
  }
  return append_le(values, i, n, threshold, out, count);
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

float dot(const float* a, const float* b, size_t d) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t t = 0;
  for (; t + 16 <= d; t += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + t), _mm256_loadu_ps(b + t), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + t + 8), _mm256_loadu_ps(b + t + 8), acc1);
  }
  for (; t + 8 <= d; t += 8)
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + t), _mm256_loadu_ps(b + t), acc0);
  float s = hsum(_mm256_add_ps(acc0, acc1));
  for (; t < d; ++t) s += a[t] * b[t];
  return s;
}

float l2sqr(const float* a, const float* b, size_t d) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t t = 0;
  for (; t + 16 <= d; t += 16) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + t), _mm256_loadu_ps(b + t));
    __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + t + 8), _mm256_loadu_ps(b + t + 8));
    acc0 = _mm256_fmadd_ps(d0, d0, acc0);
    acc1 = _mm256_fmadd_ps(d1, d1, acc1);
  }
  for (; t + 8 <= d; t += 8) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + t), _mm256_loadu_ps(b + t));
    acc0 = _mm256_fmadd_ps(d0, d0, acc0);
  }
  float s = hsum(_mm256_add_ps(acc0, acc1));
  for (; t < d; ++t) {
    float diff = a[t] - b[t];
    s += diff * diff;
  }
  return s;
}

}  // namespace

const BinaryKernels* binary_avx2_kernels() {
  static const BinaryKernels table = {SimdLevel::AVX2, hamming_tile, binary_scan,
                                      filter_le_f32, filter_le_i32, dot, l2sqr};
  return &table;
}

}  // namespace qvec::detail
