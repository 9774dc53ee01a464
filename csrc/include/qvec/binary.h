#pragma once
// Binary codes: Hamming search on packed bits, and a binary quantizer (centre, rotate, sign
// bits, residual levels) with an asymmetric estimator that scores float queries against the
// codes with AND + popcount over the query's bit planes.
//
// Packed codes follow numpy.packbits(bits, axis=1): bit j of a vector is bit (7 - j % 8) of
// byte j / 8, so a code of nbits bits takes nbytes = ceil(nbits / 8) bytes; any nbytes >= 1.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "qvec/common.h"
#include "qvec/topk.h"

namespace qvec {

namespace detail {  // the scanners' views (binary_scan.h, search/range.h, search/collector.h)
struct BinaryRows;
struct RowRange;
struct HeapRows;
}  // namespace detail

/// out[i * nb + j] = number of differing bits between a[i] and b[j].
/// a: size na * nbytes, layout (na, nbytes); b: size nb * nbytes, layout (nb, nbytes);
/// out: size na * nb, layout (na, nb). Throws std::invalid_argument unless nbytes >= 1.
void hamming_distances(const uint8_t* a, size_t na, const uint8_t* b, size_t nb, size_t nbytes,
                       int32_t* out);

/// k smallest Hamming distances of each query code among codes, best-first, ties to the
/// smaller id; missing results (k > n) hold id -1 and INT32_MAX. Throws std::invalid_argument
/// unless 1 <= k <= kMaxK, 1 <= nbytes < 2^21 and n < 2^32.
/// queries: size nq * nbytes; codes: size n * nbytes; distances, ids: size nq * k, layout (nq, k).
/// filter (here and in every search below): null, or the ids (= rows; with a row map of a
/// range search, the mapped ids) that may be returned (qvec/id_filter.h).
void hamming_search(const uint8_t* queries, size_t nq, const uint8_t* codes, size_t n,
                    size_t nbytes, size_t k, int32_t* distances, idx_t* ids,
                    const IdFilter* filter = nullptr);

/// Float queries prepared for the asymmetric scan (BinaryQuantizer::prepare_queries, the
/// table-build stage): each centred, rotated, quantized to query_bits bits per coordinate
/// (q_r ~= lo + delta * u) and split into bit planes, with its nibble lookup tables and scan
/// constants.
struct BinaryQueryTables {
  size_t nq = 0, query_bits = 0, nwords = 0;  // nwords = ceil(level_bytes / 8)
  /// u's bit planes, layout (nq, query_bits, nwords): bit j of plane p is bit p of u[j]
  /// (word w holds bytes 8w .. 8w+7 of the numpy.packbits plane, little-endian).
  std::vector<uint64_t> planes;
  /// Nibble tables, layout (nq, ceil(query_bits / 4), nwords, 2, 8, 16): with u_s = bits
  /// 4s .. 4s+3 of u, luts[q][s][w][h][i][m] = sum of u_s[64 w + 8 i + (h ? 3 : 7) - t] over
  /// the set bits t of m, i.e. the low (h = 0) and high nibble of code byte 8 w + i looked up.
  std::vector<uint8_t> luts;
  /// Scan constants c[0..4) of each query, layout (nq, 4).
  std::vector<float> constants;
};

/// How BinaryQuantizer::train picks the rotation R.
enum class BinaryRotation : int {
  None = 0,    ///< R = identity
  Random = 1,  ///< a seeded random orthogonal matrix (Haar-distributed): unbiased estimates
  Itq = 2,     ///< iterative quantization, started from the random rotation
};
/// Parses "none" / "random" / "itq"; throws std::invalid_argument otherwise.
BinaryRotation parse_binary_rotation(const char* name);
const char* binary_rotation_name(BinaryRotation rotation);

/// How BinaryQuantizer::encode builds a code of `bits` levels.
enum class BinaryCodeForm : int {
  /// Each level binarizes what the previous ones left (recurrent): alpha_l least squares.
  Residual = 0,
  /// Extended RaBitQ (Gao et al., SIGMOD 2025): the bits-bit grid code c_j in
  /// [0, 2^bits - 1] whose direction c - (2^bits - 1) / 2 is closest to x_r's (the argmax of
  /// the cosine over the rescalings of x_r, see binary_extended.h), stored as its bit planes
  /// (level l = bit bits - 1 - l of c, level 0 the sign bit) with alpha_l = scale *
  /// 2^(bits - 2 - l). Same layout and estimator as Residual; lower error at bits >= 2.
  Extended = 1,
};
/// Parses "residual" / "extended"; throws std::invalid_argument otherwise.
BinaryCodeForm parse_binary_code_form(const char* name);
const char* binary_code_form_name(BinaryCodeForm form);

struct BinaryTrainOptions {
  BinaryRotation rotation = BinaryRotation::None;
  /// Seeds the random rotation and the ITQ training sample; results depend on it only (not on
  /// the thread count).
  uint64_t seed = 0;
  /// ITQ iterations: B = sign(V R), then R = the orthogonal Procrustes solution of V^T B.
  size_t itq_iters = 20;
  /// ITQ trains on at most this many vectors (a seeded sample, in input order); 0: all of them.
  /// The mean is always taken over all n vectors.
  size_t max_train = 10000;
};

/// Binary quantizer. With x_r = (x - mean) R (R orthogonal, identity when not set), level 0
/// stores the sign bits b_0 = [x_r > 0] and every further level the signs of what the previous
/// levels left: r_0 = x_r, r_{l+1} = r_l - alpha_l s_l with s_l = 2 b_l - 1 and the
/// least-squares scale alpha_l = ||r_l||_1 / dim, so x_r ~= sum_l alpha_l s_l = xhat.
///
/// A code row holds the levels one after another: size bits * level_bytes(), layout
/// (bits, level_bytes()), each level packed as numpy.packbits. Each vector also has
/// num_factors() floats, layout:
///   [0] ||x_r||^2   [1] <x - mean, mean>   [2] rho = ||x_r||^2 / <xhat, x_r>   [3 + l] alpha_l.
/// (The scan also needs rho sum_l alpha_l and rho sum_l alpha_l popcount(b_l); it derives them
/// from these and the code rather than storing two more floats per vector.)
/// The asymmetric estimate of <x_r, q_r> is rho * <xhat, q_r>, unbiased for a random rotation
/// (RaBitQ), with q_r = (q - mean) R; for IP the exact <x - mean, mean> + <mean, q> is added.
/// The query side is quantized to query_bits bits per coordinate and scored with AND +
/// popcount over its bit planes.
class BinaryQuantizer {
 public:
  static constexpr size_t kMaxBits = 8;
  static constexpr size_t kMaxQueryBits = 8;
  static constexpr size_t kFixedFactors = 3;

