#pragma once
// The block scanners of the binary codecs, each over one range of rows (search/range.h) into
// the caller's per-query heaps (HeapRows), on the calling thread. The public searches
// (qvec/binary.h) run them over (query block x row range) tasks or over a caller's ranges.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "binary_collect.h"
#include "parallel.h"
#include "qvec/binary.h"
#include "qvec/error.h"
#include "qvec/ivf.h"
#include "search/collector.h"
#include "search/range.h"

namespace qvec::detail {

/// Queries per task of the binary searches.
constexpr size_t kBinaryQueryBlock = 64;

/// Extended codes of more than one bit: their level scales are powers of two of one scale.
inline bool geometric_scales(const BinaryQuantizer& bq) {
  return bq.form() == BinaryCodeForm::Extended && bq.bits() > 1;
}

/// Code rows and their factors as the binary scanners read them: the code of row r at
/// codes + r * code_stride, its num_factors() floats (any alignment; kFixedFactors + 1 when
/// `geometric`) at factors + r * factor_stride: the two arrays of encode(), the one array of
/// pack_rows(), or IVF list rows (ivf_binary_pack_rows); and, for
/// the pruned extended search, its sign dot (one float, null when absent) at sign_dots +
/// r * sign_stride.
struct BinaryRows {
  const uint8_t* codes;
  size_t code_stride;
  const uint8_t* factors;
  size_t factor_stride;
  const uint8_t* sign_dots = nullptr;
  size_t sign_stride = 0;
  /// Rows store kFixedFactors + 1 factors, level l's scale being alpha_0 * 2^-l (extended
  /// codes in IVF lists); load_factors() writes all num_factors().
  bool geometric = false;

  static BinaryRows arrays(const BinaryQuantizer& bq, const uint8_t* codes, const float* factors) {
    return {codes, bq.code_size(), reinterpret_cast<const uint8_t*>(factors),
            bq.num_factors() * sizeof(float)};
  }
  static BinaryRows packed(const BinaryQuantizer& bq, const uint8_t* rows) {
    return {rows, bq.row_size(), rows + bq.factor_offset(), bq.row_size()};
  }
  /// IVF list rows (ivf_binary_pack_rows): the code and its factors, for extended codes of
  /// more than one bit alpha_0 alone of the level scales, then the sign dot.
  static BinaryRows ivf(const BinaryQuantizer& bq, const uint8_t* rows) {
    const size_t stride = ivf_binary_row_bytes(bq);
    const bool geometric = geometric_scales(bq);
    const uint8_t* factors = rows + bq.factor_offset();
    const uint8_t* dots = factors + ivf_binary_row_factors(bq) * sizeof(float);
    return {rows, stride, factors, stride, geometric ? dots : nullptr, stride, geometric};
  }
  float sign_dot(size_t r) const {
    float v;
    std::memcpy(&v, sign_dots + r * sign_stride, sizeof v);
    return v;
  }
  /// The nf factors of rows [r0, r0 + count) into out, layout (count, nf).
  void load_factors(size_t r0, size_t count, size_t nf, float* out) const {
    constexpr size_t kAlpha0 = BinaryQuantizer::kFixedFactors;
    const size_t kept = geometric ? kAlpha0 + 1 : nf, bytes = kept * sizeof(float);
    if (kept == nf && factor_stride == bytes) {  // encode()'s array: one copy
      std::memcpy(out, factors + r0 * factor_stride, count * bytes);
      return;
    }
    for (size_t i = 0; i < count; ++i) {
      float* f = out + i * nf;
      // A copy of constant size is inlined; one of `bytes` was a memmove call per row, 10%
      // of a 1M IVF RaBitQ4 search.
      if (geometric)
        std::memcpy(f, factors + (r0 + i) * factor_stride, (kAlpha0 + 1) * sizeof(float));
      else
        std::memcpy(f, factors + (r0 + i) * factor_stride, bytes);
      // encode wrote alpha_l = float(scale * 2^(bits - 2 - l)); alpha_0 times the exact
      // power 2^-l, rounded once, is that value except where alpha_l is subnormal (a vector of
      // norm below ~1e-36), and the same bits as std::ldexp(alpha_0, -l), whose libm call per
      // row and level was 13% of a 1M IVF RaBitQ4 search.
      float step = 1.0f;
      for (size_t l = 1; geometric && kAlpha0 + l < nf; ++l) {
        step *= 0.5f;
        f[kAlpha0 + l] = f[kAlpha0] * step;
      }
    }
  }
};

/// Hamming scan: nq query codes (size nq * nbytes) against rows of codes (row r at
/// codes + r * nbytes); rows.at(i) is the heap of query i, distances stored as floats.
void hamming_scan(const uint8_t* queries, size_t nq, const uint8_t* codes, size_t nbytes,
                  const RowRange& range, const HeapRows& rows);

/// The queries an asymmetric scan reads: query i is row rows[i] of tables (row i when rows is
/// null), with the 4 scan constants constants + 4 i in place of its own where constants is
/// not null (an IVF pair's shifted ones). Rows are read where they lie: an IVF list group
/// selects its queries without copying their planes and nibble tables (1.5 KiB a query at
/// d = 384, copied for every probed list).
struct BinaryQuerySide {
  const BinaryQueryTables& tables;
  const size_t* rows = nullptr;
  const float* constants = nullptr;

