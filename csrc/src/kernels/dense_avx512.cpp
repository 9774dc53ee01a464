// AVX-512 (F/DQ/VL) dense float kernels. Built with this file's own -m flags; only reached after
// dispatch.cpp has checked the CPU. Internal linkage and no std templates, so nothing leaks into
// baseline code.
#include <immintrin.h>

#include "kernels/dispatch.h"

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

// R query rows times G consecutive base rows, each (query, row) product one FMA chain over
// 16-lane chunks in order of t, reduced at the end: the same bits whatever R and G. One query
// against one row at a time waits on that single chain's latency; G rows side by side hide it.
template <int R, int G>
void direct_group(const float* a, size_t lda, const float* b, size_t ldb, size_t d, float* out,
                  size_t ldo) {
  const size_t full = d / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (d - full)) - 1);
  __m512 acc[R][G];
  for (int r = 0; r < R; ++r)
    for (int g = 0; g < G; ++g) acc[r][g] = _mm512_setzero_ps();
  for (size_t t = 0; t < full; t += 16)
    for (int g = 0; g < G; ++g) {
      const __m512 x = _mm512_loadu_ps(b + g * ldb + t);
      for (int r = 0; r < R; ++r)
        acc[r][g] = _mm512_fmadd_ps(_mm512_loadu_ps(a + r * lda + t), x, acc[r][g]);
    }
  if (tail)
    for (int g = 0; g < G; ++g) {
      const __m512 x = _mm512_maskz_loadu_ps(tail, b + g * ldb + full);
      for (int r = 0; r < R; ++r)
        acc[r][g] =
            _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, a + r * lda + full), x, acc[r][g]);
    }
  for (int r = 0; r < R; ++r)
    for (int g = 0; g < G; ++g) out[r * ldo + g] = _mm512_reduce_add_ps(acc[r][g]);
}

