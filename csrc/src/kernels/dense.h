#pragma once
// The dense float kernel family: products of float vectors in tiles (exact search, PQ tables,
// binary rotations), L2 / IP distances of a tile, nearest centroid (k-means, PQ encode), and
// single dot / squared L2 (re-ranking). One table per SIMD level (dense_scalar.cpp,
// dense_avx2.cpp, dense_avx512.cpp), chosen in dispatch.cpp. Only POD types cross this
// boundary: ISA files must not instantiate std templates, whose out-of-line copies the linker
// could share with baseline code (the FAISS "leaky dispatch" crash).
//
// Packed layout ("packs"), fixed for every level so layouts never depend on the CPU: vectors
// in groups of kPackWidth, each group stored column-wise, pack[t * kPackWidth + c] =
// component t of vector c of the group (see pack.h).
#include <cstddef>
#include <cstdint>

#include "qvec/simd.h"

namespace qvec::detail {

/// Columns in one packed block of vectors.
constexpr size_t kPackWidth = 16;
/// Most rows one tile call handles.
constexpr size_t kTileRows = 8;
/// Most rows one dot_direct call handles.
constexpr size_t kDirectRows = 4;

struct DenseKernels {
  SimdLevel level;

  /// out[r * ldo + c] = sum_t a[r * lda + t] * bpack[t * 16 + c], r < rows <= kTileRows, c < 16.
  /// bpack: size d * 16, layout (d, 16): 16 vectors stored column-wise.
  void (*dot_tile16)(const float* a, size_t lda, size_t rows, const float* bpack, size_t d,
                     float* out, size_t ldo);

  /// out[r * ldo + i] = <a_r, b_i> for r < rows <= kDirectRows, i < count; a and b row-major
  /// with strides lda and ldb. For few queries, where packing the base would cost more than
  /// the products themselves.
  void (*dot_direct)(const float* a, size_t lda, size_t rows, const float* b, size_t ldb,
                     size_t count, size_t d, float* out, size_t ldo);

  /// Turns a tile of products (rows <= kTileRows, 16 columns, row stride ldt) into distances in
  /// place: L2 (row_norms and col_norms given) max(0, row_norms[r] + col_norms[c] - 2 t), IP
  /// (both null) -t. masks[r] gets bit c (c < cols) when the distance is <= thresholds[r].
  /// Returns false when an unclamped value (c < cols) is not finite: NaN/inf input.
  bool (*tile_distances16)(float* tile, size_t ldt, size_t rows, size_t cols,
                           const float* row_norms, const float* col_norms,
                           const float* thresholds, uint32_t* masks);

  /// For each row r < rows <= kTileRows: the c minimising bnorms[c] - 2 <a_r, b_c> over
  /// c < npacks * 16 (ties to the smaller c), written to best_index[r], that value to
  /// best_value[r], and the smallest value of every other c to second_value[r] (+inf for a
  /// single column): callers compare the gap with the expansion's rounding error to find the
  /// rows it cannot decide. bpack: size npacks * d * 16, layout (npacks, d, 16); bnorms:
  /// npacks * 16 (padding columns hold +inf).
  void (*nearest16)(const float* a, size_t lda, size_t rows, const float* bpack,
                    const float* bnorms, size_t npacks, size_t d, int32_t* best_index,
                    float* best_value, float* second_value);

  /// <a, b> and ||a - b||^2 over d floats.
  float (*dot)(const float* a, const float* b, size_t d);
  float (*l2sqr)(const float* a, const float* b, size_t d);

  /// Query rows per dot_tile16 call that fill this level's registers best (1..kTileRows; 0:
  /// kTileRows). Callers that loop over many rows step by it so no call splits a register block.
  size_t tile_rows;
};

}  // namespace qvec::detail
