// 8-bit ADC search as a composition of the stages: the caller's float tables -> LUT quantizer
// (uint8, so a block of 64 codes is scored with in-register byte lookups and 16-bit adds) ->
// block scanner over one range -> collectors -> rescorer (float ADC of every candidate the LUT
// error bound cannot rule out) -> top-k merge. The results are the exact float ADC top-k.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "parallel.h"
#include "qvec/error.h"
#include "qvec/pq.h"
#include "pq8_scan.h"
#include "search/filter.h"
#include "search/lut_quantizer.h"
#include "search/rescore.h"
#include "search/topk_merge.h"
#include "stop.h"

namespace qvec {
namespace detail {
namespace {

constexpr size_t kQueryBlock = 8;
constexpr size_t kChunkBlocks = 32;  // 2,048 codes scored per kernel call

/// The largest quantized sum of scanned query q that may still enter its collector; < 0 when
/// nothing can.
long chunk_limit(const Pq8Batch& batch, size_t q, const HeapView& heap) {
  return batch.luts->scale(batch.query(q)).max_sum(heap.threshold() - batch.shift(q));
}

/// Candidates of scanned query q among the kernel's sums of one chunk of blocks [cb, cb + nblk)
/// into its collector (thr: its chunk_limit).
void collect_chunk(const FilterKernels& filter, const Pq8Batch& batch, size_t q, HeapView heap,
                   long thr, const uint8_t* packed, size_t cb, size_t nblk,
                   const RowRange& range, const uint16_t* sums, uint32_t* candidates) {
  const size_t query = batch.query(q);
  const float shift = batch.shift(q);
  const LutScale& scale = batch.luts->scale(query);
  const size_t m = batch.m, base_row = cb * kCodeBlock;
  const size_t count = allowed_hits(
      candidates, filter.le_u16(sums, nblk * kCodeBlock, static_cast<uint16_t>(thr), candidates),
      base_row, range);
  const float* table = batch.tables + query * m * 256;
  for (size_t c = 0; c < count; ++c) {
    const size_t row = base_row + candidates[c];
    if (row < range.begin || row >= range.end || static_cast<long>(sums[candidates[c]]) > thr)
      continue;
    const float dist = pq8_adc(table, m, packed, row) + shift;
    if (dist <= heap.threshold()) {
      heap.push(dist, range.id(row));
      thr = scale.max_sum(heap.threshold() - shift);
    }
  }
}

/// Scanned queries [q, q + count) (count 1 or 2) over one chunk: those that can still take a
/// candidate share one kernel pass.
void scan_chunk(const Pq8Kernels& pq8, const FilterKernels& filter, const Pq8Batch& batch,
                size_t q, size_t count, const HeapRows& rows, size_t q0, const uint8_t* packed,
                size_t cb, size_t nblk, const RowRange& range, uint16_t* sums,
                uint32_t* candidates) {
  size_t live[2], nlive = 0;
  long thr[2];
  for (size_t i = 0; i < count; ++i) {
    const long t = chunk_limit(batch, q + i, rows.at(q + i - q0));
    if (t < 0) continue;
    thr[nlive] = t;
    live[nlive++] = q + i;
  }
  if (nlive == 0) return;
  auto lut = [&](size_t s) { return batch.luts->lut(batch.query(s)); };
  const uint8_t* block = packed + cb * batch.m * kCodeBlock;
  uint16_t* second = sums + kChunkBlocks * kCodeBlock;
  if (nlive == 2)
    pq8.scan_pair(lut(live[0]), lut(live[1]), block, nblk, batch.m, sums, second);
  else
    pq8.scan(lut(live[0]), block, nblk, batch.m, sums);
  for (size_t i = 0; i < nlive; ++i)
    collect_chunk(filter, batch, live[i], rows.at(live[i] - q0), thr[i], packed, cb, nblk, range,
                  i == 0 ? sums : second, candidates);
}

}  // namespace

void pq8_scan_range(const Pq8Batch& batch, size_t q0, size_t q1, const uint8_t* packed,
                    const RowRange& range, const HeapRows& rows) {
  const Pq8Kernels& pq8 = pq8_kernels();
  const FilterKernels& filter = filter_kernels();
  std::vector<uint16_t> sums(2 * kChunkBlocks * kCodeBlock);
  std::vector<uint32_t> candidates(kChunkBlocks * kCodeBlock);
  const size_t end_block = (range.end + kCodeBlock - 1) / kCodeBlock;
  for (size_t cb = range.begin / kCodeBlock; cb < end_block; cb += kChunkBlocks) {
    detail::check_stop();
    const size_t nblk = std::min(kChunkBlocks, end_block - cb);
    if (skip_rows(range, std::max(range.begin, cb * kCodeBlock),
                  std::min(range.end, (cb + nblk) * kCodeBlock)))
      continue;
    for (size_t q = q0; q < q1; q += 2)
      scan_chunk(pq8, filter, batch, q, std::min<size_t>(2, q1 - q), rows, q0, packed, cb, nblk,
                 range, sums.data(), candidates.data());
  }
}

}  // namespace detail

void pq8_pack(const uint8_t* codes, size_t n, size_t m, uint8_t* packed) {
  using detail::kCodeBlock;
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
  using detail::kCodeBlock;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* block = packed + (i / kCodeBlock) * m * kCodeBlock + i % kCodeBlock;
    for (size_t j = 0; j < m; ++j) codes[i * m + j] = block[j * kCodeBlock];
  }
}

