// Product-quantization kernels: the per-query table build and the 8-bit and 4-bit ADC scans.
// A block scans kScanThreads * kRows rows for one query, with that query's float tables in
// shared memory when they fit (else read through the L1 cache): float ADC, as the CPU's exact
// search.
#include <cstdint>

#include "keys.cuh"
#include "launch.h"

namespace qvec::cuda::detail {
namespace {

constexpr size_t kRows = 4;                 // rows per thread
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

template <bool kShared>
__global__ void pq8_kernel(const float* tables, size_t m, const uint8_t* codes, RowSpan rows,
                           Candidates c) {
  extern __shared__ float shared[];
  const size_t q = blockIdx.y;
  const float* lut = stage_tables<kShared>(tables + q * m * 256, m * 256, shared);
  const uint32_t thr = c.thr[q];
  const size_t first = rows.begin + blockIdx.x * (kScanThreads * kRows) + threadIdx.x;
  for (size_t r = 0; r < kRows; ++r) {
    const size_t row = first + r * kScanThreads;
    const bool ok = row < rows.end;
    float d = 0.0f;
    if (ok)
      for (size_t j = 0; j < m; ++j) d += lut[j * 256 + codes[j * rows.n + row]];
    emit(ok, d, row, q, thr, c);
  }
}

template <bool kShared>
__global__ void pq4_kernel(const float* tables, size_t m, const uint8_t* codes, RowSpan rows,
                           Candidates c) {
  extern __shared__ float shared[];
  const size_t q = blockIdx.y;
  const float* lut = stage_tables<kShared>(tables + q * m * 16, m * 16, shared);
  const uint32_t thr = c.thr[q];
  const size_t first = rows.begin + blockIdx.x * (kScanThreads * kRows) + threadIdx.x;
  for (size_t r = 0; r < kRows; ++r) {
    const size_t row = first + r * kScanThreads;
    const bool ok = row < rows.end;
    float d = 0.0f;
    if (ok)
      for (size_t j = 0; j < m; ++j) {
        const unsigned byte = codes[(j / 2) * rows.n + row];
        d += lut[j * 16 + ((j & 1) ? (byte >> 4) : (byte & 15u))];
      }
    emit(ok, d, row, q, thr, c);
  }
}

/// Launches kernel<true> with the tables in shared memory when they fit, else kernel<false>.
template <void (*Shared)(const float*, size_t, const uint8_t*, RowSpan, Candidates),
          void (*Global)(const float*, size_t, const uint8_t*, RowSpan, Candidates)>
void launch_scan(const float* tables, size_t nq, size_t m, size_t table_floats,
                 const uint8_t* codes, RowSpan rows, const Candidates& c, cudaStream_t stream) {
  const dim3 grid = scan_grid(rows, kRows, nq);
  const size_t bytes = table_floats * sizeof(float);
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
  launch_scan<pq8_kernel<true>, pq8_kernel<false>>(tables, nq, m, m * 256, codes, rows, c,
                                                   stream);
}

void pq4_scan(const float* tables, size_t nq, size_t m, const uint8_t* codes, RowSpan rows,
              const Candidates& c, cudaStream_t stream) {
  launch_scan<pq4_kernel<true>, pq4_kernel<false>>(tables, nq, m, m * 16, codes, rows, c,
                                                   stream);
}

}  // namespace qvec::cuda::detail
