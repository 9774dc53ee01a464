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
/// Queries in one scan_block group: two packs of kPackWidth.
constexpr size_t kScanQueries = 2 * kPackWidth;

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

  /// Exact search's block: base rows as they lie in memory times 32 packed queries.
  /// x: `rows` base rows of d floats, row stride ldx. qpack: size 2 * d * 16, layout
  /// (2, d, 16): queries c < 16 in the first pack, 16..31 in the second, column-wise.
  /// With p = sum_t x[r * ldx + t] * (component t of query c), the distance is: IP (qnorms
  /// and xnorms null) -p; L2 max(0, (qnorms[c] + xnorms[r]) - 2 p) (qnorms: 32 floats,
  /// xnorms: rows floats). masks[r] gets bit c when that distance is <= limits[c] (32
  /// floats), and then dist[r * kScanQueries + c] holds it; dist (size rows * 32) is scratch
  /// elsewhere. Returns false when an unclamped distance is not finite: NaN/inf input
  /// (padding queries must be finite).
  bool (*scan_block)(const float* x, size_t ldx, size_t rows, const float* qpack, size_t d,
                     const float* qnorms, const float* xnorms, const float* limits,
                     float* dist, uint32_t* masks);

  /// For each row r < rows (any count): the c minimising bnorms[c] - 2 <a_r, b_c> over
  /// c < npacks * 16 (ties to the smaller c), written to best_index[r], that value to
  /// best_value[r], and the smallest value of every other c to second_value[r] (+inf for a
  /// single column): callers compare the gap with the expansion's rounding error to find the
  /// rows it cannot decide. bpack: size npacks * d * 16, layout (npacks, d, 16); bnorms:
  /// npacks * 16 (padding columns hold +inf).
  void (*nearest)(const float* a, size_t lda, size_t rows, const float* bpack,
                  const float* bnorms, size_t npacks, size_t d, int32_t* best_index,
                  float* best_value, float* second_value);

  /// <a, b> and ||a - b||^2 over d floats.
  float (*dot)(const float* a, const float* b, size_t d);
  float (*l2sqr)(const float* a, const float* b, size_t d);

  /// out[i] = l2sqr(a, b + i * ldb, d) for i < count, the same bits as l2sqr: one query
  /// against many rows (the IVF probe of a few queries) without a call and a horizontal sum
  /// standing between consecutive rows.
  void (*l2sqr_rows)(const float* a, const float* b, size_t ldb, size_t count, size_t d,
                     float* out);

  /// The byte shadow of the IVF probe: out[16 b + r] = sum_t a[t] * row_{16 b + r}[t] exactly
  /// (int32), for b < nblocks. a: d4 * 4 bytes, each 0..127 (so no level's pairwise 16-bit sum
  /// saturates); blocks: nblocks * d4 * 64 int8, layout (nblocks, d4, 16, 4): byte
  /// [b][t / 4][r][t % 4] is component t of row 16 b + r (zero past the rows and dims).
  void (*dot_blocks_i8)(const uint8_t* a, const int8_t* blocks, size_t nblocks, size_t d4,
                        int32_t* out);
};

/// Rows per block of dot_blocks_i8's layout.
constexpr size_t kByteBlockRows = 16;

}  // namespace qvec::detail
