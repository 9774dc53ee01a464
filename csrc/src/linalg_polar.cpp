// The symmetric eigensolver and the polar factor (see linalg.h).
//
// polar(c) = U W^T from the eigenvectors W of c^T c (eigenvalues S^2) and U = c W S^-1,
// orthonormalised by Gram-Schmidt in order of decreasing singular value: about six n^3
// multiply-adds, against several times that for a one-sided Jacobi SVD (ten or more sweeps
// on ITQ's matrices, whose small singular values are close, and warm starts do not help:
// consecutive matrices' singular vectors differ). Squaring c costs accuracy only in its
// smallest singular directions (relative error ~ eps * cond(c)^2), which weigh least in the
// Procrustes objective; Gram-Schmidt makes U orthonormal whatever their accuracy. Should QL
// not converge, a Jacobi SVD runs instead.
#include <algorithm>
#include <cmath>
#include <vector>

#include "linalg.h"
#include "qvec/error.h"

namespace qvec::detail {

namespace {

constexpr size_t kMaxQlIters = 60;     // implicit QL iterations per eigenvalue
constexpr size_t kMaxSweeps = 60;      // Jacobi sweeps
constexpr double kRankTol = 1e-12;     // singular values below this * the largest count as 0
constexpr double kJacobiTol = 1e-13;   // cosine of two columns counted as orthogonal

/// (a, b) <- (c a - s b, s a + c b), rows of n doubles.
void rotate_rows(double* a, double* b, size_t n, double c, double s) {
  for (size_t i = 0; i < n; ++i) {
    const double x = a[i], y = b[i];
    a[i] = c * x - s * y;
    b[i] = s * x + c * y;
  }
}

/// Householder tridiagonalisation s = Q T Q^T (s overwritten): diag: T's diagonal (size n);
/// off: off[i] = T[i][i + 1], off[n - 1] = 0; qt: Q^T (size n * n).
void tridiagonalize(double* s, size_t n, double* diag, double* off, double* qt) {
  std::vector<double> vs(n * n, 0.0), p(n), q(n);
  for (size_t k = 0; k + 2 < n; ++k) {
    // H_k = I - 2 v v^T maps s[k][k+1..] (= column k below the diagonal) onto alpha e_1.
    const size_t m0 = k + 1, m = n - m0;
    double* v = vs.data() + k * n;
    const double* x = s + k * n + m0;
    const double norm = std::sqrt(dot(x, x, m));
    const double alpha = x[0] >= 0.0 ? -norm : norm;
    std::copy(x, x + m, v + m0);
    v[m0] -= alpha;
    const double vnorm = std::sqrt(dot(v + m0, v + m0, m));
    if (vnorm == 0.0) continue;  // already tridiagonal in this column
    for (size_t i = m0; i < n; ++i) v[i] /= vnorm;
    // s22 <- H s22 H = s22 - 2 (v q^T + q v^T), q = p - (v^T p) v, p = s22 v.
    for (size_t i = m0; i < n; ++i) p[i] = dot(s + i * n + m0, v + m0, m);
    const double vp = dot(v + m0, p.data() + m0, m);
    for (size_t i = m0; i < n; ++i) q[i] = p[i] - vp * v[i];
    for (size_t i = m0; i < n; ++i)
      for (size_t j = m0; j < n; ++j) s[i * n + j] -= 2.0 * (v[i] * q[j] + q[i] * v[j]);
    for (size_t j = m0; j < n; ++j) s[k * n + j] = s[j * n + k] = 0.0;
    s[k * n + m0] = s[m0 * n + k] = alpha;
  }
  for (size_t i = 0; i < n; ++i) {
    diag[i] = s[i * n + i];
    off[i] = i + 1 < n ? s[i * n + i + 1] : 0.0;
  }
  // Q = H_0 H_1 ... H_{n-3}, accumulated from the right end, where each H_k is still small.
  std::vector<double> qm(n * n, 0.0);
  for (size_t i = 0; i < n; ++i) qm[i * n + i] = 1.0;
  for (size_t k = n >= 2 ? n - 2 : 0; k-- > 0;) {
    const double* v = vs.data() + k * n;
    const size_t m0 = k + 1;
    std::fill(p.begin(), p.end(), 0.0);  // p = v^T Q[m0:, m0:]
    for (size_t i = m0; i < n; ++i)
      for (size_t j = m0; j < n; ++j) p[j] += v[i] * qm[i * n + j];
    for (size_t i = m0; i < n; ++i)
      for (size_t j = m0; j < n; ++j) qm[i * n + j] -= 2.0 * v[i] * p[j];
  }
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) qt[j * n + i] = qm[i * n + j];
}

/// Implicit QL with Wilkinson shifts on the tridiagonal (diag, off) (tqli, Numerical Recipes
/// 11.3): diag becomes the eigenvalues; each rotation is applied to the rows of zt, which hold
/// the eigenvectors as rows. Returns false if an eigenvalue took more than kMaxQlIters.
bool tridiagonal_ql(double* diag, double* off, size_t n, double* zt) {
  for (size_t l = 0; l < n; ++l) {
    for (size_t iter = 0;; ++iter) {
      size_t m = l;
      for (; m + 1 < n; ++m) {
        const double dd = std::fabs(diag[m]) + std::fabs(diag[m + 1]);
        if (std::fabs(off[m]) + dd == dd) break;  // negligible at double precision
      }
      if (m == l) break;
      if (iter == kMaxQlIters) return false;
      double g = (diag[l + 1] - diag[l]) / (2.0 * off[l]);
      double r = std::hypot(g, 1.0);
      g = diag[m] - diag[l] + off[l] / (g + (g >= 0.0 ? r : -r));
      double s = 1.0, c = 1.0, p = 0.0;
      size_t i = m;
      bool deflated = false;
      while (i-- > l) {
        const double f = s * off[i], b = c * off[i];
        off[i + 1] = r = std::hypot(f, g);
        if (r == 0.0) {  // underflow: split the matrix here and start over
          diag[i + 1] -= p;
          off[m] = 0.0;
          deflated = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = diag[i + 1] - p;
        r = (diag[i] - g) * s + 2.0 * c * b;
        p = s * r;
        diag[i + 1] = g + p;
        g = c * r - b;
        rotate_rows(zt + i * n, zt + (i + 1) * n, n, c, s);
      }
      if (deflated) continue;
      diag[l] -= p;
      off[l] = g;
      off[m] = 0.0;
    }
  }
  return true;
}

/// Orthonormalises the rows of ut (size n * n) by Gram-Schmidt in order of decreasing norm,
/// so the rounding errors end up in the least significant directions. A row that is zero, or
/// mostly in the span of the rows before it (a direction c does not have: the null space of a
/// rank-deficient c, or rounding), is replaced by a unit vector e_i orthogonalised likewise.
void orthonormal_rows(double* ut, size_t n) {
  std::vector<double> norm(n);
  std::vector<size_t> order(n);
  for (size_t j = 0; j < n; ++j) {
    norm[j] = std::sqrt(dot(ut + j * n, ut + j * n, n));
    order[j] = j;
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return norm[a] > norm[b]; });
  std::vector<size_t> done, missing;
  // Modified Gram-Schmidt against the accepted rows, returning the new norm; a second pass
  // only when the first cancelled much of the row ("twice is enough", Kahan-Parlett), which
  // for the rows of a nearly orthogonal U is rare.
  auto orthogonalise = [&](double* v) {
    double before = std::sqrt(dot(v, v, n));
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t r : done) {
        const double proj = dot(v, ut + r * n, n);
        for (size_t i = 0; i < n; ++i) v[i] -= proj * ut[r * n + i];
      }
      const double after = std::sqrt(dot(v, v, n));
      if (after > 0.7071 * before) return after;
      before = after;
    }
    return before;
  };
  for (size_t j : order) {
    double* v = ut + j * n;
    if (!(norm[j] > kRankTol * norm[order[0]])) {
      missing.push_back(j);
      continue;
    }
    for (size_t i = 0; i < n; ++i) v[i] /= norm[j];
    const double left = orthogonalise(v);
    if (!(left > 0.5)) {
      missing.push_back(j);
      continue;
    }
    for (size_t i = 0; i < n; ++i) v[i] /= left;
    done.push_back(j);
  }
  // Each replacement: the unit vector e_i least covered by the rows so far (the largest
  // 1 - sum_r u_r[i]^2, at least (rows missing) / n), so it stays far from their span.
  std::vector<double> covered(n, 0.0);
  for (size_t r : done)
    for (size_t i = 0; i < n; ++i) covered[i] += ut[r * n + i] * ut[r * n + i];
  for (size_t j : missing) {
    const size_t best =
        static_cast<size_t>(std::min_element(covered.begin(), covered.end()) - covered.begin());
    double* v = ut + j * n;
    std::fill(v, v + n, 0.0);
    v[best] = 1.0;
    const double left = orthogonalise(v);
    QVEC_ASSERT(left > 0.0);
    for (size_t i = 0; i < n; ++i) {
      v[i] /= left;
      covered[i] += v[i] * v[i];
    }
    done.push_back(j);
  }
}

