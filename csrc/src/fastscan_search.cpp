// 4-bit fast-scan searches as compositions of the stages: table build (the caller's float
// tables) -> LUT quantizer -> block scanner over one range (pq4_scan.h) -> collectors ->
// rescorer -> top-k merge. fastscan_search runs a grid of (query block x row range) tasks over
// one array; FastScanQueries runs caller-supplied ranges with id maps into persistent results.
#include <algorithm>
#include <string>
#include <vector>

#include "pq4_scan.h"
#include "qvec/error.h"
#include "qvec/fastscan.h"
#include "search/rescore.h"
#include "search/topk_merge.h"

namespace qvec {
namespace {

constexpr size_t kQueryBlock = 16;  // queries per grid task

void scan_range(const detail::Pq4Batch& batch, bool exact, size_t q0, size_t q1,
                const uint8_t* packed, const detail::RowRange& range,
                const detail::HeapRows& rows) {
  if (exact)
    detail::pq4_scan_exact(batch, q0, q1, packed, range, rows);
  else
    detail::pq4_scan_quantized(batch, q0, q1, packed, range, rows);
}

/// rescore == 0: quantized sums of k sorted results (ids -1 skipped) back to table units.
void to_table_units(const detail::LutScale& scale, size_t k, float* distances, const idx_t* ids) {
  for (size_t i = 0; i < k; ++i)
    if (ids[i] >= 0) distances[i] = scale.distance(distances[i]);
}

}  // namespace

size_t fastscan_keep(size_t k, const FastScanSearchOptions& options) {
  check_k(k);
  if (options.exact || options.rescore == 0) return k;
  if (options.rescore > kMaxK / k)
    throw std::invalid_argument("k * rescore must be <= " + std::to_string(kMaxK) + "; got k = " +
                                std::to_string(k) + ", rescore = " +
                                std::to_string(options.rescore));
  return k * options.rescore;
}

void fastscan_search(const float* tables, size_t nq, size_t m, const uint8_t* packed, size_t n,
                     size_t k, const FastScanSearchOptions& options, float* distances,
                     idx_t* ids, const IdFilter* filter) {
  const size_t keep = fastscan_keep(k, options);
  detail::check_lut_m(m);
  QVEC_CHECK_ARG(n < (size_t(1) << 32), "fast-scan search handles fewer than 2^32 vectors");
  const size_t m2 = fastscan_padded_m(m);
  const detail::QueryLuts luts(tables, nq, m, 16, m2, 0);
  const detail::Pq4Batch batch{tables, &luts, m, keep};
  auto scan = [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
    scan_range(batch, options.exact, q0, q1, packed, detail::RowRange{b0, b1, nullptr, filter},
               detail::HeapRows::of(heaps, keep));
  };
  if (options.exact || options.rescore == 0) {
    detail::grid_search(nq, n, keep, kQueryBlock, detail::kFsBlock, scan, distances, ids);
    if (!options.exact)
      for (size_t q = 0; q < nq; ++q)
        to_table_units(luts.scale(q), k, distances + q * k, ids + q * k);
    return;
  }
  // The best keep by quantized sums, then the best k of those by float ADC, from their rows.
  std::vector<float> cand_dist(nq * keep);
  std::vector<idx_t> cand_ids(nq * keep);
  detail::grid_search(nq, n, keep, kQueryBlock, detail::kFsBlock, scan, cand_dist.data(),
                      cand_ids.data());
  detail::parallel_for((nq + 63) / 64, [&](size_t task) {
    for (size_t q = task * 64; q < std::min(nq, (task + 1) * 64); ++q) {
      const idx_t* cand = cand_ids.data() + q * keep;
      detail::HeapView heap{distances + q * k, ids + q * k, k};
      heap.clear();
      detail::rescore_into(cand, keep, [&](size_t i) {
        return detail::pq4_adc(tables + q * m * 16, m, packed, m2, static_cast<size_t>(cand[i]));
      }, heap);
    }
  });
}

FastScanQueries::FastScanQueries(const float* tables, size_t nq, size_t m, size_t k,
                                 const FastScanSearchOptions& options)
    : RangeSearch(nq, k), tables_(tables), m_(m), keep_(fastscan_keep(k, options)),
      options_(options) {
  detail::check_lut_m(m);
  luts_ = std::make_unique<detail::QueryLuts>(tables, nq, m, 16, fastscan_padded_m(m), 0);
}

FastScanQueries::~FastScanQueries() = default;
FastScanQueries::FastScanQueries(FastScanQueries&&) noexcept = default;
FastScanQueries& FastScanQueries::operator=(FastScanQueries&&) noexcept = default;

void FastScanQueries::init(const RangeResults& results) const {
  QVEC_CHECK_ARG(!needs_rescored() || results.rescored != nullptr,
                 "RangeResults::rescored must hold nq * keep() floats when rescore > 0");
  const detail::HeapRows rows{results.distances, results.ids, results.rescored, keep_};
  for (size_t q = 0; q < nq_; ++q) {
    rows.at(q).clear();
    if (needs_rescored()) rows.with_payload(q).clear();
  }
}

void FastScanQueries::search_range(const uint8_t* codes, size_t begin, size_t end,
                                   const idx_t* ids, const RangeResults& results,
                                   const IdFilter* filter) const {
  QVEC_CHECK_ARG(begin <= end, "search_range needs begin <= end; got begin = " +
                                   std::to_string(begin) + ", end = " + std::to_string(end));
  QVEC_CHECK_ARG(end - begin < (size_t(1) << 32), "search_range scans fewer than 2^32 rows");
  QVEC_CHECK_ARG(!needs_rescored() || results.rescored != nullptr,
                 "RangeResults::rescored must hold nq * keep() floats when rescore > 0");
  if (begin == end) return;
  const detail::Pq4Batch batch{tables_, luts_.get(), m_, keep_};
  const detail::RowRange range{begin, end, ids, filter};
  detail::parallel_for((nq_ + kQueryBlock - 1) / kQueryBlock, [&](size_t block) {
    const size_t q0 = block * kQueryBlock, q1 = std::min(nq_, q0 + kQueryBlock);
    const size_t at = q0 * keep_;
    const detail::HeapRows rows{results.distances + at, results.ids + at,
                                needs_rescored() ? results.rescored + at : nullptr, keep_};
    scan_range(batch, options_.exact, q0, q1, codes, range, rows);
  });
}

void FastScanQueries::finish(const RangeResults& results, float* distances, idx_t* ids) const {
  detail::parallel_for((nq_ + 63) / 64, [&](size_t task) {
    for (size_t q = task * 64; q < std::min(nq_, (task + 1) * 64); ++q) {
      const detail::HeapRows rows{results.distances, results.ids, results.rescored, keep_};
      detail::HeapView state = rows.at(q), out{distances + q * k_, ids + q * k_, k_};
      if (needs_rescored()) {
        const float* rescored = rows.with_payload(q).payload;
        out.clear();
        detail::rescore_into(state.ids, keep_, [&](size_t i) { return rescored[i]; }, out);
        continue;
      }
      state.sort();
      std::copy(state.dist, state.dist + k_, out.dist);
      std::copy(state.ids, state.ids + k_, out.ids);
      if (!options_.exact) to_table_units(luts_->scale(q), k_, out.dist, out.ids);
    }
  });
}

}  // namespace qvec