void adc_search_u8(const float* tables, size_t nq, size_t m, const uint8_t* codes, size_t n,
                   size_t k, float* out_distances, idx_t* out_ids, const IdFilter* filter) {
  check_k(k);
  detail::check_lut_m(m);
  std::vector<uint8_t> packed(pq8_packed_size(n, m));
  pq8_pack(codes, n, m, packed.data());
  adc_search_u8_packed(tables, nq, m, packed.data(), n, k, out_distances, out_ids, filter);
}

void adc_search_u8_packed(const float* tables, size_t nq, size_t m, const uint8_t* packed,
                          size_t n, size_t k, float* out_distances, idx_t* out_ids,
                          const IdFilter* filter) {
  check_k(k);
  detail::check_lut_m(m);
  const detail::QueryLuts luts(tables, nq, m, 256, m, detail::kLutPadding);
  const detail::Pq8Batch batch{tables, &luts, m};
  auto scan = [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
    detail::pq8_scan_range(batch, q0, q1, packed, detail::RowRange{b0, b1, nullptr, filter},
                           detail::HeapRows::of(heaps, k));
  };
  detail::grid_search(nq, n, k, detail::kQueryBlock, detail::kCodeBlock, scan, out_distances,
                      out_ids);
}

Pq8Queries::Pq8Queries(const float* tables, size_t nq, size_t m, size_t k)
    : RangeSearch(nq, k), tables_(tables), m_(m) {
  check_k(k);
  detail::check_lut_m(m);
  luts_ = std::make_unique<detail::QueryLuts>(tables, nq, m, 256, m, detail::kLutPadding);
}

Pq8Queries::~Pq8Queries() = default;
Pq8Queries::Pq8Queries(Pq8Queries&&) noexcept = default;
Pq8Queries& Pq8Queries::operator=(Pq8Queries&&) noexcept = default;

void Pq8Queries::init(const RangeResults& results) const {
  const detail::HeapRows rows{results.distances, results.ids, nullptr, k_};
  for (size_t q = 0; q < nq_; ++q) rows.at(q).clear();
}

void Pq8Queries::search_range(const uint8_t* codes, size_t begin, size_t end, const idx_t* ids,
                              const RangeResults& results, const IdFilter* filter) const {
  QVEC_CHECK_ARG(begin <= end, "search_range needs begin <= end; got begin = " +
                                   std::to_string(begin) + ", end = " + std::to_string(end));
  const detail::Pq8Batch batch{tables_, luts_.get(), m_};
  const detail::RowRange range{begin, end, ids, filter};
  detail::parallel_for((nq_ + detail::kQueryBlock - 1) / detail::kQueryBlock, [&](size_t block) {
    const size_t q0 = block * detail::kQueryBlock, q1 = std::min(nq_, q0 + detail::kQueryBlock);
    const detail::HeapRows rows{results.distances + q0 * k_, results.ids + q0 * k_, nullptr, k_};
    if (begin < end) detail::pq8_scan_range(batch, q0, q1, codes, range, rows);
  });
}

void Pq8Queries::finish(const RangeResults& results, float* distances, idx_t* ids) const {
  const detail::HeapRows rows{results.distances, results.ids, nullptr, k_};
  detail::parallel_for((nq_ + 63) / 64, [&](size_t task) {
    for (size_t q = task * 64; q < std::min(nq_, (task + 1) * 64); ++q) {
      detail::HeapView heap = rows.at(q);
      heap.sort();
      std::copy(heap.dist, heap.dist + k_, distances + q * k_);
      std::copy(heap.ids, heap.ids + k_, ids + q * k_);
    }
  });
}

}  // namespace qvec
