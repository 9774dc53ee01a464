#pragma once
// The table of hot kernels, one instance per SIMD level. Only POD types cross this boundary:
// ISA files must not instantiate std templates, whose out-of-line copies the linker could
// share with baseline code (the FAISS "leaky dispatch" crash).
#include <cstddef>
#include <cstdint>

#include "qvec/simd.h"

namespace qvec::detail {

/// Columns in one packed block of vectors; fixed for every level so layouts never depend on
/// the CPU.
constexpr size_t kPackWidth = 16;
/// Most rows one tile call handles.
constexpr size_t kTileRows = 8;
/// Most rows one dot_direct call handles.
constexpr size_t kDirectRows = 4;
/// Vectors per block of the transposed 8-bit code layout.
constexpr size_t kCodeBlock = 64;
/// Extra readable bytes callers allocate after an 8-bit lookup table (gathers read 4 bytes).
constexpr size_t kLutPadding = 64;

struct Kernels {
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
  /// c < npacks * 16 (ties to the smaller c), written to best_index[r], and that value to
  /// best_value[r]. bpack: size npacks * d * 16, layout (npacks, d, 16); bnorms: npacks * 16
  /// (padding columns hold +inf).
  void (*nearest16)(const float* a, size_t lda, size_t rows, const float* bpack,
                    const float* bnorms, size_t npacks, size_t d, int32_t* best_index,
                    float* best_value);

  /// Quantized ADC: out[b * 64 + v] = sum_j lut[j * 256 + code(b, j, v)] as uint16, where
  /// code(b, j, v) = codes[(b * m + j) * 64 + v]. lut: size m * 256 + kLutPadding; the caller
  /// guarantees the sums fit in 16 bits. codes: size nblocks * m * 64; out: nblocks * 64.
  void (*adc_scan_u8)(const uint8_t* lut, const uint8_t* codes, size_t nblocks, size_t m,
                      uint16_t* out);

  /// Writes the indices i < n with values[i] <= threshold to out (ascending); returns their count.
  size_t (*filter_le_u16)(const uint16_t* values, size_t n, uint16_t threshold, uint32_t* out);
};

const Kernels* scalar_kernels();
const Kernels* avx2_kernels();    // nullptr when the build has no AVX2 variant
const Kernels* avx512_kernels();  // nullptr when the build has no AVX-512 variant

/// The kernels of the active level (see qvec::simd_level()).
const Kernels& kernels();

/// For other kernel families (one struct of function pointers per family, one file per ISA):
/// the table of the active level, falling back to the next lower level the build has.
template <class Table>
const Table& select_kernels(const Table* scalar, const Table* avx2, const Table* avx512) {
  SimdLevel level = simd_level();
  if (level == SimdLevel::AVX512 && avx512 != nullptr) return *avx512;
  if (level != SimdLevel::Scalar && avx2 != nullptr) return *avx2;
  return *scalar;
}

}  // namespace qvec::detail
