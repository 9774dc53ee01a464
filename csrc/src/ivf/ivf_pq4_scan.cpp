// The quantized 4-bit scan of IVF lists (ivf_pq4_scan.h): per (query, list) pair, the float
// table is quantized with the query's shared scale (or, with no list term, the query's one
// quantized table is read where it lies); the fast-scan kernel sums and compares
// with each query's limit; candidates enter the query's float collector as bias + sum / scale.
#include "ivf_pq4_scan.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/dispatch.h"
#include "parallel.h"
#include "qvec/fastscan.h"
#include "search/collector.h"
#include "stop.h"

namespace qvec::detail {
namespace {

constexpr size_t kChunkBlocks = 32;

/// One query of a group: its quantized table, bias and scale, and its collector.
struct Pq4Query {
  const uint8_t* lut;  // the batch's shared table, or this pair's in Scratch::luts
  float bias, scale;
  HeapView heap;

  /// The largest sum that may still enter (one step of slack for the float conversion): 65535
  /// while the collector is not full, -1 when nothing can.
  long limit() const {
    if (heap.ids[0] < 0) return 65535;
    const float t = std::floor((heap.threshold() - bias) * scale) + 1.0f;
    if (!(t < 65535.0f)) return 65535;
    return t < 0.0f ? -1 : static_cast<long>(t);
  }
};

/// Per-thread buffers of Pq4ListScan::scan, reused across lists (a scan of a short list
/// would otherwise spend more time allocating than scanning).
struct Scratch {
  std::vector<uint8_t> luts;
  std::vector<Pq4Query> queries;
  std::vector<uint16_t> sums = std::vector<uint16_t>(kFsMaxQueries * kChunkBlocks * kFsBlock);
  std::vector<uint32_t> masks = std::vector<uint32_t>(kFsMaxQueries * kChunkBlocks);
};

/// Hands the candidates of one kernel call (query i's masks over nblk blocks from block cb)
/// to its collector; rows at or past n are not rows of the list; ids the filter rejects never
/// enter.
void collect(Pq4Query& q, const uint16_t* sums, const uint32_t* masks, size_t cb, size_t nblk,
             size_t n, const idx_t* ids, const IdFilter* filter) {
  long lim = q.limit();
  for (size_t b = 0; b < nblk && lim >= 0; ++b)
    for (uint32_t mask = masks[b]; mask != 0; mask &= mask - 1) {
      const size_t at = b * kFsBlock + static_cast<size_t>(__builtin_ctz(mask));
      const size_t row = cb * kFsBlock + at;
      if (row >= n || static_cast<long>(sums[at]) > lim) continue;
      if (filter && !filter->allows(ids[row])) continue;  // before the collector sees it
      const float d = q.bias + static_cast<float>(sums[at]) / q.scale;
      if (q.heap.admits(d, ids[row])) {
        q.heap.push(d, ids[row]);
        lim = q.limit();
        if (lim < 0) break;
      }
    }
}

}  // namespace

float shared_scale(const float* max_span, const float* sum_span, size_t count, size_t m) {
  double s = 1e30;
  bool any = false;
  for (size_t i = 0; i < count; ++i) {
    if (max_span[i] > 0.0f) {
      s = std::min(s, 255.0 / max_span[i]);
      any = true;
    }
    if (sum_span[i] > 0.0f) s = std::min(s, (65535.0 - static_cast<double>(m)) / sum_span[i]);
  }
  if (!any) return 1.0f;
  float out = static_cast<float>(s);
  if (static_cast<double>(out) > s) out = std::nextafter(out, 0.0f);
  return out;
}

}  // namespace qvec::detail

namespace qvec {

float ivf_quantize_pair_table(const float* query_table, const float* list_term, size_t m,
                              float scale, uint8_t* lut) {
  return detail::pqlut_kernels().quantize(query_table, list_term, m, scale, lut);
}

}  // namespace qvec

namespace qvec::detail {

void quantize_query_tables(const float* tables, size_t nq, size_t m, const float* scales,
                           uint8_t* luts, float* biases) {
  const size_t m2 = fastscan_padded_m(m);
  const auto quant = pqlut_kernels().quantize;
  parallel_for((nq + 63) / 64, [&](size_t task) {
    for (size_t q = task * 64; q < std::min(nq, (task + 1) * 64); ++q) {
      uint8_t* lut = luts + q * m2 * 16;
      biases[q] = quant(tables + q * m * 16, nullptr, m, scales[q], lut);
      std::fill(lut + m * 16, lut + m2 * 16, uint8_t(0));
    }
  });
}

void Pq4ListScan::scan(const ListGroup& group, const RangeResults& results) const {
  const size_t m = pq_.m(), m2 = fastscan_padded_m(m), size = m * 16, count = group.count;
  const size_t n = lists_.size(group.list);
  const uint8_t* packed = lists_.list_codes(group.list);
  const idx_t* ids = lists_.list_ids(group.list);
  const auto quant = pqlut_kernels().quantize;
  thread_local Scratch scratch;
  if (luts_ == nullptr) scratch.luts.resize(count * m2 * 16);
  std::vector<Pq4Query>& queries = scratch.queries;
  queries.clear();
  for (size_t i = 0; i < count; ++i) {
    const size_t q = group.queries[i];
    const IvfPairShift pair = ivf_.pair_shift(norms_[q], group.list, group.coarse[i]);
    const uint8_t* table;
    float bias;
    if (luts_ != nullptr) {  // every list shares the query's table: read in place
      table = luts_ + q * m2 * 16;
      bias = biases_[q];
    } else {
      uint8_t* lut = scratch.luts.data() + i * m2 * 16;
      bias = quant(tables_ + q * size, pair.term, m, scales_[q], lut);
      std::fill(lut + m * 16, lut + m2 * 16, uint8_t(0));
      table = lut;
    }
    queries.push_back({table, bias + pair.shift, scales_[q],
                       HeapView{results.distances + i * keep_, results.ids + i * keep_, keep_}});
  }
  const Pq4Kernels& kern = pq4_kernels();
  uint16_t* sums = scratch.sums.data();
  uint32_t* masks = scratch.masks.data();
  const size_t nblocks = (n + kFsBlock - 1) / kFsBlock;
  for (size_t cb = 0; cb < nblocks; cb += kChunkBlocks) {
    check_stop();
    const size_t nblk = std::min(kChunkBlocks, nblocks - cb);
    for (size_t g = 0; g < count; g += kFsMaxQueries) {
      const size_t gq = std::min(kFsMaxQueries, count - g);
      uint16_t limits[kFsMaxQueries];
      const uint8_t* tables[kFsMaxQueries];
      bool any = false;
      for (size_t i = 0; i < gq; ++i) {
        const long lim = queries[g + i].limit();
        limits[i] = static_cast<uint16_t>(std::max(0L, lim));
        tables[i] = queries[g + i].lut;
        any = any || lim >= 0;
      }
      if (!any) continue;
      const uint32_t hit = kern.scan(tables, gq, packed + cb * m2 * 16, nblk, m2, limits, sums,
                                     kChunkBlocks * kFsBlock, masks);
      for (size_t i = 0; i < gq; ++i)
        if ((hit >> i) & 1u)
          collect(queries[g + i], sums + i * kChunkBlocks * kFsBlock,
                  masks + i * nblk, cb, nblk, n, ids, filter_);
    }
  }
}

}  // namespace qvec::detail
