// Dense linear algebra for training: products, Gaussian matrices, QR (see linalg.h).
#include "linalg.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/dispatch.h"

namespace qvec::detail {

namespace {

constexpr size_t kRowBlock = 64;  // rows per matmul_packed_parallel task

}  // namespace

void matmul_packed(const float* a, size_t n, size_t d, const float* packed, size_t ncols,
                   float* out) {
  const DenseKernels& kern = dense_kernels();
  const size_t npacks = (ncols + kPackWidth - 1) / kPackWidth;
  float tile[kTileRows * kPackWidth];
  for (size_t r0 = 0; r0 < n; r0 += kTileRows) {
    size_t rows = std::min(kTileRows, n - r0);
    for (size_t p = 0; p < npacks; ++p) {
      kern.dot_tile16(a + r0 * d, d, rows, packed + p * d * kPackWidth, d, tile, kPackWidth);
      size_t cols = std::min(kPackWidth, ncols - p * kPackWidth);
      for (size_t r = 0; r < rows; ++r)
        std::copy(tile + r * kPackWidth, tile + r * kPackWidth + cols,
                  out + (r0 + r) * ncols + p * kPackWidth);
    }
  }
}

void matmul_packed_parallel(const float* a, size_t n, size_t d, const float* packed,
                            size_t ncols, float* out) {
  const size_t blocks = (n + kRowBlock - 1) / kRowBlock;
  parallel_rows(blocks, kRowBlock * d * ncols, [&](size_t block) {
    const size_t r0 = block * kRowBlock, rows = std::min(kRowBlock, n - r0);
    matmul_packed(a + r0 * d, rows, d, packed, ncols, out + r0 * ncols);
  });
}

void gaussian(SplitMix64& rng, double* out, size_t n) {
  const double two_pi = 6.283185307179586476925286766559;
  for (size_t i = 0; i < n; i += 2) {
    const double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();  // u1 in (0, 1]
    const double r = std::sqrt(-2.0 * std::log(u1));
    out[i] = r * std::cos(two_pi * u2);
    if (i + 1 < n) out[i + 1] = r * std::sin(two_pi * u2);
  }
}

void orthogonal_factor(double* a, size_t n, double* q) {
  // Householder reflections H_j = I - 2 v_j v_j^T; v_j (zero before entry j) is row j of vs.
  std::vector<double> vs(n * n, 0.0), w(n), rdiag(n);
  for (size_t j = 0; j < n; ++j) {
    double* v = vs.data() + j * n;
    double norm2 = 0.0;
    for (size_t i = j; i < n; ++i) norm2 += a[i * n + j] * a[i * n + j];
    const double x0 = a[j * n + j], alpha = x0 >= 0.0 ? -std::sqrt(norm2) : std::sqrt(norm2);
    for (size_t i = j; i < n; ++i) v[i] = a[i * n + j];
    v[j] -= alpha;
    const double vnorm = std::sqrt(dot(v + j, v + j, n - j));
    rdiag[j] = alpha;
    if (vnorm == 0.0) continue;  // the column is already zero below the diagonal
    for (size_t i = j; i < n; ++i) v[i] /= vnorm;
    std::fill(w.begin(), w.end(), 0.0);  // w = v^T A[j:, j:]
    for (size_t i = j; i < n; ++i)
      for (size_t c = j; c < n; ++c) w[c] += v[i] * a[i * n + c];
    for (size_t i = j; i < n; ++i)
      for (size_t c = j; c < n; ++c) a[i * n + c] -= 2.0 * v[i] * w[c];
  }
  // Q = H_0 H_1 ... H_{n-1}, applied to the identity from the right end.
  std::fill(q, q + n * n, 0.0);
  for (size_t i = 0; i < n; ++i) q[i * n + i] = 1.0;
  for (size_t j = n; j-- > 0;) {
    const double* v = vs.data() + j * n;
    std::fill(w.begin(), w.end(), 0.0);
    for (size_t i = j; i < n; ++i)
      for (size_t c = j; c < n; ++c) w[c] += v[i] * q[i * n + c];
    for (size_t i = j; i < n; ++i)
      for (size_t c = j; c < n; ++c) q[i * n + c] -= 2.0 * v[i] * w[c];
  }
  for (size_t i = 0; i < n; ++i)
    for (size_t c = 0; c < n; ++c)
      if (rdiag[c] < 0.0) q[i * n + c] = -q[i * n + c];
}

}  // namespace qvec::detail
