// Scalar reference of the Hamming kernels: the definition every SIMD variant is tested against, and
// the fallback on CPUs (or architectures) without AVX2.
#include "kernels/dispatch.h"

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

}  // namespace

const HammingKernels* hamming_scalar_kernels() {
  static const HammingKernels table = {SimdLevel::Scalar, hamming_tile};
  return &table;
}

}  // namespace qvec::detail
