// The 4-bit block scanners (pq4_scan.h). The kernels only sum and compare to one limit per
// query; these decide which sums become candidates and hand them to the collectors: the
// quantized modes append to a SumReservoir per query, the exact mode re-scores with the float
// tables whenever the LUT error bound cannot rule a candidate out.
#include "pq4_scan.h"

#include <algorithm>
#include <vector>

#include "kernels/dispatch.h"
#include "qvec/fastscan.h"
#include "search/filter.h"
#include "search/rescore.h"
#include "stop.h"

namespace qvec::detail {
namespace {

constexpr size_t kChunkBytes = 16 * 1024;  // codes per kernel call: re-read from L1 / L2 by each query group
constexpr size_t kMaxChunkBlocks = 64;
constexpr size_t kMinReservoir = 64;  // keys a reservoir holds before a shrink

/// The kernel's outputs for one chunk of blocks and up to kFsMaxQueries queries.
struct ChunkScratch {
  size_t chunk, stride;  // blocks per chunk; sums per query
  std::vector<uint16_t> sums;
  std::vector<uint32_t> masks;
  explicit ChunkScratch(size_t m2)
      : chunk(std::max<size_t>(1, std::min(kMaxChunkBlocks, kChunkBytes / (m2 * 16)))),
        stride(chunk * kFsBlock), sums(kFsMaxQueries * stride), masks(kFsMaxQueries * chunk) {}
};

/// One kernel call: queries [q, q + count) of the batch against blocks [cb, cb + nblk).
/// Returns the kernel's bit set of queries with a candidate.
uint32_t scan_chunk(const Pq4Batch& batch, size_t q, size_t count, const uint8_t* packed,
                    size_t cb, size_t nblk, const uint16_t* limits, ChunkScratch& s) {
  const size_t m2 = fastscan_padded_m(batch.m);
  const uint8_t* tables[kFsMaxQueries];
  for (size_t i = 0; i < count; ++i) tables[i] = batch.luts->lut(q + i);
  return pq4_kernels().scan(tables, count, packed + cb * m2 * 16, nblk, m2, limits,
                            s.sums.data(), s.stride, s.masks.data());
}

/// Clears the mask bits of rows outside the range in a chunk of nblk blocks from row base_row.
void clip_masks(uint32_t* masks, size_t nblk, size_t base_row, const RowRange& range) {
  if (base_row < range.begin) masks[0] &= ~uint32_t(0) << (range.begin - base_row);
  const size_t last_row = base_row + (nblk - 1) * kFsBlock;
  if (last_row + kFsBlock > range.end)
    masks[nblk - 1] &= (uint32_t(1) << (range.end - last_row)) - 1u;
}

/// A collector's own limit: a full heap admits sums up to its worst (a tie may win by id).
long heap_limit(const HeapView& heap) {
  return heap.ids[0] < 0 ? 65535 : static_cast<long>(heap.dist[0]);
}

void group_quantized(const Pq4Batch& batch, size_t q, size_t count, SumReservoir* res,
                     const uint8_t* packed, size_t cb, size_t nblk, const RowRange& range,
                     ChunkScratch& s) {
  uint16_t limits[kFsMaxQueries];
  bool any = false;
  for (size_t i = 0; i < count; ++i) {
    limits[i] = static_cast<uint16_t>(std::max(0L, res[i].limit()));
    any = any || res[i].limit() >= 0;
  }
  if (!any) return;
  const uint32_t hit = scan_chunk(batch, q, count, packed, cb, nblk, limits, s);
  for (size_t i = 0; i < count; ++i) {
    if (!((hit >> i) & 1u) || res[i].limit() < 0) continue;
    uint32_t* masks = s.masks.data() + i * nblk;
    clip_masks(masks, nblk, cb * kFsBlock, range);
    allowed_masks(masks, nblk, cb * kFsBlock, range);
    res[i].append(s.sums.data() + i * s.stride, masks, nblk, cb * kFsBlock);
  }
}

/// Hands the reservoir's best keys to query q's collector (row i of rows).
void drain(SumReservoir& res, const Pq4Batch& batch, size_t q, const uint8_t* packed,
           const RowRange& range, const HeapRows& rows, size_t i, bool fresh) {
  const float* table = batch.tables + q * batch.m * 16;
  const size_t m2 = fastscan_padded_m(batch.m);
  HeapView heap = rows.at(i);
  if (fresh && range.ascending_ids() && !rows.payload) {
    // An empty collector takes the keys as they are: empty slots first, then the keys in
    // decreasing order, is a valid max-heap (and cheaper than keep pushes).
    res.sort_keys();
    const size_t n = res.size(), empty = batch.keep - n;
    for (size_t j = 0; j < n; ++j) {
      const uint64_t key = res.keys()[n - 1 - j];
      heap.dist[empty + j] = static_cast<float>(key >> 32);
      heap.ids[empty + j] = range.id(res.row(key));
    }
    return;
  }
  for (size_t j = 0; j < res.size(); ++j) {
    const uint64_t key = res.keys()[j];
    const float sum = static_cast<float>(key >> 32);
    const size_t row = res.row(key);
    const idx_t id = range.id(row);
    if (!heap.admits(sum, id)) continue;
    if (rows.payload)
      rows.with_payload(i).push(sum, id, pq4_adc(table, batch.m, packed, m2, row));
    else
      heap.push(sum, id);
  }
}

/// Re-scores the candidates of one query in one chunk while the bound t allows; returns t.
/// Not inlined into the chunk loop: on its own it keeps the heap and bounds in registers
/// (measured: inlined, the 4-bit exact k = 100 search was about 5% slower).
__attribute__((noinline)) long collect_exact(const uint16_t* sums, const uint32_t* masks, size_t nblk, size_t base_row,
                   long t, const float* table, LutScale scale, const Pq4Batch& batch,
                   const uint8_t* packed, RowRange range, HeapView heap) {
  // Locals, not references: heap stores could alias them and force reloads per candidate.
  const size_t m = batch.m, m2 = fastscan_padded_m(m), begin = range.begin, end = range.end;
  for (size_t b = 0; b < nblk && t >= 0; ++b)
    for (uint32_t mask = masks[b]; mask != 0; mask &= mask - 1) {
      const size_t at = b * kFsBlock + static_cast<size_t>(__builtin_ctz(mask));
      const size_t row = base_row + at;
      if (static_cast<long>(sums[at]) > t || row < begin || row >= end) continue;
      const float d = pq4_adc(table, m, packed, m2, row);
      if (d <= heap.threshold()) {
        heap.push(d, range.id(row));
        t = scale.max_sum(heap.threshold());
        if (t < 0) break;
      }
    }
  return t;
}

void group_exact(const Pq4Batch& batch, size_t q, size_t count, const HeapRows& rows,
                 size_t i0, const uint8_t* packed, size_t cb, size_t nblk,
                 const RowRange& range, ChunkScratch& s) {
  long thr[kFsMaxQueries];
  uint16_t limits[kFsMaxQueries];
  bool any = false;
  for (size_t i = 0; i < count; ++i) {
    thr[i] = batch.luts->scale(q + i).max_sum(rows.at(i0 + i).threshold());
    limits[i] = static_cast<uint16_t>(std::max(0L, thr[i]));
    any = any || thr[i] >= 0;
  }
  if (!any) return;
  const uint32_t hit = scan_chunk(batch, q, count, packed, cb, nblk, limits, s);
  for (size_t i = 0; i < count; ++i) {
    if (!((hit >> i) & 1u) || thr[i] < 0) continue;
    if (range.filter) {  // the exact collector clips rows itself; the filter needs them clipped
      clip_masks(s.masks.data() + i * nblk, nblk, cb * kFsBlock, range);
      allowed_masks(s.masks.data() + i * nblk, nblk, cb * kFsBlock, range);
    }
    collect_exact(s.sums.data() + i * s.stride, s.masks.data() + i * nblk, nblk, cb * kFsBlock,
                  thr[i], batch.tables + (q + i) * batch.m * 16, batch.luts->scale(q + i),
                  batch, packed, range, rows.at(i0 + i));
  }
}

}  // namespace

void pq4_scan_quantized(const Pq4Batch& batch, size_t q0, size_t q1, const uint8_t* packed,
                        const RowRange& range, const HeapRows& rows) {
  const size_t nq = q1 - q0, keep = batch.keep;
  const size_t cap = std::max<size_t>(2 * keep, kMinReservoir), room = cap + kMaskRows;
  std::vector<uint64_t> keys(nq * room);
  std::vector<SumReservoir> res;
  std::vector<char> fresh(nq);
  res.reserve(nq);
  for (size_t i = 0; i < nq; ++i) {
    res.emplace_back(keys.data() + i * room, keep, cap, range, heap_limit(rows.at(i)));
    fresh[i] = rows.at(i).empty();
  }
  ChunkScratch scratch(fastscan_padded_m(batch.m));
  const size_t end_block = (range.end + kFsBlock - 1) / kFsBlock;
  for (size_t cb = range.begin / kFsBlock, nblk = 0; cb < end_block; cb += nblk) {
    detail::check_stop();
    nblk = std::min(scratch.chunk, end_block - cb);
    if (skip_rows(range, std::max(range.begin, cb * kFsBlock),
                  std::min(range.end, (cb + nblk) * kFsBlock)))
      continue;
    for (size_t g = 0; g < nq; g += kFsMaxQueries)
      group_quantized(batch, q0 + g, std::min(kFsMaxQueries, nq - g), res.data() + g, packed,
                      cb, nblk, range, scratch);
  }
  for (size_t i = 0; i < nq; ++i) {
    res[i].select();
    drain(res[i], batch, q0 + i, packed, range, rows, i, fresh[i] != 0);
  }
}

void pq4_scan_exact(const Pq4Batch& batch, size_t q0, size_t q1, const uint8_t* packed,
                    const RowRange& range, const HeapRows& rows) {
  const size_t nq = q1 - q0;
  ChunkScratch scratch(fastscan_padded_m(batch.m));
  const size_t end_block = (range.end + kFsBlock - 1) / kFsBlock;
  // Chunks grow from about k codes: until the heaps fill, every sum is a candidate, so the
  // first thresholds come from few codes.
  size_t ramp = std::max<size_t>(1, (batch.keep + kFsBlock - 1) / kFsBlock);
  for (size_t cb = range.begin / kFsBlock, nblk = 0; cb < end_block; cb += nblk) {
    detail::check_stop();
    nblk = std::min(std::min(scratch.chunk, ramp), end_block - cb);
    ramp = std::min(scratch.chunk, 2 * ramp);
    if (skip_rows(range, std::max(range.begin, cb * kFsBlock),
                  std::min(range.end, (cb + nblk) * kFsBlock)))
      continue;
    for (size_t g = 0; g < nq; g += kFsMaxQueries)
      group_exact(batch, q0 + g, std::min(kFsMaxQueries, nq - g), rows, g, packed, cb, nblk,
                  range, scratch);
  }
}

}  // namespace qvec::detail
