#pragma once
// Nearest centroid exact to float32 rounding. The dense nearest kernels rank centroids by the
// expansion ||c||^2 - 2 <a, c>, whose rounding error grows with ||a||^2 and ||c||^2, not with
// the distance: when one codebook spans far-apart clusters (centroids near 0 and near 1e3)
// the expansion cannot order the centroids near a point. settle_nearest finds the rows whose
// best and runner-up values are closer than that error and decides them again in the direct
// form sum (a_t - c_t)^2, which is accurate at the scale of the distance itself.
#include <cstddef>
#include <cstdint>

namespace qvec::detail {

/// The nearest of centroids (size k * d, layout (k, d)) to x (size d) in the direct form,
/// ties to the smaller index; its squared distance to *distance.
int32_t nearest_direct(const float* x, const float* centroids, size_t k, size_t d,
                       float* distance);

/// One nearest kernel call's rows, re-decided where the expansion cannot tell.
/// kernel_rows: the kernel's input a, rows * d with row stride lda (its squared norm sets the
/// error bound); x: the same points in the frame of `centroids` (rows * d, stride ldx; may be
/// kernel_rows itself, or the points before a common translation); centroids: size k * d,
/// layout (k, d); best_index, best_value, second_value: the kernel's outputs for these rows
/// (best_index rewritten). distance (may be null): size rows, written with each row's squared
/// distance to its chosen centroid (direct where re-decided, from the expansion elsewhere).
inline void settle_nearest(const float* kernel_rows, size_t lda, const float* x, size_t ldx,
                           size_t rows, const float* centroids, size_t k, size_t d,
                           int32_t* best_index, const float* best_value,
                           const float* second_value, float* distance) {
  // A value v_c = ||c||^2 - 2 <a, c> summed in float32 over d terms errs by at most about
  // (d + 2) 2^-24 (2 ||c||^2 + ||a||^2); for the centroids that could compete with the best
  // (distance D near the best's) ||c||^2 <= 2 ||a||^2 + 2 D. The bound doubles that: the
  // gap must exceed twice unit (6 ||a||^2 + 5 D), D = ||a||^2 + best.
  const float unit = static_cast<float>(d + 4) * 0x1p-23f;
  for (size_t r = 0; r < rows; ++r) {
    const float* a = kernel_rows + r * lda;
    float norm = 0.0f;
    for (size_t t = 0; t < d; ++t) norm += a[t] * a[t];
    float dist = norm + best_value[r];
    dist = dist > 0.0f ? dist : 0.0f;
    if (second_value[r] - best_value[r] > 2.0f * unit * (6.0f * norm + 5.0f * dist)) {
      if (distance) distance[r] = dist;
    } else {
      float direct;
      best_index[r] = nearest_direct(x + r * ldx, centroids, k, d, &direct);
      if (distance) distance[r] = direct;
    }
  }
}

}  // namespace qvec::detail
