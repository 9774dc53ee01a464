// Scalar reference of the sq8 kernels: the definition every SIMD variant is tested against, and
// the fallback on CPUs (or architectures) without AVX2. std::fma keeps the float sums identical
// to the vector levels' fused multiply-adds.
#include <cmath>

#include "kernels/dispatch.h"

namespace qvec::detail {
namespace {

inline int code_at(const int8_t* block, size_t t, size_t v) {
  return block[(t / 4) * 64 + v * 4 + t % 4];
}

void dot_f32(const float* w, size_t ldw, size_t rows, const int8_t* block, size_t d4,
             float* out, size_t ldo) {
  for (size_t r = 0; r < rows; ++r)
    for (size_t v = 0; v < kSq8Block; ++v) {
      float acc = 0.0f;
      for (size_t t = 0; t < d4 * 4; ++t)
        acc = std::fma(w[r * ldw + t], static_cast<float>(code_at(block, t, v)), acc);
      out[r * ldo + v] = acc;
    }
}

void dot_i8(const int8_t* q, size_t ldq, const int32_t* /*qsums*/, size_t rows,
            const int8_t* block, size_t d4, int32_t* out, size_t ldo) {
  for (size_t r = 0; r < rows; ++r)
    for (size_t v = 0; v < kSq8Block; ++v) {
      int32_t acc = 0;
      for (size_t t = 0; t < d4 * 4; ++t) acc += int32_t(q[r * ldq + t]) * code_at(block, t, v);
      out[r * ldo + v] = acc;
    }
}

}  // namespace

const Sq8Kernels* sq8_scalar_kernels() {
  static const Sq8Kernels table = {SimdLevel::Scalar, false, dot_f32, dot_i8};
  return &table;
}

}  // namespace qvec::detail