  /// Throws std::invalid_argument unless dim > 0 and 1 <= bits <= kMaxBits.
  BinaryQuantizer(size_t dim, size_t bits, Metric metric,
                  BinaryCodeForm form = BinaryCodeForm::Residual);

  size_t dim() const { return dim_; }
  size_t bits() const { return bits_; }
  Metric metric() const { return metric_; }
  BinaryCodeForm form() const { return form_; }
  /// Bytes of one level: ceil(dim / 8).
  size_t level_bytes() const { return (dim_ + 7) / 8; }
  /// Bytes per encoded vector: bits * level_bytes().
  size_t code_size() const { return bits_ * level_bytes(); }
  /// Floats per encoded vector: kFixedFactors + bits.
  size_t num_factors() const { return kFixedFactors + bits_; }
  bool is_trained() const { return trained_; }

  /// Largest dim train() builds a rotation for (the work grows as dim^3).
  static constexpr size_t kMaxRotationDim = 8192;

  /// Learns the mean of x and the rotation of options.rotation (see BinaryTrainOptions) and
  /// marks the quantizer trained; the residual scales are per vector, computed by encode.
  /// x: size n * dim, layout (n, dim), finite; n >= 1; with a rotation dim <= kMaxRotationDim.
  /// Throws std::invalid_argument otherwise.
  void train(const float* x, size_t n, const BinaryTrainOptions& options);

