// Exact search: a packed-block matrix product (queries x base) fused with top-k selection, so
// the nq x n distance matrix never exists in memory.
#include "qvec/exact.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "kernels/dispatch.h"
#include "search/topk_merge.h"

namespace qvec {
namespace {

using detail::kPackWidth;
using detail::kTileRows;

constexpr size_t kQueryBlock = 64;
constexpr const char* kNonFinite =
    "base contains NaN or infinity (or values too large for float32 distances)";
constexpr size_t kBaseBlock = 256;  // vectors packed at once; stays in L2 for d <= 1024

/// Packs rows [b0, b1) of base into (ceil((b1-b0)/16), d, 16) blocks, zero-filling the tail.
void pack_rows(const float* base, size_t d, size_t b0, size_t b1, float* packed) {
  size_t count = b1 - b0, npacks = (count + kPackWidth - 1) / kPackWidth;
  std::fill(packed, packed + npacks * d * kPackWidth, 0.0f);
  for (size_t i = 0; i < count; ++i) {
    const float* row = base + (b0 + i) * d;
    float* dst = packed + (i / kPackWidth) * d * kPackWidth + i % kPackWidth;
    for (size_t t = 0; t < d; ++t) dst[t * kPackWidth] = row[t];
  }
}

}  // namespace

void squared_norms(const float* x, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) {
    const float* row = x + i * d;
    float s = 0.0f;
    for (size_t t = 0; t < d; ++t) s += row[t] * row[t];
    out[i] = s;
  }
}

void exact_search(const float* queries, size_t nq, const float* base, size_t n, size_t d,
                  Metric metric, size_t k, float* distances, idx_t* ids) {
  const detail::DenseKernels& kern = detail::dense_kernels();
  const bool l2 = metric == Metric::L2;
  // Turns products dots[r * ldt + c] of query rows [r0, r0 + rows) (r0 relative to the task's
  // first query) and 16 base rows from `first` into distances in SIMD, and pushes only the
  // columns that pass each heap's threshold: after the first blocks almost none do.
  auto push_tile = [&](float* dots, size_t ldt, size_t r0, size_t rows, const float* query_norms,
                       const float* base_norms, size_t first, size_t cols,
                       detail::HeapSet& heaps) {
    float thresholds[kTileRows];
    uint32_t masks[kTileRows];
    for (size_t r = 0; r < rows; ++r) thresholds[r] = heaps.at(r0 + r).threshold();
    // The caller's base is not scanned for NaN/inf up front (that pass would cost as much as a
    // one-query search); a bad value surfaces here as a non-finite distance.
    if (!kern.tile_distances16(dots, ldt, rows, cols, l2 ? query_norms + r0 : nullptr,
                               l2 ? base_norms : nullptr, thresholds, masks))
      throw std::invalid_argument(kNonFinite);
    for (size_t r = 0; r < rows; ++r) {
      if (masks[r] == 0) continue;
      detail::HeapView heap = heaps.at(r0 + r);
      for (uint32_t m = masks[r]; m != 0; m &= m - 1) {
        size_t c = static_cast<size_t>(__builtin_ctz(m));
        float dist = dots[r * ldt + c];
        if (dist <= heap.threshold()) heap.push(dist, static_cast<idx_t>(first + c));
      }
    }
  };
  auto scan = [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
    std::vector<float> base_norms(kBaseBlock), query_norms(q1 - q0);
    if (l2) squared_norms(queries + q0 * d, q1 - q0, d, query_norms.data());
    if (q1 - q0 <= detail::kDirectRows) {
      // Too few queries to pay for packing: products straight from the row-major base.
      std::vector<float> dots(detail::kDirectRows * kBaseBlock);
      for (size_t bb = b0; bb < b1; bb += kBaseBlock) {
        size_t count = std::min(b1, bb + kBaseBlock) - bb;
        if (l2) squared_norms(base + bb * d, count, d, base_norms.data());
        kern.dot_direct(queries + q0 * d, d, q1 - q0, base + bb * d, d, count, d, dots.data(),
                        kBaseBlock);
        for (size_t c0 = 0; c0 < count; c0 += kPackWidth)
          push_tile(dots.data() + c0, kBaseBlock, 0, q1 - q0, query_norms.data(),
                    base_norms.data() + c0, bb + c0, std::min(kPackWidth, count - c0), heaps);
      }
      return;
    }
    std::vector<float> packed(kBaseBlock * d);
    float tile[kTileRows * kPackWidth];
    for (size_t bb = b0; bb < b1; bb += kBaseBlock) {
      size_t be = std::min(b1, bb + kBaseBlock), count = be - bb;
      size_t npacks = (count + kPackWidth - 1) / kPackWidth;
      pack_rows(base, d, bb, be, packed.data());
      if (l2) squared_norms(base + bb * d, count, d, base_norms.data());
      for (size_t r0 = q0; r0 < q1; r0 += kTileRows) {
        size_t rows = std::min(kTileRows, q1 - r0);
        for (size_t p = 0; p < npacks; ++p) {
          kern.dot_tile16(queries + r0 * d, d, rows, packed.data() + p * d * kPackWidth, d, tile,
                          kPackWidth);
          push_tile(tile, kPackWidth, r0 - q0, rows, query_norms.data(),
                    base_norms.data() + p * kPackWidth, bb + p * kPackWidth,
                    std::min(kPackWidth, count - p * kPackWidth), heaps);
        }
      }
    }
  };
  detail::grid_search(nq, n, k, kQueryBlock, kBaseBlock, scan, distances, ids);
  if (!l2) detail::negate(distances, nq * k);
}

}  // namespace qvec
