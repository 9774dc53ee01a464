#pragma once
// Product quantization: a vector of dimension dim is cut into m subvectors of dsub = dim / m
// values; each subvector is replaced by the index of its nearest centroid in that subspace's
// codebook of ksub = 2^nbits centroids, nbits 1..8. Codes are bit-packed as faiss packs them:
// code j of a vector holds bits [j nbits, (j + 1) nbits) of its code_size() bytes read as one
// little-endian bit string, so nbits = 8 is one byte per subquantizer and nbits = 4 two per
// byte, the even one in the low nibble (see qvec/fastscan.h). Codes of nbits <= 4 are searched
// with the 4-bit fast-scan kernels, wider ones with the 8-bit kernels (pq_scan_bits).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "qvec/common.h"
#include "qvec/fastscan.h"
#include "qvec/topk.h"

namespace qvec {

struct PQTrainOptions {
  size_t iters = 25;
  uint64_t seed = 0;
  /// Training points used at most (a seeded sample); 0 means 256 * ksub, as FAISS does.
  size_t max_train = 0;
  /// Start each subspace's k-means from the current codebooks (the quantizer must be
  /// trained): alternating optimisations (OPQ) refine instead of restarting.
  bool warm_start = false;
  /// Called on the calling thread after each subspace: (subspaces done, m).
  std::function<void(size_t, size_t)> progress;
};

/// Bytes per vector of m codes of nbits bits: ceil(m nbits / 8).
inline size_t pq_code_size(size_t m, size_t nbits) { return (m * nbits + 7) / 8; }
/// The code width the search kernels scan codes of nbits bits at: 4 (fast-scan) for
/// nbits <= 4, else 8. Narrower codes are widened (pq_widen_codes) and their tables padded.
inline size_t pq_scan_bits(size_t nbits) { return nbits <= 4 ? 4 : 8; }
/// codes: size n * pq_code_size(m, nbits), 1 <= nbits <= 8; wide: size
/// n * pq_code_size(m, pq_scan_bits(nbits)), written with the same codes at the scan width.
void pq_widen_codes(const uint8_t* codes, size_t n, size_t m, size_t nbits, uint8_t* wide);
/// The inverse of pq_widen_codes: wide as written there; codes: written.
void pq_narrow_codes(const uint8_t* wide, size_t n, size_t m, size_t nbits, uint8_t* codes);

class ProductQuantizer {
 public:
  /// Throws std::invalid_argument unless dim > 0, 1 <= m <= kMaxScanM (qvec/fastscan.h: the
  /// searches sum m uint8 table entries in 16 bits), m divides dim and 1 <= nbits <= 8.
  ProductQuantizer(size_t dim, size_t m, size_t nbits, Metric metric);

  size_t dim() const { return dim_; }
  size_t m() const { return m_; }
  size_t nbits() const { return nbits_; }
  size_t ksub() const { return ksub_; }
  size_t dsub() const { return dsub_; }
  Metric metric() const { return metric_; }
  /// Bytes per encoded vector: ceil(m nbits / 8) (m for nbits = 8, ceil(m / 2) for 4).
  size_t code_size() const { return pq_code_size(m_, nbits_); }
  /// Centroid slots per subspace in the packed layouts: ksub rounded up to a multiple of 16.
  size_t pack_ksub() const { return (ksub_ + 15) / 16 * 16; }
  bool is_trained() const { return trained_; }

  /// x: size n * dim, layout (n, dim). Requires n >= ksub. Throws std::invalid_argument for
  /// values whose squared distances overflow float32 (as encode, compute_tables and search do).
  void train(const float* x, size_t n, const PQTrainOptions& options);

  /// Codebooks: size m * ksub * dsub, layout (m, ksub, dsub).
  const std::vector<float>& centroids() const { return centroids_; }
  /// centroids: size m * ksub * dsub, layout (m, ksub, dsub); marks the quantizer trained.
  /// Throws std::invalid_argument (quantizer unchanged) for NaN, inf or values too large.
  void set_centroids(const float* centroids);

