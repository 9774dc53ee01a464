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

namespace qvec {

/// out[i * nb + j] = number of differing bits between a[i] and b[j].
/// a: size na * nbytes, layout (na, nbytes); b: size nb * nbytes, layout (nb, nbytes);
/// out: size na * nb, layout (na, nb).
void hamming_distances(const uint8_t* a, size_t na, const uint8_t* b, size_t nb, size_t nbytes,
                       int32_t* out);

/// k smallest Hamming distances of each query code among codes, best-first, ties to the
/// smaller id; missing results (k > n) hold id -1 and INT32_MAX.
/// queries: size nq * nbytes; codes: size n * nbytes; distances, ids: size nq * k, layout (nq, k).
void hamming_search(const uint8_t* queries, size_t nq, const uint8_t* codes, size_t n,
                    size_t nbytes, size_t k, int32_t* distances, idx_t* ids);

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
/// (RaBitQ), with q_r = (q - mean) R; for IP the exact <x - mean, mean> + <mean, q> is added. The query side is quantized to query_bits bits per coordinate and scored with
/// AND + popcount over its bit planes.
class BinaryQuantizer {
 public:
  static constexpr size_t kMaxBits = 8;
  static constexpr size_t kMaxQueryBits = 8;
  static constexpr size_t kFixedFactors = 3;

  /// Throws std::invalid_argument unless dim > 0 and 1 <= bits <= kMaxBits.
  BinaryQuantizer(size_t dim, size_t bits, Metric metric);

  size_t dim() const { return dim_; }
  size_t bits() const { return bits_; }
  Metric metric() const { return metric_; }
  /// Bytes of one level: ceil(dim / 8).
  size_t level_bytes() const { return (dim_ + 7) / 8; }
  /// Bytes per encoded vector: bits * level_bytes().
  size_t code_size() const { return bits_ * level_bytes(); }
  /// Floats per encoded vector: kFixedFactors + bits.
  size_t num_factors() const { return kFixedFactors + bits_; }
  bool is_trained() const { return trained_; }

  /// mean: size dim; rotation: size dim * dim, layout (dim, dim), orthogonal, applied as
  /// x_r = (x - mean) R; nullptr means the identity. Marks the quantizer trained.
  void set_transform(const float* mean, const float* rotation);
  const std::vector<float>& mean() const { return mean_; }
  /// Empty when the rotation is the identity.
  const std::vector<float>& rotation() const { return rotation_; }

  /// x: size n * dim; codes: size n * code_size(); factors: size n * num_factors(), written.
  void encode(const float* x, size_t n, uint8_t* codes, float* factors) const;
  /// codes, factors as encode(); x: size n * dim, written: mean + (sum_l alpha_l s_l) R^T.
  void decode(const uint8_t* codes, const float* factors, size_t n, float* x) const;

  /// Asymmetric search: float queries against codes. Scores are estimates of the metric (L2:
  /// squared distance, ascending; IP: inner product, descending); padding as exact_search.
  /// queries: size nq * dim; codes: size n * code_size(); factors: size n * num_factors();
  /// 1 <= query_bits <= kMaxQueryBits; distances, ids: size nq * k, layout (nq, k).
  void search(const float* queries, size_t nq, const uint8_t* codes, const float* factors,
              size_t n, size_t k, size_t query_bits, float* distances, idx_t* ids) const;

  /// Symmetric search: codes against codes, <xhat, yhat> = sum_{l,m} alpha_l beta_m
  /// (dim - 2 hamming(b_l, c_m)) from popcounts of level pairs, plus the exact norm and mean
  /// terms of both sides. query_codes, query_factors: as codes, factors for nq vectors.
  void search_symmetric(const uint8_t* query_codes, const float* query_factors, size_t nq,
                        const uint8_t* codes, const float* factors, size_t n, size_t k,
                        float* distances, idx_t* ids) const;

 private:
  void require_trained() const;
  /// out: size n * dim; out = (x - mean) R when centre, else x R.
  void transform(const float* x, size_t n, bool centre, float* out) const;

  size_t dim_, bits_;
  Metric metric_;
  bool trained_ = false;
  std::vector<float> mean_;
  std::vector<float> rotation_;         // (dim, dim) or empty
  std::vector<float> rotation_packed_;  // columns of R packed for the tile kernels
  std::vector<float> rotation_t_packed_;  // columns of R^T (rows of R), for decode
};

}  // namespace qvec
