// Scalar reference kernels for binary codes: the definitions every SIMD variant is tested
// against, and the fallback on CPUs without AVX2.
#include <cmath>

#include "kernels/binary.h"
#include "kernels/filter_hits.h"

namespace qvec::detail {
namespace {

inline int popcount64(uint64_t x) { return __builtin_popcountll(x); }

void hamming_tile(const uint64_t* queries, size_t nq, const uint64_t* tile, size_t nblocks,
                  size_t nwords, int32_t* out, size_t ldo) {
  for (size_t q = 0; q < nq; ++q) {
    const uint64_t* query = queries + q * nwords;
    for (size_t b = 0; b < nblocks; ++b) {
      const uint64_t* block = tile + b * nwords * kBinaryBlock;
      for (size_t lane = 0; lane < kBinaryBlock; ++lane) {
        int32_t count = 0;
        for (size_t w = 0; w < nwords; ++w)
          count += popcount64(query[w] ^ block[w * kBinaryBlock + lane]);
        out[q * ldo + b * kBinaryBlock + lane] = count;
      }
    }
  }
}

size_t binary_scan(const uint64_t* planes, size_t nplanes, const uint8_t* /*luts*/,
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

size_t filter_le_f32(const float* values, size_t n, float threshold, uint32_t* out) {
  return append_le(values, 0, n, threshold, out, 0);
}

size_t filter_le_i32(const int32_t* values, size_t n, int32_t threshold, uint32_t* out) {
  return append_le(values, 0, n, threshold, out, 0);
}

float dot(const float* a, const float* b, size_t d) {
  float s = 0.0f;
  for (size_t t = 0; t < d; ++t) s += a[t] * b[t];
  return s;
}

float l2sqr(const float* a, const float* b, size_t d) {
  float s = 0.0f;
  for (size_t t = 0; t < d; ++t) {
    float diff = a[t] - b[t];
    s += diff * diff;
  }
  return s;
}

}  // namespace

const BinaryKernels* binary_scalar_kernels() {
  static const BinaryKernels table = {SimdLevel::Scalar, hamming_tile, binary_scan,
                                      filter_le_f32, filter_le_i32, dot, l2sqr};
  return &table;
}

}  // namespace qvec::detail
