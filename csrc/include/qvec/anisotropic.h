#pragma once
// Score-aware (anisotropic) product quantization for inner product search (Guo et al., "Accelerating
// Large-Scale Inference with Anisotropic Vector Quantization", ICML 2020). The error that moves
// the scores of the queries a point matters to is its residual r = x - x~ along x, so the loss
// weighs that parallel part eta times the orthogonal part:
//     L(x, x~) = ||r||^2 + (eta - 1) <r, x / ||x||>^2,   eta = (dim - 1) T^2 / (1 - T^2),
// T the score threshold relative to ||x|| (queries with <q, x> >= T ||q|| ||x|| are the ones
// that matter). Codes minimise L by coordinate descent over the subspaces (from the nearest
// centroids); codebooks are refined by solving, centroid by centroid, the least squares of L.
#include <cstddef>
#include <cstdint>

#include "qvec/pq.h"

namespace qvec {

/// eta of a relative threshold T in (0, 1) for vectors of dimension dim >= 2.
/// Throws std::invalid_argument for T outside (0, 1).
double anisotropic_eta(double threshold, size_t dim);

/// Codes minimising the anisotropic loss with weight eta >= 1 (eta = 1 is plain encode).
/// x: size n * dim (pq.dim()), layout (n, dim); codes: size n * pq.code_size(), written in the
/// layout of pq.encode. Requires a trained pq; throws std::invalid_argument as pq.encode does.
void anisotropic_encode(const ProductQuantizer& pq, const float* x, size_t n, double eta,
                        uint8_t* codes);

struct AnisotropicTrainOptions {
  double eta = 1.0;
  /// Rounds of (encode, codebook update) after pq's own k-means codebooks.
  size_t iters = 4;
  uint64_t seed = 0;
  /// Training points used at most (a seeded sample); 0 means kAnisotropicSample.
  size_t max_train = 0;
};

/// The default sample of anisotropic training, ScaNN's AH training_sample_size. The 256 * ksub
/// of plain k-means (4,096 at 4 bits) leaves its refinement short of data: gcide-minilm at 96
/// B (192 x 4 bits), recall@10 0.836 on 4,096 points, 0.845 on all 50,000 (ScaNN AH 0.841).
constexpr size_t kAnisotropicSample = 100000;

/// Refines the codebooks of a trained pq for the anisotropic loss on x (size n * dim).
/// Deterministic for a seed whatever the thread count.
void anisotropic_train(ProductQuantizer& pq, const float* x, size_t n,
                       const AnisotropicTrainOptions& options);

}  // namespace qvec
