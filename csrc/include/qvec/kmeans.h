#pragma once
// Seeded, deterministic k-means (k-means++ initialisation, Lloyd iterations, empty clusters
// re-split). Results do not depend on the thread count.
#include <cstddef>
#include <cstdint>

namespace qvec {

struct KMeansOptions {
  size_t iters = 25;
  uint64_t seed = 0;
  /// Start from the k centroids passed in (e.g. the last codebooks of an alternating
  /// optimisation) instead of k-means++ seeding.
  bool warm_start = false;
  /// Seed with k distinct points drawn at random (a seeded partial shuffle) instead of
  /// k-means++: FAISS's seeding. k-means++ is k serial passes over a sample, which on IVF's
  /// coarse quantizer (k in the thousands) cost more than the Lloyd iterations; with a sample
  /// of tens of points per centroid, random seeds reach the same objective in the same iters.
  bool random_init = false;
  /// Rescale every centroid to unit L2 norm after seeding and after each update (spherical
  /// k-means, FAISS's coarse quantizer for inner product): the nearest unit centroid in L2 is
  /// the one of largest inner product, so the assignment step stays the same.
  bool spherical = false;
};

/// x: size n * d, layout (n, d), row stride lda >= d floats (lets callers pass a column
/// slice of a wider matrix, e.g. one PQ subspace). centroids: size k * d, layout (k, d), written
/// (and read first when options.warm_start).
/// Requires n >= k >= 1. Returns the final mean squared distance to the assigned centroid.
/// Runs on x centred on its mean (k-means is translation invariant), so its precision does
/// not depend on how far the data sits from the origin. Throws std::invalid_argument if x
/// holds NaN or infinity or values whose squared distances overflow float32.
double kmeans(const float* x, size_t n, size_t d, size_t lda, size_t k,
              const KMeansOptions& options, float* centroids);

/// The nearest of k centroids (L2, ties to the smaller index) of each row, exact to float32
/// rounding: the dense nearest kernel, with the rows its expansion cannot decide decided
/// again directly (the assignment step of kmeans); on all threads. x: size n * lda, row stride
/// lda >= d; centroids: size k * d, layout (k, d); assign: size n, written; distances: size n
/// (each row's squared distance to its centroid), written, or null. Requires k >= 1.
void nearest_centroids(const float* x, size_t n, size_t d, size_t lda, const float* centroids,
                       size_t k, int32_t* assign, float* distances);

/// The dense nearest kernel's own answer, before nearest_centroids re-decides the rows it
/// cannot order: per row the centroid of smallest ||c||^2 - 2 <x, c> (ties to the smaller
/// index), that value and the smallest value of any other centroid. What the SIMD levels are
/// tested against each other on. x: size n * d, layout (n, d); centroids: size k * d;
/// best_index, best_value, second_value: size n, written. Requires k >= 1, d >= 1.
void nearest_candidates(const float* x, size_t n, size_t d, const float* centroids, size_t k,
                        int32_t* best_index, float* best_value, float* second_value);

}  // namespace qvec
