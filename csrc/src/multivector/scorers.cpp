// The MaxSim scorers (scorers.h). Sums run in a fixed order (code byte j, or dimension d,
// ascending), so scores never depend on the thread count or on how documents are split.
#include "multivector/scorers.h"

#include <algorithm>
#include <cstdint>

#include "kernels/dispatch.h"

namespace qvec::detail {
namespace {

size_t blocks_of(size_t t) { return (t + kLanes - 1) / kLanes; }

/// Sum of the real lanes' best similarities (plus the per-token bias when given).
float total(const float* best, const float* bias, size_t t) {
  float s = 0.0f;
  for (size_t i = 0; i < t; ++i) s += bias ? best[i] + bias[i] : best[i];
  return s;
}

/// transposed (layout (blocks, rows, kLanes)) from src: row `row` of query token i at
/// src[i * rows + row], for i < t; padded lanes zero.
void transpose(const float* src, size_t t, size_t rows, float* transposed) {
  std::fill(transposed, transposed + blocks_of(t) * rows * kLanes, 0.0f);
  for (size_t i = 0; i < t; ++i) {
    float* dst = transposed + (i / kLanes) * rows * kLanes + i % kLanes;
    const float* in = src + i * rows;
    for (size_t row = 0; row < rows; ++row) dst[row * kLanes] = in[row];
  }
}

}  // namespace

float* LineBuffer::resize(size_t n) {
  storage_.resize(n + 16);
  const auto address = reinterpret_cast<uintptr_t>(storage_.data());
  return storage_.data() + ((64 - address % 64) % 64) / sizeof(float);
}

void ByteMaxSim::prepare(int64_t t0, int64_t t1) {
  t0_ = t0;
  t_ = static_cast<size_t>(t1 - t0);
  const size_t rows = tables_.m * 256;
  transposed_ = buffer_.resize(blocks_of(t_) * rows * kLanes);
  transpose(tables_.tables + static_cast<size_t>(t0) * rows, t_, rows, transposed_);
  best_.resize(blocks_of(t_) * kLanes);
}

float ByteMaxSim::score(int64_t r0, int64_t r1) {
  const MaxSimKernels& kernels = maxsim_kernels();
  const size_t m = tables_.m, ntok = static_cast<size_t>(r1 - r0);
  const uint8_t* codes = codes_.codes + static_cast<size_t>(r0) * m;
  for (size_t b = 0; b < blocks_of(t_); ++b) {
    const float* block = transposed_ + b * m * 256 * kLanes;
    float* best = best_.data() + b * kLanes;
    if (codes_.weights)
      kernels.weighted_block(block, codes, m, tables_.groups,
                             codes_.weights + static_cast<size_t>(r0) * codes_.weight_stride,
                             codes_.weight_stride, ntok, best);
    else
      kernels.byte_block(block, codes, m, ntok, best);
  }
  return total(best_.data(), tables_.bias ? tables_.bias + t0_ : nullptr, t_);
}

void FloatMaxSim::prepare(int64_t t0, int64_t t1) {
  t_ = static_cast<size_t>(t1 - t0);
  transposed_ = buffer_.resize(blocks_of(t_) * dim_ * kLanes);
  transpose(queries_ + static_cast<size_t>(t0) * dim_, t_, dim_, transposed_);
  best_.resize(blocks_of(t_) * kLanes);
}

float FloatMaxSim::score(int64_t r0, int64_t r1) {
  const MaxSimKernels& kernels = maxsim_kernels();
  const float* x = tokens_ + static_cast<size_t>(r0) * dim_;
  for (size_t b = 0; b < blocks_of(t_); ++b)
    kernels.float_block(transposed_ + b * dim_ * kLanes, x, dim_, static_cast<size_t>(r1 - r0),
                        best_.data() + b * kLanes);
  return total(best_.data(), nullptr, t_);
}

}  // namespace qvec::detail