template <int R>
void direct_rows(const float* a, size_t lda, const float* b, size_t ldb, size_t count, size_t d,
                 float* out, size_t ldo) {
  constexpr int G = R == 1 ? 4 : R == 2 ? 2 : 1;
  size_t i = 0;
  for (; i + G <= count; i += G) direct_group<R, G>(a, lda, b + i * ldb, ldb, d, out + i, ldo);
  for (; i < count; ++i) direct_group<R, 1>(a, lda, b + i * ldb, ldb, d, out + i, ldo);
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

// Exact search's register block: R base rows (broadcast from the base as it lies in memory)
// times the 32 packed queries of two packs: 24 accumulators, two query loads and one
// broadcast per step (27 of the 32 zmm registers), so each step issues 24 FMAs for 14 loads
// (the 8 x 16 dot_tile16 block issues 8 for 9 and is bound by its loads).
constexpr size_t kScanTileRows = 12;
// Components per pass over a block's rows: the two 12 KiB slices of the query packs stay in
// L1 while every row of the block streams past them (the whole packs, 48 KiB at d = 384, did
// not: ~5% slower per FMA than at d = 128; 64 was slower again, 128..256 alike). Partial sums
// wait in dist between passes, so each sum is still one FMA chain in order of t.
constexpr size_t kScanChunk = 192;

struct ScanArgs {
  const float* qpack;
  size_t d;
  const float* qnorms;  // null for IP
  const float* xnorms;
  const float* limits;
  float* dist;
  uint32_t* masks;
};

// The distances and masks of rows [r0, r0 + R) from their finished products; false on a
// non-finite distance.
template <int R>
bool scan_finish(const __m512* lo, const __m512* hi, const ScanArgs& s, size_t r0) {
  const __m512 zero = _mm512_setzero_ps(), minus_two = _mm512_set1_ps(-2.0f);
  const __m512 lim_lo = _mm512_loadu_ps(s.limits), lim_hi = _mm512_loadu_ps(s.limits + 16);
  const __m512 qn_lo = s.qnorms ? _mm512_loadu_ps(s.qnorms) : zero;
  const __m512 qn_hi = s.qnorms ? _mm512_loadu_ps(s.qnorms + 16) : zero;
  __mmask16 bad = 0;
  for (int r = 0; r < R; ++r) {
    __m512 d_lo, d_hi;
    if (s.qnorms) {
      __m512 xn = _mm512_set1_ps(s.xnorms[r0 + r]);
      d_lo = _mm512_fmadd_ps(lo[r], minus_two, _mm512_add_ps(qn_lo, xn));
      d_hi = _mm512_fmadd_ps(hi[r], minus_two, _mm512_add_ps(qn_hi, xn));
    } else {
      d_lo = _mm512_sub_ps(zero, lo[r]);
      d_hi = _mm512_sub_ps(zero, hi[r]);
    }
    bad = static_cast<__mmask16>(bad | _mm512_fpclass_ps_mask(d_lo, 0x99) |
                                 _mm512_fpclass_ps_mask(d_hi, 0x99));  // NaN or +-inf
    if (s.qnorms) {
      d_lo = _mm512_max_ps(d_lo, zero);
      d_hi = _mm512_max_ps(d_hi, zero);
    }
    uint32_t mask = static_cast<uint32_t>(_mm512_cmp_ps_mask(d_lo, lim_lo, _CMP_LE_OQ)) |
                    static_cast<uint32_t>(_mm512_cmp_ps_mask(d_hi, lim_hi, _CMP_LE_OQ)) << 16;
    s.masks[r0 + r] = mask;
    if (mask) {  // after the first blocks almost no row has a candidate
      _mm512_storeu_ps(s.dist + (r0 + r) * kScanQueries, d_lo);
      _mm512_storeu_ps(s.dist + (r0 + r) * kScanQueries + 16, d_hi);
    }
  }
  return bad == 0;
}

// Components [k0, k1) of rows [r0, r0 + R): starts from the partial sums in dist unless k0 is
// 0, and leaves them there unless k1 is d (then finishes the rows).
template <int R>
bool scan_rows(const float* x, size_t ldx, const ScanArgs& s, size_t r0, size_t k0, size_t k1) {
  __m512 lo[R], hi[R];
  float* part = s.dist + r0 * kScanQueries;
  for (int r = 0; r < R; ++r) {
    lo[r] = k0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(part + r * kScanQueries);
    hi[r] = k0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(part + r * kScanQueries + 16);
  }
  const float* qlo = s.qpack;
  const float* qhi = s.qpack + s.d * kPackWidth;
  const float* row = x + r0 * ldx;
  for (size_t t = k0; t < k1; ++t) {
    __m512 a = _mm512_loadu_ps(qlo + t * kPackWidth);
    __m512 b = _mm512_loadu_ps(qhi + t * kPackWidth);
    for (int r = 0; r < R; ++r) {
      __m512 v = _mm512_set1_ps(row[r * ldx + t]);
      lo[r] = _mm512_fmadd_ps(v, a, lo[r]);
      hi[r] = _mm512_fmadd_ps(v, b, hi[r]);
    }
  }
  if (k1 == s.d) return scan_finish<R>(lo, hi, s, r0);
  for (int r = 0; r < R; ++r) {
    _mm512_storeu_ps(part + r * kScanQueries, lo[r]);
    _mm512_storeu_ps(part + r * kScanQueries + 16, hi[r]);
  }
  return true;
}

bool scan_block(const float* x, size_t ldx, size_t rows, const float* qpack, size_t d,
                const float* qnorms, const float* xnorms, const float* limits, float* dist,
                uint32_t* masks) {
  const ScanArgs s = {qpack, d, qnorms, xnorms, limits, dist, masks};
  bool finite = true;
  for (size_t k0 = 0; k0 < d; k0 += kScanChunk) {
    const size_t k1 = d - k0 < kScanChunk ? d : k0 + kScanChunk;
    for (size_t r0 = 0; r0 < rows; r0 += kScanTileRows) {
      switch (rows - r0 < kScanTileRows ? rows - r0 : kScanTileRows) {
#define QVEC_SCAN_CASE(R) \
  case R: finite &= scan_rows<R>(x, ldx, s, r0, k0, k1); break;
        QVEC_SCAN_CASE(12) QVEC_SCAN_CASE(11) QVEC_SCAN_CASE(10) QVEC_SCAN_CASE(9)
        QVEC_SCAN_CASE(8) QVEC_SCAN_CASE(7) QVEC_SCAN_CASE(6) QVEC_SCAN_CASE(5)
        QVEC_SCAN_CASE(4) QVEC_SCAN_CASE(3) QVEC_SCAN_CASE(2) QVEC_SCAN_CASE(1)
#undef QVEC_SCAN_CASE
        default: break;
      }
    }
  }
  return finite;
}

// The runner-up of the whole row: each lane's second smallest, or another lane's smallest.
inline float runner_up(__m512 best, __m512 second) {
  __mmask16 at = _mm512_cmp_ps_mask(best, _mm512_set1_ps(_mm512_reduce_min_ps(best)), _CMP_EQ_OQ);
  at = static_cast<__mmask16>(at & (0u - at));  // the first lane holding the minimum
  return _mm512_reduce_min_ps(
      _mm512_min_ps(second, _mm512_mask_mov_ps(best, at, _mm512_set1_ps(__builtin_inff()))));
}

template <int R>
void nearest_rows(const float* a, size_t lda, const float* bpack, const float* bnorms,
                  size_t npacks, size_t d, int32_t* best_index, float* best_value,
                  float* second_value) {
  constexpr size_t kMaxPacks = 64;  // 1,024 centroids; larger sets go in slices
  __m512 best[R], second[R];
  for (int r = 0; r < R; ++r) best[r] = second[r] = _mm512_set1_ps(__builtin_inff());
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
        second[r] = _mm512_min_ps(second[r], _mm512_max_ps(best[r], acc[r]));
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
  for (int r = 0; r < R; ++r) second_value[r] = 2.0f * runner_up(best[r], second[r]);
}

#include "kernels/nearest_avx512_impl.h"

// Wide inputs take the pair-blocked kernel; PQ's narrow subspaces (2 or 4 components, where
// its per-pair bookkeeping outweighs the products: 17% / 10% slower at 256 centroids, 5%
// faster at 8) and odd pack counts the per-8-row one.
constexpr size_t kNearPairsMinDim = 8;

void nearest(const float* a, size_t lda, size_t rows, const float* bpack, const float* bnorms,
             size_t npacks, size_t d, int32_t* best_index, float* best_value,
             float* second_value) {
  if (npacks % 2 == 0 && d >= kNearPairsMinDim) {
    nearest_blocks<NearAvx512>(a, lda, rows, bpack, bnorms, npacks, d, best_index, best_value,
                               second_value);
    return;
  }
  for (size_t r0 = 0; r0 < rows; r0 += kTileRows) {
    const float* tile = a + r0 * lda;
    int32_t* bi = best_index + r0;
    float* bv = best_value + r0;
    float* sv = second_value + r0;
    switch (rows - r0 < kTileRows ? rows - r0 : kTileRows) {
#define QVEC_NEAREST_CASE(R) \
  case R: nearest_rows<R>(tile, lda, bpack, bnorms, npacks, d, bi, bv, sv); break;
      QVEC_NEAREST_CASE(8) QVEC_NEAREST_CASE(7) QVEC_NEAREST_CASE(6) QVEC_NEAREST_CASE(5)
      QVEC_NEAREST_CASE(4) QVEC_NEAREST_CASE(3) QVEC_NEAREST_CASE(2) QVEC_NEAREST_CASE(1)
#undef QVEC_NEAREST_CASE
      default: break;
    }
  }
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

/// ||a - b_r||^2 of R rows b_r = b + r * ldb, each summed in l2sqr's order (the same bits):
/// the rows share the loads of a and their chains run side by side.
template <int R>
void l2sqr_group(const float* a, const float* b, size_t ldb, size_t d, float* out) {
  __m512 acc0[R], acc1[R];
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  size_t t = 0;
  for (; t + 32 <= d; t += 32) {
    const __m512 a0 = _mm512_loadu_ps(a + t), a1 = _mm512_loadu_ps(a + t + 16);
    for (int r = 0; r < R; ++r) {
      const __m512 d0 = _mm512_sub_ps(a0, _mm512_loadu_ps(b + r * ldb + t));
      const __m512 d1 = _mm512_sub_ps(a1, _mm512_loadu_ps(b + r * ldb + t + 16));
      acc0[r] = _mm512_fmadd_ps(d0, d0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(d1, d1, acc1[r]);
    }
  }
  for (; t < d; t += 16) {
    const __mmask16 m = d - t >= 16 ? static_cast<__mmask16>(0xffff)
                                    : static_cast<__mmask16>((1u << (d - t)) - 1);
    const __m512 a0 = _mm512_maskz_loadu_ps(m, a + t);
    for (int r = 0; r < R; ++r) {
      const __m512 d0 = _mm512_sub_ps(a0, _mm512_maskz_loadu_ps(m, b + r * ldb + t));
      acc0[r] = _mm512_fmadd_ps(d0, d0, acc0[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[r], acc1[r]));
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

// As the AVX2 kernel with one zmm per block; two blocks side by side, whose chains are
// independent, so each step's three dependent operations overlap.
void dot_blocks_i8(const uint8_t* a, const int8_t* blocks, size_t nblocks, size_t d4,
                   int32_t* out) {
  const __m512i ones = _mm512_set1_epi16(1);
  size_t b = 0;
  for (; b + 2 <= nblocks; b += 2) {
    const int8_t* b0 = blocks + b * d4 * 64;
    const int8_t* b1 = b0 + d4 * 64;
    __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
    for (size_t g = 0; g < d4; ++g) {
      int32_t word;
      __builtin_memcpy(&word, a + 4 * g, 4);
      const __m512i q = _mm512_set1_epi32(word);
      const __m512i x0 = _mm512_loadu_si512(b0 + g * 64), x1 = _mm512_loadu_si512(b1 + g * 64);
      acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(_mm512_maddubs_epi16(q, x0), ones));
      acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(_mm512_maddubs_epi16(q, x1), ones));
    }
    _mm512_storeu_si512(out + b * kByteBlockRows, acc0);
    _mm512_storeu_si512(out + (b + 1) * kByteBlockRows, acc1);
  }
  for (; b < nblocks; ++b) {
    const int8_t* b0 = blocks + b * d4 * 64;
    __m512i acc = _mm512_setzero_si512();
    for (size_t g = 0; g < d4; ++g) {
      int32_t word;
      __builtin_memcpy(&word, a + 4 * g, 4);
      const __m512i q = _mm512_set1_epi32(word);
      acc = _mm512_add_epi32(
          acc, _mm512_madd_epi16(_mm512_maddubs_epi16(q, _mm512_loadu_si512(b0 + g * 64)), ones));
    }
    _mm512_storeu_si512(out + b * kByteBlockRows, acc);
  }
}

}  // namespace

// dense_avx512_skx.cpp compiles this file again with the Skylake-SP flags, under its own names:
// keep it to AVX-512 F/BW/DQ/VL/CD.
#if !defined(QVEC_AVX512_TABLE)
#define QVEC_AVX512_TABLE dense_avx512_kernels
#define QVEC_AVX512_LEVEL SimdLevel::AVX512
#endif
const DenseKernels* QVEC_AVX512_TABLE() {
  static const DenseKernels table = {QVEC_AVX512_LEVEL, dot_tile16, dot_direct, scan_block,
                                     nearest, dot, l2sqr, l2sqr_rows, dot_blocks_i8};
  return &table;
}

}  // namespace qvec::detail
