#pragma once
// Device helpers every scan shares: the candidate key and the warp-wide append under the
// per-query threshold (the collector stage of docs/ARCHITECTURE.md, on the device).
#include <cstdint>

#include "launch.h"

namespace qvec::cuda::detail {

constexpr unsigned kFullMask = 0xFFFFFFFFu;
constexpr int kScanThreads = 256;

/// Order-preserving bits of a float: a < b (as floats) iff key(a) < key(b). -0 becomes +0 so
/// the two zeros tie as they do on the CPU and the row decides.
__device__ __forceinline__ uint32_t float_key(float d) {
  uint32_t u = __float_as_uint(d + 0.0f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float key_float(uint32_t key) {
  return __uint_as_float((key & 0x80000000u) ? (key & 0x7FFFFFFFu) : ~key);
}

/// Appends (d, row) to query q's candidates when ok and d is not worse than its threshold.
/// Called by all 32 lanes of a warp together, each with its own row of the same query: one
/// atomic per warp instead of one per candidate.
__device__ __forceinline__ void emit(bool ok, float d, size_t row, size_t q, uint32_t thr,
                                     const Candidates& c) {
  const uint32_t key = float_key(d);
  const bool pass = ok && key <= thr;
  const unsigned mask = __ballot_sync(kFullMask, pass);
  if (mask == 0) return;
  const unsigned lane = threadIdx.x & 31u;
  const int leader = __ffs(mask) - 1;
  unsigned base = 0;
  if (lane == static_cast<unsigned>(leader)) base = atomicAdd(c.count + q, __popc(mask));
  base = __shfl_sync(kFullMask, base, leader);
  if (pass)
    c.keys[q * c.cap + base + __popc(mask & ((1u << lane) - 1u))] =
        (uint64_t(key) << 32) | static_cast<uint32_t>(row);
}

/// The row of this thread and the first query of its block in a scan of one row per thread
/// and `tile` queries per block (the grid of scan_grid(rows, 1, ceil(nq / tile))).
struct ScanRow {
  size_t q0, row;
  bool ok;  // row < rows.end; threads past the end still take part in emit()
};
__device__ __forceinline__ ScanRow scan_row(const RowSpan& rows, size_t tile) {
  const size_t row = rows.begin + blockIdx.x * size_t(kScanThreads) + threadIdx.x;
  return ScanRow{blockIdx.y * tile, row, row < rows.end};
}

/// Grid of a scan: blocks of kScanThreads threads, `rows_per_thread` rows each, over
/// x; queries (or query tiles) over y.
inline dim3 scan_grid(const RowSpan& rows, size_t rows_per_thread, size_t query_groups) {
  const size_t per_block = kScanThreads * rows_per_thread;
  return dim3(static_cast<unsigned>((rows.end - rows.begin + per_block - 1) / per_block),
              static_cast<unsigned>(query_groups), 1);
}

}  // namespace qvec::cuda::detail
