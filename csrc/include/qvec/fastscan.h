#pragma once
// 4-bit fast-scan product-quantization search. Codes of 16-centroid subquantizers are
// rearranged once into blocks of 32 vectors ("fast-scan blocks") so that whole 16-entry lookup
// tables live in SIMD registers and a byte shuffle looks up 32 (AVX2) or 64 (AVX-512) codes.
// Per query, the float tables are quantized to uint8 (a per-query bias and scale), summed in
// 16-bit lanes, and the top-k is kept with a threshold that skips most candidates.
// fastscan_search scans one array; FastScanQueries scans caller-chosen ranges with id maps
// (inverted lists, shards) into persistent per-query results (the RangeSearch contract).
//
// Nibble codes (the input of fastscan_pack, the output of a 4-bit ProductQuantizer::encode):
// size n * ceil(m / 2), layout (n, ceil(m / 2)); the code of subquantizer j of vector i is
// (codes[i * ceil(m/2) + j / 2] >> (4 * (j % 2))) & 15, i.e. even j in the low nibble; for odd
// m the last high nibble is 0.
//
// Fast-scan layout: m2 = m rounded up to even (a padded subquantizer has code 0 and a zero
// table); nblocks = ceil(n / 32); size nblocks * m2 * 16 bytes. Block b, subquantizer j is the
// 16 bytes at (b * m2 + j) * 16; byte t holds vector 32 b + t in its low nibble and vector
// 32 b + 16 + t in its high nibble. Vectors past n are zero.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "qvec/common.h"
#include "qvec/topk.h"

namespace qvec {

/// Most subquantizers a search with quantized (uint8) tables accepts, 4-bit and 8-bit alike:
/// every sum of m table entries must fit the scanners' 16-bit accumulators with at least one
/// quantization step to spare per subquantizer (65535 - m >= 1).
constexpr size_t kMaxScanM = 65534;

/// Subquantizers in the fast-scan layout: m rounded up to even.
inline size_t fastscan_padded_m(size_t m) { return (m + 1) & ~size_t(1); }
/// Bytes of the fast-scan layout of n vectors with m subquantizers.
inline size_t fastscan_packed_size(size_t n, size_t m) {
  return (n + 31) / 32 * fastscan_padded_m(m) * 16;
}

/// codes: nibble codes, size n * ceil(m/2); packed: size fastscan_packed_size(n, m), written.
void fastscan_pack(const uint8_t* codes, size_t n, size_t m, uint8_t* packed);
/// The inverse: packed (fast-scan layout of n vectors) -> codes, size n * ceil(m/2), written.
void fastscan_unpack(const uint8_t* packed, size_t n, size_t m, uint8_t* codes);

/// Quantizes float tables to the uint8 tables the scan uses:
///   tables[q, j, c] ~= low_j + luts[q, j, c] / scale[q], bias[q] = sum_j low_j,
/// each entry off by at most half a step (1 / (2 scale)), and every sum of m entries < 2^16.
/// tables: size nq * m * 16, layout (nq, m, 16), smaller is better;
/// luts: size nq * m2 * 16, layout (nq, m2, 16) (padded rows zero); bias, scale: size nq.
void fastscan_quantize_tables(const float* tables, size_t nq, size_t m, uint8_t* luts,
                              float* bias, float* scale);

/// Raw 16-bit sums of the quantized tables: sums[q * n + i] = sum_j luts[q, j, code(i, j)]
/// (mod 2^16). luts: size nq * m2 * 16; packed: fast-scan layout of n vectors;
/// sums: size nq * n, layout (nq, n), written.
void fastscan_scan_sums(const uint8_t* luts, size_t nq, size_t m, const uint8_t* packed,
                        size_t n, uint16_t* sums);

struct FastScanSearchOptions {
  /// 0: rank by the quantized tables (distances are bias + sum / scale).
  /// r >= 1: keep the best k * r by the quantized tables, then re-score them with the float
  /// tables and return the best k by float ADC.
  size_t rescore = 0;
  /// True: the exact float ADC top-k (a candidate is re-scored whenever the quantization error
  /// bound, m / 2 steps plus the float rounding of the sums, says it could still enter the
  /// top-k); rescore is then ignored.
  bool exact = false;
};

/// Candidates each query keeps while scanning: k (exact, or rescore == 0) or k * rescore.
/// Throws std::invalid_argument unless 1 <= k <= kMaxK and k * rescore <= kMaxK.
size_t fastscan_keep(size_t k, const FastScanSearchOptions& options);

/// Top-k search of fast-scan codes with per-query float tables.
/// tables: size nq * m * 16, layout (nq, m, 16), smaller is better; packed: fast-scan layout
/// of n vectors (n < 2^32); distances, ids: size nq * k, layout (nq, k), smallest first, in
/// the tables' units; ties to the smaller id; k > n pads with id -1 and +inf.
/// Throws std::invalid_argument unless 1 <= k <= kMaxK, k * rescore <= kMaxK and
/// 1 <= m <= kMaxScanM. filter: null, or the ids (= rows) that may be returned
/// (qvec/id_filter.h), tested before a candidate enters any collector (also in the
/// quantized and re-score modes).
void fastscan_search(const float* tables, size_t nq, size_t m, const uint8_t* packed, size_t n,
                     size_t k, const FastScanSearchOptions& options, float* distances,
                     idx_t* ids, const IdFilter* filter = nullptr);

namespace detail {
class QueryLuts;
}

/// A batch of queries prepared for searching fast-scan codes range by range (the RangeSearch
/// contract, qvec/topk.h): the tables are quantized once; `codes` of search_range is a
/// fast-scan array (end - begin < 2^32); finish() gives the same ids and distances as
/// fastscan_search with the same options (quantized sums converted back when rescore == 0).
class FastScanQueries final : public RangeSearch {
 public:
  /// tables: size nq * m * 16, layout (nq, m, 16), smaller is better; referenced, not copied:
  /// it must outlive this object. Throws std::invalid_argument unless 1 <= k <= kMaxK,
  /// k * rescore <= kMaxK and 1 <= m <= kMaxScanM.
  FastScanQueries(const float* tables, size_t nq, size_t m, size_t k,
                  const FastScanSearchOptions& options);
  ~FastScanQueries() override;
  FastScanQueries(FastScanQueries&&) noexcept;
  FastScanQueries& operator=(FastScanQueries&&) noexcept;

  size_t m() const { return m_; }
  /// fastscan_keep(k, options).
  size_t keep() const override { return keep_; }
  /// options.rescore > 0 and not exact.
  bool needs_rescored() const override { return options_.rescore > 0 && !options_.exact; }
  void init(const RangeResults& results) const override;
  void search_range(const uint8_t* codes, size_t begin, size_t end, const idx_t* ids,
                    const RangeResults& results,
                    const IdFilter* filter = nullptr) const override;
  void finish(const RangeResults& results, float* distances, idx_t* ids) const override;

 private:
  const float* tables_;
  size_t m_, keep_;
  FastScanSearchOptions options_;
  std::unique_ptr<detail::QueryLuts> luts_;
};

}  // namespace qvec
