// Scalar reference of the fast-scan kernels: the definition every SIMD variant is tested
// against, and the fallback on CPUs without AVX2.
#include "kernels/dispatch.h"

namespace qvec::detail {
namespace {

uint32_t scan(const uint8_t* const* luts, size_t nq, const uint8_t* codes, size_t nblocks,
              size_t m2, const uint16_t* thresholds, uint16_t* out, size_t ldo,
              uint32_t* masks) {
  uint32_t any = 0;
  for (size_t q = 0; q < nq; ++q) {
    const uint8_t* lut = luts[q];
    for (size_t b = 0; b < nblocks; ++b) {
      uint16_t acc[kFsBlock] = {};
      for (size_t j = 0; j < m2; ++j) {
        const uint8_t* table = lut + j * 16;
        const uint8_t* c = codes + (b * m2 + j) * 16;
        for (size_t t = 0; t < 16; ++t) {
          acc[t] = static_cast<uint16_t>(acc[t] + table[c[t] & 15]);
          acc[t + 16] = static_cast<uint16_t>(acc[t + 16] + table[c[t] >> 4]);
        }
      }
      uint32_t mask = 0;
      for (size_t v = 0; v < kFsBlock; ++v) {
        out[q * ldo + b * kFsBlock + v] = acc[v];
        if (acc[v] <= thresholds[q]) mask |= uint32_t(1) << v;
      }
      masks[q * nblocks + b] = mask;
      if (mask != 0) any |= uint32_t(1) << q;
    }
  }
  return any;
}

}  // namespace

const Pq4Kernels* pq4_scalar_kernels() {
  static const Pq4Kernels table = {SimdLevel::Scalar, scan};
  return &table;
}

}  // namespace qvec::detail
