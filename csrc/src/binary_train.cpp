// BinaryQuantizer::train: the mean of the data, and a rotation (none, seeded random, or ITQ).
// Every step is deterministic for a seed whatever the thread count: sums are split at fixed
// boundaries and the double-precision linear algebra runs on one thread.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "linalg.h"
#include "pack.h"
#include "parallel.h"
#include "qvec/binary.h"
#include "qvec/error.h"
#include "qvec/validate.h"
#include "rng.h"

namespace qvec {

namespace {

constexpr size_t kMeanChunk = 4096;  // rows per partial sum of the mean
constexpr uint64_t kSampleSalt = 0xA0761D6478BD642FULL;  // the sample's stream, apart from R's

/// Column means of x (n, d) in double: partial sums over fixed chunks of rows, added in order.
std::vector<double> column_mean(const float* x, size_t n, size_t d) {
  const size_t chunks = (n + kMeanChunk - 1) / kMeanChunk;
  std::vector<double> partial(chunks * d, 0.0), mean(d, 0.0);
  detail::parallel_rows(chunks, kMeanChunk * d, [&](size_t c) {
    double* sum = partial.data() + c * d;
    for (size_t i = c * kMeanChunk; i < std::min(n, (c + 1) * kMeanChunk); ++i)
      for (size_t j = 0; j < d; ++j) sum[j] += x[i * d + j];
  });
  for (size_t c = 0; c < chunks; ++c)
    for (size_t j = 0; j < d; ++j) mean[j] += partial[c * d + j];
  for (size_t j = 0; j < d; ++j) mean[j] /= static_cast<double>(n);
  return mean;
}

/// m of the n rows without replacement, seeded, ascending (selection sampling: Knuth's
/// Algorithm S), so reading the sample stays sequential.
std::vector<size_t> sample_rows(size_t n, size_t m, uint64_t seed) {
  detail::SplitMix64 rng(seed ^ kSampleSalt);
  std::vector<size_t> rows;
  rows.reserve(m);
  for (size_t i = 0; i < n && rows.size() < m; ++i)
    if (static_cast<double>(n - i) * rng.uniform() < static_cast<double>(m - rows.size()))
      rows.push_back(i);
  return rows;
}

/// A uniformly random orthogonal (d, d) matrix: the Q factor of a seeded Gaussian matrix.
std::vector<double> random_rotation(size_t d, uint64_t seed) {
  detail::SplitMix64 rng(seed);
  std::vector<double> a(d * d), q(d * d);
  detail::gaussian(rng, a.data(), a.size());
  detail::orthogonal_factor(a.data(), d, q.data());
  return q;
}

/// C^T = (V^T B)^T for B = sign(Y), Y = V R (size m * d): the first time (signs empty) by a
/// product on the tile kernels, then by updating only for the signs that changed (few, once
/// ITQ settles), in double so that the updates do not accumulate rounding. signs: B, size
/// m * d, kept between calls; ct: size d * d.
void update_vtb(const float* v, const float* y, size_t m, size_t d, std::vector<int8_t>& signs,
                std::vector<double>& ct) {
  constexpr size_t kW = detail::kPackWidth, kColumns = 16;
  if (signs.empty()) {
    signs.resize(m * d);
    for (size_t i = 0; i < m * d; ++i) signs[i] = y[i] > 0.0f ? 1 : -1;
    std::vector<float> vt(d * m), bpacked((d + kW - 1) / kW * m * kW, 0.0f), c(d * d);
    for (size_t s = 0; s < m; ++s)
      for (size_t j = 0; j < d; ++j) {
        vt[j * m + s] = v[s * d + j];
        bpacked[((j / kW) * m + s) * kW + j % kW] = signs[s * d + j];  // B's packed columns
      }
    detail::matmul_packed_parallel(vt.data(), d, m, bpacked.data(), d, c.data());
    for (size_t i = 0; i < d; ++i)
      for (size_t j = 0; j < d; ++j) ct[j * d + i] = c[i * d + j];
    return;
  }
  // The changed signs, listed per block of columns of C in row order (one streaming pass),
  // then each block's rows of C^T updated by one task: the same sums for any thread count.
  const size_t nblocks = (d + kColumns - 1) / kColumns;
  std::vector<std::vector<size_t>> changed(nblocks);
  for (size_t s = 0; s < m; ++s)
    for (size_t j = 0; j < d; ++j) {
      const int8_t sign = y[s * d + j] > 0.0f ? 1 : -1;
      if (sign != signs[s * d + j]) {
        signs[s * d + j] = sign;
        changed[j / kColumns].push_back(s * d + j);
      }
    }
  size_t nchanged = 0;
  for (const auto& c : changed) nchanged += c.size();
  detail::parallel_rows(nblocks, nchanged * d / nblocks, [&](size_t block) {
    for (size_t at : changed[block]) {
      const float* vs = v + (at / d) * d;
      double* row = ct.data() + (at % d) * d;
      const double step = 2.0 * signs[at];
      for (size_t i = 0; i < d; ++i) row[i] += step * vs[i];
    }
  });
}

/// Iterative quantization (Gong & Lazebnik): alternately B = sign(V R) and the orthogonal
/// Procrustes solution R = polar(V^T B), which minimises ||B - V R||_F for that B.
/// v: the centred sample, size m * d; r: size d * d, the starting rotation, updated.
void itq(const float* v, size_t m, size_t d, size_t iters, std::vector<double>& r) {
  constexpr size_t kW = detail::kPackWidth;
  std::vector<float> y(m * d), rt(d * d), rpacked((d + kW - 1) / kW * d * kW);
  std::vector<int8_t> signs;
  std::vector<double> ct(d * d), pt(d * d);
  for (size_t it = 0; it < iters; ++it) {
    for (size_t i = 0; i < d; ++i)  // Y = V R with R's columns packed
      for (size_t j = 0; j < d; ++j) rt[j * d + i] = static_cast<float>(r[i * d + j]);
    detail::pack_columns(rt.data(), d, d, d, rpacked.data(), nullptr);
    detail::matmul_packed_parallel(v, m, d, rpacked.data(), d, y.data());
    update_vtb(v, y.data(), m, d, signs, ct);
    detail::polar_factor(ct.data(), d, pt.data());  // polar(C^T) = polar(C)^T
    for (size_t i = 0; i < d; ++i)
      for (size_t j = 0; j < d; ++j) r[i * d + j] = pt[j * d + i];
  }
}

}  // namespace

void BinaryQuantizer::train(const float* x, size_t n, const BinaryTrainOptions& options) {
  QVEC_CHECK_ARG(n >= 1, "training needs at least one vector");
  const bool rotate = options.rotation != BinaryRotation::None;
  QVEC_CHECK_ARG(!rotate || dim_ <= kMaxRotationDim,
                 "a rotation is supported up to dim " + std::to_string(kMaxRotationDim) +
                     "; got dim " + std::to_string(dim_));
  QVEC_CHECK_ARG(options.rotation == BinaryRotation::None ||
                     options.rotation == BinaryRotation::Random ||
                     options.rotation == BinaryRotation::Itq,
                 "options.rotation is not a BinaryRotation");
  QVEC_CHECK_ARG(all_finite(x, n * dim_), "x contains NaN or infinity");
  const std::vector<double> mean = column_mean(x, n, dim_);
  std::vector<double> rotation;
  if (rotate) rotation = random_rotation(dim_, options.seed);
  if (options.rotation == BinaryRotation::Itq && options.itq_iters > 0) {
    const size_t m = options.max_train == 0 ? n : std::min(n, options.max_train);
    const std::vector<size_t> rows =
        m < n ? sample_rows(n, m, options.seed) : std::vector<size_t>();
    std::vector<float> v(m * dim_);
    detail::parallel_rows((m + kMeanChunk - 1) / kMeanChunk, kMeanChunk * dim_, [&](size_t c) {
      for (size_t i = c * kMeanChunk; i < std::min(m, (c + 1) * kMeanChunk); ++i) {
        const float* row = x + (rows.empty() ? i : rows[i]) * dim_;
        for (size_t j = 0; j < dim_; ++j)
          v[i * dim_ + j] = static_cast<float>(double(row[j]) - mean[j]);
      }
    });
    itq(v.data(), m, dim_, options.itq_iters, rotation);
  }
  const std::vector<float> fmean(mean.begin(), mean.end()), frot(rotation.begin(), rotation.end());
  set_transform(fmean.data(), rotate ? frot.data() : nullptr);
}

BinaryRotation parse_binary_rotation(const char* name) {
  const std::string s = name ? name : "";
  if (s == "none") return BinaryRotation::None;
  if (s == "random") return BinaryRotation::Random;
  if (s == "itq") return BinaryRotation::Itq;
  throw std::invalid_argument("rotation must be \"none\", \"random\" or \"itq\"; got \"" + s +
                              "\"");
}

const char* binary_rotation_name(BinaryRotation rotation) {
  switch (rotation) {
    case BinaryRotation::None: return "none";
    case BinaryRotation::Random: return "random";
    case BinaryRotation::Itq: return "itq";
  }
  return "unknown";
}

}  // namespace qvec
