#pragma once
// The LUT quantizer: one query's float lookup tables (smaller is better) -> uint8 tables whose
// 16-bit sums a block scanner adds, for 8-bit (ksub = 256) and 4-bit (ksub = 16) tables alike,
// and the one error bound that lets a scanner skip candidates without losing any that qualify.
//
// For rows t_j (j < m, ksub entries), low_j = min_c t_j[c], span_j = max_c t_j[c] - low_j:
//   scale    = min(255 / max_j span_j, (65535 - m) / sum_j span_j)   (1 when every span is 0)
//   lut[j][c] = (t_j[c] - low_j) * scale rounded to nearest (half up): off by at most half a
//              step, plus float rounding far below it (bounded in lut_quantizer.cpp)
//   bias     = sum_j low_j
// so every entry fits a byte, every sum of m entries is < 2^16, and
//   sum_j t_j[c_j]  ~=  bias + (sum_j lut[j][c_j]) / scale   within slack / scale.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "qvec/fastscan.h"

namespace qvec::detail {

/// How one query's tables were quantized, and the bound that converts float thresholds.
struct LutScale {
  float bias = 0.0f;   // sum_j low_j, table units
  float scale = 1.0f;  // quantization steps per table unit
  /// Proven bound, in steps, on how far a quantized sum can fall below (D - bias) * scale
  /// for any float ADC distance D computed by summing t_j[c_j] in j order (see the .cpp).
  float slack = 0.0f;

  /// The largest quantized sum a candidate may have and still have float ADC distance <= kth
  /// (kth: a float ADC distance, or +inf when nothing is kept yet): 65535 when every sum
  /// might, -1 when none can.
  long max_sum(float kth) const {
    const float t = std::floor((kth - bias) * scale + slack);
    if (!(t < 65535.0f)) return 65535;  // +inf kth, and NaN from overflowing tables: admit all
    return t < 0.0f ? -1 : static_cast<long>(t);
  }
  /// The table-unit distance a quantized sum stands for.
  float distance(float sum) const { return bias + sum / scale; }
};

/// Throws std::invalid_argument unless 1 <= m <= kMaxScanM (every search entry point with
/// quantized tables calls it before allocating).
void check_lut_m(size_t m);

/// Quantizes one query's tables. table: size m * ksub, layout (m, ksub), finite values; ksub is
/// 16 or 256; 1 <= m <= kMaxScanM. lut: size m * ksub, layout (m, ksub), written.
LutScale quantize_lut(const float* table, size_t m, size_t ksub, uint8_t* lut);

/// The quantized tables of a batch of queries, in the layout a block scanner reads: query q's
/// table at lut(q), `rows` rows of ksub bytes (rows >= m; rows past m are zero, e.g. the padded
/// subquantizer of the 4-bit layout), then `padding` readable zero bytes (8-bit gathers).
/// The first table starts on a 64-byte boundary.
class QueryLuts {
 public:
  /// tables: size nq * m * ksub, layout (nq, m, ksub). Quantizes every query (in parallel).
  QueryLuts(const float* tables, size_t nq, size_t m, size_t ksub, size_t rows, size_t padding);
  QueryLuts(const QueryLuts&) = delete;  // base_ points into luts_
  QueryLuts& operator=(const QueryLuts&) = delete;

  size_t nq() const { return scales_.size(); }
  /// Bytes from one query's table to the next.
  size_t stride() const { return stride_; }
  const uint8_t* lut(size_t q) const { return base_ + q * stride_; }
  const LutScale& scale(size_t q) const { return scales_[q]; }

 private:
  size_t stride_;
  std::vector<uint8_t> luts_;
  uint8_t* base_;  // luts_ from its first 64-byte boundary: whole-table loads never split lines
  std::vector<LutScale> scales_;
};

}  // namespace qvec::detail
