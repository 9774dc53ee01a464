// Scalar reference of the IVF table quantization (pqlut.h): the definition the AVX2 variant is
// tested against, and the fallback without AVX2.
#include "kernels/dispatch.h"

namespace qvec::detail {
namespace {

float quantize(const float* a, const float* b, size_t m, float s, uint8_t* lut) {
  double bias = 0.0;
  for (size_t j = 0; j < m; ++j) {
    float row[16];
    for (size_t c = 0; c < 16; ++c) row[c] = b ? a[j * 16 + c] + b[j * 16 + c] : a[j * 16 + c];
    float low = row[0];
    for (size_t c = 1; c < 16; ++c) low = row[c] < low ? row[c] : low;
    bias += low;
    for (size_t c = 0; c < 16; ++c) {
      float v = (row[c] - low) * s;
      v = v + 0.5f;
      v = v < 255.0f ? v : 255.0f;
      v = v > 0.0f ? v : 0.0f;
      lut[j * 16 + c] = static_cast<uint8_t>(static_cast<int>(v));
    }
  }
  return static_cast<float>(bias);
}

}  // namespace

const PqLutKernels* pqlut_scalar_kernels() {
  static const PqLutKernels table = {SimdLevel::Scalar, quantize};
  return &table;
}

}  // namespace qvec::detail
