// AVX-512 kernels (F/BW/DQ/VL + VBMI + VPOPCNTDQ). Built with this file's own -m flags; only
// reached after simd.cpp has checked the CPU. Everything here has internal linkage and uses no
// std templates, so no AVX-512 code can leak into baseline callers.
#include <immintrin.h>

#include "kernels/kernels.h"
#include "kernels/filter_hits.h"

namespace qvec::detail {
namespace {

template <int R>
void dot_rows(const float* a, size_t lda, const float* bpack, size_t d, float* out, size_t ldo) {
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  for (size_t t = 0; t < d; ++t) {
    __m512 b = _mm512_loadu_ps(bpack + t * kPackWidth);
    for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r * lda + t]), b, acc[r]);
  }
  for (int r = 0; r < R; ++r) _mm512_storeu_ps(out + r * ldo, acc[r]);
}

void dot_tile16(const float* a, size_t lda, size_t rows, const float* bpack, size_t d,
                float* out, size_t ldo) {
  switch (rows) {
    case 8: dot_rows<8>(a, lda, bpack, d, out, ldo); break;
    case 7: dot_rows<7>(a, lda, bpack, d, out, ldo); break;
    case 6: dot_rows<6>(a, lda, bpack, d, out, ldo); break;
    case 5: dot_rows<5>(a, lda, bpack, d, out, ldo); break;
    case 4: dot_rows<4>(a, lda, bpack, d, out, ldo); break;
    case 3: dot_rows<3>(a, lda, bpack, d, out, ldo); break;
    case 2: dot_rows<2>(a, lda, bpack, d, out, ldo); break;
    case 1: dot_rows<1>(a, lda, bpack, d, out, ldo); break;
    default: break;
  }
}

// Minimises half_norm - <a, b> (half the objective, so the product chain needs no extra
// multiply), keeping each row's candidate values in a small buffer and the running minimum in a
// register; the winning index is found once at the end instead of tracked with masked moves
// on every pack.
template <int R>
void direct_rows(const float* a, size_t lda, const float* b, size_t ldb, size_t count, size_t d,
                 float* out, size_t ldo) {
  const size_t full = d / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (d - full)) - 1);
  for (size_t i = 0; i < count; ++i) {
    const float* row = b + i * ldb;
    __m512 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    for (size_t t = 0; t < full; t += 16) {
      __m512 x = _mm512_loadu_ps(row + t);
      for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(_mm512_loadu_ps(a + r * lda + t), x, acc[r]);
    }
    if (tail) {
      __m512 x = _mm512_maskz_loadu_ps(tail, row + full);
      for (int r = 0; r < R; ++r)
        acc[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, a + r * lda + full), x, acc[r]);
    }
    for (int r = 0; r < R; ++r) out[r * ldo + i] = _mm512_reduce_add_ps(acc[r]);
  }
}

void dot_direct(const float* a, size_t lda, size_t rows, const float* b, size_t ldb,
                size_t count, size_t d, float* out, size_t ldo) {
  switch (rows) {
    case 4: direct_rows<4>(a, lda, b, ldb, count, d, out, ldo); break;
    case 3: direct_rows<3>(a, lda, b, ldb, count, d, out, ldo); break;
    case 2: direct_rows<2>(a, lda, b, ldb, count, d, out, ldo); break;
    case 1: direct_rows<1>(a, lda, b, ldb, count, d, out, ldo); break;
    default: break;
  }
}

bool tile_distances16(float* tile, size_t ldt, size_t rows, size_t cols,
                      const float* row_norms, const float* col_norms, const float* thresholds,
                      uint32_t* masks) {
  __mmask16 any_bad = 0;
  const __mmask16 valid = static_cast<__mmask16>((1u << cols) - 1);
  const __m512 zero = _mm512_setzero_ps();
  const __m512 cn = row_norms ? _mm512_loadu_ps(col_norms) : zero;
  for (size_t r = 0; r < rows; ++r) {
    __m512 t = _mm512_loadu_ps(tile + r * ldt);
    __m512 raw = row_norms
                     ? _mm512_fmadd_ps(t, _mm512_set1_ps(-2.0f),
                                       _mm512_add_ps(_mm512_set1_ps(row_norms[r]), cn))
                     : _mm512_sub_ps(zero, t);
    __mmask16 bad = _mm512_fpclass_ps_mask(raw, 0x99);  // NaN or +-inf
    __m512 dist = row_norms ? _mm512_max_ps(raw, zero) : raw;
    __mmask16 near = _mm512_cmp_ps_mask(dist, _mm512_set1_ps(thresholds[r]), _CMP_LE_OQ);
    _mm512_storeu_ps(tile + r * ldt, dist);
    masks[r] = static_cast<uint32_t>(near & valid);
    any_bad = static_cast<__mmask16>(any_bad | (bad & valid));
  }
  return any_bad == 0;
}

