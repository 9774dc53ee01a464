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

void row_ranges(const float* t, size_t m, size_t ksub, float* lows, float* highs) {
  for (size_t j = 0; j < m; ++j) {
    const float* row = t + j * ksub;
    float lo = row[0], hi = row[0];
    for (size_t c = 1; c < ksub; ++c) {
      lo = row[c] < lo ? row[c] : lo;
      hi = row[c] > hi ? row[c] : hi;
    }
    lows[j] = lo;
    highs[j] = hi;
  }
}

void quantize_rows(const float* t, size_t m, size_t ksub, const float* lows, float s,
                   uint8_t* lut) {
  for (size_t j = 0; j < m; ++j)
    for (size_t c = 0; c < ksub; ++c) {
      float v = (t[j * ksub + c] - lows[j]) * s;
      v = v + 0.5f;
      v = v < 255.0f ? v : 255.0f;
      v = v > 0.0f ? v : 0.0f;
      lut[j * ksub + c] = static_cast<uint8_t>(static_cast<int>(v));
    }
}

void pair_rows(const float* a, const float* centroid, const float* books_t, size_t m,
               size_t ksub, size_t dsub, float* out) {
  for (size_t j = 0; j < m; ++j)
    for (size_t c = 0; c < ksub; ++c) {
      const float* column = books_t + j * dsub * ksub + c;
      float s = centroid[j * dsub] * column[0];
      for (size_t t = 1; t < dsub; ++t) {
        const float p = centroid[j * dsub + t] * column[t * ksub];
        s = s + p;
      }
      out[j * ksub + c] = a[j * ksub + c] + 2.0f * s;
    }
}

}  // namespace

const PqLutKernels* pqlut_scalar_kernels() {
  static const PqLutKernels table = {SimdLevel::Scalar, quantize, row_ranges, quantize_rows,
                                     pair_rows};
  return &table;
}

}  // namespace qvec::detail
