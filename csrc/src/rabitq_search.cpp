// The asymmetric binary search: the block scanner over one range of codes, the batched search
// over (query block x row range) tasks, and the range search (BinaryQueries).
//
// The estimator. A query is quantized as q_r ~= lo + delta * u (rabitq_query.cpp); with
// sum = sum_j (lo + delta u_j), S_l = <b_l, u> (AND + popcount over u's bit planes) and
// <b_l, q_r> ~= lo pc(b_l) + delta S_l:
//   est <x_r, q_r> = rho sum_l alpha_l (2 <b_l, q_r> - sum)
//                  = delta sum_l W_l S_l + 2 lo beta - sum g
// with per-vector W_l = 2 rho alpha_l, beta = rho sum_l alpha_l pc(b_l), g = rho sum_l alpha_l.
// IP adds the exact <x - mean, mean> + <mean, q> (its error then scales with ||q - mean||, not
// ||q||); L2 is ||x_r||^2 + ||q_r||^2 - 2 est. The query constants c and the per-vector rows
// (W_l, beta, g, h) are the two sides of RabitqKernels::scan.
#include <algorithm>
#include <string>
#include <utility>
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

using detail::kBinaryBlock;
using detail::kBinaryTile;

/// The base side of one tile of `count` codes: the levels transposed into the blocked layout
/// (bits, nblocks, nwords, 8) and the per-vector rows of RabitqKernels::scan, layout
/// (bits + 3, nblocks * 8): W_l, beta, g, h.
struct BaseTile {
  std::vector<uint64_t> codes;
  std::vector<float> factors;
  std::vector<int32_t> ones;  // popcount(b_l), layout (bits, kBinaryTile)
  std::vector<uint64_t> zero_query;
  std::vector<float> stored;  // the vectors' stored factors, layout (kBinaryTile, 3 + bits)

  BaseTile(size_t bits, size_t nwords)
      : codes(bits * kBinaryTile * nwords),
        factors((bits + 3) * kBinaryTile),
        ones(bits * kBinaryTile),
        zero_query(nwords, 0),
        stored(kBinaryTile * (BinaryQuantizer::kFixedFactors + bits)) {}
};

/// Tile rows [t0, t0 + count) of data into t.
void load_base_tile(const detail::HammingKernels& hamming, const detail::BinaryRows& data,
                    size_t t0, size_t count, size_t bits, size_t nbytes, bool l2, BaseTile& t) {
  const size_t nwords = detail::words_of(nbytes);
  const size_t nf = BinaryQuantizer::kFixedFactors + bits;
  const size_t nblocks = detail::blocks_of(count), width = nblocks * kBinaryBlock;
  const size_t level_words = nblocks * nwords * kBinaryBlock;
  for (size_t l = 0; l < bits; ++l)
    detail::transpose_tile(data.codes + t0 * data.code_stride + l * nbytes, data.code_stride,
                           nbytes, count, nwords, t.codes.data() + l * level_words);
  std::fill(t.factors.begin(), t.factors.end(), 0.0f);
  float* beta = t.factors.data() + bits * width;
  float* g = beta + width;
  float* h = g + width;
  // popcount(b_l) of every vector: the Hamming distance of each level to a zero query.
  for (size_t l = 0; l < bits; ++l)
    hamming.hamming_tile(t.zero_query.data(), 1, t.codes.data() + l * level_words, nblocks,
                         nwords, t.ones.data() + l * kBinaryTile, kBinaryTile);
  data.load_factors(t0, count, nf, t.stored.data());
  for (size_t i = 0; i < count; ++i) {
    const float* f = t.stored.data() + i * nf;
    double alpha_sum = 0.0, alpha_pc = 0.0;
    for (size_t l = 0; l < bits; ++l) {
      const float alpha = f[BinaryQuantizer::kFixedFactors + l];
      t.factors[l * width + i] = 2.0f * f[2] * alpha;
      alpha_sum += alpha;
      alpha_pc += double(alpha) * double(t.ones[l * kBinaryTile + i]);
    }
    beta[i] = static_cast<float>(f[2] * alpha_pc);
    g[i] = static_cast<float>(f[2] * alpha_sum);
    h[i] = l2 ? f[0] : -f[1];
  }
}

}  // namespace

