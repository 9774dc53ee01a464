#include "nearest_check.h"

#include <cmath>

namespace qvec::detail {

int32_t nearest_direct(const float* x, const float* centroids, size_t k, size_t d,
                       float* distance) {
  float best = INFINITY;
  int32_t index = 0;
  for (size_t c = 0; c < k; ++c) {
    float s = 0.0f;
    for (size_t t = 0; t < d; ++t) {
      float diff = x[t] - centroids[c * d + t];
      s += diff * diff;
    }
    if (s < best) {
      best = s;
      index = static_cast<int32_t>(c);
    }
  }
  *distance = best;
  return index;
}

}  // namespace qvec::detail
