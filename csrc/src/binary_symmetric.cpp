// The symmetric binary search, codes against codes: <xhat, yhat> = sum_{l,m} alpha_l beta_m
// (dim - 2 hamming(b_l, c_m)) from the popcounts of every pair of levels, plus the exact norm
// and mean terms of both sides. The range scanner and the parallel search over it.
#include <algorithm>
#include <vector>

#include "binary_collect.h"
#include "binary_tile.h"
#include "qvec/binary.h"
#include "qvec/error.h"
#include "search_grid.h"

namespace qvec {

namespace {

using detail::kBinaryTile;

constexpr size_t kQueryBlock = 64;  // queries per grid task

}  // namespace

void BinaryQuantizer::scan_symmetric_range(const uint8_t* query_codes, const float* query_factors,
                                           size_t nq, const uint8_t* codes, const float* factors,
                                           size_t begin, size_t end, const idx_t* row_ids,
                                           size_t k, float* distances, idx_t* ids) const {
  require_trained();
  check_k(k);
  QVEC_CHECK_ARG(begin <= end, "begin must be <= end");
  QVEC_CHECK_ARG(end - begin < (size_t(1) << 32), "a range of 2^32 rows or more is not supported");
  const detail::BinaryKernels& kern = detail::binary_kernels();
  const bool l2 = metric_ == Metric::L2;
  const size_t nbytes = level_bytes(), nwords = detail::words_of(nbytes), nf = num_factors();
  double mean_norm2 = 0.0;
  for (size_t j = 0; j < dim_; ++j) mean_norm2 += double(mean_[j]) * mean_[j];
  const float fdim = static_cast<float>(dim_);
  std::vector<uint64_t> tile(bits_ * kBinaryTile * nwords), qwords(bits_ * nwords);
  std::vector<int32_t> ham(bits_ * kBinaryTile);
  std::vector<float> dot(kBinaryTile), dist(kBinaryTile);
  std::vector<uint32_t> hits(kBinaryTile);
  detail::RangeCollector<detail::FloatOrder> collector(nq, k, begin, row_ids, distances, ids);
  for (size_t t0 = begin; t0 < end; t0 += kBinaryTile) {
    const size_t count = std::min(kBinaryTile, end - t0), nblocks = detail::blocks_of(count);
    for (size_t l = 0; l < bits_; ++l)
      detail::transpose_tile(codes + t0 * code_size() + l * nbytes, code_size(), nbytes, count,
                             nwords, tile.data() + l * kBinaryTile * nwords);
    for (size_t q = 0; q < nq; ++q) {
      const int64_t bound = collector.bound(q);
      if (bound < 0) continue;
      const float* qf = query_factors + q * nf;
      for (size_t m = 0; m < bits_; ++m)
        detail::load_words(query_codes + q * code_size() + m * nbytes, nbytes, nwords,
                           qwords.data() + m * nwords);
      std::fill(dot.begin(), dot.begin() + count, 0.0f);
      for (size_t l = 0; l < bits_; ++l) {
        // ham[m * kBinaryTile + i] = hamming(query level m, vector i level l)
        kern.hamming_tile(qwords.data(), bits_, tile.data() + l * kBinaryTile * nwords, nblocks,
                          nwords, ham.data(), kBinaryTile);
        for (size_t m = 0; m < bits_; ++m) {
          const float qa = qf[kFixedFactors + m];
          const int32_t* h = ham.data() + m * kBinaryTile;
          for (size_t i = 0; i < count; ++i)
            dot[i] += factors[(t0 + i) * nf + kFixedFactors + l] * qa *
                      (fdim - 2.0f * static_cast<float>(h[i]));
        }
      }
      for (size_t i = 0; i < count; ++i) {
        const float* f = factors + (t0 + i) * nf;
        dist[i] = l2 ? f[0] + qf[0] - 2.0f * dot[i]
                     : -(dot[i] + f[1] + qf[1] + static_cast<float>(mean_norm2));
      }
      const size_t nhits = kern.filter_le_f32(dist.data(), count,
                                              detail::FloatOrder::threshold(bound), hits.data());
      for (size_t h = 0; h < nhits; ++h)
        collector.push(q, detail::float_order(dist[hits[h]]), t0 + hits[h]);
    }
  }
  collector.finish();
}

void BinaryQuantizer::search_symmetric(const uint8_t* query_codes, const float* query_factors,
                                       size_t nq, const uint8_t* codes, const float* factors,
                                       size_t n, size_t k, float* distances, idx_t* ids) const {
  require_trained();
  check_k(k);
  QVEC_CHECK_ARG(n < (size_t(1) << 32), "more than 2^32 codes are not supported");
  auto scan = [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
    scan_symmetric_range(query_codes + q0 * code_size(), query_factors + q0 * num_factors(),
                         q1 - q0, codes, factors, b0, b1, nullptr, k, heaps.distances(),
                         heaps.ids());
  };
  detail::grid_search(nq, n, k, kQueryBlock, kBinaryTile, scan, distances, ids);
  if (metric_ == Metric::IP) detail::negate(distances, nq * k);
}

}  // namespace qvec
