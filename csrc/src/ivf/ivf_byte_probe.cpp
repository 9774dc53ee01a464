// The byte-shadow probe of one query (ivf_byte_probe.h): integer products for every
// centroid, an interval per centroid that holds the exact probe's float value, and the float
// kernels on the centroids whose interval can still reach the nprobe best.
#include "ivf_byte_probe.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "ivf_probe_select.h"
#include "kernels/dispatch.h"
#include "qvec/error.h"
#include "qvec/ivf.h"
#include "qvec/validate.h"

namespace qvec::detail {
namespace {

constexpr double kRowCode = 127.0;   // centroid codes in [-127, 127]
constexpr double kQueryCode = 63.0;  // query codes 64 + [-63, 63], within dot_blocks_i8's 0..127
constexpr int kQueryZero = 64;
// Upward rounding of norms and error sums taken in double (relative error ~1e-16 each).
constexpr double kUp = 1.0 + 1e-9;
// The float kernels' relative rounding (a d-term sum: within (d + 2) u, doubled) and their
// absolute part where terms are subnormal, as ivf_half_probe.cpp bounds them.
double float_rounding(size_t d) { return double(d + 2) * std::ldexp(1.0, -23); }
double float_underflow(size_t d) { return double(2 * d + 4) * std::ldexp(1.0, -149); }

/// The smallest float >= x (x >= 0).
float round_up(double x) {
  const float f = static_cast<float>(x);
  return double(f) >= x ? f : std::nextafter(f, std::numeric_limits<float>::infinity());
}

/// The k-th smallest of v (size n >= k >= 1): the first k set the bar, and of each later chunk
/// only the values the SIMD filter passes under it are inserted (sorted: scratch, k floats).
float kth_smallest(const float* v, size_t n, size_t k, const FilterKernels& filter,
                   std::vector<float>& sorted, uint32_t* hits) {
  sorted.assign(v, v + k);
  std::sort(sorted.begin(), sorted.end());
  constexpr size_t kChunk = 256;
  for (size_t c = k; c < n; c += kChunk) {
    const size_t m = filter.le_f32(v + c, std::min(kChunk, n - c), sorted[k - 1], hits);
    for (size_t h = 0; h < m; ++h) {
      const float x = v[c + hits[h]];
      if (!(x < sorted[k - 1])) continue;
      size_t pos = k - 1;
      for (; pos > 0 && x < sorted[pos - 1]; --pos) sorted[pos] = sorted[pos - 1];
      sorted[pos] = x;
    }
  }
  return sorted[k - 1];
}

/// Per-thread buffers of probe() (a one-query search should not allocate per call).
struct ByteScratch {
  std::vector<uint8_t> codes;
  std::vector<int32_t> sums;
  std::vector<float> lo, hi, upper;
  std::vector<uint32_t> hits;
  std::vector<idx_t> picked;
  std::vector<float> keys, best;
};

}  // namespace

ByteCentroids::ByteCentroids(const float* centroids, size_t nlist, size_t dim, Metric metric)
    : nlist_(nlist), dim_(dim), d4_((dim + 3) / 4), l2_(metric == Metric::L2), mean_(dim) {
  std::vector<double> sum(dim, 0.0);
  for (size_t l = 0; l < nlist; ++l)
    for (size_t t = 0; t < dim; ++t) sum[t] += centroids[l * dim + t];
  for (size_t t = 0; t < dim; ++t) mean_[t] = static_cast<float>(sum[t] / double(nlist));
  // No shadow past this width, where int32 sums of 127 * 127 products could overflow.
  if (dim > (size_t(1) << 31) / (127 * 127 + kQueryZero * 127)) return;
  for (size_t i = 0; i < nlist * dim; ++i)
    if (!std::isfinite(centroids[i]) || !std::isfinite(mean_[i % dim])) return;  // no shadow
  const size_t nblocks = (nlist + kByteBlockRows - 1) / kByteBlockRows;
  std::vector<int8_t> blocks(nblocks * d4_ * 64, 0);
  scale_.assign(nlist, 0.0f);
  code_offset_.assign(nlist, 0);
  norm_.assign(nlist, 0.0f);
  error_.assign(nlist, 0.0f);
  norm2_.assign(nlist, 0.0f);
  raw_norm_.assign(nlist, 0.0f);
  std::vector<double> y(dim);
  for (size_t l = 0; l < nlist; ++l) {
    double amax = 0.0, raw2 = 0.0;
    for (size_t t = 0; t < dim; ++t) {
      const double c = centroids[l * dim + t];
      y[t] = c - double(mean_[t]);
      amax = std::max(amax, std::fabs(y[t]));
      raw2 += c * c;
    }
    const double s = amax / kRowCode;
    double err2 = 0.0, y2 = 0.0, codes = 0.0;
    int8_t* block = blocks.data() + (l / kByteBlockRows) * d4_ * 64 + (l % kByteBlockRows) * 4;
    for (size_t t = 0; t < dim; ++t) {
      const double code = s > 0.0 ? std::max(-kRowCode, std::min(kRowCode, std::nearbyint(y[t] / s)))
                                  : 0.0;
      block[(t / 4) * 64 + t % 4] = static_cast<int8_t>(code);
      err2 += (y[t] - s * code) * (y[t] - s * code);
      y2 += y[t] * y[t];
      codes += code;
    }
    scale_[l] = static_cast<float>(s);
    code_offset_[l] = kQueryZero * static_cast<int32_t>(codes);
    norm_[l] = round_up(std::sqrt(y2) * kUp);
    error_[l] = round_up(std::sqrt(err2) * kUp);
    norm2_[l] = static_cast<float>(y2);
    raw_norm_[l] = round_up(std::sqrt(raw2) * kUp);
    max_norm_ = std::max(max_norm_, std::sqrt(y2) * kUp);
    max_raw_norm_ = std::max(max_raw_norm_, std::sqrt(raw2) * kUp);
  }
  // Past float's range the float intervals say nothing (and the exact probe throws).
  if (!(max_norm_ * max_norm_ < 1e36 && max_raw_norm_ * max_raw_norm_ < 1e36)) return;
  blocks_.swap(blocks);
}

bool ByteCentroids::encode_query(const float* query, uint8_t* codes, double* scale) const {
  double amax = 0.0;
  for (size_t t = 0; t < dim_; ++t) {
    const double w = double(query[t]) - (l2_ ? double(mean_[t]) : 0.0);
    if (!std::isfinite(w)) return false;
    amax = std::max(amax, std::fabs(w));
  }
  const double s = amax / kQueryCode;
  std::fill(codes, codes + d4_ * 4, uint8_t(0));
  for (size_t t = 0; t < dim_; ++t) {
    const double w = double(query[t]) - (l2_ ? double(mean_[t]) : 0.0);
    const double code = s > 0.0 ? std::max(-kQueryCode, std::min(kQueryCode, std::nearbyint(w / s)))
                                : 0.0;
    codes[t] = static_cast<uint8_t>(kQueryZero + static_cast<int>(code));
  }
  *scale = s;
  return true;
}

bool ByteCentroids::probe(const float* query, const float* centroids, size_t nprobe,
                          float* coarse, idx_t* lists) const {
  if (blocks_.empty() || 4 * nprobe >= nlist_) return false;
  thread_local ByteScratch sc;
  const size_t nblocks = (nlist_ + kByteBlockRows - 1) / kByteBlockRows;
  sc.codes.resize(d4_ * 4);
  sc.sums.resize(nblocks * kByteBlockRows);
  double qs = 0.0;
  if (!encode_query(query, sc.codes.data(), &qs)) return false;
  // The query's own quantization: ||w - w_hat||, ||w_hat||, ||w||^2 (L2) and ||q|| (IP).
  double qerr2 = 0.0, qhat2 = 0.0, w2 = 0.0, q2 = 0.0;
  for (size_t t = 0; t < dim_; ++t) {
    const double w = double(query[t]) - (l2_ ? double(mean_[t]) : 0.0);
    const double what = qs * double(int(sc.codes[t]) - kQueryZero);
    qerr2 += (w - what) * (w - what);
    qhat2 += what * what;
    w2 += w * w;
    q2 += double(query[t]) * double(query[t]);
  }
  const double qerr = std::sqrt(qerr2) * kUp, qhat = std::sqrt(qhat2) * kUp;
  const double qnorm = std::sqrt(q2) * kUp, gamma = float_rounding(dim_), tiny = float_underflow(dim_);
  // The exact probe throws where any float value overflows; leave such queries to it.
  const double widest = l2_ ? (std::sqrt(w2) * kUp + max_norm_) * (std::sqrt(w2) * kUp + max_norm_)
                            : qnorm * max_raw_norm_;
  if (!(widest * (1.0 + gamma) * kUp + tiny < double(std::numeric_limits<float>::max())))
    return false;
  dense_kernels().dot_blocks_i8(sc.codes.data(), blocks_.data(), nblocks, d4_, sc.sums.data());
  // Each centroid's interval [lo, hi] for the exact probe's key (L2: its squared distance;
  // IP: minus its inner product, shifted by the common -<q, mean>, which orders nothing).
  // |<w, y> - shadow| <= ||w - w_hat|| ||y|| + ||w_hat|| ||y - y_hat|| (Cauchy-Schwarz), the
  // float kernel rounds within gamma of its terms' magnitude (plus tiny), and the float
  // arithmetic here (which vectorizes; double did not) within 2^-24 per operation: 1e-5 of the
  // magnitudes involved, and 1e-37 absolute, cover it and the double differences c - mean.
  const float fqs = static_cast<float>(qs), fqerr = round_up(qerr), fqhat = round_up(qhat);
  const float fw2 = static_cast<float>(w2), fqnorm = round_up(qnorm);
  const float fgamma = round_up(gamma), kMargin = 1e-5f, kFloor = 1e-37f;
  sc.lo.resize(nlist_);
  sc.hi.resize(nlist_);
  const int32_t* __restrict sums = sc.sums.data();
  const int32_t* __restrict offset = code_offset_.data();
  const float* __restrict scale = scale_.data();
  const float* __restrict norm = norm_.data();
  const float* __restrict error = error_.data();
  float* __restrict lo = sc.lo.data();
  float* __restrict hi = sc.hi.data();
  if (l2_) {
    const float* __restrict norm2 = norm2_.data();
    for (size_t l = 0; l < nlist_; ++l) {
      const float dot = fqs * scale[l] * static_cast<float>(sums[l] - offset[l]);
      const float mid = fw2 + norm2[l] - 2.0f * dot;
      const float err = 2.0f * (fqerr * norm[l] + fqhat * error[l]);
      const float slack = err + kMargin * (fw2 + norm2[l] + 2.0f * std::fabs(dot) + err) + kFloor;
      const float low = mid - slack;
      lo[l] = (low > 0.0f ? low : 0.0f) * (1.0f - fgamma) - kFloor;
      hi[l] = (mid + slack) * (1.0f + fgamma) + kFloor;
    }
  } else {
    const float* __restrict raw = raw_norm_.data();
    for (size_t l = 0; l < nlist_; ++l) {
      const float dot = fqs * scale[l] * static_cast<float>(sums[l] - offset[l]);
      const float err = fqerr * norm[l] + fqhat * error[l] + fgamma * fqnorm * raw[l];
      const float slack =
          err + kMargin * (std::fabs(dot) + err + fqnorm * (raw[l] + norm[l])) + kFloor;
      lo[l] = -dot - slack;
      hi[l] = -dot + slack;
    }
  }
  // At least nprobe keys are <= the nprobe-th smallest upper end: every centroid whose key
  // must exceed it is out of the answer, ties included.
  const FilterKernels& filter = filter_kernels();
  sc.hits.resize(nlist_);
  const float reach = kth_smallest(hi, nlist_, nprobe, filter, sc.upper, sc.hits.data());
  const size_t count = filter.le_f32(lo, nlist_, reach, sc.hits.data());
  if (count > nlist_ / 4) return false;  // no cheaper than the exact probe
  const DenseKernels& kern = dense_kernels();
  sc.keys.resize(count);
  for (size_t i = 0; i < count; ++i) {
    const float* c = centroids + static_cast<size_t>(sc.hits[i]) * dim_;
    float dot;
    if (!l2_) kern.dot_direct(query, dim_, 1, c, dim_, 1, dim_, &dot, 1);
    sc.keys[i] = l2_ ? kern.l2sqr(query, c, dim_) : -dot;
    if (!(std::fabs(sc.keys[i]) <= std::numeric_limits<float>::max())) return false;
  }
  sc.best.resize(nprobe);
  sc.picked.resize(nprobe);
  smallest(sc.keys.data(), count, nprobe, sc.best.data(), sc.picked.data());
  for (size_t i = 0; i < nprobe; ++i) {
    coarse[i] = l2_ ? sc.best[i] : -sc.best[i];
    lists[i] = static_cast<idx_t>(sc.hits[static_cast<size_t>(sc.picked[i])]);
  }
  return true;
}

}  // namespace qvec::detail