void detail::rabitq_scan(const BinaryQuantizer& bq, const BinaryQuerySide& queries, size_t q0,
                         size_t q1, const BinaryRows& data, const RowRange& range,
                         const HeapRows& rows) {
  const HammingKernels& hamming = hamming_kernels();
  const RabitqKernels& rabitq = rabitq_kernels();
  const size_t bits = bq.bits(), nbytes = bq.level_bytes(), nwords = queries.tables.nwords;
  const size_t qb = queries.tables.query_bits;
  BaseTile tile(bits, nwords);
  std::vector<float> dist(kBinaryTile);
  std::vector<uint32_t> hits(kBinaryTile);
  RangeCollector<FloatOrder> collector(q1 - q0, range, rows);
  for (size_t t0 = range.begin; t0 < range.end; t0 += kBinaryTile) {
    detail::check_stop();
    const size_t count = std::min(kBinaryTile, range.end - t0);
    if (skip_rows(range, t0, t0 + count)) continue;
    load_base_tile(hamming, data, t0, count, bits, nbytes, bq.metric() == Metric::L2, tile);
    for (size_t q = q0; q < q1; ++q) {
      const int64_t bound = collector.bound(q - q0);
      if (bound < 0) continue;
      size_t nhits = rabitq.scan(queries.planes(q), qb, queries.luts(q), tile.codes.data(), bits,
                                 blocks_of(count), nwords, tile.factors.data(),
                                 queries.scan_constants(q), count, FloatOrder::threshold(bound),
                                 dist.data(), hits.data());
      nhits = allowed_hits(hits.data(), nhits, t0, range);
      for (size_t j = 0; j < nhits; ++j)
        collector.push(q - q0, float_order(dist[hits[j]]), t0 + hits[j]);
    }
  }
  collector.finish();
}

void BinaryQuantizer::search(const float* queries, size_t nq, const uint8_t* codes,
                             const float* factors, size_t n, size_t k, size_t query_bits,
                             float* distances, idx_t* ids, const IdFilter* filter) const {
  require_trained();
  check_k(k);
  detail::check_query_bits(query_bits);
  QVEC_CHECK_ARG(n < (size_t(1) << 32), "more than 2^32 codes are not supported");
  const detail::BinaryRows data = detail::BinaryRows::arrays(*this, codes, factors);
  auto scan = [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
    const BinaryQueryTables tables = prepare_queries(queries + q0 * dim_, q1 - q0, query_bits);
    detail::rabitq_scan(*this, detail::BinaryQuerySide{tables}, 0, q1 - q0, data,
                        detail::RowRange{b0, b1, nullptr, filter}, detail::HeapRows::of(heaps, k));
  };
  detail::grid_search(nq, n, k, detail::kBinaryQueryBlock, kBinaryTile, scan, distances, ids);
  if (metric_ == Metric::IP) detail::negate(distances, nq * k);
}

BinaryQueries::BinaryQueries(const BinaryQuantizer& bq, const float* queries, size_t nq,
                             size_t k, size_t query_bits)
    : BinaryRangeSearch(bq, nq, k), tables_(bq.prepare_queries(queries, nq, query_bits)) {}

BinaryQueries::BinaryQueries(const BinaryQuantizer& bq, BinaryQueryTables tables, size_t k)
    : BinaryRangeSearch(bq, tables.nq, k), tables_(std::move(tables)) {}

void BinaryQueries::scan(size_t q0, size_t q1, const detail::BinaryRows& data,
                         const detail::RowRange& range, const detail::HeapRows& heaps) const {
  detail::rabitq_scan(*bq_, detail::BinaryQuerySide{tables_}, q0, q1, data, range, heaps);
}

}  // namespace qvec