  /// mean: size dim; rotation: size dim * dim, layout (dim, dim), orthogonal, applied as
  /// x_r = (x - mean) R; nullptr means the identity. Marks the quantizer trained.
  void set_transform(const float* mean, const float* rotation);
  const std::vector<float>& mean() const { return mean_; }
  /// Empty when the rotation is the identity.
  const std::vector<float>& rotation() const { return rotation_; }

  /// x: size n * dim; codes: size n * code_size(); factors: size n * num_factors(), written.
  /// encode, decode and the searches throw std::invalid_argument unless trained.
  void encode(const float* x, size_t n, uint8_t* codes, float* factors) const;

  /// The row layout of one array holding codes and factors side by side (what
  /// BinaryQueries::search_range scans, e.g. an inverted list): bytes [0, code_size()) the
  /// code, zero up to factor_offset() = code_size() rounded up to 4, then num_factors() floats.
  size_t factor_offset() const { return (code_size() + 3) / 4 * 4; }
  size_t row_size() const { return factor_offset() + 4 * num_factors(); }
  /// codes, factors as encode() writes them (n rows) -> rows: size n * row_size(), written.
  void pack_rows(const uint8_t* codes, const float* factors, size_t n, uint8_t* rows) const;
  /// codes, factors as encode(); x: size n * dim, written: mean + (sum_l alpha_l s_l) R^T.
  void decode(const uint8_t* codes, const float* factors, size_t n, float* x) const;

  /// The table-build stage of the asymmetric search (see BinaryQueries). queries: size
  /// nq * dim, layout (nq, dim); 1 <= query_bits <= kMaxQueryBits, else std::invalid_argument.
  BinaryQueryTables prepare_queries(const float* queries, size_t nq, size_t query_bits) const;
  /// prepare_queries of queries already centred and rotated: rotated (size nq * dim) holds
  /// (q - mean) R, e.g. rotate() of q - mean. queries: the q themselves (size nq * dim), read
  /// for Metric::IP only (its constant is <mean, q>), may be null for L2, else
  /// std::invalid_argument; query_bits as prepare_queries.
  BinaryQueryTables prepare_rotated(const float* rotated, const float* queries, size_t nq,
                                    size_t query_bits) const;
  /// out = x R (no centring; a copy when the rotation is the identity), so a linear
  /// combination of rotated vectors is the rotation of theirs. x: size n * dim; out: size
  /// n * dim, written. Throws std::invalid_argument unless trained.
  void rotate(const float* x, size_t n, float* out) const;

  /// Asymmetric search: float queries against codes. Scores are estimates of the metric (L2:
  /// squared distance, ascending; IP: inner product, descending); padding as exact_search.
  /// Runs the table build and the block scanner over (query block x row range) tasks on all
  /// threads.
  /// queries: size nq * dim; codes: size n * code_size(); factors: size n * num_factors();
  /// 1 <= query_bits <= kMaxQueryBits; distances, ids: size nq * k, layout (nq, k).
  /// Throws std::invalid_argument unless trained, 1 <= k <= kMaxK and n < 2^32.
  void search(const float* queries, size_t nq, const uint8_t* codes, const float* factors,
              size_t n, size_t k, size_t query_bits, float* distances, idx_t* ids,
              const IdFilter* filter = nullptr) const;

  /// The 1-bit factor of the pruned extended search: out[i] = ||x_r||_1 = <s_0, x_r> for each
  /// of the n vectors x (size n * dim); out: size n, written. Throws std::invalid_argument
  /// unless trained.
  void sign_dots(const float* x, size_t n, float* out) const;

