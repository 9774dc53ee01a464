#pragma once
// The AVX-512 nearest-centroid kernel for many rows against many centroids (k-means' and IVF's
// assignment), included by dense_avx512.cpp inside its anonymous namespace: only from an ISA
// file built with the AVX-512 flags.
//
// The register block is exact search's: 12 rows, broadcast from memory as they lie,
// times 32 centroids (a pair of packs), 24 accumulators, so each step issues 24 FMAs for 14
// loads. The per-8-row kernel it replaces for wide inputs (8 accumulators, one pack) issued 9
// loads per 8 FMAs and re-read every centroid per tile: at 4096 x 128 centroids (2 MiB, the
// size of L2) that stream came from L3, and the assignment ran at ~0.6x BLAS speed.
//
// Order of work (nearest_blocks.h): 96-row blocks pass over each pack pair's slice of 192
// components (24 KiB at most, in L1), 12 rows at a time. Each value is the same FMA chain as
// the per-8-row kernel's (half the norm, minus a_t b_t in order of t): the same bits.

#include "kernels/nearest_blocks.h"

// Folds one finished 16-value vector into row r's lanes; strict < keeps the earlier centroid.
inline void near_fold(const NearBlock& s, size_t r, __m512 v, __m512i centroids) {
  float* bp = s.best + r * kPackWidth;
  float* sp = s.second + r * kPackWidth;
  int32_t* ip = s.index + r * kPackWidth;
  const __m512 best = _mm512_load_ps(bp);
  const __mmask16 lower = _mm512_cmp_ps_mask(v, best, _CMP_LT_OQ);
  _mm512_store_ps(sp, _mm512_min_ps(_mm512_load_ps(sp), _mm512_max_ps(best, v)));
  _mm512_store_epi32(ip, _mm512_mask_mov_epi32(_mm512_load_epi32(ip), lower, centroids));
  _mm512_store_ps(bp, _mm512_min_ps(best, v));
}

// Components [k0, k1) of rows [r0, r0 + R) against the pair; folds the rows when k1 is d.
template <int R>
void near_rows(const float* a, size_t lda, const NearBlock& s, size_t r0, size_t k0,
               size_t k1) {
  __m512 lo[R], hi[R];
  float* part = s.part + r0 * kScanQueries;
  if (k0 == 0) {
    const __m512 half = _mm512_set1_ps(0.5f);
    const __m512 h0 = _mm512_mul_ps(_mm512_loadu_ps(s.norms), half);
    const __m512 h1 = _mm512_mul_ps(_mm512_loadu_ps(s.norms + kPackWidth), half);
    for (int r = 0; r < R; ++r) {
      lo[r] = h0;
      hi[r] = h1;
    }
  } else {
    for (int r = 0; r < R; ++r) {
      lo[r] = _mm512_load_ps(part + r * kScanQueries);
      hi[r] = _mm512_load_ps(part + r * kScanQueries + kPackWidth);
    }
  }
  const float* plo = s.packs;
  const float* phi = s.packs + s.d * kPackWidth;
  const float* row = a + r0 * lda;
  for (size_t t = k0; t < k1; ++t) {
    const __m512 b0 = _mm512_loadu_ps(plo + t * kPackWidth);
    const __m512 b1 = _mm512_loadu_ps(phi + t * kPackWidth);
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(row[r * lda + t]);
      lo[r] = _mm512_fnmadd_ps(x, b0, lo[r]);
      hi[r] = _mm512_fnmadd_ps(x, b1, hi[r]);
    }
  }
  if (k1 < s.d) {
    for (int r = 0; r < R; ++r) {
      _mm512_store_ps(part + r * kScanQueries, lo[r]);
      _mm512_store_ps(part + r * kScanQueries + kPackWidth, hi[r]);
    }
    return;
  }
  const __m512i lanes = _mm512_add_epi32(_mm512_set1_epi32(s.first),
                                         _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                           11, 12, 13, 14, 15));
  const __m512i lanes_hi = _mm512_add_epi32(lanes, _mm512_set1_epi32(kPackWidth));
  for (int r = 0; r < R; ++r) {
    near_fold(s, r0 + r, lo[r], lanes);
    near_fold(s, r0 + r, hi[r], lanes_hi);
  }
}

// Row r's answer from its lanes: the smallest value (ties: the smallest centroid), and the
// smallest value of any other centroid.
inline void near_finish(const NearBlock& s, size_t r, int32_t* best_index, float* best_value,
                        float* second_value) {
  const __m512 best = _mm512_load_ps(s.best + r * kPackWidth);
  const __m512i index = _mm512_load_epi32(s.index + r * kPackWidth);
  const float lowest = _mm512_reduce_min_ps(best);
  const __mmask16 at = _mm512_cmp_ps_mask(best, _mm512_set1_ps(lowest), _CMP_EQ_OQ);
  const int32_t chosen = _mm512_mask_reduce_min_epi32(at, index);
  const __mmask16 own = _mm512_mask_cmpeq_epi32_mask(at, index, _mm512_set1_epi32(chosen));
  const __m512 others = _mm512_mask_mov_ps(best, own, _mm512_set1_ps(__builtin_inff()));
  const __m512 second = _mm512_load_ps(s.second + r * kPackWidth);
  *best_index = at ? chosen : 0;  // no lane: NaN values, which the callers' checks reject
  *best_value = 2.0f * lowest;
  *second_value = 2.0f * _mm512_reduce_min_ps(_mm512_min_ps(second, others));
}

struct NearAvx512 {
  static constexpr size_t kTileRows = 12, kBlockRows = 8 * kTileRows, kChunk = 192, kPacks = 2;
  template <int R>
  static void rows(const float* a, size_t lda, const NearBlock& s, size_t r0, size_t k0,
                   size_t k1) {
    near_rows<R>(a, lda, s, r0, k0, k1);
  }
  static void finish(const NearBlock& s, size_t r, int32_t* index, float* best, float* second) {
    near_finish(s, r, index, best, second);
  }
};