template <int R>
void nearest_rows(const float* a, size_t lda, const float* bpack, const float* bnorms,
                  size_t npacks, size_t d, int32_t* best_index, float* best_value) {
  constexpr size_t kMaxPacks = 64;  // 1,024 centroids; larger sets go in slices
  __m512 best[R];
  for (int r = 0; r < R; ++r) best[r] = _mm512_set1_ps(__builtin_inff());
  int32_t index[R];
  for (int r = 0; r < R; ++r) {
    index[r] = 0;
    best_value[r] = __builtin_inff();
  }
  for (size_t p0 = 0; p0 < npacks; p0 += kMaxPacks) {
    size_t count = npacks - p0 < kMaxPacks ? npacks - p0 : kMaxPacks;
    alignas(64) float values[R][kMaxPacks * kPackWidth];
    for (size_t p = 0; p < count; ++p) {
      const float* pack = bpack + (p0 + p) * d * kPackWidth;
      __m512 half = _mm512_mul_ps(_mm512_loadu_ps(bnorms + (p0 + p) * kPackWidth),
                                  _mm512_set1_ps(0.5f));
      __m512 acc[R];
      for (int r = 0; r < R; ++r) acc[r] = half;
      for (size_t t = 0; t < d; ++t) {
        __m512 b = _mm512_loadu_ps(pack + t * kPackWidth);
        for (int r = 0; r < R; ++r)
          acc[r] = _mm512_fnmadd_ps(_mm512_set1_ps(a[r * lda + t]), b, acc[r]);
      }
      for (int r = 0; r < R; ++r) {
        _mm512_store_ps(values[r] + p * kPackWidth, acc[r]);
        best[r] = _mm512_min_ps(best[r], acc[r]);
      }
    }
    for (int r = 0; r < R; ++r) {
      float lowest = _mm512_reduce_min_ps(best[r]);
      __m512 target = _mm512_set1_ps(lowest);
      for (size_t p = 0; p < count; ++p) {
        __mmask16 hit = _mm512_cmp_ps_mask(_mm512_load_ps(values[r] + p * kPackWidth), target,
                                           _CMP_EQ_OQ);
        if (hit) {
          // The first slice to reach a new minimum wins; ties keep the earlier index.
          if (p0 == 0 || 2.0f * lowest < best_value[r]) {
            index[r] = static_cast<int32_t>((p0 + p) * kPackWidth + __builtin_ctz(hit));
            best_value[r] = 2.0f * lowest;
          }
          break;
        }
      }
      best_index[r] = index[r];
    }
  }
}

void nearest16(const float* a, size_t lda, size_t rows, const float* bpack, const float* bnorms,
               size_t npacks, size_t d, int32_t* best_index, float* best_value) {
  switch (rows) {
    case 8: nearest_rows<8>(a, lda, bpack, bnorms, npacks, d, best_index, best_value); break;
    case 7: nearest_rows<7>(a, lda, bpack, bnorms, npacks, d, best_index, best_value); break;
    case 6: nearest_rows<6>(a, lda, bpack, bnorms, npacks, d, best_index, best_value); break;
    case 5: nearest_rows<5>(a, lda, bpack, bnorms, npacks, d, best_index, best_value); break;
    case 4: nearest_rows<4>(a, lda, bpack, bnorms, npacks, d, best_index, best_value); break;
    case 3: nearest_rows<3>(a, lda, bpack, bnorms, npacks, d, best_index, best_value); break;
    case 2: nearest_rows<2>(a, lda, bpack, bnorms, npacks, d, best_index, best_value); break;
    case 1: nearest_rows<1>(a, lda, bpack, bnorms, npacks, d, best_index, best_value); break;
    default: break;
  }
}

// 256-entry byte lookup of 64 codes at once: two 128-entry VBMI permutes, then bit 7 of each
// code picks which half answered.
inline __m512i lookup256(const uint8_t* table, __m512i idx) {
  __m512i lo = _mm512_permutex2var_epi8(_mm512_loadu_si512(table), idx,
                                        _mm512_loadu_si512(table + 64));
  __m512i hi = _mm512_permutex2var_epi8(_mm512_loadu_si512(table + 128), idx,
                                        _mm512_loadu_si512(table + 192));
  return _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi);
}

void adc_scan_u8(const uint8_t* lut, const uint8_t* codes, size_t nblocks, size_t m,
                 uint16_t* out) {
  const __m512i low_bytes = _mm512_set1_epi16(0x00ff);
  // Even and odd code positions accumulate in separate 16-bit lanes; these indices
  // interleave them back into code order when the block is stored.
  static const uint16_t kInterleave[32] = {0, 32, 1, 33, 2, 34, 3, 35, 4, 36, 5, 37, 6, 38, 7, 39,
                                            8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46,
                                            15, 47};
  const __m512i first_half = _mm512_loadu_si512(kInterleave);
  const __m512i second_half = _mm512_add_epi16(first_half, _mm512_set1_epi16(16));
  for (size_t b = 0; b < nblocks; ++b) {
    const uint8_t* block = codes + b * m * kCodeBlock;
    __m512i even = _mm512_setzero_si512(), odd = _mm512_setzero_si512();
    for (size_t j = 0; j < m; ++j) {
      __m512i v = lookup256(lut + j * 256, _mm512_loadu_si512(block + j * kCodeBlock));
      even = _mm512_add_epi16(even, _mm512_and_si512(v, low_bytes));
      odd = _mm512_add_epi16(odd, _mm512_srli_epi16(v, 8));
    }
    _mm512_storeu_si512(out + b * kCodeBlock, _mm512_permutex2var_epi16(even, first_half, odd));
    _mm512_storeu_si512(out + b * kCodeBlock + 32,
                        _mm512_permutex2var_epi16(even, second_half, odd));
  }
}

size_t filter_le_u16(const uint16_t* values, size_t n, uint16_t threshold, uint32_t* out) {
  const __m512i limit = _mm512_set1_epi16(static_cast<short>(threshold));
  size_t count = 0, i = 0;
  for (; i + 32 <= n; i += 32)
    count = append_hits(_mm512_cmple_epu16_mask(_mm512_loadu_si512(values + i), limit), i, out,
                        count);
  return append_le(values, i, n, threshold, out, count);
}

}  // namespace

const Kernels* avx512_kernels() {
  static const Kernels table = {SimdLevel::AVX512, dot_tile16, dot_direct, tile_distances16, nearest16, adc_scan_u8,
                                filter_le_u16};
  return &table;
}

}  // namespace qvec::detail
