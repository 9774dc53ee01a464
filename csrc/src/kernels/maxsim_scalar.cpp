// Scalar MaxSim kernels: the reference every level is compared with (tests/_battery.py).
#include <algorithm>
#include <limits>

#include "kernels/dispatch.h"

namespace qvec::detail {
namespace {

constexpr size_t L = kMaxSimLanes;

void init_best(float* best) {
  for (size_t u = 0; u < L; ++u) best[u] = -std::numeric_limits<float>::infinity();
}

void keep_best(const float* acc, float* best) {
  for (size_t u = 0; u < L; ++u) best[u] = std::max(best[u], acc[u]);
}

void byte_block(const float* block, const uint8_t* codes, size_t m, size_t ntok, float* best) {
  init_best(best);
  for (size_t r = 0; r < ntok; ++r) {
    const uint8_t* code = codes + r * m;
    float acc[L] = {};
    for (size_t j = 0; j < m; ++j) {
      const float* row = block + (j * 256 + code[j]) * L;
      for (size_t u = 0; u < L; ++u) acc[u] += row[u];
    }
    keep_best(acc, best);
  }
}

void weighted_block(const float* block, const uint8_t* codes, size_t m, size_t groups,
                    const float* weights, size_t weight_stride, size_t ntok, float* best) {
  const size_t run = m / groups;
  init_best(best);
  for (size_t r = 0; r < ntok; ++r) {
    const uint8_t* code = codes + r * m;
    const float* w = weights + r * weight_stride;
    float acc[L] = {};
    for (size_t g = 0; g < groups; ++g) {
      float part[L] = {};
      for (size_t j = g * run; j < (g + 1) * run; ++j) {
        const float* row = block + (j * 256 + code[j]) * L;
        for (size_t u = 0; u < L; ++u) part[u] += row[u];
      }
      for (size_t u = 0; u < L; ++u) acc[u] += w[g] * part[u];
    }
    keep_best(acc, best);
  }
}

void float_block(const float* block, const float* tokens, size_t dim, size_t ntok,
                 float* best) {
  init_best(best);
  for (size_t r = 0; r < ntok; ++r) {
    const float* x = tokens + r * dim;
    float acc[L] = {};
    for (size_t d = 0; d < dim; ++d)
      for (size_t u = 0; u < L; ++u) acc[u] += x[d] * block[d * L + u];
    keep_best(acc, best);
  }
}

}  // namespace

const MaxSimKernels* maxsim_scalar_kernels() {
  static const MaxSimKernels table = {SimdLevel::Scalar, byte_block, weighted_block,
                                      float_block};
  return &table;
}

}  // namespace qvec::detail
