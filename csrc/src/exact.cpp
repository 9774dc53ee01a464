// Exact search: a packed-block matrix product (queries x base) fused with top-k selection, so
// the nq x n distance matrix never exists in memory.
#include "qvec/exact.h"

#include <algorithm>
#include <vector>

#include "kernels/kernels.h"
#include "search_grid.h"

namespace qvec {
namespace {

using detail::kPackWidth;
using detail::kTileRows;

constexpr size_t kQueryBlock = 64;
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
  const detail::Kernels& kern = detail::kernels();
  const bool l2 = metric == Metric::L2;
  auto scan = [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
    std::vector<float> packed(kBaseBlock * d), base_norms(kBaseBlock), query_norms(q1 - q0);
    float tile[kTileRows * kPackWidth];
    if (l2) squared_norms(queries + q0 * d, q1 - q0, d, query_norms.data());
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
          size_t cols = std::min(kPackWidth, count - p * kPackWidth);
          for (size_t r = 0; r < rows; ++r) {
            detail::HeapView heap = heaps.at(r0 + r - q0);
            const float* dots = tile + r * kPackWidth;
            float qn = l2 ? query_norms[r0 + r - q0] : 0.0f;
            for (size_t c = 0; c < cols; ++c) {
              size_t i = p * kPackWidth + c;
              float dist = l2 ? std::max(0.0f, qn + base_norms[i] - 2.0f * dots[c]) : -dots[c];
              if (dist <= heap.threshold()) heap.push(dist, static_cast<idx_t>(bb + i));
            }
          }
        }
      }
    }
  };
  detail::grid_search(nq, n, k, kQueryBlock, kBaseBlock, scan, distances, ids);
  if (!l2) detail::negate(distances, nq * k);
}

}  // namespace qvec