/// One-sided Jacobi (Hestenes): rotates the rows of gt (the columns of G = c W, W = I at the
/// start) until they are orthogonal, rotating the rows of wt alike.
void jacobi_svd(double* gt, double* wt, size_t n) {
  std::vector<double> norms(n);
  for (size_t sweep = 0; sweep < kMaxSweeps; ++sweep) {
    for (size_t j = 0; j < n; ++j) norms[j] = dot(gt + j * n, gt + j * n, n);
    size_t rotations = 0;
    for (size_t p = 0; p + 1 < n; ++p)
      for (size_t q = p + 1; q < n; ++q) {
        const double gamma = dot(gt + p * n, gt + q * n, n), alpha = norms[p], beta = norms[q];
        if (!(std::fabs(gamma) > kJacobiTol * std::sqrt(alpha * beta))) continue;
        const double zeta = (beta - alpha) / (2.0 * gamma);
        const double t =
            (zeta >= 0.0 ? 1.0 : -1.0) / (std::fabs(zeta) + std::sqrt(1.0 + zeta * zeta));
        const double cs = 1.0 / std::sqrt(1.0 + t * t), sn = cs * t;
        rotate_rows(gt + p * n, gt + q * n, n, cs, sn);
        rotate_rows(wt + p * n, wt + q * n, n, cs, sn);
        norms[p] = alpha - t * gamma;
        norms[q] = beta + t * gamma;
        ++rotations;
      }
    if (rotations == 0) return;
  }
}

