// Product-quantization kernels: the per-query table build and the 8-bit and 4-bit ADC scans.
// A block scans kScanThreads * kRows rows for one query, with that query's float tables in
// shared memory when they fit (else read through the L1 cache): float ADC, as the CPU's exact
// search.
#include <cstdint>

#include "keys.cuh"
#include "launch.h"

namespace qvec::cuda::detail {
namespace {

constexpr size_t kRows = 16;  // rows per thread: a block stages its tables once for 4096 rows
constexpr size_t kSharedTables = 96 * 1024;  // bytes of tables a block stages in shared memory

__global__ void tables_kernel(const float* queries, const float* centroids, size_t m,
                              size_t ksub, size_t dsub, bool ip, float* tables) {
  const size_t q = blockIdx.y, j = blockIdx.x;
  const float* x = queries + (q * m + j) * dsub;
  for (size_t c = threadIdx.x; c < ksub; c += blockDim.x) {
    const float* y = centroids + (j * ksub + c) * dsub;
    float acc = 0.0f;
    for (size_t t = 0; t < dsub; ++t) {
      const float diff = x[t] - y[t];
      acc = ip ? fmaf(x[t], y[t], acc) : fmaf(diff, diff, acc);
    }
    tables[(q * m + j) * ksub + c] = ip ? -acc : acc;
  }
}

/// Stages query q's tables (size entries) in shared memory when kShared; returns where to read.
template <bool kShared>
__device__ const float* stage_tables(const float* tables, size_t size, float* shared) {
  if constexpr (kShared) {
    for (size_t i = threadIdx.x; i < size; i += blockDim.x) shared[i] = tables[i];
    __syncthreads();
    return shared;
  } else {
    return tables;
  }
}

/// The ADC scan of 8-bit (kBits = 8: byte j of the bytes layout (m, n)) or 4-bit codes
/// (kBits = 4: nibble j % 2 of byte j / 2 of the layout (ceil(m / 2), n)).
template <int kBits, bool kShared>
__global__ void pq_kernel(const float* tables, size_t m, const uint8_t* codes, RowSpan rows,
                          Candidates c) {
  extern __shared__ float shared[];
  constexpr size_t ksub = size_t(1) << kBits;
  const size_t q = blockIdx.y;
  const float* lut = stage_tables<kShared>(tables + q * m * ksub, m * ksub, shared);
  const uint32_t thr = c.thr[q];
  const size_t first = rows.begin + blockIdx.x * (kScanThreads * kRows) + threadIdx.x;
  for (size_t r = 0; r < kRows; ++r) {
    const size_t row = first + r * kScanThreads;
    const bool ok = row < rows.end;
    float d = 0.0f;
    if (ok)
      for (size_t j = 0; j < m; ++j) {
        unsigned code;
        if constexpr (kBits == 8) {
          code = codes[j * rows.n + row];
        } else {
          const unsigned byte = codes[(j / 2) * rows.n + row];
          code = (j & 1) ? (byte >> 4) : (byte & 15u);
        }
        d += lut[j * ksub + code];
      }
    emit(ok, d, row, q, thr, c);
  }
}

/// Launches kernel<true> with the tables in shared memory when they fit, else kernel<false>.
template <int kBits>
void launch_scan(const float* tables, size_t nq, size_t m, const uint8_t* codes, RowSpan rows,
                 const Candidates& c, cudaStream_t stream) {
  constexpr auto Shared = pq_kernel<kBits, true>;
  constexpr auto Global = pq_kernel<kBits, false>;
  const dim3 grid = scan_grid(rows, kRows, nq);
  const size_t bytes = (m << kBits) * sizeof(float);
  if (bytes <= kSharedTables) {
    cudaFuncSetAttribute(Shared, cudaFuncAttributeMaxDynamicSharedMemorySize,
                         static_cast<int>(kSharedTables));
    Shared<<<grid, kScanThreads, bytes, stream>>>(tables, m, codes, rows, c);
  } else {
    Global<<<grid, kScanThreads, 0, stream>>>(tables, m, codes, rows, c);
  }
}

}  // namespace

void pq_tables(const float* queries, size_t nq, const float* centroids, size_t m, size_t ksub,
               size_t dsub, bool ip, float* tables, cudaStream_t stream) {
  tables_kernel<<<dim3(static_cast<unsigned>(m), static_cast<unsigned>(nq)), 256, 0, stream>>>(
      queries, centroids, m, ksub, dsub, ip, tables);
}

void pq8_scan(const float* tables, size_t nq, size_t m, const uint8_t* codes, RowSpan rows,
              const Candidates& c, cudaStream_t stream) {
  launch_scan<8>(tables, nq, m, codes, rows, c, stream);
}

void pq4_scan(const float* tables, size_t nq, size_t m, const uint8_t* codes, RowSpan rows,
              const Candidates& c, cudaStream_t stream) {
  launch_scan<4>(tables, nq, m, codes, rows, c, stream);
}

}  // namespace qvec::cuda::detail
