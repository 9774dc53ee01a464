// The LUT quantizer (lut_quantizer.h) and the proof of its error bound.
//
// Notation: u = 2^-24 (float unit roundoff); rows t_j, j < m, of ksub finite floats;
// low_j = min_c t_j[c]; a_j = max_c |t_j[c]|, A = sum_j a_j; s = scale.
//
// 1. Scale. s <= 255 / max span and s * sum_j span_j <= 65535 - m (computed in double, rounded
//    down to float), so with the entry bound of step 2 every entry is <= 255 and every sum of m
//    entries is <= 65535 - m + m (1/2 + 2^-14) < 2^16. (Hence m <= kMaxScanM = 65534.)
// 2. Entries. x = (t - low_j) s in exact arithmetic lies in [0, 255]. The computed
//    fl(fl(t - low_j) s) is within x (2u + u^2) < 3.1e-5 of x, adding 0.5 rounds by at most
//    2^-16 more (the result is < 512), and truncation then gives round-half-up of a value
//    within 4.7e-5 of x + 0.5: |lut - x| <= 1/2 + 2^-14 =: e.
// 3. Sums. For codes c_j, S = sum_j lut[j][c_j] and the exact R = sum_j (t_j[c_j] - low_j):
//    S <= s R + m e.
// 4. Float ADC. The rescorer computes D = fl(sum_j t_j[c_j]) in j order: |D - sum_j t_j[c_j]|
//    <= gamma_{m-1} A, gamma_n = n u / (1 - n u) <= 1.01 n u for m <= kMaxScanM. The bias
//    b = fl(sum_j low_j) (summed in double) has |b - sum_j low_j| <= (u + m 2^-53) A <= 1.01 u A.
//    So R <= D - b + 1.01 (m - 1) u A + 1.01 u A, and a candidate with D <= kth has
//      S <= s (kth - b) + m e + 1.01 m u s A.
// 5. Threshold. max_sum evaluates fl(fl(fl(kth - b) s) + slack). kth is itself some
//    candidate's D (or +inf), so |kth| and |b| are <= 1.01 A and z = s (kth - b) has
//    |z| <= 2.02 s A; the three roundings move the result by at most
//    (2u + u^2) |z| + 1.01 u (|z| + slack) <= 6.2 u s A + 1.01 u slack. Hence
//      slack = m e + (1.02 m + 6.2) u s A + 1
//    (the final 1 covering u slack and the rounding of slack itself) gives
//    fl(...) >= S for every candidate with D <= kth: max_sum(kth) = floor(fl(...)) never
//    rejects one. For well-scaled tables s A is about 255 m, so the float terms are far below a
//    step; for tables with a large offset relative to their spread they grow, and the scanner
//    re-scores more candidates, staying exact.
#include "search/lut_quantizer.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/dispatch.h"
#include "parallel.h"
#include "qvec/error.h"
#include "qvec/pq.h"

namespace qvec::detail {
namespace {

/// The scale of step 1: the largest float with s <= limit.
float choose_scale(float max_span, double sum_span, size_t m) {
  if (!(max_span > 0.0f)) return 1.0f;
  const double limit =
      std::min(255.0 / max_span, (65535.0 - static_cast<double>(m)) / sum_span);
  float s = static_cast<float>(std::min(limit, 1e30));
  if (static_cast<double>(s) > limit) s = std::nextafter(s, 0.0f);
  return s;
}

LutScale quantize(const float* table, size_t m, size_t ksub, uint8_t* lut) {
  // The row passes are SIMD kernels: this runs once per (query, list) pair of an 8-bit IVF
  // search by residual, where baseline code spent 41% of a 1M search in them.
  const PqLutKernels& kern = pqlut_kernels();
  thread_local std::vector<float> lows, highs;
  lows.resize(m);
  highs.resize(m);
  kern.row_ranges(table, m, ksub, lows.data(), highs.data());
  float max_span = 0.0f;
  double sum_span = 0.0, total_low = 0.0, magnitude = 0.0;
  for (size_t j = 0; j < m; ++j) {
    const float lo = lows[j], hi = highs[j];
    total_low += lo;
    max_span = std::max(max_span, hi - lo);
    sum_span += static_cast<double>(hi) - lo;
    magnitude += std::max(std::fabs(lo), std::fabs(hi));
  }
  LutScale out;
  out.scale = choose_scale(max_span, sum_span, m);
  kern.quantize_rows(table, m, ksub, lows.data(), out.scale, lut);
  out.bias = static_cast<float>(total_low);
  const double md = static_cast<double>(m), u = 0x1p-24;
  out.slack = static_cast<float>(md * (0.5 + 0x1p-14) +
                                 (1.02 * md + 6.2) * u * out.scale * magnitude + 1.0);
  return out;
}

}  // namespace

void check_lut_m(size_t m) {
  if (m == 0 || m > kMaxScanM)
    throw std::invalid_argument(
        "m must be in [1, " + std::to_string(kMaxScanM) +
        "] for a search with quantized tables (sums of m uint8 entries are 16-bit); got " +
        std::to_string(m));
}

LutScale quantize_lut(const float* table, size_t m, size_t ksub, uint8_t* lut) {
  QVEC_ASSERT(m >= 1 && m <= kMaxScanM);
  QVEC_ASSERT(ksub == 16 || ksub == 256);
  return quantize(table, m, ksub, lut);
}

}  // namespace qvec::detail

namespace qvec {

TableQuantization quantize_table(const float* table, size_t m, size_t ksub, uint8_t* lut) {
  detail::check_lut_m(m);
  QVEC_CHECK_ARG(ksub == 16 || ksub == 256, "ksub must be 16 or 256");
  const detail::LutScale s = detail::quantize_lut(table, m, ksub, lut);
  return {s.bias, s.scale, s.slack};
}

}  // namespace qvec

namespace qvec::detail {

QueryLuts::QueryLuts(const float* tables, size_t nq, size_t m, size_t ksub, size_t rows,
                     size_t padding)
    : stride_(rows * ksub + padding), luts_(nq * stride_ + 63, uint8_t(0)), scales_(nq) {
  QVEC_ASSERT(rows >= m);
  base_ = luts_.data() + (64 - reinterpret_cast<uintptr_t>(luts_.data()) % 64) % 64;
  parallel_for((nq + 63) / 64, [&](size_t task) {
    const size_t q1 = std::min(nq, (task + 1) * 64);
    for (size_t q = task * 64; q < q1; ++q)
      scales_[q] = quantize_lut(tables + q * m * ksub, m, ksub, base_ + q * stride_);
  });
}

}  // namespace qvec::detail
