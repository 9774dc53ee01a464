// Scalar reference of the asymmetric binary (RaBitQ) scan: the definition every SIMD variant is
// tested against, and the fallback on CPUs (or architectures) without AVX2.
#include <cmath>

#include "kernels/dispatch.h"

namespace qvec::detail {
namespace {

inline int popcount64(uint64_t x) { return __builtin_popcountll(x); }

size_t scan(const uint64_t* planes, size_t nplanes, const uint8_t* /*luts*/,
                   const uint64_t* tile,
                   size_t nlevels, size_t nblocks, size_t nwords, const float* vec_factors,
                   const float* c, size_t count, float threshold, float* dist, uint32_t* hits) {
  const size_t width = nblocks * kBinaryBlock;
  const float* beta = vec_factors + nlevels * width;
  const float* g = beta + width;
  const float* h = g + width;
  size_t nhits = 0;
  for (size_t b = 0; b < nblocks; ++b) {
    for (size_t lane = 0; lane < kBinaryBlock; ++lane) {
      size_t v = b * kBinaryBlock + lane;
      float acc = 0.0f;
      for (size_t l = 0; l < nlevels; ++l) {
        const uint64_t* block = tile + (l * nblocks + b) * nwords * kBinaryBlock;
        int32_t sum = 0;
        for (size_t p = 0; p < nplanes; ++p) {
          int32_t count_p = 0;
          for (size_t w = 0; w < nwords; ++w)
            count_p += popcount64(planes[p * nwords + w] & block[w * kBinaryBlock + lane]);
          sum += count_p << p;
        }
        acc = std::fma(static_cast<float>(sum), vec_factors[l * width + v], acc);
      }
      // Same operation order and fused multiply-adds as the SIMD kernels: identical results.
      float d = h[v] + c[3];
      d = std::fma(c[2], g[v], d);
      d = std::fma(c[1], beta[v], d);
      d = std::fma(c[0], acc, d);
      dist[v] = d;
      if (v < count && d <= threshold) hits[nhits++] = static_cast<uint32_t>(v);
    }
  }
  return nhits;
}

}  // namespace

const RabitqKernels* rabitq_scalar_kernels() {
  static const RabitqKernels table = {SimdLevel::Scalar, scan};
  return &table;
}

}  // namespace qvec::detail
