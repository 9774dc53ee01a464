// BinaryQuantizer: the transform (centre, rotate) and the codes (encode, decode).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "binary_extended.h"
#include "binary_tile.h"
#include "linalg.h"
#include "pack.h"
#include "parallel.h"
#include "qvec/binary.h"
#include "qvec/error.h"

namespace qvec {

namespace {

constexpr size_t kEncodeChunk = 256;  // vectors per encode / decode task

/// Levels and factors of one transformed vector v = (x - mean) R (see BinaryQuantizer): code
/// (bits * nbytes bytes, zeroed here), factors f[0..3 + bits); cdot = <x - mean, mean>.
void encode_levels(const float* v, size_t dim, size_t bits, double cdot, uint8_t* code,
                   float* f, float* r) {
  const size_t nbytes = (dim + 7) / 8;
  std::memset(code, 0, bits * nbytes);
  std::copy(v, v + dim, r);
  double norm2 = 0.0, xhat_dot = 0.0;
  for (size_t j = 0; j < dim; ++j) norm2 += double(v[j]) * v[j];
  for (size_t l = 0; l < bits; ++l) {
    uint8_t* level = code + l * nbytes;
    double l1 = 0.0;
    for (size_t j = 0; j < dim; ++j) {
      l1 += std::fabs(r[j]);
      if (r[j] > 0.0f) detail::set_bit(level, j);
    }
    float alpha = static_cast<float>(l1 / double(dim));
    double s_dot = 0.0;  // <s_l, x_r>
    for (size_t j = 0; j < dim; ++j) {
      float s = r[j] > 0.0f ? alpha : -alpha;
      s_dot += double(detail::get_bit(level, j) ? 1.0f : -1.0f) * v[j];
      r[j] -= s;
    }
    xhat_dot += alpha * s_dot;
    f[BinaryQuantizer::kFixedFactors + l] = alpha;
  }
  double rho = xhat_dot > 0.0 ? norm2 / xhat_dot : 0.0;
  f[0] = static_cast<float>(norm2);
  f[1] = static_cast<float>(cdot);
  f[2] = static_cast<float>(rho);
}

}  // namespace

BinaryCodeForm parse_binary_code_form(const char* name) {
  const std::string s = name == nullptr ? "" : name;
  if (s == "residual") return BinaryCodeForm::Residual;
  if (s == "extended") return BinaryCodeForm::Extended;
  throw std::invalid_argument("method must be 'residual' or 'extended'; got '" + s + "'");
}

const char* binary_code_form_name(BinaryCodeForm form) {
  return form == BinaryCodeForm::Extended ? "extended" : "residual";
}

BinaryQuantizer::BinaryQuantizer(size_t dim, size_t bits, Metric metric, BinaryCodeForm form)
    : dim_(dim), bits_(bits), metric_(metric), form_(form) {
  QVEC_CHECK_ARG(dim >= 1, "dim must be >= 1");
  QVEC_CHECK_ARG(bits >= 1 && bits <= kMaxBits,
                 "bits must be in [1, " + std::to_string(kMaxBits) + "]; got " +
                     std::to_string(bits));
}

void BinaryQuantizer::require_trained() const {
  if (!trained_)
    throw std::invalid_argument(
        "the BinaryQuantizer is not trained: call BinaryQuantizer::train or set_transform first");
}

void BinaryQuantizer::set_transform(const float* mean, const float* rotation) {
  mean_.assign(mean, mean + dim_);
  rotation_.clear();
  rotation_packed_.clear();
  rotation_t_packed_.clear();
  if (rotation != nullptr) {
    rotation_.assign(rotation, rotation + dim_ * dim_);
    const size_t npacks = (dim_ + detail::kPackWidth - 1) / detail::kPackWidth;
    std::vector<float> rt(dim_ * dim_);
    for (size_t i = 0; i < dim_; ++i)
      for (size_t j = 0; j < dim_; ++j) rt[j * dim_ + i] = rotation[i * dim_ + j];
    rotation_packed_.resize(npacks * dim_ * detail::kPackWidth);
    rotation_t_packed_.resize(npacks * dim_ * detail::kPackWidth);
    // x R: columns of R are the rows of R^T; x R^T: columns of R^T are the rows of R.
    detail::pack_columns(rt.data(), dim_, dim_, dim_, rotation_packed_.data(), nullptr);
    detail::pack_columns(rotation, dim_, dim_, dim_, rotation_t_packed_.data(), nullptr);
  }
  trained_ = true;
}

void BinaryQuantizer::transform(const float* x, size_t n, bool centre, float* out) const {
  if (centre) {
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < dim_; ++j) out[i * dim_ + j] = x[i * dim_ + j] - mean_[j];
  } else {
    std::copy(x, x + n * dim_, out);
  }
  if (rotation_.empty()) return;
  std::vector<float> tmp(out, out + n * dim_);
  // All threads for a batch of queries (serial, it was 5% of an IVF search at 2 threads);
  // inside encode's tasks it runs serially, the same rows with the same bits either way.
  detail::matmul_packed_parallel(tmp.data(), n, dim_, rotation_packed_.data(), dim_, out);
}

