// The half-precision probe of one L2 query (ivf_half_probe.h): shortlist by the shadow, rank
// the shortlist exactly, and accept only what the rounding-error bound proves.
#include "ivf_half_probe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "half.h"
#include "kernels/dispatch.h"
#include "qvec/error.h"
#include "qvec/ivf.h"

namespace qvec::detail {
namespace {

/// Extra shortlist entries beyond nprobe (at least this many, and at least nprobe more).
constexpr size_t kMinSlack = 16;

/// A relative bound on the rounding of a float sum of d squared differences (each term within
/// 2 units of its value, the running sum within d units; doubled).
double sum_rounding(size_t d) { return double(d + 2) * std::ldexp(1.0, -23); }

/// The `keep` smallest values of v (size n > keep) with their indices, ascending. Every value
/// not kept is >= vals[keep - 1]: a rejected one was >= the threshold of its time, an evicted
/// one was the threshold, and the threshold only falls.
void smallest(const float* v, size_t n, size_t keep, float* vals, idx_t* ids) {
  const auto insert = [&](size_t pos, size_t l) {
    const float x = v[l];
    for (; pos > 0 && x < vals[pos - 1]; --pos) {
      vals[pos] = vals[pos - 1];
      ids[pos] = ids[pos - 1];
    }
    vals[pos] = x;
    ids[pos] = static_cast<idx_t>(l);
  };
  for (size_t l = 0; l < keep; ++l) insert(l, l);
  float threshold = vals[keep - 1];
  size_t l = keep;
  for (; l + 16 <= n; l += 16) {
    // after the first lists almost every block holds no value under the threshold: one
    // branch for 16 (the test vectorizes)
    int under = 0;
    for (size_t j = 0; j < 16; ++j) under |= v[l + j] < threshold;
    if (!under) continue;
    for (size_t j = l; j < l + 16; ++j)
      if (v[j] < threshold) {
        insert(keep - 1, j);
        threshold = vals[keep - 1];
      }
  }
  for (; l < n; ++l)
    if (v[l] < threshold) {
      insert(keep - 1, l);
      threshold = vals[keep - 1];
    }
}

/// Whether v (size n) is all finite: exponent bits not all set, tested as integers so the loop
/// vectorizes.
bool all_finite(const float* v, size_t n) {
  uint32_t special = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, v + i, sizeof bits);
    special |= ((bits & 0x7F800000u) + 0x00800000u) & 0x80000000u;
  }
  return special == 0;
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
  const double gamma = sum_rounding(dim_);
  // Every centroid left out (approximate distance >= out_min) is at least this far from the
  // query, squared and as l2sqr rounds it.
  const double reach = std::sqrt(double(out_min) / (1.0 + gamma)) / scale_ -
                       std::sqrt(query_error2) * (1.0 + 1e-9) - row_error_;
  const double bound = reach > 0.0 ? reach * reach * (1.0 - gamma) : 0.0;
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

/// Queries probed one by one through the half-precision shadow (more share each centroid read
/// in exact_search): the exact direct probe's bound (ivf_coarse.cpp), whose answers these are.
constexpr size_t kHalfProbeQueries = 4;

}  // namespace

IvfCoarseProbe::IvfCoarseProbe(const float* centroids, size_t nlist, size_t dim,
                               Metric metric)
    : centroids_(centroids), nlist_(nlist), dim_(dim), metric_(metric) {
  QVEC_CHECK_ARG(nlist >= 1 && dim >= 1, "the coarse probe needs nlist >= 1 and dim >= 1");
  if (metric == Metric::L2)
    half_ = std::make_unique<detail::HalfCentroids>(centroids, nlist, dim);
}

IvfCoarseProbe::~IvfCoarseProbe() = default;
IvfCoarseProbe::IvfCoarseProbe(IvfCoarseProbe&&) noexcept = default;

void IvfCoarseProbe::probe(const float* queries, size_t nq, size_t nprobe, float* coarse,
                           idx_t* lists) const {
  check_k(nprobe);
  if (!half_ || nq > kHalfProbeQueries) {
    ivf_probe(queries, nq, dim_, centroids_, nlist_, metric_, nprobe, coarse, lists);
    return;
  }
  for (size_t q = 0; q < nq; ++q) {
    const float* query = queries + q * dim_;
    float* qc = coarse + q * nprobe;
    idx_t* ql = lists + q * nprobe;
    if (!half_->probe(query, centroids_, nprobe, qc, ql))
      ivf_probe(query, 1, dim_, centroids_, nlist_, Metric::L2, nprobe, qc, ql);
  }
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
