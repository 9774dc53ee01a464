// Binary kernels: Hamming (XOR + __popc) and the asymmetric binary estimator (AND + __popc over
// the query's bit planes). A thread holds one row and a tile of queries, so each code word is
// read once per tile; the query words are the same for the whole warp (broadcast reads).
#include <cstdint>

#include "keys.cuh"
#include "launch.h"

namespace qvec::cuda::detail {
namespace {

constexpr size_t kHammingTile = 8;
constexpr size_t kRabitqTile = 4;

__global__ void hamming_kernel(const uint32_t* queries, size_t nq, size_t nw,
                               const uint32_t* codes, RowSpan rows, Candidates c) {
  const auto [q0, row, ok] = scan_row(rows, kHammingTile);
  uint32_t dist[kHammingTile] = {};
  if (ok)
    for (size_t w = 0; w < nw; ++w) {
      const uint32_t code = codes[w * rows.n + row];
#pragma unroll
      for (size_t t = 0; t < kHammingTile; ++t)
        if (q0 + t < nq) dist[t] += __popc(code ^ queries[(q0 + t) * nw + w]);
    }
#pragma unroll
  for (size_t t = 0; t < kHammingTile; ++t)
    if (q0 + t < nq) emit(ok, static_cast<float>(dist[t]), row, q0 + t, c.thr[q0 + t], c);
}

/// The scan of rabitq_scalar.cpp for a tile of queries, the same integer sums and the same
/// fused multiply-adds in the same order, so the distances are the CPU's bit for bit.
__global__ void rabitq_kernel(const uint32_t* planes, size_t nplanes, const float* constants,
                              size_t nq, const uint32_t* codes, size_t bits, size_t nw,
                              const float* factors, RowSpan rows, Candidates c) {
  const auto [q0, row, ok] = scan_row(rows, kRabitqTile);
  float acc[kRabitqTile] = {};
  if (ok)
    for (size_t l = 0; l < bits; ++l) {
      int32_t sum[kRabitqTile] = {};
      for (size_t w = 0; w < nw; ++w) {
        const uint32_t code = codes[(l * nw + w) * rows.n + row];
#pragma unroll
        for (size_t t = 0; t < kRabitqTile; ++t) {
          if (q0 + t >= nq) continue;
          const uint32_t* p = planes + (q0 + t) * nplanes * nw + w;
          for (size_t b = 0; b < nplanes; ++b) sum[t] += __popc(p[b * nw] & code) << b;
        }
      }
      const float weight = factors[l * rows.n + row];
#pragma unroll
      for (size_t t = 0; t < kRabitqTile; ++t)
        acc[t] = fmaf(static_cast<float>(sum[t]), weight, acc[t]);
    }
  float beta = 0.0f, g = 0.0f, h = 0.0f;
  if (ok) {
    beta = factors[bits * rows.n + row];
    g = factors[(bits + 1) * rows.n + row];
    h = factors[(bits + 2) * rows.n + row];
  }
#pragma unroll
  for (size_t t = 0; t < kRabitqTile; ++t) {
    if (q0 + t >= nq) continue;  // uniform over the block
    const float* k4 = constants + (q0 + t) * 4;
    float d = __fadd_rn(h, k4[3]);
    d = fmaf(k4[2], g, d);
    d = fmaf(k4[1], beta, d);
    d = fmaf(k4[0], acc[t], d);
    emit(ok, d, row, q0 + t, c.thr[q0 + t], c);
  }
}

}  // namespace

void hamming_scan(const uint32_t* queries, size_t nq, size_t nw, const uint32_t* codes,
                  RowSpan rows, const Candidates& c, cudaStream_t stream) {
  const dim3 grid = scan_grid(rows, 1, (nq + kHammingTile - 1) / kHammingTile);
  hamming_kernel<<<grid, kScanThreads, 0, stream>>>(queries, nq, nw, codes, rows, c);
}

void rabitq_scan(const uint32_t* planes, size_t nplanes, const float* constants, size_t nq,
                 const uint32_t* codes, size_t bits, size_t nw, const float* factors,
                 RowSpan rows, const Candidates& c, cudaStream_t stream) {
  const dim3 grid = scan_grid(rows, 1, (nq + kRabitqTile - 1) / kRabitqTile);
  rabitq_kernel<<<grid, kScanThreads, 0, stream>>>(planes, nplanes, constants, nq, codes, bits,
                                                   nw, factors, rows, c);
}

}  // namespace qvec::cuda::detail