  /// Extended-RaBitQ search with the float query (form() == Extended): the estimate of
  /// <x_r, q_r> is rho * <xhat, q_r> as in search(), but q_r is not quantized, so
  /// <xhat, q_r> = scale * (<c, q_r> - (2^bits - 1) / 2 * sum_j q_r[j]) with c the code's grid
  /// values (ExRabitqKernels). Distances and ties as search().
  /// With sign_dots (size n, from sign_dots() of the encoded vectors) and a finite eps > 0,
  /// every code first gets the 1-bit RaBitQ estimate of its sign bits (4-bit query planes) and
  /// is scored in full only when that estimate's lower bound, estimate - eps * sigma with
  /// sigma = ||x_r|| ||q_r|| tan(theta_1) / sqrt(dim - 1) plus the query rounding's
  /// ||x_r||^2 / ||x_r||_1 * delta * sqrt(dim / 12) (twice both for L2; theta_1 the angle
  /// between x_r and its sign code), can still enter the running top-k. The bound holds with
  /// high probability over the random rotation (eps = 1.9 is RaBitQ's choice), not always: a
  /// skipped code whose full estimate would have entered the top-k changes the result. With
  /// sign_dots null or eps = +infinity every code is scored in full (the exhaustive scan the
  /// pruned one equals whenever the bound held). At one bit (either form: the codes are the
  /// same) the pass and the full score share the code, so only the query rounding term is
  /// kept and sign_dots are not needed (they may be null); eps = +infinity scores every code.
  /// Other arguments as search(); throws std::invalid_argument unless form() == Extended or
  /// bits() == 1, trained, eps > 0, 1 <= k <= kMaxK and n < 2^32.
  void search_extended(const float* queries, size_t nq, const uint8_t* codes,
                       const float* factors, const float* sign_dots, size_t n, size_t k,
                       float eps, float* distances, idx_t* ids,
                       const IdFilter* filter = nullptr) const;

  /// Symmetric search: codes against codes, <xhat, yhat> = sum_{l,m} alpha_l beta_m
  /// (dim - 2 hamming(b_l, c_m)) from popcounts of level pairs, plus the exact norm and mean
  /// terms of both sides. query_codes, query_factors: as codes, factors for nq vectors.
  /// Throws std::invalid_argument unless trained and 1 <= k <= kMaxK.
  void search_symmetric(const uint8_t* query_codes, const float* query_factors, size_t nq,
                        const uint8_t* codes, const float* factors, size_t n, size_t k,
                        float* distances, idx_t* ids, const IdFilter* filter = nullptr) const;

  /// Throws std::invalid_argument unless trained (train or set_transform).
  void require_trained() const;

 private:
  /// out: size n * dim; out = (x - mean) R when centre, else x R.
  void transform(const float* x, size_t n, bool centre, float* out) const;

  size_t dim_, bits_;
  Metric metric_;
  BinaryCodeForm form_ = BinaryCodeForm::Residual;
  bool trained_ = false;
  std::vector<float> mean_;
  std::vector<float> rotation_;         // (dim, dim) or empty
  std::vector<float> rotation_packed_;  // columns of R packed for the tile kernels
  std::vector<float> rotation_t_packed_;  // columns of R^T (rows of R), for decode
};

// -- Range searches ------------------------------------------------------------------------
// Each binary search also runs range by range through the RangeSearch contract (qvec/topk.h),
// like Pq8Queries and FastScanQueries, so an inverted list or a shard is just a range: build
// the query side once, init(), search_range() for each range in any order, finish(). keep()
// is k; RangeResults::rescored is not used; search_range also throws std::invalid_argument
// when end - begin >= 2^32. Query blocks run in parallel; results do not depend on the thread
// count.

/// Hamming search range by range: `codes` of search_range are packed codes of nbytes bytes per
/// row (row r at codes + r * nbytes); finish() gives hamming_search's ids, with the Hamming
/// distances as floats (missing results +inf), or as hamming_search's int32 through the
/// int32_t overload.
class HammingQueries final : public RangeSearch {
 public:
  /// queries: size nq * nbytes, layout (nq, nbytes); referenced, not copied: it must outlive
  /// this object. Throws std::invalid_argument unless 1 <= k <= kMaxK and 1 <= nbytes < 2^21.
  HammingQueries(const uint8_t* queries, size_t nq, size_t nbytes, size_t k);

