// The per-query top-k of the candidates (the collector's "keep the best k" and the final
// merge): a radix select finds the k-th smallest key, the keys up to it are gathered into
// shared memory and bitonic-sorted. Keys are unique (one per row), so exactly k survive.
#include <cstdint>

#include "keys.cuh"
#include "launch.h"
#include "qvec/cuda.h"

namespace qvec::cuda::detail {
namespace {

constexpr int kSelectThreads = 1024;
constexpr int kRadixBins = 256;

/// The rank-th smallest (1-based) of keys[0, count), 8 bits per pass from the top.
__device__ uint64_t radix_select(const uint64_t* keys, uint32_t count, uint32_t rank,
                                 uint32_t* hist, uint64_t* shared_prefix, uint32_t* shared_rank) {
  uint64_t prefix = 0, mask = 0;
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < kRadixBins; b += blockDim.x) hist[b] = 0;
    __syncthreads();
    for (uint32_t i = threadIdx.x; i < count; i += blockDim.x) {
      const uint64_t key = keys[i];
      if ((key & mask) == prefix) atomicAdd(hist + ((key >> shift) & 0xFF), 1u);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      uint32_t below = 0;
      int digit = 0;
      while (below + hist[digit] < rank) below += hist[digit++];
      *shared_rank = rank - below;
      *shared_prefix = prefix | (uint64_t(digit) << shift);
    }
    __syncthreads();
    rank = *shared_rank;
    prefix = *shared_prefix;
    mask |= uint64_t(0xFF) << shift;
    __syncthreads();
  }
  return prefix;
}

/// Ascending bitonic sort of s[0, size), size a power of two.
__device__ void bitonic_sort(uint64_t* s, uint32_t size) {
  for (uint32_t len = 2; len <= size; len <<= 1)
    for (uint32_t stride = len >> 1; stride > 0; stride >>= 1) {
      __syncthreads();
      for (uint32_t i = threadIdx.x; i < size; i += blockDim.x) {
        const uint32_t j = i ^ stride;
        if (j > i) {
          const bool up = (i & len) == 0;
          const uint64_t a = s[i], b = s[j];
          if ((a > b) == up) {
            s[i] = b;
            s[j] = a;
          }
        }
      }
    }
  __syncthreads();
}

__global__ void select_kernel(Candidates c, uint32_t k, uint32_t sort_size, float* out_dist,
                              int64_t* out_ids, bool negate, float pad) {
  extern __shared__ uint64_t sorted[];  // sort_size keys
  __shared__ uint32_t hist[kRadixBins];
  __shared__ uint64_t shared_prefix;
  __shared__ uint32_t shared_rank, gathered;
  const size_t q = blockIdx.x;
  uint64_t* keys = c.keys + q * c.cap;
  const uint32_t count = c.count[q];
  const uint32_t kept = count < k ? count : k;
  // Past count the keys are stale: only [0, count) is read.
  const uint64_t kth = count > k
      ? radix_select(keys, count, k, hist, &shared_prefix, &shared_rank)
      : ~uint64_t(0);
  if (threadIdx.x == 0) gathered = 0;
  for (uint32_t i = threadIdx.x; i < sort_size; i += blockDim.x) sorted[i] = ~uint64_t(0);
  __syncthreads();
  for (uint32_t i = threadIdx.x; i < count; i += blockDim.x) {
    const uint64_t key = keys[i];
    if (key <= kth) sorted[atomicAdd(&gathered, 1u)] = key;
  }
  bitonic_sort(sorted, sort_size);
  for (uint32_t i = threadIdx.x; i < kept; i += blockDim.x) keys[i] = sorted[i];
  if (threadIdx.x == 0) {
    c.count[q] = kept;
    if (kept == k) c.thr[q] = static_cast<uint32_t>(sorted[k - 1] >> 32);
  }
  if (out_dist == nullptr) return;
  for (uint32_t i = threadIdx.x; i < k; i += blockDim.x) {
    if (i < kept) {
      const float d = key_float(static_cast<uint32_t>(sorted[i] >> 32));
      out_dist[q * k + i] = negate ? -d : d;
      out_ids[q * k + i] = static_cast<int64_t>(sorted[i] & 0xFFFFFFFFu);
    } else {
      out_dist[q * k + i] = pad;
      out_ids[q * k + i] = -1;
    }
  }
}

}  // namespace

void select_topk(const Candidates& c, size_t nq, size_t k, float* out_distances,
                 int64_t* out_ids, bool negate, float pad, cudaStream_t stream) {
  uint32_t sort_size = 1;
  while (sort_size < k) sort_size <<= 1;
  select_kernel<<<static_cast<unsigned>(nq), kSelectThreads, sort_size * sizeof(uint64_t),
                  stream>>>(c, static_cast<uint32_t>(k), sort_size, out_distances, out_ids,
                            negate, pad);
}

}  // namespace qvec::cuda::detail
