// Hamming distances and top-k Hamming search on packed codes: the block scanner over one range,
// the batched search over (query block x row range) tasks, and the range search.
#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "binary_collect.h"
#include "binary_scan.h"
#include "binary_tile.h"
#include "kernels/dispatch.h"
#include "stop.h"
#include "parallel.h"
#include "qvec/binary.h"
#include "qvec/error.h"
#include "search/filter.h"
#include "search/topk_merge.h"

namespace qvec {

namespace {

using detail::kBinaryTile;

constexpr size_t kQueryGroup = 16;  // queries per Hamming kernel call

void check_nbytes(size_t nbytes) {
  QVEC_CHECK_ARG(nbytes >= 1, "nbytes must be >= 1");
  // Distances go through float heaps: exact for integers below 2^24 bits.
  QVEC_CHECK_ARG(nbytes < (size_t(1) << 21), "codes longer than 2^24 bits are not supported");
}

/// Float heap distances back to Hamming distances, INT32_MAX for missing results.
void to_hamming(const float* fdist, const idx_t* ids, size_t n, int32_t* distances) {
  for (size_t i = 0; i < n; ++i)
    distances[i] =
        ids[i] < 0 ? std::numeric_limits<int32_t>::max() : static_cast<int32_t>(fdist[i]);
}

}  // namespace

void detail::hamming_scan(const uint8_t* queries, size_t nq, const uint8_t* codes, size_t nbytes,
                          const RowRange& range, const HeapRows& rows) {
  const HammingKernels& hamming = hamming_kernels();
  const FilterKernels& filter = filter_kernels();
  const size_t nwords = words_of(nbytes);
  std::vector<uint64_t> tile(kBinaryTile * nwords), qwords(nq * nwords);
  std::vector<int32_t> dist(kQueryGroup * kBinaryTile);
  std::vector<uint32_t> hits(kBinaryTile);
  RangeCollector<HammingOrder> collector(nq, range, rows);
  for (size_t q = 0; q < nq; ++q)
    load_words(queries + q * nbytes, nbytes, nwords, qwords.data() + q * nwords);
  for (size_t t0 = range.begin; t0 < range.end; t0 += kBinaryTile) {
    detail::check_stop();
    const size_t count = std::min(kBinaryTile, range.end - t0);
    if (skip_rows(range, t0, t0 + count)) continue;
    transpose_tile(codes + t0 * nbytes, nbytes, nbytes, count, nwords, tile.data());
    for (size_t g0 = 0; g0 < nq; g0 += kQueryGroup) {
      const size_t g = std::min(kQueryGroup, nq - g0);
      hamming.hamming_tile(qwords.data() + g0 * nwords, g, tile.data(), blocks_of(count), nwords,
                           dist.data(), kBinaryTile);
      for (size_t r = 0; r < g; ++r) {
        const int64_t bound = collector.bound(g0 + r);
        if (bound < 0) continue;
        const int32_t* row = dist.data() + r * kBinaryTile;
        const size_t nhits = allowed_hits(
            hits.data(), filter.le_i32(row, count, HammingOrder::threshold(bound), hits.data()),
            t0, range);
        for (size_t h = 0; h < nhits; ++h)
          collector.push(g0 + r, static_cast<uint32_t>(row[hits[h]]), t0 + hits[h]);
      }
    }
  }
  collector.finish();
}

void hamming_distances(const uint8_t* a, size_t na, const uint8_t* b, size_t nb, size_t nbytes,
                       int32_t* out) {
  QVEC_CHECK_ARG(nbytes >= 1, "nbytes must be >= 1");
  const detail::HammingKernels& hamming = detail::hamming_kernels();
  const size_t nwords = detail::words_of(nbytes);
  const size_t arows = 64, ablocks = (na + arows - 1) / arows;
  const size_t btiles = (nb + kBinaryTile - 1) / kBinaryTile;
  detail::parallel_for(ablocks * btiles, [&](size_t task) {
    size_t ab = task / btiles, bt = task % btiles;
    size_t a0 = ab * arows, a1 = std::min(na, a0 + arows);
    size_t b0 = bt * kBinaryTile, count = std::min(kBinaryTile, nb - b0);
    std::vector<uint64_t> tile(kBinaryTile * nwords), qwords((a1 - a0) * nwords);
    std::vector<int32_t> dist((a1 - a0) * kBinaryTile);
    detail::transpose_tile(b + b0 * nbytes, nbytes, nbytes, count, nwords, tile.data());
    for (size_t i = a0; i < a1; ++i)
      detail::load_words(a + i * nbytes, nbytes, nwords, qwords.data() + (i - a0) * nwords);
    hamming.hamming_tile(qwords.data(), a1 - a0, tile.data(), detail::blocks_of(count), nwords,
                         dist.data(), kBinaryTile);
    for (size_t i = a0; i < a1; ++i)
      std::copy(dist.data() + (i - a0) * kBinaryTile,
                dist.data() + (i - a0) * kBinaryTile + count, out + i * nb + b0);
  });
}

void hamming_search(const uint8_t* queries, size_t nq, const uint8_t* codes, size_t n,
                    size_t nbytes, size_t k, int32_t* distances, idx_t* ids,
                    const IdFilter* filter) {
  check_k(k);
  check_nbytes(nbytes);
  QVEC_CHECK_ARG(n < (size_t(1) << 32), "more than 2^32 codes are not supported");
  auto scan = [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
    detail::hamming_scan(queries + q0 * nbytes, q1 - q0, codes, nbytes,
                         detail::RowRange{b0, b1, nullptr, filter}, detail::HeapRows::of(heaps, k));
  };
  std::vector<float> fdist(nq * k);
  detail::grid_search(nq, n, k, detail::kBinaryQueryBlock, kBinaryTile, scan, fdist.data(), ids);
  to_hamming(fdist.data(), ids, nq * k, distances);
}

HammingQueries::HammingQueries(const uint8_t* queries, size_t nq, size_t nbytes, size_t k)
    : RangeSearch(nq, k), queries_(queries), nbytes_(nbytes) {
  check_k(k);
  check_nbytes(nbytes);
}

void HammingQueries::init(const RangeResults& results) const {
  detail::clear_results(results, nq_, k_);
}

void HammingQueries::search_range(const uint8_t* codes, size_t begin, size_t end,
                                  const idx_t* ids, const RangeResults& results,
                                  const IdFilter* filter) const {
  detail::scan_query_blocks(nq_, k_, begin, end, ids, filter, results,
                            [&](size_t q0, size_t q1, const detail::RowRange& range,
                                const detail::HeapRows& heaps) {
                              detail::hamming_scan(queries_ + q0 * nbytes_, q1 - q0, codes,
                                                   nbytes_, range, heaps);
                            });
}

void HammingQueries::finish(const RangeResults& results, float* distances, idx_t* ids) const {
  detail::finish_results(results, nq_, k_, distances, ids);
}

void HammingQueries::finish(const RangeResults& results, int32_t* distances, idx_t* ids) const {
  std::vector<float> fdist(nq_ * k_);
  finish(results, fdist.data(), ids);
  to_hamming(fdist.data(), ids, nq_ * k_, distances);
}

}  // namespace qvec
