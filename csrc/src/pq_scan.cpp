// The 8-bit ADC scanner. Each query's float tables are quantized to uint8 so that a block of
// 64 codes is scored with in-register byte lookups and 16-bit adds; the quantization error is
// bounded (half a step per subspace), so only candidates that could still enter the top-k
// are re-scored with the float tables. The results are the exact float ADC top-k.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/kernels.h"
#include "parallel.h"
#include "qvec/error.h"
#include "qvec/pq.h"
#include "search_grid.h"

namespace qvec {
namespace {

using detail::kCodeBlock;
using detail::kLutPadding;

constexpr size_t kKsub = 256;
constexpr size_t kQueryBlock = 8;
constexpr size_t kChunkBlocks = 32;  // 2,048 codes scored per kernel call

/// Minimum and maximum of one 256-entry table row, with independent partial results so the
/// loop is not one long dependency chain.
void row_range(const float* t, float* lo_out, float* hi_out) {
  float lo[8], hi[8];
  for (size_t u = 0; u < 8; ++u) lo[u] = hi[u] = t[u];
  for (size_t c = 8; c < kKsub; c += 8)
    for (size_t u = 0; u < 8; ++u) {
      lo[u] = t[c + u] < lo[u] ? t[c + u] : lo[u];
      hi[u] = t[c + u] > hi[u] ? t[c + u] : hi[u];
    }
  *lo_out = *std::min_element(lo, lo + 8);
  *hi_out = *std::max_element(hi, hi + 8);
}

struct QuantizedTable {
  std::vector<uint8_t> lut;
  std::vector<float> low;
  float bias = 0.0f;
  float scale = 1.0f;
  float slack = 0.0f;  // the worst total rounding, in steps

  void build(const float* table, size_t m) {
    lut.resize(m * kKsub + kLutPadding);
    low.resize(m);
    float range = 0.0f;
    bias = 0.0f;
    for (size_t j = 0; j < m; ++j) {
      float lo, hi;
      row_range(table + j * kKsub, &lo, &hi);
      low[j] = lo;
      bias += lo;
      range = std::max(range, hi - lo);
    }
    // Sums of m entries must fit the kernels' 16-bit accumulators.
    const float top = static_cast<float>(std::min<size_t>(255, 65535 / m));
    scale = range > 0.0f ? top / range : 1.0f;
    for (size_t j = 0; j < m; ++j) {
      const float* t = table + j * kKsub;
      uint8_t* out = lut.data() + j * kKsub;
      const float lo = low[j];
      // Round half up via +0.5 and truncation (the values are >= 0): unlike nearbyint, this
      // loop vectorises. The error per entry stays within half a step.
      for (size_t c = 0; c < kKsub; ++c) {
        float v = (t[c] - lo) * scale + 0.5f;
        v = v < top ? v : top;
        out[c] = static_cast<uint8_t>(static_cast<int>(v > 0.0f ? v : 0.0f));
      }
    }
    slack = 0.5f * static_cast<float>(m) + 1.0f;  // +1 covers float rounding of the bound
  }

  /// Largest quantized sum that may still beat `kth` (in float units); -1 if none can.
  long threshold(float kth) const {
    if (std::isinf(kth)) return 65535;
    float t = std::floor((kth - bias) * scale + slack);
    if (t < 0.0f) return -1;
    return t >= 65535.0f ? 65535 : static_cast<long>(t);
  }
};

}  // namespace

void pq8_pack(const uint8_t* codes, size_t n, size_t m, uint8_t* packed) {
  size_t nblocks = (n + kCodeBlock - 1) / kCodeBlock;
  detail::parallel_for((nblocks + 63) / 64, [&](size_t task) {
    size_t b1 = std::min(nblocks, (task + 1) * 64);
    for (size_t b = task * 64; b < b1; ++b) {
      uint8_t* dst = packed + b * m * kCodeBlock;
      size_t count = std::min(kCodeBlock, n - b * kCodeBlock);
      if (count < kCodeBlock) std::fill(dst, dst + m * kCodeBlock, uint8_t(0));
      for (size_t v = 0; v < count; ++v) {
        const uint8_t* row = codes + (b * kCodeBlock + v) * m;
        for (size_t j = 0; j < m; ++j) dst[j * kCodeBlock + v] = row[j];
      }
    }
  });
}

void pq8_unpack(const uint8_t* packed, size_t n, size_t m, uint8_t* codes) {
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* block = packed + (i / kCodeBlock) * m * kCodeBlock + i % kCodeBlock;
    for (size_t j = 0; j < m; ++j) codes[i * m + j] = block[j * kCodeBlock];
  }
}

void adc_search_u8(const float* tables, size_t nq, size_t m, const uint8_t* codes, size_t n,
                   size_t k, float* out_distances, idx_t* out_ids) {
  std::vector<uint8_t> packed(pq8_packed_size(n, m));
  pq8_pack(codes, n, m, packed.data());
  adc_search_u8_packed(tables, nq, m, packed.data(), n, k, out_distances, out_ids);
}

void adc_search_u8_packed(const float* tables, size_t nq, size_t m, const uint8_t* packed,
                          size_t n, size_t k, float* out_distances, idx_t* out_ids) {
  QVEC_ASSERT(m > 0 && k > 0);
  const detail::Kernels& kern = detail::kernels();
  const size_t table_size = m * kKsub;

  auto scan = [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
    std::vector<QuantizedTable> quantized(q1 - q0);
    for (size_t q = q0; q < q1; ++q) quantized[q - q0].build(tables + q * table_size, m);
    std::vector<uint16_t> sums(kChunkBlocks * kCodeBlock);
    std::vector<uint32_t> candidates(kChunkBlocks * kCodeBlock);
    const size_t first_block = b0 / kCodeBlock, end_block = (b1 + kCodeBlock - 1) / kCodeBlock;
    for (size_t cb = first_block; cb < end_block; cb += kChunkBlocks) {
      detail::check_stop();
      size_t nblk = std::min(kChunkBlocks, end_block - cb);
      size_t base_row = cb * kCodeBlock;
      for (size_t q = q0; q < q1; ++q) {
        const QuantizedTable& qt = quantized[q - q0];
        detail::HeapView heap = heaps.at(q - q0);
        long thr = qt.threshold(heap.threshold());
        if (thr < 0) continue;
        kern.adc_scan_u8(qt.lut.data(), packed + cb * m * kCodeBlock, nblk, m, sums.data());
        size_t count = kern.filter_le_u16(sums.data(), nblk * kCodeBlock,
                                          static_cast<uint16_t>(thr), candidates.data());
        const float* table = tables + q * table_size;
        for (size_t c = 0; c < count; ++c) {
          size_t row = base_row + candidates[c];
          if (row < b0 || row >= b1 || static_cast<long>(sums[candidates[c]]) > thr) continue;
          const uint8_t* code =
              packed + (row / kCodeBlock) * m * kCodeBlock + row % kCodeBlock;
          float dist = 0.0f;
          for (size_t j = 0; j < m; ++j) dist += table[j * kKsub + code[j * kCodeBlock]];
          if (dist <= heap.threshold()) {
            heap.push(dist, static_cast<idx_t>(row));
            thr = qt.threshold(heap.threshold());
          }
        }
      }
    }
  };
  detail::grid_search(nq, n, k, kQueryBlock, kCodeBlock, scan, out_distances, out_ids);
}

}  // namespace qvec
