#pragma once
// The AVX-512 nearest-centroid kernel for many rows against many centroids (k-means' and IVF's
// assignment), included by dense_avx512.cpp inside its anonymous namespace: only from an ISA
// file built with the AVX-512 flags.
//
// The register block is exact search's: kNearTileRows rows, broadcast from memory as they lie,
// times 32 centroids (a pair of packs), 24 accumulators, so each step issues 24 FMAs for 14
// loads. The per-8-row kernel it replaces for wide inputs (8 accumulators, one pack) issued 9
// loads per 8 FMAs and re-read every centroid per tile: at 4096 x 128 centroids (2 MiB, the
// size of L2) that stream came from L3, and the assignment ran at ~0.6x BLAS speed.
//
// Order of work: a block of kNearBlockRows rows keeps each lane's best value, its centroid
// and its runner-up in memory; for every pack pair and every kNearChunk components the pair's
// slice (24 KiB at most) stays in L1 while the block's rows pass over it. Each value is the
// same FMA chain as the per-8-row kernel's (half the norm, minus a_t b_t in order of t), so
// both give the same bits.

constexpr size_t kNearTileRows = 12;
constexpr size_t kNearBlockRows = 8 * kNearTileRows;
constexpr size_t kNearChunk = 192;

struct NearBlock {
  const float* pair;    // two packs: (2, d, 16)
  const float* norms;   // their 32 norms
  size_t d;
  int32_t first;        // the pair's first centroid
  float* part;          // kNearBlockRows * 32 partial sums
  float* best;          // kNearBlockRows * 16: per lane, the smallest value so far
  float* second;        // and the second smallest
  int32_t* index;       // and the centroid of the smallest (ties: the earlier)
};

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
  const float* plo = s.pair;
  const float* phi = s.pair + s.d * kPackWidth;
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

// nearest's contract for an even npacks: rows in blocks of kNearBlockRows.
void nearest_pairs(const float* a, size_t lda, size_t rows, const float* bpack,
                   const float* bnorms, size_t npacks, size_t d, int32_t* best_index,
                   float* best_value, float* second_value) {
  alignas(64) float part[kNearBlockRows * kScanQueries];
  alignas(64) float best[kNearBlockRows * kPackWidth], second[kNearBlockRows * kPackWidth];
  alignas(64) int32_t index[kNearBlockRows * kPackWidth];
  for (size_t b0 = 0; b0 < rows; b0 += kNearBlockRows) {
    const size_t count = rows - b0 < kNearBlockRows ? rows - b0 : kNearBlockRows;
    for (size_t i = 0; i < count * kPackWidth; ++i) {
      best[i] = second[i] = __builtin_inff();
      index[i] = 0;
    }
    const float* block = a + b0 * lda;
    for (size_t p = 0; p < npacks; p += 2) {
      const NearBlock s = {bpack + p * d * kPackWidth, bnorms + p * kPackWidth, d,
                           static_cast<int32_t>(p * kPackWidth), part, best, second, index};
      for (size_t k0 = 0; k0 < d; k0 += kNearChunk) {
        const size_t k1 = d - k0 < kNearChunk ? d : k0 + kNearChunk;
        for (size_t r0 = 0; r0 < count; r0 += kNearTileRows) {
          switch (count - r0 < kNearTileRows ? count - r0 : kNearTileRows) {
#define QVEC_NEAR_CASE(R) \
  case R: near_rows<R>(block, lda, s, r0, k0, k1); break;
            QVEC_NEAR_CASE(12) QVEC_NEAR_CASE(11) QVEC_NEAR_CASE(10) QVEC_NEAR_CASE(9)
            QVEC_NEAR_CASE(8) QVEC_NEAR_CASE(7) QVEC_NEAR_CASE(6) QVEC_NEAR_CASE(5)
            QVEC_NEAR_CASE(4) QVEC_NEAR_CASE(3) QVEC_NEAR_CASE(2) QVEC_NEAR_CASE(1)
#undef QVEC_NEAR_CASE
            default: break;
          }
        }
      }
    }
    const NearBlock s = {nullptr, nullptr, d, 0, part, best, second, index};
    for (size_t r = 0; r < count; ++r)
      near_finish(s, r, best_index + b0 + r, best_value + b0 + r, second_value + b0 + r);
  }
}
