// The int8 scalar quantizer: sentence-transformers' calibration convention (qvec/scalar.h),
// encode / decode, and the sq8 scan layout (kernels/sq8.h) with its per-block norm headers.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "kernels/sq8.h"
#include "parallel.h"
#include "qvec/error.h"
#include "qvec/scalar.h"

namespace qvec {
namespace detail {
namespace {

constexpr size_t kRowsPerTask = 1024;

void check_dim(size_t dim) {
  QVEC_CHECK_ARG(dim >= 1 && dim <= kSq8MaxDim, "dim must be in [1, " +
                                                    std::to_string(kSq8MaxDim) + "]; got " +
                                                    std::to_string(dim));
}

// Row i of codes into its block of the scan layout (header left alone).
void scatter_row(const int8_t* code, size_t dim, uint8_t* block, size_t lane) {
  uint8_t* groups = block + 64;
  for (size_t t = 0; t < dim; ++t)
    groups[(t / 4) * 64 + lane * 4 + t % 4] = static_cast<uint8_t>(code[t]);
}

}  // namespace
}  // namespace detail

void sq8_pack(const int8_t* codes, size_t n, size_t dim, uint8_t* packed) {
  detail::check_dim(dim);
  const size_t bytes = sq8_block_bytes(dim), nblocks = (n + kSq8ScanBlock - 1) / kSq8ScanBlock;
  detail::parallel_for((nblocks + 63) / 64, [&](size_t task) {
    for (size_t b = task * 64; b < std::min(nblocks, (task + 1) * 64); ++b) {
      uint8_t* block = packed + b * bytes;
      std::memset(block, 0, bytes);
      for (size_t v = 0; v < kSq8ScanBlock && b * kSq8ScanBlock + v < n; ++v)
        detail::scatter_row(codes + (b * kSq8ScanBlock + v) * dim, dim, block, v);
    }
  });
}

void sq8_unpack(const uint8_t* packed, size_t n, size_t dim, int8_t* codes) {
  const size_t bytes = sq8_block_bytes(dim);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* groups = packed + (i / kSq8ScanBlock) * bytes + 64;
    const size_t lane = i % kSq8ScanBlock;
    for (size_t t = 0; t < dim; ++t)
      codes[i * dim + t] = static_cast<int8_t>(groups[(t / 4) * 64 + lane * 4 + t % 4]);
  }
}

ScalarQuantizer::ScalarQuantizer(size_t dim, Metric metric) : dim_(dim), metric_(metric) {
  detail::check_dim(dim);
}

void ScalarQuantizer::require_trained() const {
  QVEC_CHECK_ARG(trained_, "the scalar quantizer has no ranges: call set_ranges or train_minmax");
}

void ScalarQuantizer::set_ranges(const float* ranges) {
  std::vector<float> steps(dim_);
  for (size_t j = 0; j < dim_; ++j) {
    const float lo = ranges[j], hi = ranges[dim_ + j];
    QVEC_CHECK_ARG(std::isfinite(lo) && std::isfinite(hi) && hi >= lo,
                   "ranges must be finite with maximum >= minimum; dimension " +
                       std::to_string(j) + " has [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "]");
    // sentence-transformers: steps = (ranges[1] - ranges[0]) / 255 in float32, 0 -> 1.
    float step = (hi - lo) / 255.0f;
    if (step == 0.0f) step = 1.0f;
    QVEC_CHECK_ARG(std::isfinite(step) && std::isfinite(lo + 255.0f * step),
                   "ranges of dimension " + std::to_string(j) + " are too wide for float32");
    steps[j] = step;
  }
  ranges_.assign(ranges, ranges + 2 * dim_);
  steps_ = std::move(steps);
  trained_ = true;
}

void ScalarQuantizer::train_minmax(const float* x, size_t n) {
  QVEC_CHECK_ARG(n >= 1, "train_minmax needs at least one vector");
  std::vector<float> ranges(2 * dim_);
  std::copy(x, x + dim_, ranges.begin());
  std::copy(x, x + dim_, ranges.begin() + dim_);
  for (size_t i = 1; i < n; ++i)
    for (size_t j = 0; j < dim_; ++j) {
      const float v = x[i * dim_ + j];
      ranges[j] = std::min(ranges[j], v);
      ranges[dim_ + j] = std::max(ranges[dim_ + j], v);
    }
  set_ranges(ranges.data());
}

void ScalarQuantizer::encode(const float* x, size_t n, int8_t* codes) const {
  require_trained();
  const float* lo = ranges_.data();
  detail::parallel_for((n + detail::kRowsPerTask - 1) / detail::kRowsPerTask, [&](size_t task) {
    for (size_t i = task * detail::kRowsPerTask; i < std::min(n, (task + 1) * detail::kRowsPerTask); ++i)
      for (size_t j = 0; j < dim_; ++j) {
        const float v = x[i * dim_ + j];
        QVEC_CHECK_ARG(std::isfinite(v), "x has a NaN or inf at row " + std::to_string(i));
        // The float32 arithmetic of sentence-transformers: floor((x - start) / step), clipped.
        const float bucket = std::floor((v - lo[j]) / steps_[j]);
        const float clipped = std::min(255.0f, std::max(0.0f, bucket));
        codes[i * dim_ + j] = static_cast<int8_t>(static_cast<int>(clipped) - 128);
      }
  });
}

void ScalarQuantizer::decode(const int8_t* codes, size_t n, float* x) const {
  require_trained();
  for (size_t i = 0; i < n * dim_; ++i) {
    const size_t j = i % dim_;
    x[i] = static_cast<float>((double(codes[i]) + 128.0) * double(steps_[j]) + double(ranges_[j]));
  }
}

void ScalarQuantizer::pack(const int8_t* codes, size_t n, uint8_t* packed) const {
  require_trained();
  sq8_pack(codes, n, dim_, packed);
  const size_t bytes = sq8_block_bytes(dim_);
  detail::parallel_for((n + detail::kRowsPerTask - 1) / detail::kRowsPerTask, [&](size_t task) {
    for (size_t i = task * detail::kRowsPerTask; i < std::min(n, (task + 1) * detail::kRowsPerTask); ++i) {
      double norm = 0.0;
      for (size_t j = 0; j < dim_; ++j) {
        // Scanners see a decoded vector as zero + step * code, zero = lo + 128 step.
        const double step = steps_[j];
        const double v = double(ranges_[j]) + step * (128.0 + codes[i * dim_ + j]);
        norm += v * v;
      }
      const float value = static_cast<float>(norm);
      std::memcpy(packed + (i / kSq8ScanBlock) * bytes + (i % kSq8ScanBlock) * 4, &value, 4);
    }
  });
}

}  // namespace qvec
