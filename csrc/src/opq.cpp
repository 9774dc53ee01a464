// OPQ: the rotation by alternating PQ refinement and orthogonal Procrustes (see qvec/opq.h).
#include "qvec/opq.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "linalg.h"
#include "pack.h"
#include "qvec/error.h"
#include "stop.h"
#include "training_sample.h"

namespace qvec {
namespace {

constexpr size_t kW = detail::kPackWidth;

/// y = x R: x size n * d, r (double) size d * d; y size n * d.
void rotate(const float* x, size_t n, size_t d, const std::vector<double>& r, float* y) {
  std::vector<float> rt(d * d), packed((d + kW - 1) / kW * d * kW);
  for (size_t i = 0; i < d; ++i)
    for (size_t j = 0; j < d; ++j) rt[j * d + i] = static_cast<float>(r[i * d + j]);
  detail::pack_columns(rt.data(), d, d, d, packed.data(), nullptr);
  detail::matmul_packed_parallel(x, n, d, packed.data(), d, y);
}

/// c = x^T y (size d * d, double) for x, y of size n * d: the Procrustes cross-covariance.
void cross_covariance(const float* x, const float* y, size_t n, size_t d, double* c) {
  std::vector<float> xt(d * n), packed((d + kW - 1) / kW * n * kW, 0.0f), out(d * d);
  for (size_t s = 0; s < n; ++s)
    for (size_t j = 0; j < d; ++j) {
      xt[j * n + s] = x[s * d + j];
      packed[((j / kW) * n + s) * kW + j % kW] = y[s * d + j];  // y's packed columns
    }
  detail::matmul_packed_parallel(xt.data(), d, n, packed.data(), d, out.data());
  for (size_t i = 0; i < d * d; ++i) c[i] = out[i];
}

}  // namespace

void opq_train(const float* x, size_t n, ProductQuantizer& pq, const OPQTrainOptions& options,
               const PQTrainOptions& final, float* rotation) {
  const size_t d = pq.dim();
  QVEC_CHECK_ARG(d <= kMaxOpqDim, "OPQ rotates up to dim " + std::to_string(kMaxOpqDim) +
                                      "; got dim " + std::to_string(d));
  QVEC_CHECK_ARG(n >= pq.ksub(), "training needs at least ksub = " + std::to_string(pq.ksub()) +
                                     " vectors; got " + std::to_string(n));
  size_t limit = options.max_train ? options.max_train : 256 * pq.ksub();
  QVEC_CHECK_ARG(limit >= pq.ksub(), "max_train must be >= ksub = " + std::to_string(pq.ksub()));
  std::vector<float> xs = detail::sample_rows(x, n, d, limit, options.seed);
  const size_t nt = xs.size() / d;
  for (float v : xs) QVEC_CHECK_ARG(std::isfinite(v), "x contains NaN or infinity");

  std::vector<double> r(d * d, 0.0), c(d * d);
  for (size_t i = 0; i < d; ++i) r[i * d + i] = 1.0;
  std::vector<float> xr(nt * d), y(nt * d);
  std::vector<uint8_t> codes(nt * pq.code_size());
  PQTrainOptions step;
  step.iters = std::max<size_t>(options.pq_iters, 1);
  step.seed = options.seed;
  step.max_train = nt;
  for (size_t it = 0; it < options.iters; ++it) {
    detail::check_stop();
    rotate(xs.data(), nt, d, r, xr.data());
    step.warm_start = it > 0;
    pq.train(xr.data(), nt, step);
    pq.encode(xr.data(), nt, codes.data());
    pq.decode(codes.data(), nt, y.data());
    cross_covariance(xs.data(), y.data(), nt, d, c.data());
    detail::polar_factor(c.data(), d, r.data());
  }
  rotate(xs.data(), nt, d, r, xr.data());
  PQTrainOptions last = final;
  last.max_train = nt;
  last.warm_start = options.iters > 0;  // refine the alternation's codebooks
  pq.train(xr.data(), nt, last);
  for (size_t i = 0; i < d * d; ++i) rotation[i] = static_cast<float>(r[i]);
}

}  // namespace qvec
