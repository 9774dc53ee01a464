#pragma once
// The AVX2 nearest-centroid kernel for many rows against many centroids (k-means' and IVF's
// assignment), included by dense_avx2.cpp inside its anonymous namespace: only from an ISA
// file built with the AVX2 flags.
//
// The per-4-row kernel (nearest_rows) re-reads every centroid for each 4 rows: at 4096 x 128
// centroids (2 MiB, four times a Zen 3 L2) that stream comes from L3 at 16 bytes per 4 cycles
// of FMAs. Here (nearest_blocks.h) 48-row blocks pass over each pack's slice of 192 components
// (12 KiB, in L1), 4 rows at a time with nearest_rows's 8 accumulators. Each value is
// nearest_rows's FMA chain (half the norm, minus a_t b_t in order of t): the same bits.

#include "kernels/nearest_blocks.h"

// Folds 8 finished values (lanes [h, h + 8) of row r) into the row's lanes; strict < keeps the
// earlier centroid.
inline void near_fold(const NearBlock& s, size_t r, size_t h, __m256 v, __m256i centroids) {
  float* bp = s.best + r * kPackWidth + h;
  float* sp = s.second + r * kPackWidth + h;
  __m256i* ip = reinterpret_cast<__m256i*>(s.index + r * kPackWidth + h);
  const __m256 best = _mm256_load_ps(bp);
  const __m256 lower = _mm256_cmp_ps(v, best, _CMP_LT_OQ);
  _mm256_store_ps(sp, _mm256_min_ps(_mm256_load_ps(sp), _mm256_max_ps(best, v)));
  _mm256_store_si256(ip, _mm256_castps_si256(_mm256_blendv_ps(
                             _mm256_castsi256_ps(_mm256_load_si256(ip)),
                             _mm256_castsi256_ps(centroids), lower)));
  _mm256_store_ps(bp, _mm256_min_ps(best, v));
}

// Components [k0, k1) of rows [r0, r0 + R) against one pack; folds the rows when k1 is d.
template <int R>
void near_rows(const float* a, size_t lda, const NearBlock& s, size_t r0, size_t k0,
               size_t k1) {
  __m256 lo[R], hi[R];
  float* part = s.part + r0 * kPackWidth;
  if (k0 == 0) {
    const __m256 half = _mm256_set1_ps(0.5f);
    const __m256 h0 = _mm256_mul_ps(_mm256_loadu_ps(s.norms), half);
    const __m256 h1 = _mm256_mul_ps(_mm256_loadu_ps(s.norms + 8), half);
    for (int r = 0; r < R; ++r) {
      lo[r] = h0;
      hi[r] = h1;
    }
  } else {
    for (int r = 0; r < R; ++r) {
      lo[r] = _mm256_load_ps(part + r * kPackWidth);
      hi[r] = _mm256_load_ps(part + r * kPackWidth + 8);
    }
  }
  const float* row = a + r0 * lda;
  for (size_t t = k0; t < k1; ++t) {
    const __m256 b0 = _mm256_loadu_ps(s.packs + t * kPackWidth);
    const __m256 b1 = _mm256_loadu_ps(s.packs + t * kPackWidth + 8);
    for (int r = 0; r < R; ++r) {
      const __m256 x = _mm256_broadcast_ss(row + r * lda + t);
      lo[r] = _mm256_fnmadd_ps(x, b0, lo[r]);
      hi[r] = _mm256_fnmadd_ps(x, b1, hi[r]);
    }
  }
  if (k1 < s.d) {
    for (int r = 0; r < R; ++r) {
      _mm256_store_ps(part + r * kPackWidth, lo[r]);
      _mm256_store_ps(part + r * kPackWidth + 8, hi[r]);
    }
    return;
  }
  const __m256i lanes = _mm256_add_epi32(_mm256_set1_epi32(s.first),
                                         _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const __m256i lanes_hi = _mm256_add_epi32(lanes, _mm256_set1_epi32(8));
  for (int r = 0; r < R; ++r) {
    near_fold(s, r0 + r, 0, lo[r], lanes);
    near_fold(s, r0 + r, 8, hi[r], lanes_hi);
  }
}

// Row r's answer from its 16 lanes: the smallest value (ties: the smallest centroid), and the
// smallest value of any other centroid.
inline void near_finish(const NearBlock& s, size_t r, int32_t* best_index, float* best_value,
                        float* second_value) {
  const float* best = s.best + r * kPackWidth;
  const float* second = s.second + r * kPackWidth;
  const int32_t* index = s.index + r * kPackWidth;
  float lowest = __builtin_inff();
  for (size_t l = 0; l < kPackWidth; ++l) lowest = best[l] < lowest ? best[l] : lowest;
  int32_t chosen = -1;
  for (size_t l = 0; l < kPackWidth; ++l)
    if (best[l] == lowest && (chosen < 0 || index[l] < chosen)) chosen = index[l];
  float runner = __builtin_inff();
  for (size_t l = 0; l < kPackWidth; ++l) {
    runner = second[l] < runner ? second[l] : runner;
    if (index[l] != chosen && best[l] < runner) runner = best[l];
  }
  *best_index = chosen < 0 ? 0 : chosen;  // no lane: NaN values, which the callers' checks reject
  *best_value = 2.0f * lowest;
  *second_value = 2.0f * runner;
}

struct NearAvx2 {
  static constexpr size_t kTileRows = 4, kBlockRows = 48, kChunk = 192, kPacks = 1;
  template <int R>
  static void rows(const float* a, size_t lda, const NearBlock& s, size_t r0, size_t k0,
                   size_t k1) {
    near_rows<R>(a, lda, s, r0, k0, k1);
  }
  static void finish(const NearBlock& s, size_t r, int32_t* index, float* best, float* second) {
    near_finish(s, r, index, best, second);
  }
};