  size_t nbytes() const { return nbytes_; }
  size_t keep() const override { return k_; }
  void init(const RangeResults& results) const override;
  void search_range(const uint8_t* codes, size_t begin, size_t end, const idx_t* ids,
                    const RangeResults& results,
                    const IdFilter* filter = nullptr) const override;
  void finish(const RangeResults& results, float* distances, idx_t* ids) const override;
  /// As hamming_search writes them: distances INT32_MAX for missing results.
  void finish(const RangeResults& results, int32_t* distances, idx_t* ids) const;

 private:
  const uint8_t* queries_;
  size_t nbytes_;
};

/// What the quantizer's range searches share. `codes` of search_range are rows in the layout
/// of BinaryQuantizer::pack_rows (a code and its factors side by side, one array for a list);
/// the overload taking codes and factors reads the two arrays of encode(). finish() writes
/// smaller-is-better distances, missing results +inf: for Metric::L2 squared distances, for
/// Metric::IP the negated inner products (negate them to get the similarities search returns).
class BinaryRangeSearch : public RangeSearch {
 public:
  size_t keep() const override { return k_; }
  void init(const RangeResults& results) const override;
  /// rows: row r at rows + r * row_size() of the quantizer.
  void search_range(const uint8_t* rows, size_t begin, size_t end, const idx_t* ids,
                    const RangeResults& results,
                    const IdFilter* filter = nullptr) const override;
  /// codes: row r at codes + r * code_size(); factors: row r at factors + r * num_factors().
  void search_range(const uint8_t* codes, const float* factors, size_t begin, size_t end,
                    const idx_t* ids, const RangeResults& results,
                    const IdFilter* filter = nullptr) const;
  void finish(const RangeResults& results, float* distances, idx_t* ids) const override;

 protected:
  /// bq: trained, referenced: it must outlive this object. Throws std::invalid_argument
  /// unless bq is trained and 1 <= k <= kMaxK.
  BinaryRangeSearch(const BinaryQuantizer& bq, size_t nq, size_t k);
  /// The block scanner for queries [q0, q1) over `range` of `data` into heaps (row i: query
  /// q0 + i), on the calling thread.
  virtual void scan(size_t q0, size_t q1, const detail::BinaryRows& data,
                    const detail::RowRange& range, const detail::HeapRows& heaps) const = 0;

  const BinaryQuantizer* bq_;

 private:
  void search_rows(const detail::BinaryRows& data, size_t begin, size_t end, const idx_t* ids,
                   const RangeResults& results, const IdFilter* filter) const;
};

/// The asymmetric search (BinaryQuantizer::search) range by range: the same ids as search, and
/// its distances (IP: negated, see BinaryRangeSearch).
class BinaryQueries final : public BinaryRangeSearch {
 public:
  /// queries: size nq * dim, turned into tables here. Throws std::invalid_argument unless
  /// 1 <= k <= kMaxK and 1 <= query_bits <= BinaryQuantizer::kMaxQueryBits.
  BinaryQueries(const BinaryQuantizer& bq, const float* queries, size_t nq, size_t k,
                size_t query_bits);
  /// tables: from bq.prepare_queries or prepare_rotated (or rows of them), taken over.
  BinaryQueries(const BinaryQuantizer& bq, BinaryQueryTables tables, size_t k);
  const BinaryQueryTables& tables() const { return tables_; }

 private:
  void scan(size_t q0, size_t q1, const detail::BinaryRows& data, const detail::RowRange& range,
            const detail::HeapRows& heaps) const override;
  BinaryQueryTables tables_;
};

/// The symmetric search (BinaryQuantizer::search_symmetric) range by range.
class BinarySymmetricQueries final : public BinaryRangeSearch {
 public:
  /// query_codes: size nq * code_size(); query_factors: size nq * num_factors(); referenced:
  /// they must outlive this object.
  BinarySymmetricQueries(const BinaryQuantizer& bq, const uint8_t* query_codes,
                         const float* query_factors, size_t nq, size_t k);

 private:
  void scan(size_t q0, size_t q1, const detail::BinaryRows& data, const detail::RowRange& range,
            const detail::HeapRows& heaps) const override;
  const uint8_t* query_codes_;
  const float* query_factors_;
};

}  // namespace qvec