namespace qvec {

IvfCoarseProbe::IvfCoarseProbe(const float* centroids, size_t nlist, size_t dim,
                               Metric metric)
    : centroids_(centroids), nlist_(nlist), dim_(dim), metric_(metric) {
  QVEC_CHECK_ARG(nlist >= 1, "nlist must be >= 1");
  QVEC_CHECK_ARG(dim >= 1, "dim must be >= 1");
  shadow_ = std::make_unique<detail::ByteCentroids>(centroids, nlist, dim, metric);
}

IvfCoarseProbe::~IvfCoarseProbe() = default;
IvfCoarseProbe::IvfCoarseProbe(IvfCoarseProbe&&) noexcept = default;

size_t IvfCoarseProbe::probe(const float* queries, size_t nq, size_t nprobe, float* coarse,
                             idx_t* lists) const {
  check_k(nprobe);
  if (nq > detail::kDirectProbeQueries) {
    ivf_probe(queries, nq, dim_, centroids_, nlist_, metric_, nprobe, coarse, lists);
    return 0;
  }
  size_t answered = 0;
  for (size_t q = 0; q < nq; ++q) {
    const float* query = queries + q * dim_;
    float* qc = coarse + q * nprobe;
    idx_t* ql = lists + q * nprobe;
    if (shadow_->probe(query, centroids_, nprobe, qc, ql))
      ++answered;
    else
      ivf_probe(query, 1, dim_, centroids_, nlist_, metric_, nprobe, qc, ql);
  }
  return answered;
}

void ivf_probe_kernels(const float* query, const float* x, size_t n, size_t d, float* direct,
                       float* rows) {
  const detail::DenseKernels& kern = detail::dense_kernels();
  for (size_t r = 0; r < n; ++r) direct[r] = kern.l2sqr(query, x + r * d, d);
  kern.l2sqr_rows(query, x, d, n, d, rows);
}

void ivf_probe_dot_kernels(const float* queries, size_t nq, const float* x, size_t n, size_t d,
                           float* grouped, float* single) {
  QVEC_CHECK_ARG(nq >= 1 && nq <= detail::kDirectRows, "dot_direct takes 1 to 4 queries");
  const detail::DenseKernels& kern = detail::dense_kernels();
  kern.dot_direct(queries, d, nq, x, d, n, d, grouped, n);
  for (size_t r = 0; r < n; ++r) kern.dot_direct(queries, d, nq, x + r * d, d, 1, d, single + r, n);
}

void ivf_probe_byte_kernel(const uint8_t* query, const int8_t* x, size_t n, size_t d,
                           int32_t* out) {
  const size_t d4 = (d + 3) / 4, nblocks = (n + detail::kByteBlockRows - 1) / detail::kByteBlockRows;
  std::vector<int8_t> blocks(nblocks * d4 * 64, 0);
  for (size_t r = 0; r < n; ++r)
    for (size_t t = 0; t < d; ++t)
      blocks[((r / detail::kByteBlockRows) * d4 + t / 4) * 64 + (r % detail::kByteBlockRows) * 4 +
             t % 4] = x[r * d + t];
  std::vector<uint8_t> codes(d4 * 4, 0);
  std::copy(query, query + d, codes.begin());
  std::vector<int32_t> sums(nblocks * detail::kByteBlockRows);
  detail::dense_kernels().dot_blocks_i8(codes.data(), blocks.data(), nblocks, d4, sums.data());
  std::copy(sums.begin(), sums.begin() + n, out);
}

}  // namespace qvec
