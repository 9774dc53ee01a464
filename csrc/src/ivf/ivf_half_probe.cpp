// The half-precision probe of one L2 query (ivf_half_probe.h): shortlist by the shadow, rank
// the shortlist exactly, and accept only what the rounding-error bound proves.
#include "ivf_half_probe.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "half.h"
#include "kernels/dispatch.h"
#include "qvec/error.h"
#include "qvec/ivf.h"
#include "qvec/validate.h"

namespace qvec::detail {
namespace {

/// Extra shortlist entries beyond nprobe (at least this many, and at least nprobe more).
constexpr size_t kMinSlack = 16;

/// A relative bound on the rounding of a float sum of d squared differences (each term within
/// 2 units of its value, the running sum within d units; doubled).
double sum_rounding(size_t d) { return double(d + 2) * std::ldexp(1.0, -23); }

/// The absolute part of that rounding, where terms or sums are subnormal: half the smallest
/// subnormal per operation (tiny centroids: 1e-23 and below).
double sum_underflow(size_t d) { return double(2 * d + 4) * std::ldexp(1.0, -149); }

float largest(const float* v, size_t n) {
  float m = 0.0f;
  for (size_t i = 0; i < n; ++i) m = m < v[i] ? v[i] : m;
  return m;
}

/// Per-thread buffers of probe() (a one-query search should not allocate per call).
struct ProbeScratch {
  std::vector<float> scaled, approx, vals;
  std::vector<idx_t> ids;
  std::vector<std::pair<float, idx_t>> exact;
};

}  // namespace

HalfCentroids::HalfCentroids(const float* centroids, size_t nlist, size_t dim)
    : nlist_(nlist), dim_(dim), mean_(dim, 0.0f) {
  std::vector<double> sum(dim, 0.0);
  for (size_t l = 0; l < nlist; ++l)
    for (size_t t = 0; t < dim; ++t) sum[t] += centroids[l * dim + t];
  double max_abs = 0.0;
  for (size_t t = 0; t < dim; ++t) mean_[t] = static_cast<float>(sum[t] / double(nlist));
  for (size_t i = 0; i < nlist * dim; ++i)
    max_abs = std::max(max_abs, std::fabs(double(centroids[i]) - mean_[i % dim]));
  if (!std::isfinite(max_abs)) return;  // no shadow: the exact probe reports the values
  int e = 0;
  if (max_abs > 0.0) std::frexp(max_abs, &e);  // max_abs < 2^e
  scale_ = std::ldexp(1.0f, 14 - e);            // (c - mean) * scale_ < 2^14 < 65504
  if (!std::isfinite(scale_) || scale_ == 0.0f) return;
  half_.resize(nlist * dim);
  for (size_t l = 0; l < nlist; ++l) {
    double err2 = 0.0;
    for (size_t t = 0; t < dim; ++t) {
      const double centred = double(centroids[l * dim + t]) - mean_[t];
      const uint16_t h = float_to_half(static_cast<float>(centred * scale_));
      half_[l * dim + t] = h;
      const double miss = double(half_to_float(h)) / scale_ - centred;
      err2 += miss * miss;
    }
    row_error_ = std::max(row_error_, std::sqrt(err2));
  }
  row_error_ *= 1.0 + 1e-9;  // the double sums' own rounding
}

bool HalfCentroids::probe(const float* query, const float* centroids, size_t nprobe,
                          float* coarse, idx_t* lists) const {
  const size_t keep = nprobe + std::max(nprobe, kMinSlack);
  if (half_.empty() || keep >= nlist_) return false;
  thread_local ProbeScratch sc;
  sc.scaled.resize(dim_);
  sc.approx.resize(nlist_);
  sc.vals.resize(keep);
  sc.ids.resize(keep);
  sc.exact.resize(keep);
  double query_error2 = 0.0;
  for (size_t t = 0; t < dim_; ++t) {
    sc.scaled[t] = (query[t] - mean_[t]) * scale_;
    const double miss = double(sc.scaled[t]) / scale_ - (double(query[t]) - mean_[t]);
    query_error2 += miss * miss;
  }
  const DenseKernels& kern = dense_kernels();
  kern.l2sqr_rows_half(sc.scaled.data(), half_.data(), dim_, nlist_, dim_, sc.approx.data());
  if (!all_finite(sc.approx.data(), nlist_)) return false;
  const double gamma = sum_rounding(dim_), tiny = sum_underflow(dim_);
  const double query_error = std::sqrt(query_error2) * (1.0 + 1e-9);
  // The exact probe throws when a distance overflows float: leave such queries to it.
  const double far = std::sqrt(double(largest(sc.approx.data(), nlist_)) * (1.0 + gamma) + tiny) /
                         scale_ + query_error + row_error_;
  if (!(far * far * (1.0 + gamma) + tiny < double(std::numeric_limits<float>::max())))
    return false;
  smallest(sc.approx.data(), nlist_, keep, sc.vals.data(), sc.ids.data());
  const float out_min = sc.vals[keep - 1];
  std::vector<std::pair<float, idx_t>>& exact = sc.exact;
  for (size_t i = 0; i < keep; ++i) {
    const size_t l = static_cast<size_t>(sc.ids[i]);
    exact[i] = {kern.l2sqr(query, centroids + l * dim_, dim_), sc.ids[i]};
  }
  for (const auto& e : exact)
    if (!(e.first <= std::numeric_limits<float>::max())) return false;
  std::sort(exact.begin(), exact.end());  // by distance, then the smaller list
  // Every centroid left out (approximate distance >= out_min) is at least this far from the
  // query, squared and as l2sqr rounds it.
  const double reach = std::sqrt(std::max(0.0, double(out_min) - tiny) / (1.0 + gamma)) / scale_ -
                       query_error - row_error_;
  const double bound = reach > 0.0 ? reach * reach * (1.0 - gamma) - tiny : 0.0;
  const float worst_kept = exact[nprobe - 1].first;
  if (!(bound > double(worst_kept))) return false;
  for (size_t i = 0; i < nprobe; ++i) {
    coarse[i] = exact[i].first;
    lists[i] = exact[i].second;
  }
  return true;
}

}  // namespace qvec::detail

