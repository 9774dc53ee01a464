// Exact search on the device (the re-ranking / reference search) and the upload layouts. The
// distance is a plain kernel rather than cuBLAS: static cuBLAS would add hundreds of MiB to the
// wheel. A thread holds one base row and a tile of queries; L2 sums squared differences (no
// norm expansion, so no cancellation), IP is negated so smaller is better throughout.
#include <cstdint>

#include "keys.cuh"
#include "launch.h"

namespace qvec::cuda::detail {
namespace {

constexpr size_t kExactTile = 16;

template <bool kIp>
__global__ void exact_kernel(const float* queries, size_t nq, const float* base, size_t d,
                             RowSpan rows, Candidates c) {
  const auto [q0, row, ok] = scan_row(rows, kExactTile);
  const size_t tile = nq - q0 < kExactTile ? nq - q0 : kExactTile;
  float acc[kExactTile] = {};
  if (ok)
    for (size_t j = 0; j < d; ++j) {
      const float x = base[j * rows.n + row];
#pragma unroll
      for (size_t t = 0; t < kExactTile; ++t) {
        if (t >= tile) break;
        const float y = queries[(q0 + t) * d + j];
        if (kIp) {
          acc[t] = fmaf(x, y, acc[t]);
        } else {
          const float diff = x - y;
          acc[t] = fmaf(diff, diff, acc[t]);
        }
      }
    }
#pragma unroll
  for (size_t t = 0; t < kExactTile; ++t) {
    if (t >= tile) break;  // uniform over the block
    emit(ok, kIp ? -acc[t] : acc[t], row, q0 + t, c.thr[q0 + t], c);
  }
}

__global__ void transpose_bytes_kernel(const uint8_t* in, size_t n, size_t width,
                                       uint8_t* out) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= n * width) return;
  const size_t j = i / n, r = i % n;  // consecutive threads write consecutive rows
  out[i] = in[r * width + j];
}

__global__ void pack_words_kernel(const uint8_t* in, size_t n, size_t row_stride, size_t offset,
                                  size_t seg_bytes, size_t nw, uint32_t* out) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= n * nw) return;
  const size_t w = i / n, r = i % n;
  const uint8_t* src = in + r * row_stride + offset;
  uint32_t word = 0;
  for (size_t b = 0; b < 4; ++b) {
    const size_t byte = 4 * w + b;
    if (byte < seg_bytes) word |= uint32_t(src[byte]) << (8 * b);
  }
  out[i] = word;
}

__global__ void transpose_floats_kernel(const float* in, size_t n, size_t d, float* out) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= n * d) return;
  const size_t j = i / n, r = i % n;
  out[i] = in[r * d + j];
}

unsigned blocks_for(size_t count) { return static_cast<unsigned>((count + 255) / 256); }

}  // namespace

void exact_scan(const float* queries, size_t nq, const float* base, size_t d, bool ip,
                RowSpan rows, const Candidates& c, cudaStream_t stream) {
  const dim3 grid = scan_grid(rows, 1, (nq + kExactTile - 1) / kExactTile);
  if (ip)
    exact_kernel<true><<<grid, kScanThreads, 0, stream>>>(queries, nq, base, d, rows, c);
  else
    exact_kernel<false><<<grid, kScanThreads, 0, stream>>>(queries, nq, base, d, rows, c);
}

void transpose_bytes(const uint8_t* in, size_t n, size_t width, uint8_t* out,
                     cudaStream_t stream) {
  transpose_bytes_kernel<<<blocks_for(n * width), 256, 0, stream>>>(in, n, width, out);
}

void pack_words(const uint8_t* in, size_t n, size_t row_stride, size_t offset,
                size_t seg_bytes, size_t nw, uint32_t* out, cudaStream_t stream) {
  pack_words_kernel<<<blocks_for(n * nw), 256, 0, stream>>>(in, n, row_stride, offset,
                                                             seg_bytes, nw, out);
}

void transpose_floats(const float* in, size_t n, size_t d, float* out, cudaStream_t stream) {
  transpose_floats_kernel<<<blocks_for(n * d), 256, 0, stream>>>(in, n, d, out);
}

}  // namespace qvec::cuda::detail
