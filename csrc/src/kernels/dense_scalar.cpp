// Scalar reference of the dense float kernels: the definition every SIMD variant is tested against,
// and the fallback on CPUs (or architectures) without AVX2.
#include <cmath>

#include "kernels/dispatch.h"

namespace qvec::detail {
namespace {

void dot_tile16(const float* a, size_t lda, size_t rows, const float* bpack, size_t d,
                float* out, size_t ldo) {
  for (size_t r = 0; r < rows; ++r) {
    float acc[kPackWidth] = {};
    const float* row = a + r * lda;
    for (size_t t = 0; t < d; ++t)
      for (size_t c = 0; c < kPackWidth; ++c) acc[c] += row[t] * bpack[t * kPackWidth + c];
    for (size_t c = 0; c < kPackWidth; ++c) out[r * ldo + c] = acc[c];
  }
}

void dot_direct(const float* a, size_t lda, size_t rows, const float* b, size_t ldb,
                size_t count, size_t d, float* out, size_t ldo) {
  for (size_t i = 0; i < count; ++i)
    for (size_t r = 0; r < rows; ++r) {
      float acc = 0.0f;
      for (size_t t = 0; t < d; ++t) acc += a[r * lda + t] * b[i * ldb + t];
      out[r * ldo + i] = acc;
    }
}

// The products in order of t for each (row, query), as dot_tile16 (which here takes any number
// of rows) sums them; then the distances exactly as the table's contract writes them.
bool scan_block(const float* x, size_t ldx, size_t rows, const float* qpack, size_t d,
                const float* qnorms, const float* xnorms, const float* limits, float* dist,
                uint32_t* masks) {
  dot_tile16(x, ldx, rows, qpack, d, dist, kScanQueries);
  dot_tile16(x, ldx, rows, qpack + d * kPackWidth, d, dist + kPackWidth, kScanQueries);
  bool finite = true;
  for (size_t r = 0; r < rows; ++r) {
    uint32_t mask = 0;
    for (size_t c = 0; c < kScanQueries; ++c) {
      float& p = dist[r * kScanQueries + c];
      float raw = qnorms ? (qnorms[c] + xnorms[r]) - 2.0f * p : -p;
      if (!(std::fabs(raw) <= 3.402823466e+38f)) finite = false;
      p = qnorms && raw < 0.0f ? 0.0f : raw;
      if (p <= limits[c]) mask |= 1u << c;
    }
    masks[r] = mask;
  }
  return finite;
}

void nearest(const float* a, size_t lda, size_t rows, const float* bpack, const float* bnorms,
               size_t npacks, size_t d, int32_t* best_index, float* best_value,
               float* second_value) {
  for (size_t r = 0; r < rows; ++r) {
    float best = INFINITY, second = INFINITY;
    int32_t index = 0;
    for (size_t p = 0; p < npacks; ++p) {
      float dots[kPackWidth];
      dot_tile16(a + r * lda, lda, 1, bpack + p * d * kPackWidth, d, dots, kPackWidth);
      for (size_t c = 0; c < kPackWidth; ++c) {
        float v = bnorms[p * kPackWidth + c] - 2.0f * dots[c];
        if (v < best) {
          second = best;
          best = v;
          index = static_cast<int32_t>(p * kPackWidth + c);
        } else if (v < second) {
          second = v;
        }
      }
    }
    best_index[r] = index;
    best_value[r] = best;
    second_value[r] = second;
  }
}

float dot(const float* a, const float* b, size_t d) {
  float s = 0.0f;
  for (size_t t = 0; t < d; ++t) s += a[t] * b[t];
  return s;
}

float l2sqr(const float* a, const float* b, size_t d) {
  float s = 0.0f;
  for (size_t t = 0; t < d; ++t) {
    float diff = a[t] - b[t];
    s += diff * diff;
  }
  return s;
}

void l2sqr_rows(const float* a, const float* b, size_t ldb, size_t count, size_t d,
                float* out) {
  for (size_t i = 0; i < count; ++i) out[i] = l2sqr(a, b + i * ldb, d);
}

void dot_blocks_i8(const uint8_t* a, const int8_t* blocks, size_t nblocks, size_t d4,
                   int32_t* out) {
  for (size_t b = 0; b < nblocks; ++b)
    for (size_t r = 0; r < kByteBlockRows; ++r) {
      int32_t s = 0;
      for (size_t t = 0; t < d4 * 4; ++t)
        s += int32_t(a[t]) * blocks[(b * d4 + t / 4) * 64 + r * 4 + t % 4];
      out[b * kByteBlockRows + r] = s;
    }
}

}  // namespace

const DenseKernels* dense_scalar_kernels() {
  static const DenseKernels table = {SimdLevel::Scalar, dot_tile16, dot_direct, scan_block,
                                     nearest, dot, l2sqr, l2sqr_rows, dot_blocks_i8};
  return &table;
}

}  // namespace qvec::detail
