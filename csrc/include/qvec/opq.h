#pragma once
// Optimized product quantization (Ge et al., CVPR 2013, the non-parametric form): an orthogonal
// rotation R learned together with the codebooks, so that x R spreads its variance over the
// subspaces as PQ needs. Alternates PQ training on the rotated sample with the orthogonal
// Procrustes step R = polar(X^T Y), Y the reconstructions, which minimises ||X R - Y||_F.
#include <cstddef>
#include <cstdint>

#include "qvec/pq.h"

namespace qvec {

/// Largest dim OPQ rotates (its d x d products and polar factors cost O(d^3) per iteration).
constexpr size_t kMaxOpqDim = 4096;

struct OPQTrainOptions {
  /// Alternations of PQ refinement and the rotation update.
  size_t iters = 20;
  /// k-means iterations per alternation (warm-started from the previous codebooks).
  size_t pq_iters = 4;
  uint64_t seed = 0;
  /// Training points used at most (a seeded sample); 0 means 256 * ksub.
  size_t max_train = 0;
};

/// Learns the rotation and trains pq on the rotated sample (pq's final k-means with
/// final.iters iterations and final.seed; final.max_train is ignored: the OPQ sample is used).
/// x: size n * dim, layout (n, dim), dim = pq.dim(); rotation: size dim * dim, layout
/// (dim, dim), written: codes are pq.encode(x R) for row vectors x. Requires n >= pq.ksub()
/// and dim <= kMaxOpqDim (std::invalid_argument otherwise, as for NaN or inf in x).
/// Deterministic for a seed whatever the thread count.
void opq_train(const float* x, size_t n, ProductQuantizer& pq, const OPQTrainOptions& options,
               const PQTrainOptions& final, float* rotation);

}  // namespace qvec