  /// x: size n * dim; codes: size n * code_size(), layout (n, code_size()). Each subvector
  /// gets its nearest centroid, exact to float32 rounding wherever the data sits.
  void encode(const float* x, size_t n, uint8_t* codes) const;
  /// codes: size n * code_size(); x: size n * dim, written.
  void decode(const uint8_t* codes, size_t n, float* x) const;

  /// Per-query lookup tables, smaller-is-better: L2 gives ||q_j - c||^2, IP gives -<q_j, c>.
  /// queries: size nq * dim; tables: size nq * m * ksub, layout (nq, m, ksub). Throws
  /// std::invalid_argument unless every sum of m table entries is finite in float32.
  void compute_tables(const float* queries, size_t nq, float* tables) const;

  /// Every search below throws std::invalid_argument unless 1 <= k <= kMaxK (and, for
  /// nbits <= 4 with rescore > 0, k * rescore <= kMaxK), before allocating anything.
  /// For searches range by range (inverted lists, shards), build the tables with
  /// compute_tables and use Pq8Queries (nbits = 8) or FastScanQueries (nbits = 4); negate the
  /// distances for Metric::IP as search does.

  /// Asymmetric search: float queries against codes.
  /// nbits 5..8: the exact ADC top-k (the quantized tables used for speed are followed by an
  /// exact float re-score with a proven error bound); `fastscan` is ignored.
  /// nbits 1..4: the codes are packed to the fast-scan layout and searched with search_packed.
  /// Either way the codes are first rearranged (widened to pq_scan_bits, then packed).
  /// queries: size nq * dim; codes: size n * code_size(); distances, ids: size nq * k.
  /// L2 distances ascending; IP similarities descending; padding as exact_search.
  /// filter (here and in every search below): null, or the ids (= rows) that may be returned
  /// (qvec/id_filter.h); fewer than k allowed ids pad as exact_search.
  void search(const float* queries, size_t nq, const uint8_t* codes, size_t n, size_t k,
              float* distances, idx_t* ids, const FastScanSearchOptions& fastscan = {},
              const IdFilter* filter = nullptr) const;

  /// Searches codes already in the scan layout of this quantizer's pq_scan_bits (codes of other
  /// widths widened first with pq_widen_codes): for 8 the layout of pq8_pack (size
  /// pq8_packed_size(n, m); exact ADC top-k, options ignored); for 4 the fast-scan layout
  /// (see fastscan_pack, size fastscan_packed_size(n, m)), with
  /// the quantized tables (options.rescore == 0), re-scored candidates, or exact ADC (see
  /// FastScanSearchOptions). Other arguments as search.
  void search_packed(const float* queries, size_t nq, const uint8_t* packed, size_t n, size_t k,
                     const FastScanSearchOptions& options, float* distances, idx_t* ids,
                     const IdFilter* filter = nullptr) const;

  /// Symmetric search: query codes against codes, through centroid-to-centroid distances
  /// (exact, for both nbits).
  /// query_codes: size nq * code_size(); other arguments as search().
  void search_sdc(const uint8_t* query_codes, size_t nq, const uint8_t* codes, size_t n,
                  size_t k, float* distances, idx_t* ids,
                  const IdFilter* filter = nullptr) const;

  /// Centroids of subspace j minus their mean subspace_mean(j) (size dsub), packed for the
  /// kernels: size pack_ksub * dsub, layout (pack_ksub / 16, dsub, 16), slots past ksub zero;
  /// and their squared norms: size pack_ksub, +inf past ksub (so padding never is nearest).
  const float* packed_centroids(size_t j) const {
    return packed_.data() + j * pack_ksub() * dsub_;
  }
  const float* centroid_norms(size_t j) const { return norms_.data() + j * pack_ksub(); }
  const float* subspace_mean(size_t j) const { return means_.data() + j * dsub_; }

 private:
  void require_trained() const;
  void repack();

