#pragma once
// The blocked order of work shared by the wide nearest-centroid kernels (nearest_avx2_impl.h,
// nearest_avx512_impl.h), included by each inside its ISA file's anonymous namespace, so every
// ISA file gets its own copy.
//
// A block of Kernel::kBlockRows rows keeps each lane's best value, its centroid and its
// runner-up in memory; for every group of Kernel::kPacks packs and every Kernel::kChunk
// components the group's slice stays in L1 while the block's rows pass over it,
// Kernel::kTileRows at a time. Kernel provides rows<R>(a, lda, block, r0, k0, k1), which adds
// components [k0, k1) of rows [r0, r0 + R) and folds them into their lanes when k1 is d, and
// finish(block, r, best_index, best_value, second_value), one row's answer from its lanes.

struct NearBlock {
  const float* packs;   // Kernel::kPacks packs: (kPacks, d, 16)
  const float* norms;   // their kPacks * 16 norms
  size_t d;
  int32_t first;        // the group's first centroid
  float* part;          // kBlockRows * kPacks * 16 partial sums
  float* best;          // kBlockRows * 16: per lane, the smallest value so far
  float* second;        // and the second smallest
  int32_t* index;       // and the centroid of the smallest (ties: the earlier)
};

// Kernel::rows<R> for the largest R <= Kernel::kTileRows that count allows.
template <class Kernel, int R = Kernel::kTileRows>
inline void near_tile(size_t count, const float* a, size_t lda, const NearBlock& s, size_t r0,
                      size_t k0, size_t k1) {
  if constexpr (R > 1) {
    if (count < static_cast<size_t>(R)) {
      near_tile<Kernel, R - 1>(count, a, lda, s, r0, k0, k1);
      return;
    }
  }
  Kernel::template rows<R>(a, lda, s, r0, k0, k1);
}

// nearest's contract for npacks a multiple of Kernel::kPacks.
template <class Kernel>
void nearest_blocks(const float* a, size_t lda, size_t rows, const float* bpack,
                    const float* bnorms, size_t npacks, size_t d, int32_t* best_index,
                    float* best_value, float* second_value) {
  constexpr size_t kRows = Kernel::kBlockRows, kGroup = Kernel::kPacks * kPackWidth;
  alignas(64) float part[kRows * kGroup];
  alignas(64) float best[kRows * kPackWidth], second[kRows * kPackWidth];
  alignas(64) int32_t index[kRows * kPackWidth];
  for (size_t b0 = 0; b0 < rows; b0 += kRows) {
    const size_t count = rows - b0 < kRows ? rows - b0 : kRows;
    for (size_t i = 0; i < count * kPackWidth; ++i) {
      best[i] = second[i] = __builtin_inff();
      index[i] = 0;
    }
    const float* block = a + b0 * lda;
    for (size_t p = 0; p < npacks; p += Kernel::kPacks) {
      const NearBlock s = {bpack + p * d * kPackWidth, bnorms + p * kPackWidth, d,
                           static_cast<int32_t>(p * kPackWidth), part, best, second, index};
      for (size_t k0 = 0; k0 < d; k0 += Kernel::kChunk) {
        const size_t k1 = d - k0 < Kernel::kChunk ? d : k0 + Kernel::kChunk;
        for (size_t r0 = 0; r0 < count; r0 += Kernel::kTileRows)
          near_tile<Kernel>(count - r0, block, lda, s, r0, k0, k1);
      }
    }
    const NearBlock s = {nullptr, nullptr, d, 0, part, best, second, index};
    for (size_t r = 0; r < count; ++r)
      Kernel::finish(s, r, best_index + b0 + r, best_value + b0 + r, second_value + b0 + r);
  }
}