namespace qvec {
namespace {

}  // namespace

IvfCoarseProbe::IvfCoarseProbe(const float* centroids, size_t nlist, size_t dim,
                               Metric metric)
    : centroids_(centroids), nlist_(nlist), dim_(dim), metric_(metric) {
  QVEC_CHECK_ARG(nlist >= 1, "nlist must be >= 1");
  QVEC_CHECK_ARG(dim >= 1, "dim must be >= 1");
  if (metric == Metric::L2)
    half_ = std::make_unique<detail::HalfCentroids>(centroids, nlist, dim);
}

IvfCoarseProbe::~IvfCoarseProbe() = default;
IvfCoarseProbe::IvfCoarseProbe(IvfCoarseProbe&&) noexcept = default;

size_t IvfCoarseProbe::probe(const float* queries, size_t nq, size_t nprobe, float* coarse,
                             idx_t* lists) const {
  check_k(nprobe);
  if (!half_ || nq > detail::kDirectProbeQueries) {
    ivf_probe(queries, nq, dim_, centroids_, nlist_, metric_, nprobe, coarse, lists);
    return 0;
  }
  size_t answered = 0;
  for (size_t q = 0; q < nq; ++q) {
    const float* query = queries + q * dim_;
    float* qc = coarse + q * nprobe;
    idx_t* ql = lists + q * nprobe;
    if (half_->probe(query, centroids_, nprobe, qc, ql))
      ++answered;
    else
      ivf_probe(query, 1, dim_, centroids_, nlist_, Metric::L2, nprobe, qc, ql);
  }
  return answered;
}

void ivf_probe_kernels(const float* query, const float* x, size_t n, size_t d, float* direct,
                       float* rows, float* half) {
  const detail::DenseKernels& kern = detail::dense_kernels();
  std::vector<uint16_t> halves(n * d);
  for (size_t i = 0; i < n * d; ++i) halves[i] = detail::float_to_half(x[i]);
  for (size_t r = 0; r < n; ++r) direct[r] = kern.l2sqr(query, x + r * d, d);
  kern.l2sqr_rows(query, x, d, n, d, rows);
  kern.l2sqr_rows_half(query, halves.data(), d, n, d, half);
}

}  // namespace qvec
