// AVX2 + FMA dense float kernels. Built with this file's own -m flags; only reached after
// dispatch.cpp has checked the CPU. Internal linkage and no std templates, so nothing leaks into
// baseline code.
#include <immintrin.h>

#include "kernels/dispatch.h"

namespace qvec::detail {
namespace {

// 16 columns are two 8-float registers; four rows keep 8 accumulators in flight (six rows
// measured slower: the compiler folds the column loads into every FMA and the loop becomes
// load-bound).
template <int R>
void dot_rows(const float* a, size_t lda, const float* bpack, size_t d, float* out, size_t ldo) {
  __m256 lo[R], hi[R];
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  for (size_t t = 0; t < d; ++t) {
    __m256 b0 = _mm256_loadu_ps(bpack + t * kPackWidth);
    __m256 b1 = _mm256_loadu_ps(bpack + t * kPackWidth + 8);
    for (int r = 0; r < R; ++r) {
      __m256 x = _mm256_broadcast_ss(a + r * lda + t);
      lo[r] = _mm256_fmadd_ps(x, b0, lo[r]);
      hi[r] = _mm256_fmadd_ps(x, b1, hi[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_ps(out + r * ldo, lo[r]);
    _mm256_storeu_ps(out + r * ldo + 8, hi[r]);
  }
}

// The 6 x 16 register block (12 accumulators, 2 column registers, 1 broadcast: 15 of the 16
// ymm registers) as named variables: GCC keeps an accumulator array of this size in registers
// but also stores it to the stack on every step, which made the array form 3x slower.
void dot_rows6(const float* a, size_t lda, const float* bpack, size_t d, float* out,
               size_t ldo) {
  __m256 l0 = _mm256_setzero_ps(), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0;
  __m256 l3 = l0, h3 = l0, l4 = l0, h4 = l0, l5 = l0, h5 = l0;
  const float *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda, *a4 = a + 4 * lda,
              *a5 = a + 5 * lda;
  for (size_t t = 0; t < d; ++t) {
    __m256 b0 = _mm256_loadu_ps(bpack + t * kPackWidth);
    __m256 b1 = _mm256_loadu_ps(bpack + t * kPackWidth + 8);
    __m256 x = _mm256_broadcast_ss(a0 + t);
    l0 = _mm256_fmadd_ps(x, b0, l0);
    h0 = _mm256_fmadd_ps(x, b1, h0);
    x = _mm256_broadcast_ss(a1 + t);
    l1 = _mm256_fmadd_ps(x, b0, l1);
    h1 = _mm256_fmadd_ps(x, b1, h1);
    x = _mm256_broadcast_ss(a2 + t);
    l2 = _mm256_fmadd_ps(x, b0, l2);
    h2 = _mm256_fmadd_ps(x, b1, h2);
    x = _mm256_broadcast_ss(a3 + t);
    l3 = _mm256_fmadd_ps(x, b0, l3);
    h3 = _mm256_fmadd_ps(x, b1, h3);
    x = _mm256_broadcast_ss(a4 + t);
    l4 = _mm256_fmadd_ps(x, b0, l4);
    h4 = _mm256_fmadd_ps(x, b1, h4);
    x = _mm256_broadcast_ss(a5 + t);
    l5 = _mm256_fmadd_ps(x, b0, l5);
    h5 = _mm256_fmadd_ps(x, b1, h5);
  }
  __m256 lo[6] = {l0, l1, l2, l3, l4, l5}, hi[6] = {h0, h1, h2, h3, h4, h5};
  for (int r = 0; r < 6; ++r) {
    _mm256_storeu_ps(out + r * ldo, lo[r]);
    _mm256_storeu_ps(out + r * ldo + 8, hi[r]);
  }
}

void dot_tile16(const float* a, size_t lda, size_t rows, const float* bpack, size_t d,
                float* out, size_t ldo) {
  while (rows >= 6) {
    dot_rows6(a, lda, bpack, d, out, ldo);
    a += 6 * lda;
    out += 6 * ldo;
    rows -= 6;
  }
  switch (rows) {
    case 5:
      dot_rows<4>(a, lda, bpack, d, out, ldo);
      dot_rows<1>(a + 4 * lda, lda, bpack, d, out + 4 * ldo, ldo);
      break;
    case 4: dot_rows<4>(a, lda, bpack, d, out, ldo); break;
    case 3: dot_rows<3>(a, lda, bpack, d, out, ldo); break;
    case 2: dot_rows<2>(a, lda, bpack, d, out, ldo); break;
    case 1: dot_rows<1>(a, lda, bpack, d, out, ldo); break;
    default: break;
  }
}

template <int G>
void dot_group(const float* a, const float* b, size_t ldb, size_t d, float* out);

inline float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <int R>
void direct_rows(const float* a, size_t lda, const float* b, size_t ldb, size_t count, size_t d,
                 float* out, size_t ldo) {
  const size_t full = d / 8 * 8;
  for (size_t i = 0; i < count; ++i) {
    const float* row = b + i * ldb;
    __m256 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
    for (size_t t = 0; t < full; t += 8) {
      __m256 x = _mm256_loadu_ps(row + t);
      for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(a + r * lda + t), x, acc[r]);
    }
    for (int r = 0; r < R; ++r) {
      float s = horizontal_sum(acc[r]);
      for (size_t t = full; t < d; ++t) s += a[r * lda + t] * row[t];
      out[r * ldo + i] = s;
    }
  }
}

void dot_direct(const float* a, size_t lda, size_t rows, const float* b, size_t ldb,
                size_t count, size_t d, float* out, size_t ldo) {
  switch (rows) {
    case 4: direct_rows<4>(a, lda, b, ldb, count, d, out, ldo); break;
    case 3: direct_rows<3>(a, lda, b, ldb, count, d, out, ldo); break;
    case 2: direct_rows<2>(a, lda, b, ldb, count, d, out, ldo); break;
    case 1: {
      size_t i = 0;
      for (; i + 4 <= count; i += 4) dot_group<4>(a, b + i * ldb, ldb, d, out + i);
      for (; i < count; ++i) dot_group<1>(a, b + i * ldb, ldb, d, out + i);
      break;
    }
    default: break;
  }
}

// Exact search's block: the products are two dot_tile16 passes over all the rows (6 x 16 is
// the largest block that fits the 16 ymm registers), the base rows in place of queries and
// each query pack in place of a base pack, so one pack (24 KiB at d = 384) stays in L1 for
// the whole block; then the distances and masks. (This file's dot_tile16 takes any number of
// rows, 6 at a time; the table's contract promises callers only kTileRows.)
bool scan_block(const float* x, size_t ldx, size_t rows, const float* qpack, size_t d,
                const float* qnorms, const float* xnorms, const float* limits, float* dist,
                uint32_t* masks) {
  dot_tile16(x, ldx, rows, qpack, d, dist, kScanQueries);
  dot_tile16(x, ldx, rows, qpack + d * kPackWidth, d, dist + kPackWidth, kScanQueries);
  uint32_t any_bad = 0;
  const __m256 zero = _mm256_setzero_ps(), minus_two = _mm256_set1_ps(-2.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 largest = _mm256_set1_ps(3.402823466e+38f);
  for (size_t r = 0; r < rows; ++r) {
    uint32_t mask = 0;
    float* row = dist + r * kScanQueries;
    for (size_t h = 0; h < kScanQueries; h += 8) {
      __m256 p = _mm256_loadu_ps(row + h);
      __m256 raw = qnorms ? _mm256_fmadd_ps(p, minus_two,
                                            _mm256_add_ps(_mm256_loadu_ps(qnorms + h),
                                                          _mm256_set1_ps(xnorms[r])))
                          : _mm256_sub_ps(zero, p);
      // !(|raw| <= FLT_MAX) holds exactly for NaN and +-inf.
      __m256 bad = _mm256_cmp_ps(_mm256_andnot_ps(sign, raw), largest, _CMP_NLE_UQ);
      __m256 value = qnorms ? _mm256_max_ps(raw, zero) : raw;
      __m256 near = _mm256_cmp_ps(value, _mm256_loadu_ps(limits + h), _CMP_LE_OQ);
      _mm256_storeu_ps(row + h, value);
      mask |= static_cast<uint32_t>(_mm256_movemask_ps(near)) << h;
      any_bad |= static_cast<uint32_t>(_mm256_movemask_ps(bad));
    }
    masks[r] = mask;
  }
  return any_bad == 0;
}

// As the AVX-512 kernel: minimise half_norm - <a, b>, keep candidate values in a buffer and the
// running minimum in registers, and locate the winner once at the end.
inline float lane_min(__m256 v) {
  __m256 m = _mm256_min_ps(v, _mm256_permute2f128_ps(v, v, 1));
  m = _mm256_min_ps(m, _mm256_shuffle_ps(m, m, 0x4e));
  m = _mm256_min_ps(m, _mm256_shuffle_ps(m, m, 0xb1));
  return _mm256_cvtss_f32(m);
}

// The runner-up of the whole row: each lane's second smallest, or another lane's smallest.
inline float runner_up(__m256 best, __m256 second) {
  int hits = _mm256_movemask_ps(_mm256_cmp_ps(best, _mm256_set1_ps(lane_min(best)), _CMP_EQ_OQ));
  float at = static_cast<float>(__builtin_ctz(hits | 0x100));  // 8: none (NaN input)
  __m256 first = _mm256_cmp_ps(_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_ps(at),
                               _CMP_EQ_OQ);
  __m256 others = _mm256_blendv_ps(best, _mm256_set1_ps(__builtin_inff()), first);
  return lane_min(_mm256_min_ps(second, others));
}

template <int R>
void nearest_rows(const float* a, size_t lda, const float* bpack, const float* bnorms,
                  size_t npacks, size_t d, int32_t* best_index, float* best_value,
                  float* second_value) {
  constexpr size_t kMaxPacks = 64;
  __m256 best[R], second[R];
  for (int r = 0; r < R; ++r) best[r] = second[r] = _mm256_set1_ps(__builtin_inff());
  for (int r = 0; r < R; ++r) {
    best_index[r] = 0;
    best_value[r] = __builtin_inff();
  }
  const __m256 half = _mm256_set1_ps(0.5f);
  for (size_t p0 = 0; p0 < npacks; p0 += kMaxPacks) {
    size_t count = npacks - p0 < kMaxPacks ? npacks - p0 : kMaxPacks;
    alignas(32) float values[R][kMaxPacks * kPackWidth];
    for (size_t p = 0; p < count; ++p) {
      const float* pack = bpack + (p0 + p) * d * kPackWidth;
      __m256 h0 = _mm256_mul_ps(_mm256_loadu_ps(bnorms + (p0 + p) * kPackWidth), half);
      __m256 h1 = _mm256_mul_ps(_mm256_loadu_ps(bnorms + (p0 + p) * kPackWidth + 8), half);
      __m256 lo[R], hi[R];
      for (int r = 0; r < R; ++r) {
        lo[r] = h0;
        hi[r] = h1;
      }
      for (size_t t = 0; t < d; ++t) {
        __m256 b0 = _mm256_loadu_ps(pack + t * kPackWidth);
        __m256 b1 = _mm256_loadu_ps(pack + t * kPackWidth + 8);
        for (int r = 0; r < R; ++r) {
          __m256 x = _mm256_broadcast_ss(a + r * lda + t);
          lo[r] = _mm256_fnmadd_ps(x, b0, lo[r]);
          hi[r] = _mm256_fnmadd_ps(x, b1, hi[r]);
        }
      }
      for (int r = 0; r < R; ++r) {
        _mm256_store_ps(values[r] + p * kPackWidth, lo[r]);
        _mm256_store_ps(values[r] + p * kPackWidth + 8, hi[r]);
        // Per lane, the two smallest of {best, second, lo, hi}.
        __m256 low = _mm256_min_ps(lo[r], hi[r]), high = _mm256_max_ps(lo[r], hi[r]);
        second[r] = _mm256_min_ps(_mm256_min_ps(second[r], high), _mm256_max_ps(best[r], low));
        best[r] = _mm256_min_ps(best[r], low);
      }
    }
    for (int r = 0; r < R; ++r) {
      float lowest = lane_min(best[r]);
      if (!(2.0f * lowest < best_value[r])) continue;  // ties keep the earlier slice
      for (size_t i = 0; i < count * kPackWidth; ++i)
        if (values[r][i] == lowest) {
          best_index[r] = static_cast<int32_t>(p0 * kPackWidth + i);
          best_value[r] = 2.0f * lowest;
          break;
        }
    }
  }
  for (int r = 0; r < R; ++r) second_value[r] = 2.0f * runner_up(best[r], second[r]);
}

#include "kernels/nearest_avx2_impl.h"

// Below this many components a pack's values cost less to compute than to fold through memory.
constexpr size_t kNearBlockedMinDim = 8;

void nearest(const float* a, size_t lda, size_t rows, const float* bpack, const float* bnorms,
               size_t npacks, size_t d, int32_t* best_index, float* best_value,
               float* second_value) {
  if (npacks > 1 && d >= kNearBlockedMinDim) {
    nearest_blocks<NearAvx2>(a, lda, rows, bpack, bnorms, npacks, d, best_index, best_value,
                             second_value);
    return;
  }
  while (rows >= 4) {
    nearest_rows<4>(a, lda, bpack, bnorms, npacks, d, best_index, best_value, second_value);
    a += 4 * lda;
    best_index += 4;
    best_value += 4;
    second_value += 4;
    rows -= 4;
  }
  switch (rows) {
    case 3: nearest_rows<3>(a, lda, bpack, bnorms, npacks, d, best_index, best_value, second_value); break;
    case 2: nearest_rows<2>(a, lda, bpack, bnorms, npacks, d, best_index, best_value, second_value); break;
    case 1: nearest_rows<1>(a, lda, bpack, bnorms, npacks, d, best_index, best_value, second_value); break;
    default: break;
  }
}

/// <a, b_g> of G rows b_g = b + g * ldb, each summed in dot's order (the same bits): one
/// query against many rows (dot_direct's single query) with G chains side by side.
template <int G>
void dot_group(const float* a, const float* b, size_t ldb, size_t d, float* out) {
  __m256 acc0[G], acc1[G];
  for (int g = 0; g < G; ++g) acc0[g] = acc1[g] = _mm256_setzero_ps();
  size_t t = 0;
  for (; t + 16 <= d; t += 16) {
    const __m256 a0 = _mm256_loadu_ps(a + t), a1 = _mm256_loadu_ps(a + t + 8);
    for (int g = 0; g < G; ++g) {
      acc0[g] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b + g * ldb + t), acc0[g]);
      acc1[g] = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b + g * ldb + t + 8), acc1[g]);
    }
  }
  for (; t + 8 <= d; t += 8) {
    const __m256 a0 = _mm256_loadu_ps(a + t);
    for (int g = 0; g < G; ++g)
      acc0[g] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b + g * ldb + t), acc0[g]);
  }
  for (int g = 0; g < G; ++g) {
    const float* row = b + g * ldb;
    float s = horizontal_sum(_mm256_add_ps(acc0[g], acc1[g]));
    for (size_t u = t; u < d; ++u) s += a[u] * row[u];
    out[g] = s;
  }
}

