// The MaxSim scorers (scorers.h). Sums run in a fixed order (code byte j ascending, then query
// token i ascending), so scores never depend on the thread count or on how documents are split.
#include "multivector/scorers.h"

#include <algorithm>
#include <limits>

namespace qvec::detail {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

/// best[i] = max(best[i], acc[i]) for i < t.
inline void keep_best(const float* acc, size_t t, float* best) {
  for (size_t i = 0; i < t; ++i) best[i] = std::max(best[i], acc[i]);
}

/// Sum of the best similarities (plus the per-token bias when given).
inline float total(const float* best, const float* bias, size_t t) {
  float s = 0.0f;
  for (size_t i = 0; i < t; ++i) s += bias ? best[i] + bias[i] : best[i];
  return s;
}

}  // namespace

void ByteMaxSim::prepare(int64_t t0, int64_t t1) {
  t0_ = t0;
  t_ = static_cast<size_t>(t1 - t0);
  const size_t m = tables_.m;
  transposed_.resize(m * 256 * t_);
  for (size_t i = 0; i < t_; ++i) {
    const float* src = tables_.tables + (static_cast<size_t>(t0) + i) * m * 256;
    for (size_t jc = 0; jc < m * 256; ++jc) transposed_[jc * t_ + i] = src[jc];
  }
  acc_.resize(t_);
  run_.resize(t_);
  best_.resize(t_);
}

float ByteMaxSim::score(int64_t r0, int64_t r1) {
  const size_t m = tables_.m, t = t_, groups = tables_.groups, run = m / groups;
  const float* tt = transposed_.data();
  float* acc = acc_.data();
  float* part = run_.data();
  std::fill(best_.begin(), best_.end(), kNegInf);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* code = codes_.codes + static_cast<size_t>(r) * m;
    const float* w = codes_.weights ? codes_.weights + static_cast<size_t>(r) * codes_.weight_stride
                                    : nullptr;
    std::fill(acc, acc + t, 0.0f);
    for (size_t g = 0; g < groups; ++g) {
      std::fill(part, part + t, 0.0f);
      for (size_t j = g * run; j < (g + 1) * run; ++j) {
        const float* row = tt + (j * 256 + code[j]) * t;
        for (size_t i = 0; i < t; ++i) part[i] += row[i];
      }
      const float wg = w ? w[g] : 1.0f;
      for (size_t i = 0; i < t; ++i) acc[i] += wg * part[i];
    }
    keep_best(acc, t, best_.data());
  }
  const float* bias = tables_.bias ? tables_.bias + t0_ : nullptr;
  return total(best_.data(), bias, t);
}

void FloatMaxSim::prepare(int64_t t0, int64_t t1) {
  t_ = static_cast<size_t>(t1 - t0);
  transposed_.resize(dim_ * t_);
  for (size_t i = 0; i < t_; ++i) {
    const float* q = queries_ + (static_cast<size_t>(t0) + i) * dim_;
    for (size_t d = 0; d < dim_; ++d) transposed_[d * t_ + i] = q[d];
  }
  acc_.resize(t_);
  best_.resize(t_);
}

float FloatMaxSim::score(int64_t r0, int64_t r1) {
  const size_t t = t_;
  float* acc = acc_.data();
  std::fill(best_.begin(), best_.end(), kNegInf);
  for (int64_t r = r0; r < r1; ++r) {
    const float* x = tokens_ + static_cast<size_t>(r) * dim_;
    std::fill(acc, acc + t, 0.0f);
    for (size_t d = 0; d < dim_; ++d) {
      const float xd = x[d];
      const float* row = transposed_.data() + d * t;
      for (size_t i = 0; i < t; ++i) acc[i] += xd * row[i];
    }
    keep_best(acc, t, best_.data());
  }
  return total(best_.data(), nullptr, t);
}

}  // namespace qvec::detail
