#pragma once
// The host-side launchers of the CUDA kernels (csrc/cuda/*.cu), called by gpu_index.cpp. Every
// pointer is device memory unless it says otherwise; every launch is asynchronous on `stream`
// and checked with cudaGetLastError by the caller. Device layouts (built at upload):
//   bytes  (width, n): byte j of row r at [j * n + r]                  (PQ codes)
//   words  (nw, n):    32-bit word w of row r at [w * n + r], bytes 4w .. 4w+3 of the packed
//                      row little-endian, zero past the row            (binary codes)
//   floats (d, n):     coordinate j of row r at [j * n + r]            (exact search)
// so a warp reading 32 consecutive rows reads 32 consecutive values.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace qvec::cuda::detail {

/// Per-query candidates of one query batch between top-k passes (the collector stage):
/// keys: size nq * cap, a key = (order-preserving bits of the distance) << 32 | row, so the
/// 64-bit order is the tie rule (distance, then smaller row); count: size nq, keys held;
/// thr: size nq, the order-preserving bits of the query's k-th best distance (0xFFFFFFFF
/// while fewer than k are held): a scan appends every row whose distance key is <= thr.
struct Candidates {
  uint64_t* keys;
  size_t cap;
  uint32_t* count;
  uint32_t* thr;
};

/// A scan's rows: [begin, end) of an uploaded array of n rows, end - begin <= cap - k.
struct RowSpan {
  size_t n, begin, end;
};

// -- layouts (upload) --
/// in: (n, width) row-major bytes; out: bytes layout (width, n).
void transpose_bytes(const uint8_t* in, size_t n, size_t width, uint8_t* out,
                     cudaStream_t stream);
/// Bytes [offset, offset + seg_bytes) of each row of in (row r at in + r * row_stride) ->
/// out: words layout (nw, n), nw >= ceil(seg_bytes / 4).
void pack_words(const uint8_t* in, size_t n, size_t row_stride, size_t offset,
                size_t seg_bytes, size_t nw, uint32_t* out, cudaStream_t stream);
/// in: (n, d) row-major floats; out: floats layout (d, n).
void transpose_floats(const float* in, size_t n, size_t d, float* out, cudaStream_t stream);

// -- table build --
/// queries: (nq, m * dsub); centroids: (m, ksub, dsub); tables: (nq, m, ksub), written:
/// ||q_j - c||^2, or -<q_j, c> when ip.
void pq_tables(const float* queries, size_t nq, const float* centroids, size_t m, size_t ksub,
               size_t dsub, bool ip, float* tables, cudaStream_t stream);

// -- scans (one range; candidates appended under each query's threshold) --
/// tables: (nq, m, 256); codes: bytes layout (m, n).
void pq8_scan(const float* tables, size_t nq, size_t m, const uint8_t* codes, RowSpan rows,
              const Candidates& c, cudaStream_t stream);
/// tables: (nq, m, 16); codes: bytes layout (ceil(m / 2), n), nibble codes (qvec/fastscan.h).
void pq4_scan(const float* tables, size_t nq, size_t m, const uint8_t* codes, RowSpan rows,
              const Candidates& c, cudaStream_t stream);
/// queries: (nq, nw) words; codes: words layout (nw, n).
void hamming_scan(const uint32_t* queries, size_t nq, size_t nw, const uint32_t* codes,
                  RowSpan rows, const Candidates& c, cudaStream_t stream);
/// The asymmetric binary estimator of csrc/src/rabitq_search.cpp (see RabitqKernels::scan).
/// planes: (nq, nplanes, nw) words; constants: (nq, 4); codes: (bits) words layouts (nw, n),
/// level l at codes + l * nw * n; factors: (bits + 3, n): W_l, beta, g, h.
void rabitq_scan(const uint32_t* planes, size_t nplanes, const float* constants, size_t nq,
                 const uint32_t* codes, size_t bits, size_t nw, const float* factors,
                 RowSpan rows, const Candidates& c, cudaStream_t stream);
/// queries: (nq, d); base: floats layout (d, n). Squared L2, or the negated inner product.
void exact_scan(const float* queries, size_t nq, const float* base, size_t d, bool ip,
                RowSpan rows, const Candidates& c, cudaStream_t stream);

// -- top-k --
/// Per query: keeps the best min(count, k) keys (sorted) at the front of its keys, sets count
/// and thr (when k are held). With out_distances (nq, k) and out_ids (nq, k) non-null, also
/// writes the results: distances decoded (negated when negate), rows as ids, and `pad` / -1
/// for missing results. Requires k <= kMaxGpuK.
void select_topk(const Candidates& c, size_t nq, size_t k, float* out_distances,
                 int64_t* out_ids, bool negate, float pad, cudaStream_t stream);

}  // namespace qvec::cuda::detail