  size_t row(size_t i) const { return rows ? rows[i] : i; }
  const uint64_t* planes(size_t i) const {
    return tables.planes.data() + row(i) * tables.query_bits * tables.nwords;
  }
  const uint8_t* luts(size_t i) const {
    return tables.luts.data() + row(i) * ((tables.query_bits + 3) / 4) * tables.nwords * 256;
  }
  const float* scan_constants(size_t i) const {
    return constants ? constants + 4 * i : tables.constants.data() + 4 * row(i);
  }
};

/// Asymmetric scan of queries [q0, q1) of `queries` (tables from
/// BinaryQuantizer::prepare_queries of bq) against `data`; rows.at(i) is the heap of query
/// q0 + i, smaller-is-better distances (IP similarities negated).
void rabitq_scan(const BinaryQuantizer& bq, const BinaryQuerySide& queries, size_t q0,
                 size_t q1, const BinaryRows& data, const RowRange& range, const HeapRows& rows);

/// Symmetric scan of nq encoded queries (query_codes: size nq * code_size(), query_factors:
/// size nq * num_factors()) against `data`; rows.at(i) is the heap of query i, distances as
/// rabitq_scan.
void symmetric_scan(const BinaryQuantizer& bq, const uint8_t* query_codes,
                    const float* query_factors, size_t nq, const BinaryRows& data,
                    const RowRange& range, const HeapRows& rows);

/// -<mean, q> of each of nq queries (size nq * dim): the IP distance term of the query
/// tables (rabitq_query.cpp).
std::vector<float> ip_query_base(const BinaryQuantizer& bq, const float* queries, size_t nq);

/// Rows `rows` (size count) of t, in that order, each query's distances shifted by shifts[i]
/// (null: none; the constant c[3] the scan adds).
BinaryQueryTables select_table_rows(const BinaryQueryTables& t, const size_t* rows, size_t count,
                                    const float* shifts);

/// Throws std::invalid_argument unless 1 <= query_bits <= BinaryQuantizer::kMaxQueryBits.
inline void check_query_bits(size_t query_bits) {
  QVEC_CHECK_ARG(query_bits >= 1 && query_bits <= BinaryQuantizer::kMaxQueryBits,
                 "query_bits must be in [1, " + std::to_string(BinaryQuantizer::kMaxQueryBits) +
                     "]; got " + std::to_string(query_bits));
}

/// results' heaps of queries with k entries each, as HeapRows.
inline HeapRows heap_rows(const RangeResults& results, size_t k) {
  return {results.distances, results.ids, nullptr, k};
}

/// The init() of the binary range searches: every heap of nq queries clear()ed.
inline void clear_results(const RangeResults& results, size_t nq, size_t k) {
  for (size_t q = 0; q < nq; ++q) heap_rows(results, k).at(q).clear();
}

/// The finish() of the binary range searches: each heap sorted best first into distances,
/// ids (size nq * k).
inline void finish_results(const RangeResults& results, size_t nq, size_t k,
                           float* distances, idx_t* ids) {
  parallel_for(nq, [&](size_t q) {
    HeapView heap = heap_rows(results, k).at(q);
    heap.sort();
    for (size_t j = 0; j < k; ++j) {
      distances[q * k + j] = heap.dist[j];
      ids[q * k + j] = heap.ids[j];
    }
  });
}

/// The search_range() of the binary range searches: checks the range, then runs
/// scan(q0, q1, range, heaps) (the range carrying ids and filter) over blocks of kBinaryQueryBlock of the nq queries in parallel,
/// heaps.at(i) being query q0 + i's results.
template <class Scan>
void scan_query_blocks(size_t nq, size_t k, size_t begin, size_t end, const idx_t* ids,
                       const IdFilter* filter, const RangeResults& results, Scan&& scan) {
  check_binary_range(begin, end);
  if (begin == end) return;
  const RowRange range{begin, end, ids, filter};
  parallel_for((nq + kBinaryQueryBlock - 1) / kBinaryQueryBlock, [&](size_t b) {
    const size_t q0 = b * kBinaryQueryBlock, q1 = std::min(nq, q0 + kBinaryQueryBlock);
    scan(q0, q1, range, HeapRows{results.distances + q0 * k, results.ids + q0 * k, nullptr, k});
  });
}

}  // namespace qvec::detail
