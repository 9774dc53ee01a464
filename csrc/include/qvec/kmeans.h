#pragma once
// Seeded, deterministic k-means (k-means++ initialisation, Lloyd iterations, empty clusters
// re-split). Results do not depend on the thread count.
#include <cstddef>
#include <cstdint>

namespace qvec {

struct KMeansOptions {
  size_t iters = 25;
  uint64_t seed = 0;
};

/// x: size n * d, layout (n, d), row stride lda >= d floats (lets callers pass a column
/// slice of a wider matrix, e.g. one PQ subspace). centroids: size k * d, layout (k, d), written.
/// Requires n >= k >= 1. Returns the final mean squared distance to the assigned centroid.
/// Runs on x centred on its mean (k-means is translation invariant), so its precision does
/// not depend on how far the data sits from the origin.
double kmeans(const float* x, size_t n, size_t d, size_t lda, size_t k,
              const KMeansOptions& options, float* centroids);

}  // namespace qvec
