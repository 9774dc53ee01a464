// The symmetric binary search, codes against codes: <xhat, yhat> = sum_{l,m} alpha_l beta_m
// (dim - 2 hamming(b_l, c_m)) from the popcounts of every pair of levels, plus the exact norm
// and mean terms of both sides. The block scanner over one range, the batched search and the
// range search (BinarySymmetricQueries).
#include <algorithm>
#include <vector>

#include "binary_collect.h"
#include "binary_scan.h"
#include "binary_tile.h"
#include "kernels/dispatch.h"
#include "stop.h"
#include "qvec/binary.h"
#include "qvec/error.h"
#include "search/filter.h"
#include "search/topk_merge.h"

namespace qvec {

namespace {

using detail::kBinaryTile;

/// dot[i] += sum_m beta_m alpha_l(i) (dim - 2 ham[m][i]) for level l of the tile's vectors:
/// ham: layout (bits, kBinaryTile); qf: the query's factors; tf: the tile's factors, layout
/// (count, 3 + bits).
void add_level_products(const int32_t* ham, const float* qf, const float* tf, size_t count,
                        size_t bits, size_t l, float fdim, float* dot) {
  const size_t nf = BinaryQuantizer::kFixedFactors + bits;
  for (size_t m = 0; m < bits; ++m) {
    const float qa = qf[BinaryQuantizer::kFixedFactors + m];
    const int32_t* h = ham + m * kBinaryTile;
    for (size_t i = 0; i < count; ++i)
      dot[i] += tf[i * nf + BinaryQuantizer::kFixedFactors + l] * qa *
                (fdim - 2.0f * static_cast<float>(h[i]));
  }
}

}  // namespace

void detail::symmetric_scan(const BinaryQuantizer& bq, const uint8_t* query_codes,
                            const float* query_factors, size_t nq, const BinaryRows& data,
                            const RowRange& range, const HeapRows& rows) {
  const HammingKernels& hamming = hamming_kernels();
  const FilterKernels& filter = filter_kernels();
  const bool l2 = bq.metric() == Metric::L2;
  const size_t bits = bq.bits(), nbytes = bq.level_bytes(), nwords = words_of(nbytes);
  const size_t nf = bq.num_factors(), code_size = bq.code_size();
  double mean_norm2 = 0.0;
  for (float m : bq.mean()) mean_norm2 += double(m) * m;
  const float fdim = static_cast<float>(bq.dim());
  std::vector<uint64_t> tile(bits * kBinaryTile * nwords), qwords(bits * nwords);
  std::vector<int32_t> ham(bits * kBinaryTile);
  std::vector<float> tf(kBinaryTile * nf), dot(kBinaryTile), dist(kBinaryTile);
  std::vector<uint32_t> hits(kBinaryTile);
  RangeCollector<FloatOrder> collector(nq, range, rows);
  for (size_t t0 = range.begin; t0 < range.end; t0 += kBinaryTile) {
    detail::check_stop();
    const size_t count = std::min(kBinaryTile, range.end - t0), nblocks = blocks_of(count);
    if (skip_rows(range, t0, t0 + count)) continue;
    for (size_t l = 0; l < bits; ++l)
      transpose_tile(data.codes + t0 * data.code_stride + l * nbytes, data.code_stride, nbytes,
                     count, nwords, tile.data() + l * kBinaryTile * nwords);
    data.load_factors(t0, count, nf, tf.data());
    for (size_t q = 0; q < nq; ++q) {
      const int64_t bound = collector.bound(q);
      if (bound < 0) continue;
      const float* qf = query_factors + q * nf;
      for (size_t m = 0; m < bits; ++m)
        load_words(query_codes + q * code_size + m * nbytes, nbytes, nwords,
                   qwords.data() + m * nwords);
      std::fill(dot.begin(), dot.begin() + count, 0.0f);
      for (size_t l = 0; l < bits; ++l) {
        // ham[m * kBinaryTile + i] = hamming(query level m, vector i level l)
        hamming.hamming_tile(qwords.data(), bits, tile.data() + l * kBinaryTile * nwords,
                             nblocks, nwords, ham.data(), kBinaryTile);
        add_level_products(ham.data(), qf, tf.data(), count, bits, l, fdim, dot.data());
      }
      for (size_t i = 0; i < count; ++i) {
        const float* f = tf.data() + i * nf;
        dist[i] = l2 ? f[0] + qf[0] - 2.0f * dot[i]
                     : -(dot[i] + f[1] + qf[1] + static_cast<float>(mean_norm2));
      }
      const size_t nhits = allowed_hits(
          hits.data(), filter.le_f32(dist.data(), count, FloatOrder::threshold(bound), hits.data()),
          t0, range);
      for (size_t h = 0; h < nhits; ++h)
        collector.push(q, float_order(dist[hits[h]]), t0 + hits[h]);
    }
  }
  collector.finish();
}

void BinaryQuantizer::search_symmetric(const uint8_t* query_codes, const float* query_factors,
                                       size_t nq, const uint8_t* codes, const float* factors,
                                       size_t n, size_t k, float* distances, idx_t* ids,
                                       const IdFilter* filter) const {
  require_trained();
  check_k(k);
  QVEC_CHECK_ARG(n < (size_t(1) << 32), "more than 2^32 codes are not supported");
  const detail::BinaryRows data = detail::BinaryRows::arrays(*this, codes, factors);
  auto scan = [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
    detail::symmetric_scan(*this, query_codes + q0 * code_size(),
                           query_factors + q0 * num_factors(), q1 - q0, data,
                           detail::RowRange{b0, b1, nullptr, filter}, detail::HeapRows::of(heaps, k));
  };
  detail::grid_search(nq, n, k, detail::kBinaryQueryBlock, kBinaryTile, scan, distances, ids);
  if (metric_ == Metric::IP) detail::negate(distances, nq * k);
}

BinarySymmetricQueries::BinarySymmetricQueries(const BinaryQuantizer& bq,
                                               const uint8_t* query_codes,
                                               const float* query_factors, size_t nq, size_t k)
    : BinaryRangeSearch(bq, nq, k), query_codes_(query_codes), query_factors_(query_factors) {}

void BinarySymmetricQueries::scan(size_t q0, size_t q1, const detail::BinaryRows& data,
                                  const detail::RowRange& range,
                                  const detail::HeapRows& heaps) const {
  detail::symmetric_scan(*bq_, query_codes_ + q0 * bq_->code_size(),
                         query_factors_ + q0 * bq_->num_factors(), q1 - q0, data, range, heaps);
}

}  // namespace qvec
