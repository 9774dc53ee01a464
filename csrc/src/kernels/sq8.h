#pragma once
// The int8 scalar-quantization kernel family: float query rows against int8 codes (the
// asymmetric search) and int8 query codes against int8 codes (the symmetric search, exact
// int32 sums). One table per SIMD level (sq8_scalar.cpp, sq8_avx2.cpp, sq8_avx512.cpp, and
// sq8_avx512vnni.cpp for AVX-512 CPUs with VNNI), chosen in dispatch.cpp; only POD types cross
// this boundary (see dense.h).
//
// Block layout ("sq8 blocks"), fixed for every level: vectors in blocks of kSq8Block = 16,
// dimensions in groups of 4 (dim padded with zero codes to d4 * 4). Group g of block b is 64
// bytes, 4 consecutive codes of each of the 16 vectors:
//   block[g * 64 + v * 4 + t] = code of vector 16 b + v, dimension 4 g + t,
// so one 32-bit lane holds 4 dimensions of one vector (the operand shape of VNNI's VPDPBUSD),
// and a 512-bit load reads group g of the whole block.
//
// Every float sum is accumulated per vector in dimension order with one fused multiply-add per
// dimension, at every level, so float results are identical across levels too.
#include <cstddef>
#include <cstdint>

#include "qvec/simd.h"

namespace qvec::detail {

/// Vectors per block of the sq8 block layout.
constexpr size_t kSq8Block = 16;
/// Most query rows one kernel call handles.
constexpr size_t kSq8Rows = 8;

struct Sq8Kernels {
  SimdLevel level;
  /// True for the VNNI table (a variant of the AVX-512 level).
  bool vnni;

  /// out[r * ldo + v] = sum_t w[r * ldw + t] * code(v, t) in float, accumulated
  /// acc = fma(w, code, acc) for t = 0 .. d4 * 4 - 1 in order, r < rows <= kSq8Rows, v < 16.
  /// w: rows of d4 * 4 floats (zero past the dimension); block: d4 * 64 bytes, layout above.
  void (*dot_f32)(const float* w, size_t ldw, size_t rows, const int8_t* block, size_t d4,
                  float* out, size_t ldo);

  /// out[r * ldo + v] = sum_t q[r * ldq + t] * code(v, t), exact in int32, r < rows <=
  /// kSq8Rows, v < 16. q: rows of d4 * 4 int8 codes (zero past the dimension); qsums: size
  /// rows, qsums[r] = sum_t q[r * ldq + t] (the VNNI table offsets the codes to unsigned bytes
  /// and takes 128 * qsums[r] off again); block as dot_f32. Exact while d4 * 4 * 255 * 128 <
  /// 2^31.
  void (*dot_i8)(const int8_t* q, size_t ldq, const int32_t* qsums, size_t rows,
                 const int8_t* block, size_t d4, int32_t* out, size_t ldo);
};

}  // namespace qvec::detail
