// Scalar reference of the filter kernels: the definition every SIMD variant is tested against, and
// the fallback on CPUs (or architectures) without AVX2.
#include "kernels/dispatch.h"
#include "kernels/filter_hits.h"

namespace qvec::detail {
namespace {

size_t le_u16(const uint16_t* values, size_t n, uint16_t threshold, uint32_t* out) {
  return append_le(values, 0, n, threshold, out, 0);
}

size_t le_i32(const int32_t* values, size_t n, int32_t threshold, uint32_t* out) {
  return append_le(values, 0, n, threshold, out, 0);
}

size_t le_f32(const float* values, size_t n, float threshold, uint32_t* out) {
  return append_le(values, 0, n, threshold, out, 0);
}

}  // namespace

const FilterKernels* filter_scalar_kernels() {
  static const FilterKernels table = {SimdLevel::Scalar, le_u16, le_i32, le_f32};
  return &table;
}

}  // namespace qvec::detail
