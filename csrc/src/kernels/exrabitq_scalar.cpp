// Scalar reference of the extended-RaBitQ code inner products: the definition every SIMD
// variant is tested against, and the fallback on CPUs (or architectures) without AVX2.
#include "kernels/dispatch.h"

namespace qvec::detail {
namespace {

void code_dots(const float* query, size_t nbytes, size_t nlevels, const uint8_t* codes,
               size_t stride, const uint32_t* rows, size_t nrows, float* out) {
  for (size_t i = 0; i < nrows; ++i) {
    const uint8_t* code = codes + size_t(rows[i]) * stride;
    float total = 0.0f;
    for (size_t l = 0; l < nlevels; ++l) {
      const uint8_t* plane = code + l * nbytes;
      float sum = 0.0f;
      for (size_t b = 0; b < nbytes; ++b)
        for (unsigned t = 0; t < 8; ++t)
          if ((plane[b] >> t) & 1u) sum += query[8 * b + t];
      // The plane weights are powers of two: the scaling itself is exact.
      total += sum * static_cast<float>(1u << (nlevels - 1 - l));
    }
    out[i] = total;
  }
}

}  // namespace

const ExRabitqKernels* exrabitq_scalar_kernels() {
  static const ExRabitqKernels table = {SimdLevel::Scalar, code_dots};
  return &table;
}

}  // namespace qvec::detail