  size_t dim_, m_, nbits_, ksub_, dsub_;
  Metric metric_;
  bool trained_ = false;
  std::vector<float> centroids_;
  std::vector<float> packed_;
  std::vector<float> norms_;
  std::vector<float> means_;      // (m, dsub): the mean of each subspace's codebook
  std::vector<float> packed_ip_;  // IP only: the codebooks packed as they are, for the tables
  // Per subspace, the largest squared centroid norm the tables' finiteness bound takes
  // (centred for L2, as they are for IP): fixed by the codebooks, so not re-derived per call.
  std::vector<float> widest_;
};

/// 8-bit scan layout, built once so repeated searches skip the transposition: vectors in
/// blocks of 64; block b, subquantizer j is the 64 bytes at (b * m + j) * 64, byte v holding the
/// code of vector 64 b + v. Vectors past n are zero. Size pq8_packed_size(n, m).
inline size_t pq8_packed_size(size_t n, size_t m) { return (n + 63) / 64 * m * 64; }
/// codes: size n * m, layout (n, m); packed: size pq8_packed_size(n, m), written.
void pq8_pack(const uint8_t* codes, size_t n, size_t m, uint8_t* packed);
/// The inverse: codes: size n * m, written.
void pq8_unpack(const uint8_t* packed, size_t n, size_t m, uint8_t* codes);

/// adc_search_u8 on codes already in the 8-bit scan layout (packed: pq8_packed_size(n, m)).
/// Throws std::invalid_argument unless 1 <= k <= kMaxK and 1 <= m <= kMaxScanM.
/// filter: null, or the ids (= rows) that may be returned (qvec/id_filter.h).
void adc_search_u8_packed(const float* tables, size_t nq, size_t m, const uint8_t* packed,
                          size_t n, size_t k, float* out_distances, idx_t* out_ids,
                          const IdFilter* filter = nullptr);

/// The LUT quantizer every quantized-table search runs on its float tables, for the level
/// tests: table (m rows of ksub floats, ksub 16 or 256, 1 <= m <= kMaxScanM, finite) -> lut
/// (m * ksub bytes, written); returns {bias, scale, slack} (search/lut_quantizer.h).
struct TableQuantization {
  float bias, scale, slack;
};
TableQuantization quantize_table(const float* table, size_t m, size_t ksub, uint8_t* lut);

/// Exact ADC top-k of row-major 8-bit codes with caller-supplied float tables (packs the codes,
/// then adc_search_u8_packed).
/// tables: size nq * m * 256 (smaller is better); codes: size n * m, layout (n, m);
/// out_distances, out_ids: size nq * k, smallest-first (tables' own units, not negated).
void adc_search_u8(const float* tables, size_t nq, size_t m, const uint8_t* codes, size_t n,
                   size_t k, float* out_distances, idx_t* out_ids,
                   const IdFilter* filter = nullptr);

/// A batch of queries prepared for 8-bit ADC search range by range (the RangeSearch contract,
/// qvec/topk.h): the tables are quantized once; `codes` of search_range is in the 8-bit scan
/// layout (pq8_pack); finish() gives the exact float ADC top-k, the same ids and distances as
/// adc_search_u8_packed. keep() is k; RangeResults::rescored is not used.
class Pq8Queries final : public RangeSearch {
 public:
  /// tables: size nq * m * 256, layout (nq, m, 256), smaller is better; referenced, not
  /// copied: it must outlive this object. Throws std::invalid_argument unless
  /// 1 <= k <= kMaxK and 1 <= m <= kMaxScanM.
  Pq8Queries(const float* tables, size_t nq, size_t m, size_t k);
  ~Pq8Queries() override;
  Pq8Queries(Pq8Queries&&) noexcept;
  Pq8Queries& operator=(Pq8Queries&&) noexcept;

  size_t m() const { return m_; }
  size_t keep() const override { return k_; }
  void init(const RangeResults& results) const override;
  void search_range(const uint8_t* codes, size_t begin, size_t end, const idx_t* ids,
                    const RangeResults& results,
                    const IdFilter* filter = nullptr) const override;
  void finish(const RangeResults& results, float* distances, idx_t* ids) const override;

 private:
  const float* tables_;
  size_t m_;
  std::unique_ptr<detail::QueryLuts> luts_;
};

}  // namespace qvec