void BinaryQuantizer::encode(const float* x, size_t n, uint8_t* codes, float* factors) const {
  require_trained();
  const size_t nf = num_factors();
  detail::parallel_for((n + kEncodeChunk - 1) / kEncodeChunk, [&](size_t c) {
    size_t i0 = c * kEncodeChunk, i1 = std::min(n, i0 + kEncodeChunk);
    std::vector<float> xr((i1 - i0) * dim_), r(dim_);
    detail::ExtendedScratch scratch;
    transform(x + i0 * dim_, i1 - i0, true, xr.data());
    for (size_t i = i0; i < i1; ++i) {
      double cdot = 0.0;
      for (size_t j = 0; j < dim_; ++j) cdot += (double(x[i * dim_ + j]) - mean_[j]) * mean_[j];
      const float* v = xr.data() + (i - i0) * dim_;
      if (form_ == BinaryCodeForm::Extended)
        detail::encode_extended(v, dim_, bits_, cdot, codes + i * code_size(), factors + i * nf,
                                scratch);
      else
        encode_levels(v, dim_, bits_, cdot, codes + i * code_size(), factors + i * nf, r.data());
    }
  });
}

void BinaryQuantizer::pack_rows(const uint8_t* codes, const float* factors, size_t n,
                                uint8_t* rows) const {
  const size_t row = row_size(), off = factor_offset(), nf = num_factors();
  for (size_t i = 0; i < n; ++i) {
    uint8_t* dst = rows + i * row;
    std::memcpy(dst, codes + i * code_size(), code_size());
    std::memset(dst + code_size(), 0, off - code_size());
    std::memcpy(dst + off, factors + i * nf, nf * sizeof(float));
  }
}

void BinaryQuantizer::decode(const uint8_t* codes, const float* factors, size_t n,
                             float* x) const {
  require_trained();
  const size_t nbytes = level_bytes(), nf = num_factors();
  detail::parallel_for((n + kEncodeChunk - 1) / kEncodeChunk, [&](size_t c) {
    size_t i0 = c * kEncodeChunk, i1 = std::min(n, i0 + kEncodeChunk);
    std::vector<float> xr((i1 - i0) * dim_, 0.0f);
    for (size_t i = i0; i < i1; ++i) {
      float* v = xr.data() + (i - i0) * dim_;
      for (size_t l = 0; l < bits_; ++l) {
        float alpha = factors[i * nf + kFixedFactors + l];
        const uint8_t* level = codes + i * code_size() + l * nbytes;
        for (size_t j = 0; j < dim_; ++j) v[j] += detail::get_bit(level, j) ? alpha : -alpha;
      }
    }
    float* out = x + i0 * dim_;
    if (rotation_.empty())
      std::copy(xr.begin(), xr.end(), out);
    else
      detail::matmul_packed(xr.data(), i1 - i0, dim_, rotation_t_packed_.data(), dim_, out);
    for (size_t i = i0; i < i1; ++i)
      for (size_t j = 0; j < dim_; ++j) x[i * dim_ + j] += mean_[j];
  });
}

}  // namespace qvec
