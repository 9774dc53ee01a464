#include "nearest_check.h"

#include <cmath>

namespace qvec::detail {
namespace {

constexpr size_t kDirectLanes = 16;

// sum_t (x_t - c_t)^2 as kDirectLanes partial sums (lane t mod 16, each in order of t) folded
// in halves: independent chains the compiler vectorizes in this baseline file, so the bits
// are the same on every CPU (the settled rows are ~0.5% of real data, but a serial chain cost
// them ~100x a kernel row: at 4096 centroids it doubled the assignment).
float l2sqr_lanes(const float* x, const float* c, size_t d) {
  float lane[kDirectLanes] = {};
  size_t t = 0;
  for (; t + kDirectLanes <= d; t += kDirectLanes)
    for (size_t j = 0; j < kDirectLanes; ++j) {
      const float diff = x[t + j] - c[t + j];
      lane[j] += diff * diff;
    }
  for (size_t j = 0; t + j < d; ++j) {
    const float diff = x[t + j] - c[t + j];
    lane[j] += diff * diff;
  }
  for (size_t width = kDirectLanes / 2; width > 0; width /= 2)
    for (size_t j = 0; j < width; ++j) lane[j] += lane[j + width];
  return lane[0];
}

}  // namespace

int32_t nearest_direct(const float* x, const float* centroids, size_t k, size_t d,
                       float* distance) {
  float best = INFINITY;
  int32_t index = 0;
  for (size_t c = 0; c < k; ++c) {
    const float s = l2sqr_lanes(x, centroids + c * d, d);
    if (s < best) {
      best = s;
      index = static_cast<int32_t>(c);
    }
  }
  *distance = best;
  return index;
}

}  // namespace qvec::detail
