#pragma once
// Small dense linear algebra for training (rotations): products on the float tile kernels,
// seeded Gaussian matrices, Householder QR, a symmetric eigensolver and the polar factor of a
// square matrix. Row-major throughout. Parallel parts split only independent rows or blocks
// of rows, so no result depends on the thread count.
#include <cstddef>

#include "parallel.h"
#include "rng.h"

namespace qvec::detail {

/// <a, b> over n doubles. Eight partial sums, in a fixed order: independent chains the
/// compiler can vectorise (a single running sum is one serial chain of additions).
inline double dot(const double* a, const double* b, size_t n) {
  double s[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (size_t t = 0; t < 8; ++t) s[t] += a[i + t] * b[i + t];
  for (; i < n; ++i) s[0] += a[i] * b[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/// Below this many multiply-adds a product runs on the calling thread: starting the threads
/// would cost more than it saves.
constexpr size_t kParallelWork = size_t(1) << 22;

/// row(i) for every i < n, on all threads when n * row_work >= kParallelWork: for products
/// whose rows are independent, so the result is the same for any thread count.
template <class Row>
void parallel_rows(size_t n, size_t row_work, Row&& row) {
  constexpr size_t kRows = 16;
  if (n * row_work < kParallelWork) {
    for (size_t i = 0; i < n; ++i) row(i);
    return;
  }
  parallel_for((n + kRows - 1) / kRows, [&](size_t block) {
    for (size_t i = block * kRows; i < n && i < (block + 1) * kRows; ++i) row(i);
  });
}

/// out = a B on the calling thread. a: size n * d, layout (n, d); B: (d, ncols) given as its
/// packed columns (pack_columns of B^T: size ceil(ncols / 16) * d * 16); out: size n * ncols.
void matmul_packed(const float* a, size_t n, size_t d, const float* packed, size_t ncols,
                   float* out);

/// As matmul_packed, split over row blocks on all threads (when the product is large enough);
/// the same result for any thread count (each output is one kernel's sum whatever the split).
void matmul_packed_parallel(const float* a, size_t n, size_t d, const float* packed,
                            size_t ncols, float* out);

/// n independent standard normal samples (Box-Muller on the generator's uniforms).
void gaussian(SplitMix64& rng, double* out, size_t n);

/// The orthogonal factor Q of a = Q R (a: size n * n, overwritten), with its columns' signs
/// set so that diag(R) > 0: for a Gaussian a, Q is uniform over the orthogonal group.
/// q: size n * n, written.
void orthogonal_factor(double* a, size_t n, double* q);

/// Eigenvalues and eigenvectors of the symmetric s (size n * n, overwritten): Householder
/// tridiagonalisation, then implicit QL with Wilkinson shifts. values: size n; vt: size n * n,
/// row j the unit eigenvector of values[j]. Returns false if QL did not converge.
bool symmetric_eigen(double* s, size_t n, double* values, double* vt);

/// The polar factor p = U W^T of c = U S W^T: the orthogonal matrix nearest to c, i.e. the
/// orthogonal Procrustes solution. c, p: size n * n. A rank-deficient c gets its U completed
/// to an orthonormal basis (p is then one of the nearest orthogonal matrices).
void polar_factor(const double* c, size_t n, double* p);

}  // namespace qvec::detail