/// ut, wt (size n * n, rows u_j, w_j) -> p = sum_j u_j w_j^T.
void outer_sum(const double* ut, const double* wt, size_t n, double* p) {
  parallel_rows(n, n * n, [&](size_t i) {
    double* row = p + i * n;
    std::fill(row, row + n, 0.0);
    for (size_t j = 0; j < n; ++j) {
      const double u = ut[j * n + i];
      for (size_t k = 0; k < n; ++k) row[k] += u * wt[j * n + k];
    }
  });
}

}  // namespace

bool symmetric_eigen(double* s, size_t n, double* values, double* vt) {
  std::vector<double> off(n);
  tridiagonalize(s, n, values, off.data(), vt);
  return tridiagonal_ql(values, off.data(), n, vt);
}

void polar_factor(const double* c, size_t n, double* p) {
  std::vector<double> ct(n * n), s(n * n), lambda(n), wt(n * n), ut(n * n);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) ct[j * n + i] = c[i * n + j];
  parallel_rows(n, n * n, [&](size_t i) {  // s = c^T c
    for (size_t j = 0; j <= i; ++j) s[i * n + j] = dot(ct.data() + i * n, ct.data() + j * n, n);
  });
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < i; ++j) s[j * n + i] = s[i * n + j];
  if (symmetric_eigen(s.data(), n, lambda.data(), wt.data())) {
    parallel_rows(n, n * n, [&](size_t j) {  // u_j = c w_j (normalised by orthonormal_rows)
      for (size_t i = 0; i < n; ++i) ut[j * n + i] = dot(c + i * n, wt.data() + j * n, n);
    });
    orthonormal_rows(ut.data(), n);
    return outer_sum(ut.data(), wt.data(), n, p);
  }
  // The robust path: G = c W by Jacobi rotations, W = I to start; U = the normalised columns.
  std::fill(wt.begin(), wt.end(), 0.0);
  for (size_t j = 0; j < n; ++j) wt[j * n + j] = 1.0;
  jacobi_svd(ct.data(), wt.data(), n);
  orthonormal_rows(ct.data(), n);
  outer_sum(ct.data(), wt.data(), n, p);
}

}  // namespace qvec::detail
