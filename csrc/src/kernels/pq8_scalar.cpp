// Scalar reference of the 8-bit ADC scan: the definition every SIMD variant is tested against, and
// the fallback on CPUs (or architectures) without AVX2.
#include "kernels/dispatch.h"

namespace qvec::detail {
namespace {

void scan(const uint8_t* lut, const uint8_t* codes, size_t nblocks, size_t m,
                 uint16_t* out) {
  for (size_t b = 0; b < nblocks; ++b) {
    uint16_t acc[kCodeBlock] = {};
    const uint8_t* block = codes + b * m * kCodeBlock;
    for (size_t j = 0; j < m; ++j) {
      const uint8_t* table = lut + j * 256;
      const uint8_t* c = block + j * kCodeBlock;
      for (size_t v = 0; v < kCodeBlock; ++v) acc[v] = static_cast<uint16_t>(acc[v] + table[c[v]]);
    }
    for (size_t v = 0; v < kCodeBlock; ++v) out[b * kCodeBlock + v] = acc[v];
  }
}

void scan_pair(const uint8_t* lut0, const uint8_t* lut1, const uint8_t* codes, size_t nblocks,
               size_t m, uint16_t* out0, uint16_t* out1) {
  scan(lut0, codes, nblocks, m, out0);
  scan(lut1, codes, nblocks, m, out1);
}

}  // namespace

const Pq8Kernels* pq8_scalar_kernels() {
  static const Pq8Kernels table = {SimdLevel::Scalar, scan, scan_pair};
  return &table;
}

}  // namespace qvec::detail
