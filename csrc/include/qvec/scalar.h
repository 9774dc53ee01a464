#pragma once
// Int8 scalar quantization, in sentence-transformers' convention (quantize_embeddings(...,
// precision="int8", ranges=...)): each dimension j has a calibration range [lo_j, hi_j] (the
// (2, dim) `ranges` array, row 0 the minima, row 1 the maxima) cut into 255 steps,
//   step_j = (hi_j - lo_j) / 255 in float32, or 1 where that is 0,
//   code_j = clip(floor((x_j - lo_j) / step_j), 0, 255) - 128          (int8),
//   decode: x_j = lo_j + (code_j + 128) * step_j                         (sentence-transformers'
//           _dequantize_embeddings, in double, rounded to float32).
// Codes from sentence-transformers with the same ranges are the codes encode() writes, byte for
// byte, and decode / search the same way.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "qvec/common.h"
#include "qvec/topk.h"

namespace qvec {

/// Largest dimension: int8 dot products of that many terms stay exact in int32.
constexpr size_t kSq8MaxDim = size_t(1) << 16;

/// Vectors per block of the sq8 scan layout.
constexpr size_t kSq8ScanBlock = 16;

/// Bytes of one block of the sq8 scan layout of dimension dim: 64 bytes of header (16 float32,
/// the squared norms of the block's decoded vectors when the quantizer packed them, else 0),
/// then the codes of 16 vectors in groups of 4 dimensions: byte 64 + g * 64 + v * 4 + t is
/// dimension 4 g + t of vector v (zero past dim and past the last vector).
inline size_t sq8_block_bytes(size_t dim) { return 64 + (dim + 3) / 4 * 64; }
/// Size of the sq8 scan layout of n vectors.
inline size_t sq8_packed_size(size_t n, size_t dim) {
  return (n + kSq8ScanBlock - 1) / kSq8ScanBlock * sq8_block_bytes(dim);
}

/// codes: size n * dim, layout (n, dim); packed: size sq8_packed_size(n, dim), written with
/// zero headers (enough for search_symmetric_packed; ScalarQuantizer::pack fills the norms).
/// Throws std::invalid_argument unless 1 <= dim <= kSq8MaxDim.
void sq8_pack(const int8_t* codes, size_t n, size_t dim, uint8_t* packed);
/// The inverse: codes: size n * dim, written.
void sq8_unpack(const uint8_t* packed, size_t n, size_t dim, int8_t* codes);

/// Symmetric search on the codes as integer vectors (as usearch's "i8" metric and
/// sentence-transformers' int8 search score them): IP ranks by the exact int32 dot product of
/// the codes (distances are the negated dot products, smaller is better), L2 by the exact
/// squared distance of the codes. query_codes: size nq * dim; codes: size n * dim;
/// out_distances, out_ids: size nq * k, best first, in the units above (not negated); padding
/// id -1 and +inf. Throws std::invalid_argument unless 1 <= k <= kMaxK and
/// 1 <= dim <= kSq8MaxDim.
void sq8_search_symmetric(const int8_t* query_codes, size_t nq, const int8_t* codes, size_t n,
                          size_t dim, Metric metric, size_t k, float* out_distances,
                          idx_t* out_ids);

class ScalarQuantizer {
 public:
  /// Throws std::invalid_argument unless 1 <= dim <= kSq8MaxDim.
  ScalarQuantizer(size_t dim, Metric metric);

  size_t dim() const { return dim_; }
  Metric metric() const { return metric_; }
  /// Bytes per code: one int8 per dimension.
  size_t code_size() const { return dim_; }
  bool is_trained() const { return trained_; }

  /// ranges: size 2 * dim, layout (2, dim): minima, then maxima. Marks the quantizer trained.
  /// Throws std::invalid_argument (quantizer unchanged) for non-finite values, a maximum below
  /// its minimum, or a step whose codes would not decode to finite floats.
  void set_ranges(const float* ranges);
  /// Ranges: size 2 * dim, layout (2, dim); empty until trained.
  const std::vector<float>& ranges() const { return ranges_; }
  /// Steps: size dim (see the header comment).
  const std::vector<float>& steps() const { return steps_; }
  /// The per-dimension minimum and maximum of x (size n * dim, n >= 1), as set_ranges.
  void train_minmax(const float* x, size_t n);

