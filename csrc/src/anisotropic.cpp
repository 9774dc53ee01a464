// Anisotropic (score-aware) PQ: codes by coordinate descent on the anisotropic loss and the
// codebook refinement that minimises it (see qvec/anisotropic.h).
#include "qvec/anisotropic.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "pack.h"
#include "parallel.h"
#include "pq_codes.h"
#include "qvec/error.h"
#include "stop.h"
#include "training_sample.h"

namespace qvec {
namespace {

using detail::kPackWidth;

constexpr size_t kChunk = 256;
constexpr int kPasses = 2;  // sweeps over the subspaces; a third changes almost no code

/// The codebooks packed for the product kernel, as they are (the loss needs <c, x>, not a
/// centred form), and their squared norms.
struct PackedBooks {
  std::vector<float> packed, norms;
  explicit PackedBooks(const ProductQuantizer& pq)
      : packed(pq.m() * pq.pack_ksub() * pq.dsub()), norms(pq.m() * pq.pack_ksub()) {
    const size_t book = pq.ksub() * pq.dsub(), slots = pq.pack_ksub();
    for (size_t j = 0; j < pq.m(); ++j)
      detail::pack_columns(pq.centroids().data() + j * book, pq.ksub(), pq.dsub(), pq.dsub(),
                           packed.data() + j * slots * pq.dsub(), norms.data() + j * slots);
  }
};

/// One row's coordinate descent from its current code (row of pq's code layout, rewritten).
/// p = <x - x~, x / ||x||> is kept up to date as each subspace's code changes.
void descend_row(const ProductQuantizer& pq, const PackedBooks& books, const float* x,
                 double eta, float* scratch, uint8_t* code) {
  const size_t m = pq.m(), dsub = pq.dsub(), ksub = pq.ksub(), nbits = pq.nbits();
  const detail::DenseKernels& kern = detail::dense_kernels();
  double norm2 = 0.0;
  for (size_t t = 0; t < pq.dim(); ++t) norm2 += double(x[t]) * x[t];
  if (!(norm2 > 0.0)) return;  // the zero vector: every code has the same loss
  const double inv = 1.0 / std::sqrt(norm2);
  float* dots = scratch;          // pack_ksub products of one subspace
  float* self = scratch + pq.pack_ksub();  // m: ||x_j||^2
  float* chosen = self + m;       // m: <c_j, x_j> of the current code
  double p = 0.0;
  for (size_t j = 0; j < m; ++j) {
    const float* sub = x + j * dsub;
    const float* c =
        pq.centroids().data() + (j * ksub + detail::get_code(code, j, nbits)) * dsub;
    double s = 0.0, g = 0.0;
    for (size_t t = 0; t < dsub; ++t) {
      s += double(sub[t]) * sub[t];
      g += double(sub[t]) * c[t];
    }
    self[j] = static_cast<float>(s);
    chosen[j] = static_cast<float>(g);
    p += (s - g) * inv;
  }
  for (int pass = 0; pass < kPasses; ++pass)
    for (size_t j = 0; j < m; ++j) {
      const double rest = p - (double(self[j]) - chosen[j]) * inv, a = rest + self[j] * inv;
      const float* packed = books.packed.data() + j * pq.pack_ksub() * dsub;
      for (size_t pk = 0; pk < pq.pack_ksub() / kPackWidth; ++pk)
        kern.dot_tile16(x + j * dsub, dsub, 1, packed + pk * dsub * kPackWidth, dsub,
                        dots + pk * kPackWidth, kPackWidth);
      const float* norms = books.norms.data() + j * pq.pack_ksub();
      double best = INFINITY;
      int32_t index = 0;
      for (size_t c = 0; c < ksub; ++c) {
        const double g = dots[c], par = a - g * inv;
        const double loss = norms[c] - 2.0 * g + (eta - 1.0) * par * par;
        if (loss < best) {
          best = loss;
          index = static_cast<int32_t>(c);
        }
      }
      detail::set_code(code, j, nbits, static_cast<uint32_t>(index));
      chosen[j] = dots[index];
      p = rest + (double(self[j]) - chosen[j]) * inv;
    }
}

/// Solves a c = b for the symmetric positive definite a (size d * d, overwritten by its
/// Cholesky factor); c overwrites b (size d). False when a is not positive definite.
bool solve_spd(double* a, double* b, size_t d) {
  for (size_t i = 0; i < d; ++i) {
    for (size_t j = 0; j <= i; ++j) {
      double s = a[i * d + j];
      for (size_t t = 0; t < j; ++t) s -= a[i * d + t] * a[j * d + t];
      if (i == j) {
        if (!(s > 0.0)) return false;
        a[i * d + i] = std::sqrt(s);
      } else {
        a[i * d + j] = s / a[j * d + j];
      }
    }
  }
  for (size_t i = 0; i < d; ++i) {  // L y = b, then L^T c = y
    for (size_t t = 0; t < i; ++t) b[i] -= a[i * d + t] * b[t];
    b[i] /= a[i * d + i];
  }
  for (size_t i = d; i-- > 0;) {
    for (size_t t = i + 1; t < d; ++t) b[i] -= a[t * d + i] * b[t];
    b[i] /= a[i * d + i];
  }
  return true;
}

double dot_double(const float* a, const float* b, size_t d) {
  double s = 0.0;
  for (size_t t = 0; t < d; ++t) s += double(a[t]) * b[t];
  return s;
}

/// The training sample with its codes: inv[i] = 1 / ||x_i|| (0 for the zero vector) and
/// p[i] = <x_i - x~_i, x_i / ||x_i||> under the codebooks being refined.
struct Sample {
  const float* x;
  size_t n;
  const uint8_t* codes;
  std::vector<double> inv, p;
};

/// The least-squares minimiser of the loss over subspace j's centroids, the other subspaces
/// held: for the rows coded k, (N I + (eta - 1) sum u u^T) c = sum x_j + (eta - 1) sum a u,
/// u = x_j / ||x||, a = the parallel residual of the other subspaces + <x_j, u>. Centroids
/// no row uses keep their value. book: size ksub * dsub, updated; s.p updated.
void update_subspace(const ProductQuantizer& pq, size_t j, double eta, Sample& s, float* book) {
  const size_t dim = pq.dim(), dsub = pq.dsub(), ksub = pq.ksub(), cs = pq.code_size();
  std::vector<double> a(ksub * dsub * dsub, 0.0), b(ksub * dsub, 0.0), count(ksub, 0.0);
  std::vector<double> rest(s.n);
  for (size_t i = 0; i < s.n; ++i) {
    const float* sub = s.x + i * dim + j * dsub;
    const auto k = static_cast<int32_t>(detail::get_code(s.codes + i * cs, j, pq.nbits()));
    const double self = dot_double(sub, sub, dsub), inv = s.inv[i];
    rest[i] = s.p[i] - (self - dot_double(sub, book + k * dsub, dsub)) * inv;
    const double par = rest[i] + self * inv, w = eta - 1.0;
    double* ak = a.data() + k * dsub * dsub;
    double* bk = b.data() + k * dsub;
    count[k] += 1.0;
    for (size_t t = 0; t < dsub; ++t) {
      const double ut = sub[t] * inv;
      bk[t] += sub[t] + w * par * ut;
      for (size_t v = 0; v <= t; ++v) ak[t * dsub + v] += w * ut * sub[v] * inv;
    }
  }
  for (size_t k = 0; k < ksub; ++k) {
    if (count[k] == 0.0) continue;
    double* ak = a.data() + k * dsub * dsub;
    for (size_t t = 0; t < dsub; ++t) {
      ak[t * dsub + t] += count[k];
      for (size_t v = t + 1; v < dsub; ++v) ak[t * dsub + v] = ak[v * dsub + t];
    }
    double* bk = b.data() + k * dsub;
    if (solve_spd(ak, bk, dsub))
      for (size_t t = 0; t < dsub; ++t) book[k * dsub + t] = static_cast<float>(bk[t]);
  }
  for (size_t i = 0; i < s.n; ++i) {
    const float* sub = s.x + i * dim + j * dsub;
    const auto k = static_cast<int32_t>(detail::get_code(s.codes + i * cs, j, pq.nbits()));
    s.p[i] = rest[i] + (dot_double(sub, sub, dsub) - dot_double(sub, book + k * dsub, dsub)) *
                           s.inv[i];
  }
}

}  // namespace

double anisotropic_eta(double threshold, size_t dim) {
  QVEC_CHECK_ARG(threshold > 0.0 && threshold < 1.0,
                 "threshold must be in (0, 1); got " + std::to_string(threshold));
  const double t2 = threshold * threshold;
  return std::max(1.0, double(dim > 1 ? dim - 1 : 1) * t2 / (1.0 - t2));
}

void anisotropic_encode(const ProductQuantizer& pq, const float* x, size_t n, double eta,
                        uint8_t* codes) {
  QVEC_CHECK_ARG(eta >= 1.0 && std::isfinite(eta), "eta must be finite and >= 1");
  pq.encode(x, n, codes);  // the nearest centroids: the start, and every input check
  if (eta == 1.0) return;
  const PackedBooks books(pq);
  const size_t cs = pq.code_size();
  detail::check_stop();
  detail::parallel_for((n + kChunk - 1) / kChunk, [&](size_t chunk) {
    std::vector<float> scratch(pq.pack_ksub() + 2 * pq.m());
    for (size_t i = chunk * kChunk; i < std::min(n, (chunk + 1) * kChunk); ++i)
      descend_row(pq, books, x + i * pq.dim(), eta, scratch.data(), codes + i * cs);
  });
}

void anisotropic_train(ProductQuantizer& pq, const float* x, size_t n,
                       const AnisotropicTrainOptions& options) {
  QVEC_CHECK_ARG(pq.is_trained(), "the quantizer must be trained first");
  QVEC_CHECK_ARG(options.eta >= 1.0 && std::isfinite(options.eta), "eta must be finite and >= 1");
  const size_t dim = pq.dim(), m = pq.m(), book = pq.ksub() * pq.dsub();
  const size_t limit = options.max_train ? options.max_train : kAnisotropicSample;
  const std::vector<float> xs = detail::sample_rows(x, n, dim, limit, options.seed);
  Sample s{xs.data(), xs.size() / dim, nullptr, {}, {}};
  std::vector<uint8_t> codes(s.n * pq.code_size());
  s.codes = codes.data();
  s.inv.resize(s.n);
  s.p.resize(s.n);
  for (size_t i = 0; i < s.n; ++i) {
    const double norm2 = dot_double(xs.data() + i * dim, xs.data() + i * dim, dim);
    s.inv[i] = norm2 > 0.0 ? 1.0 / std::sqrt(norm2) : 0.0;
  }
  for (size_t it = 0; it < options.iters; ++it) {
    anisotropic_encode(pq, xs.data(), s.n, options.eta, codes.data());
    std::vector<float> books = pq.centroids();
    for (size_t i = 0; i < s.n; ++i) {
      double p = 0.0;
      for (size_t j = 0; j < m; ++j) {
        const float* sub = xs.data() + i * dim + j * pq.dsub();
        const auto k = static_cast<int32_t>(
            detail::get_code(codes.data() + i * pq.code_size(), j, pq.nbits()));
        p += dot_double(sub, sub, pq.dsub()) -
             dot_double(sub, books.data() + j * book + k * pq.dsub(), pq.dsub());
      }
      s.p[i] = p * s.inv[i];
    }
    for (size_t j = 0; j < m; ++j) {
      detail::check_stop();
      update_subspace(pq, j, options.eta, s, books.data() + j * book);
    }
    pq.set_centroids(books.data());
  }
}

}  // namespace qvec
