#pragma once
// The block scanners of the binary codecs, each over one range of rows (search/range.h) into
// the caller's per-query heaps (HeapRows), on the calling thread. The public searches
// (qvec/binary.h) run them over (query block x row range) tasks or over a caller's ranges.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "parallel.h"
#include "qvec/binary.h"
#include "qvec/error.h"
#include "search/collector.h"
#include "search/range.h"

namespace qvec::detail {

/// Queries per task of the binary searches.
constexpr size_t kBinaryQueryBlock = 64;

/// Hamming scan: nq query codes (size nq * nbytes) against rows of codes (row r at
/// codes + r * nbytes); rows.at(i) is the heap of query i, distances stored as floats.
void hamming_scan(const uint8_t* queries, size_t nq, const uint8_t* codes, size_t nbytes,
                  const RowRange& range, const HeapRows& rows);

/// Asymmetric scan of queries [q0, q1) of tables (BinaryQuantizer::prepare_queries of bq)
/// against rows of codes / factors (row r at codes + r * code_size(), factors +
/// r * num_factors()); rows.at(i) is the heap of query q0 + i, smaller-is-better distances
/// (IP similarities negated).
void rabitq_scan(const BinaryQuantizer& bq, const BinaryQueryTables& tables, size_t q0,
                 size_t q1, const uint8_t* codes, const float* factors, const RowRange& range,
                 const HeapRows& rows);

/// Symmetric scan of nq encoded queries (query_codes, query_factors as codes, factors) against
/// rows of codes / factors; rows.at(i) is the heap of query i, distances as rabitq_scan.
void symmetric_scan(const BinaryQuantizer& bq, const uint8_t* query_codes,
                    const float* query_factors, size_t nq, const uint8_t* codes,
                    const float* factors, const RowRange& range, const HeapRows& rows);

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
/// ids (size nq * k); negated back into similarities when `negate`.
inline void finish_results(const RangeResults& results, size_t nq, size_t k, bool negate,
                           float* distances, idx_t* ids) {
  parallel_for(nq, [&](size_t q) {
    HeapView heap = heap_rows(results, k).at(q);
    heap.sort();
    for (size_t j = 0; j < k; ++j) {
      distances[q * k + j] = negate ? -heap.dist[j] : heap.dist[j];
      ids[q * k + j] = heap.ids[j];
    }
  });
}

/// Runs block(q0, q1) over blocks of kBinaryQueryBlock of nq queries, in parallel.
template <class Block>
void for_query_blocks(size_t nq, Block&& block) {
  parallel_for((nq + kBinaryQueryBlock - 1) / kBinaryQueryBlock, [&](size_t b) {
    const size_t q0 = b * kBinaryQueryBlock;
    block(q0, std::min(nq, q0 + kBinaryQueryBlock));
  });
}

}  // namespace qvec::detail