  /// x: size n * dim; codes: size n * dim, layout (n, dim). Throws std::invalid_argument for
  /// NaN or inf in x.
  void encode(const float* x, size_t n, int8_t* codes) const;
  /// codes: size n * dim; x: size n * dim, written.
  void decode(const int8_t* codes, size_t n, float* x) const;
  /// codes: size n * dim; packed: size sq8_packed_size(n, dim), the scan layout with each
  /// block's header holding the squared norms of its decoded vectors (what L2 search reads).
  void pack(const int8_t* codes, size_t n, uint8_t* packed) const;

  /// Asymmetric search: float queries against the decoded codes, exact to float32 rounding
  /// (L2: squared distances ascending; IP: inner products descending). queries: size
  /// nq * dim; codes: size n * dim; distances, ids: size nq * k, padding id -1 and +inf (L2)
  /// or -inf (IP). Throws std::invalid_argument unless trained and 1 <= k <= kMaxK, and for
  /// NaN or inf in the queries.
  void search(const float* queries, size_t nq, const int8_t* codes, size_t n, size_t k,
              float* distances, idx_t* ids) const;
  /// Rescoring of a shortlist: for each query, the best k of its candidate rows scored as
  /// search() scores them (float query against the decoded code, by the dense kernels).
  /// candidates: size nq * ncand, layout (nq, ncand), rows of codes or -1 (skipped), else
  /// std::out_of_range; codes: size n * dim; distances, ids: size nq * k, best first (L2
  /// ascending, IP descending), ties to the smaller row, padding id -1 and +inf (L2) or -inf
  /// (IP). Throws std::invalid_argument unless trained and 1 <= k <= kMaxK.
  void rescore(const float* queries, size_t nq, const idx_t* candidates, size_t ncand,
               const int8_t* codes, size_t n, size_t k, float* distances, idx_t* ids) const;
  /// search on codes already in the scan layout of pack() (size sq8_packed_size(n, dim)).
  void search_packed(const float* queries, size_t nq, const uint8_t* packed, size_t n, size_t k,
                     float* distances, idx_t* ids) const;

 private:
  void require_trained() const;

  size_t dim_;
  Metric metric_;
  bool trained_ = false;
  std::vector<float> ranges_;  // (2, dim)
  std::vector<float> steps_;   // dim
};

/// A batch of float queries prepared for asymmetric search range by range (the RangeSearch
/// contract, qvec/topk.h), e.g. as the codec of an inverted list: `codes` of search_range is
/// the scan layout of ScalarQuantizer::pack (size sq8_packed_size(end, dim) at least).
/// Distances are smaller-is-better (IP: negated inner products; finish() writes them so);
/// keep() is k.
class Sq8Queries final : public RangeSearch {
 public:
  /// queries: size nq * dim, copied. The quantizer is referenced and must outlive this
  /// object. Throws std::invalid_argument unless sq is trained and 1 <= k <= kMaxK, and for
  /// NaN or inf in the queries. offsets: null, or size nq: added to every distance of query q
  /// (e.g. an IVF list's coarse term; meant for IP, as L2 distances are clamped at 0 first).
  Sq8Queries(const ScalarQuantizer& sq, const float* queries, size_t nq, size_t k,
             const float* offsets = nullptr);
  ~Sq8Queries() override;
  Sq8Queries(Sq8Queries&&) noexcept;
  Sq8Queries& operator=(Sq8Queries&&) noexcept;

  size_t keep() const override { return k_; }
  void init(const RangeResults& results) const override;
  void search_range(const uint8_t* codes, size_t begin, size_t end, const idx_t* ids,
                    const RangeResults& results,
                    const IdFilter* filter = nullptr) const override;
  void finish(const RangeResults& results, float* distances, idx_t* ids) const override;

  /// Per-query weights and constants the scanner uses (internal, see scalar_quantizer_search.cpp).
  struct Prepared;

 private:
  std::unique_ptr<Prepared> prepared_;
};

}  // namespace qvec