float dot(const float* a, const float* b, size_t d) {
  float s;
  dot_group<1>(a, b, 0, d, &s);
  return s;
}

/// ||a - b_r||^2 of R rows b_r = b + r * ldb, each summed in l2sqr's order (the same bits):
/// the rows share the loads of a and their chains run side by side.
template <int R>
void l2sqr_group(const float* a, const float* b, size_t ldb, size_t d, float* out) {
  __m256 acc0[R], acc1[R];
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
  size_t t = 0;
  for (; t + 16 <= d; t += 16) {
    const __m256 a0 = _mm256_loadu_ps(a + t), a1 = _mm256_loadu_ps(a + t + 8);
    for (int r = 0; r < R; ++r) {
      const __m256 d0 = _mm256_sub_ps(a0, _mm256_loadu_ps(b + r * ldb + t));
      const __m256 d1 = _mm256_sub_ps(a1, _mm256_loadu_ps(b + r * ldb + t + 8));
      acc0[r] = _mm256_fmadd_ps(d0, d0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(d1, d1, acc1[r]);
    }
  }
  for (; t + 8 <= d; t += 8) {
    const __m256 a0 = _mm256_loadu_ps(a + t);
    for (int r = 0; r < R; ++r) {
      const __m256 d0 = _mm256_sub_ps(a0, _mm256_loadu_ps(b + r * ldb + t));
      acc0[r] = _mm256_fmadd_ps(d0, d0, acc0[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    const float* row = b + r * ldb;
    float s = horizontal_sum(_mm256_add_ps(acc0[r], acc1[r]));
    for (size_t u = t; u < d; ++u) {
      const float diff = a[u] - row[u];
      s += diff * diff;
    }
    out[r] = s;
  }
}

float l2sqr(const float* a, const float* b, size_t d) {
  float s;
  l2sqr_group<1>(a, b, 0, d, &s);
  return s;
}

void l2sqr_rows(const float* a, const float* b, size_t ldb, size_t count, size_t d,
                float* out) {
  size_t i = 0;
  for (; i + 4 <= count; i += 4) l2sqr_group<4>(a, b + i * ldb, ldb, d, out + i);
  for (; i < count; ++i) l2sqr_group<1>(a, b + i * ldb, ldb, d, out + i);
}

// Each 4-byte group of the query is broadcast against the block's 16 rows (two halves of 8):
// maddubs pairs stay below 2 * 127 * 127 < 2^15, madd with ones sums the pairs into int32.
void dot_blocks_i8(const uint8_t* a, const int8_t* blocks, size_t nblocks, size_t d4,
                   int32_t* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  for (size_t b = 0; b < nblocks; ++b) {
    const int8_t* block = blocks + b * d4 * 64;
    __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
    for (size_t g = 0; g < d4; ++g) {
      int32_t word;
      __builtin_memcpy(&word, a + 4 * g, 4);
      const __m256i q = _mm256_set1_epi32(word);
      const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + g * 64));
      const __m256i x1 =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + g * 64 + 32));
      lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_maddubs_epi16(q, x0), ones));
      hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_maddubs_epi16(q, x1), ones));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + b * kByteBlockRows), lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + b * kByteBlockRows + 8), hi);
  }
}

}  // namespace

const DenseKernels* dense_avx2_kernels() {
  static const DenseKernels table = {SimdLevel::AVX2, dot_tile16, dot_direct, scan_block,
                                     nearest, dot, l2sqr, l2sqr_rows, dot_blocks_i8};
  return &table;
}

}  // namespace qvec::detail
