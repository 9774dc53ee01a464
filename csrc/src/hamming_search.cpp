// Hamming distances and top-k Hamming search on packed codes: the range scanner (one thread,
// rows [begin, end)) and the parallel search that runs it over (query block x row range) tasks.
#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "binary_collect.h"
#include "binary_tile.h"
#include "parallel.h"
#include "qvec/binary.h"
#include "qvec/error.h"
#include "search_grid.h"

namespace qvec {

namespace {

using detail::kBinaryTile;

constexpr size_t kQueryGroup = 16;  // queries per Hamming kernel call
constexpr size_t kQueryBlock = 64;  // queries per grid task

void check_nbytes(size_t nbytes) {
  QVEC_CHECK_ARG(nbytes >= 1, "nbytes must be >= 1");
  // Distances go through float top-k buffers: exact for integers below 2^24 bits.
  QVEC_CHECK_ARG(nbytes < (size_t(1) << 21), "codes longer than 2^24 bits are not supported");
}

}  // namespace

void hamming_distances(const uint8_t* a, size_t na, const uint8_t* b, size_t nb, size_t nbytes,
                       int32_t* out) {
  QVEC_CHECK_ARG(nbytes >= 1, "nbytes must be >= 1");
  const detail::BinaryKernels& kern = detail::binary_kernels();
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
    kern.hamming_tile(qwords.data(), a1 - a0, tile.data(), detail::blocks_of(count), nwords,
                      dist.data(), kBinaryTile);
    for (size_t i = a0; i < a1; ++i)
      std::copy(dist.data() + (i - a0) * kBinaryTile, dist.data() + (i - a0) * kBinaryTile + count,
                out + i * nb + b0);
  });
}

void hamming_scan_range(const uint8_t* queries, size_t nq, const uint8_t* codes, size_t nbytes,
                        size_t begin, size_t end, const idx_t* row_ids, size_t k,
                        float* distances, idx_t* ids) {
  check_k(k);
  check_nbytes(nbytes);
  QVEC_CHECK_ARG(begin <= end, "begin must be <= end");
  QVEC_CHECK_ARG(end - begin < (size_t(1) << 32), "a range of 2^32 rows or more is not supported");
  const detail::BinaryKernels& kern = detail::binary_kernels();
  const size_t nwords = detail::words_of(nbytes);
  std::vector<uint64_t> tile(kBinaryTile * nwords), qwords(nq * nwords);
  std::vector<int32_t> dist(kQueryGroup * kBinaryTile);
  std::vector<uint32_t> hits(kBinaryTile);
  detail::RangeCollector<detail::HammingOrder> collector(nq, k, begin, row_ids, distances, ids);
  for (size_t q = 0; q < nq; ++q)
    detail::load_words(queries + q * nbytes, nbytes, nwords, qwords.data() + q * nwords);
  for (size_t t0 = begin; t0 < end; t0 += kBinaryTile) {
    const size_t count = std::min(kBinaryTile, end - t0);
    detail::transpose_tile(codes + t0 * nbytes, nbytes, nbytes, count, nwords, tile.data());
    for (size_t g0 = 0; g0 < nq; g0 += kQueryGroup) {
      const size_t g = std::min(kQueryGroup, nq - g0);
      kern.hamming_tile(qwords.data() + g0 * nwords, g, tile.data(), detail::blocks_of(count),
                        nwords, dist.data(), kBinaryTile);
      for (size_t r = 0; r < g; ++r) {
        const int64_t bound = collector.bound(g0 + r);
        if (bound < 0) continue;
        const int32_t* row = dist.data() + r * kBinaryTile;
        const size_t nhits =
            kern.filter_le_i32(row, count, detail::HammingOrder::threshold(bound), hits.data());
        for (size_t h = 0; h < nhits; ++h)
          collector.push(g0 + r, static_cast<uint32_t>(row[hits[h]]), t0 + hits[h]);
      }
    }
  }
  collector.finish();
}

void hamming_search(const uint8_t* queries, size_t nq, const uint8_t* codes, size_t n,
                    size_t nbytes, size_t k, int32_t* distances, idx_t* ids) {
  check_k(k);
  check_nbytes(nbytes);
  QVEC_CHECK_ARG(n < (size_t(1) << 32), "more than 2^32 codes are not supported");
  auto scan = [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
    hamming_scan_range(queries + q0 * nbytes, q1 - q0, codes, nbytes, b0, b1, nullptr, k,
                       heaps.distances(), heaps.ids());
  };
  std::vector<float> fdist(nq * k);
  detail::grid_search(nq, n, k, kQueryBlock, kBinaryTile, scan, fdist.data(), ids);
  for (size_t i = 0; i < nq * k; ++i)
    distances[i] = ids[i] < 0 ? std::numeric_limits<int32_t>::max() : static_cast<int32_t>(fdist[i]);
}

}  // namespace qvec
