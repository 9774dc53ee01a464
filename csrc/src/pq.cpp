// Product quantizer: codebook training, encoding, decoding and lookup tables.
#include "qvec/pq.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "nearest_check.h"
#include "pack.h"
#include "pq_codes.h"
#include "parallel.h"
#include "qvec/error.h"
#include "qvec/exact.h"
#include "qvec/kmeans.h"
#include "rng.h"
#include "search/topk_merge.h"
#include "stop.h"

namespace qvec {
namespace {

using detail::kPackWidth;
using detail::kTileRows;

constexpr size_t kEncodeChunk = 256;
constexpr size_t kQueryBatch = 512;  // bounds the float tables held at once
constexpr float kFloatMax = std::numeric_limits<float>::max();
constexpr const char* kTooLarge =
    "contains NaN or infinity, or values too large for float32 distances";

/// The bits of |v| as an int32: they order like |v| (NaN above inf), so an integer max over
/// them gives the largest |v|, and NaN or inf if one was: a max the compiler vectorizes (it
/// does not vectorize float max reductions without -ffast-math).
inline int32_t abs_bits(float v) {
  int32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits & 0x7fffffff;
}
inline float from_bits(int32_t bits) {
  float v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

/// Rows x[0, n) (layout (n, m * dsub)) minus the subspace means, to out (same layout). Throws
/// unless every centred subvector j has squared norm <= limits[j], which keeps its squared
/// distance to every centroid finite. The exact norms are only summed when the largest value
/// (dsub * largest^2 bounds every norm) cannot vouch for the whole block.
void centre_subvectors(const float* x, size_t n, size_t m, size_t dsub, const float* means,
                       const float* limits, float* out) {
  const size_t dim = m * dsub;
  int32_t bits = 0;
  for (size_t i = 0; i < n; ++i)
    for (size_t t = 0; t < dim; ++t) {
      float v = x[i * dim + t] - means[t];
      out[i * dim + t] = v;
      bits = std::max(bits, abs_bits(v));
    }
  const float largest = from_bits(bits);
  if (double(largest) * largest * double(dsub) <= *std::min_element(limits, limits + m)) return;
  bool ok = true;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < m; ++j) {
      float norm = 0.0f;
      for (size_t t = j * dsub; t < (j + 1) * dsub; ++t) {
        float v = out[i * dim + t];
        norm += v * v;
      }
      ok &= norm <= limits[j];  // false for NaN too
    }
  if (!ok) throw std::invalid_argument(std::string("x ") + kTooLarge);
}

/// Tables of ksub entries per row (rows of them) widened to the scan kernels' `width` entries:
/// the padding repeats the row's largest entry, so it changes neither the row's range (which
/// the uint8 quantization of the tables is scaled by) nor any score (no code reaches it).
void pad_tables(const float* tables, size_t rows, size_t ksub, size_t width, float* out) {
  for (size_t r = 0; r < rows; ++r) {
    const float* row = tables + r * ksub;
    float* dst = out + r * width;
    std::copy(row, row + ksub, dst);
    std::fill(dst + ksub, dst + width, *std::max_element(row, row + ksub));
  }
}

}  // namespace

ProductQuantizer::ProductQuantizer(size_t dim, size_t m, size_t nbits, Metric metric)
    : dim_(dim), m_(m), nbits_(nbits), ksub_(size_t(1) << (nbits < 16 ? nbits : 0)),
      dsub_(m ? dim / m : 0), metric_(metric) {
  QVEC_CHECK_ARG(dim > 0, "dim must be > 0; got " + std::to_string(dim));
  QVEC_CHECK_ARG(m > 0 && m <= kMaxScanM, "m must be in [1, " + std::to_string(kMaxScanM) +
                                             "] (searches sum m uint8 table entries in 16 "
                                             "bits); got " + std::to_string(m));
  QVEC_CHECK_ARG(dim % m == 0, "m must divide dim; got dim=" + std::to_string(dim) +
                                   ", m=" + std::to_string(m));
  QVEC_CHECK_ARG(nbits >= 1 && nbits <= 8, "nbits must be in [1, 8]; got " + std::to_string(nbits));
  centroids_.assign(m_ * ksub_ * dsub_, 0.0f);
}

void ProductQuantizer::require_trained() const {
  if (!trained_)
    throw std::invalid_argument("the quantizer is not trained: call train() or set_centroids()");
}

void ProductQuantizer::train(const float* x, size_t n, const PQTrainOptions& options) {
  QVEC_CHECK_ARG(n >= ksub_, "training needs at least ksub = 2^nbits = " + std::to_string(ksub_) +
                                 " vectors; got " + std::to_string(n));
  size_t limit = options.max_train ? options.max_train : 256 * ksub_;
  QVEC_CHECK_ARG(limit >= ksub_, "max_train must be >= ksub = 2^nbits = " + std::to_string(ksub_) +
                                     "; got " + std::to_string(limit));
  // A seeded sample without replacement, kept in input order so memory reads stay sequential.
  std::vector<size_t> rows(n);
  for (size_t i = 0; i < n; ++i) rows[i] = i;
  size_t nt = std::min(n, limit);
  if (nt < n) {
    detail::SplitMix64 rng(options.seed ^ 0xA0761D6478BD642FULL);
    for (size_t i = 0; i < nt; ++i) std::swap(rows[i], rows[i + rng.below(n - i)]);
    rows.resize(nt);
    std::sort(rows.begin(), rows.end());
  }
  std::vector<float> sample(nt * dim_);
  detail::parallel_for((nt + 4095) / 4096, [&](size_t chunk) {
    size_t end = std::min(nt, (chunk + 1) * 4096);
    for (size_t i = chunk * 4096; i < end; ++i)
      std::copy(x + rows[i] * dim_, x + (rows[i] + 1) * dim_, sample.data() + i * dim_);
  });

  if (options.warm_start) require_trained();
  std::vector<float> trained(m_ * ksub_ * dsub_);
  if (options.warm_start) trained = centroids_;
  auto train_subspace = [&](size_t j) {
    KMeansOptions km;
    km.iters = options.iters;
    km.seed = options.seed + j;
    km.warm_start = options.warm_start;
    kmeans(sample.data() + j * dsub_, nt, dsub_, dim_, ksub_, km,
           trained.data() + j * ksub_ * dsub_);
  };
  if (options.progress) {  // the callback reports from the calling thread, in order
    for (size_t j = 0; j < m_; ++j) {
      detail::check_stop();
      train_subspace(j);
      options.progress(j + 1, m_);
    }
  } else {
    // One task per subspace (each k-means then runs on one thread: its seed alone fixes
    // it, so the codebooks are the same at every thread count). A subspace's k-means is
    // small (256 * ksub points): parallel inside, it paid a thread-team wait per Lloyd
    // iteration, m * iters waits that a loaded machine stretches to seconds.
    detail::parallel_for(m_, train_subspace);
  }
  set_centroids(trained.data());
}

void ProductQuantizer::set_centroids(const float* centroids) {
  std::vector<float> previous(centroids, centroids + m_ * ksub_ * dsub_);
  centroids_.swap(previous);
  try {
    repack();
  } catch (...) {
    centroids_.swap(previous);
    throw;
  }
  trained_ = true;
}

// Each subspace's codebook is packed centred on its mean: encode and the L2 tables then cancel
// at the scale of the codebook's spread, not of its distance from the origin (at 1000 + N(0, 1)
// the uncentred ||c||^2 - 2 <x, c> picked a wrong centroid for one subvector in five).
void ProductQuantizer::repack() {
  const size_t book = ksub_ * dsub_, slots = pack_ksub(), packed_book = slots * dsub_;
  std::vector<float> packed(m_ * packed_book), norms(m_ * slots), means(m_ * dsub_), centred(book);
  bool ok = true;
  for (size_t j = 0; j < m_; ++j) {
    const float* c = centroids_.data() + j * book;
    float* mean = means.data() + j * dsub_;
    for (size_t t = 0; t < dsub_; ++t) {
      double sum = 0.0;
      for (size_t i = 0; i < ksub_; ++i) sum += c[i * dsub_ + t];
      mean[t] = static_cast<float>(sum / static_cast<double>(ksub_));
    }
    for (size_t i = 0; i < book; ++i) centred[i] = c[i] - mean[i % dsub_];
    detail::pack_columns(centred.data(), ksub_, dsub_, dsub_, packed.data() + j * packed_book,
                         norms.data() + j * slots);
    for (size_t i = 0; i < ksub_; ++i) ok &= norms[j * slots + i] <= kFloatMax / 4;
  }
  if (!ok) throw std::invalid_argument(std::string("codebooks ") + kTooLarge);
  packed_.swap(packed);
  norms_.swap(norms);
  means_.swap(means);
  std::vector<float> widest(m_), raw(ksub_);
  for (size_t j = 0; j < m_; ++j) {
    if (metric_ == Metric::IP) squared_norms(centroids_.data() + j * book, ksub_, dsub_, raw.data());
    const float* of = metric_ == Metric::IP ? raw.data() : centroid_norms(j);
    widest[j] = *std::max_element(of, of + ksub_);
  }
  widest_.swap(widest);
  if (metric_ == Metric::IP) {
    packed_ip_.assign(m_ * packed_book, 0.0f);
    for (size_t j = 0; j < m_; ++j)
      detail::pack_columns(centroids_.data() + j * book, ksub_, dsub_, dsub_,
                           packed_ip_.data() + j * packed_book, nullptr);
  }
}

void ProductQuantizer::encode(const float* x, size_t n, uint8_t* codes) const {
  require_trained();
  const detail::DenseKernels& kern = detail::dense_kernels();
  const size_t npacks = pack_ksub() / kPackWidth, cs = code_size();
  const bool bytes = nbits_ == 8;
  // ||x_j - c||^2 <= 2 (||x_j - mean_j||^2 + ||c - mean_j||^2) must stay finite for every c.
  std::vector<float> limits(m_);
  for (size_t j = 0; j < m_; ++j)
    limits[j] = kFloatMax / 2 - *std::max_element(centroid_norms(j), centroid_norms(j) + ksub_);
  detail::parallel_for((n + kEncodeChunk - 1) / kEncodeChunk, [&](size_t chunk) {
    size_t begin = chunk * kEncodeChunk, end = std::min(n, begin + kEncodeChunk);
    std::vector<float> centred((end - begin) * dim_);
    centre_subvectors(x + begin * dim_, end - begin, m_, dsub_, means_.data(), limits.data(),
                      centred.data());
    int32_t index[kTileRows];
    float value[kTileRows], second[kTileRows];
    if (!bytes) std::fill(codes + begin * cs, codes + end * cs, uint8_t(0));
    for (size_t i = begin; i < end; i += kTileRows) {
      size_t rows = std::min(kTileRows, end - i);
      for (size_t j = 0; j < m_; ++j) {
        const float* sub = centred.data() + (i - begin) * dim_ + j * dsub_;
        kern.nearest(sub, dim_, rows, packed_centroids(j), centroid_norms(j), npacks, dsub_,
                       index, value, second);
        detail::settle_nearest(sub, dim_, x + i * dim_ + j * dsub_, dim_, rows,
                               centroids_.data() + j * ksub_ * dsub_, ksub_, dsub_, index,
                               value, second, nullptr);
        for (size_t r = 0; r < rows; ++r) {
          if (bytes)
            codes[(i + r) * m_ + j] = static_cast<uint8_t>(index[r]);
          else
            detail::set_code(codes + (i + r) * cs, j, nbits_, static_cast<uint32_t>(index[r]));
        }
      }
    }
  });
}

void ProductQuantizer::decode(const uint8_t* codes, size_t n, float* x) const {
  require_trained();
  const size_t cs = code_size();
  detail::parallel_for((n + kEncodeChunk - 1) / kEncodeChunk, [&](size_t chunk) {
    size_t end = std::min(n, (chunk + 1) * kEncodeChunk);
    for (size_t i = chunk * kEncodeChunk; i < end; ++i)
      for (size_t j = 0; j < m_; ++j) {
        const size_t code = detail::get_code(codes + i * cs, j, nbits_);
        const float* c = centroids_.data() + (j * ksub_ + code) * dsub_;
        std::copy(c, c + dsub_, x + i * dim_ + j * dsub_);
      }
  });
}

void ProductQuantizer::compute_tables(const float* queries, size_t nq, float* tables) const {
  require_trained();
  const detail::DenseKernels& kern = detail::dense_kernels();
  const bool l2 = metric_ == Metric::L2;
  const size_t npacks = pack_ksub() / kPackWidth, table_size = m_ * ksub_;
  // Every ADC sum of m entries must be finite. The entries are bounded through the norms the
  // tables are built from (no pass over the tables): L2 ||a - c||^2 <= 2 (||a||^2 + ||c||^2),
  // IP |<q, c>| <= ||q|| ||c||, with a margin for their rounding.
  const float* widest = widest_.data();
  const double margin = 1.0 + 4.0 * double(dsub_ + 2) * std::ldexp(1.0, -24);
  detail::parallel_for((nq + kTileRows - 1) / kTileRows, [&](size_t block) {
    size_t r0 = block * kTileRows, rows = std::min(kTileRows, nq - r0);
    float tile[kTileRows * kPackWidth];
    std::vector<float> centred(kTileRows * dsub_);
    double bound[kTileRows] = {};
    for (size_t j = 0; j < m_; ++j) {
      // L2 works on query subvectors and centroids both centred on the codebook's mean.
      const float* sub = queries + r0 * dim_ + j * dsub_;
      size_t ld = dim_;
      float qnorm[kTileRows];
      if (l2) {
        for (size_t r = 0; r < rows; ++r)
          for (size_t t = 0; t < dsub_; ++t)
            centred[r * dsub_ + t] = sub[r * dim_ + t] - subspace_mean(j)[t];
        sub = centred.data();
        ld = dsub_;
      }
      for (size_t r = 0; r < rows; ++r) {
        float norm = 0.0f;  // squared_norms' order, inline: a call per subvector cost 5%
        for (size_t t = 0; t < dsub_; ++t) norm += sub[r * ld + t] * sub[r * ld + t];
        qnorm[r] = norm;
        bound[r] += l2 ? 2.0 * (double(qnorm[r]) + widest[j])
                       : std::sqrt(double(qnorm[r]) * widest[j]);
      }
      const float* packed =
          l2 ? packed_centroids(j) : packed_ip_.data() + j * pack_ksub() * dsub_;
      for (size_t p = 0; p < npacks; ++p) {
        kern.dot_tile16(sub, ld, rows, packed + p * dsub_ * kPackWidth, dsub_, tile, kPackWidth);
        const size_t width = std::min(kPackWidth, ksub_ - p * kPackWidth);
        for (size_t r = 0; r < rows; ++r) {
          float* out = tables + (r0 + r) * table_size + j * ksub_ + p * kPackWidth;
          const float* norms = centroid_norms(j) + p * kPackWidth;
          for (size_t c = 0; c < width; ++c) {
            float dot = tile[r * kPackWidth + c];
            out[c] = l2 ? std::max(0.0f, qnorm[r] + norms[c] - 2.0f * dot) : -dot;
          }
        }
      }
    }
    for (size_t r = 0; r < rows; ++r)
      if (!(bound[r] * margin <= kFloatMax))  // NaN fails too
        throw std::invalid_argument(std::string("queries ") + kTooLarge);
  });
}

void ProductQuantizer::search(const float* queries, size_t nq, const uint8_t* codes, size_t n,
                              size_t k, float* distances, idx_t* ids,
                              const FastScanSearchOptions& fastscan,
                              const IdFilter* filter) const {
  require_trained();
  const size_t scan_bits = pq_scan_bits(nbits_);
  if (scan_bits == 4) fastscan_keep(k, fastscan);  // checks k (and k * rescore) before packing
  check_k(k);
  // Both scan widths have their own layout; rearranging once here serves every query batch
  // of search_packed.
  std::vector<uint8_t> wide;
  if (nbits_ != scan_bits) {
    wide.resize(n * pq_code_size(m_, scan_bits));
    pq_widen_codes(codes, n, m_, nbits_, wide.data());
    codes = wide.data();
  }
  std::vector<uint8_t> packed(scan_bits == 8 ? pq8_packed_size(n, m_)
                                             : fastscan_packed_size(n, m_));
  if (scan_bits == 8)
    pq8_pack(codes, n, m_, packed.data());
  else
    fastscan_pack(codes, n, m_, packed.data());
  wide = {};
  search_packed(queries, nq, packed.data(), n, k, fastscan, distances, ids, filter);
}

void ProductQuantizer::search_packed(const float* queries, size_t nq, const uint8_t* packed,
                                     size_t n, size_t k, const FastScanSearchOptions& options,
                                     float* distances, idx_t* ids,
                                     const IdFilter* filter) const {
  require_trained();
  const size_t scan_bits = pq_scan_bits(nbits_), scan_ksub = size_t(1) << scan_bits;
  if (scan_bits == 4) fastscan_keep(k, options);  // checks k (and k * rescore) before the tables
  check_k(k);
  // 4-bit batches are halved so its tables and their uint8 copies stay small.
  const size_t batch = scan_bits == 8 ? kQueryBatch : kQueryBatch / 2;
  std::vector<float> tables(std::min(nq, batch) * m_ * ksub_);
  std::vector<float> scan_tables(ksub_ < scan_ksub ? std::min(nq, batch) * m_ * scan_ksub : 0);
  for (size_t q0 = 0; q0 < nq; q0 += batch) {
    size_t count = std::min(batch, nq - q0);
    compute_tables(queries + q0 * dim_, count, tables.data());
    const float* scanned = tables.data();
    if (!scan_tables.empty()) {
      pad_tables(tables.data(), count * m_, ksub_, scan_ksub, scan_tables.data());
      scanned = scan_tables.data();
    }
    if (scan_bits == 8)
      adc_search_u8_packed(scanned, count, m_, packed, n, k, distances + q0 * k, ids + q0 * k,
                           filter);
    else
      fastscan_search(scanned, count, m_, packed, n, k, options, distances + q0 * k,
                      ids + q0 * k, filter);
  }
  if (metric_ == Metric::IP) detail::negate(distances, nq * k);
}

void ProductQuantizer::search_sdc(const uint8_t* query_codes, size_t nq, const uint8_t* codes,
                                  size_t n, size_t k, float* distances, idx_t* ids,
                                  const IdFilter* filter) const {
  require_trained();
  check_k(k);
  // A table built from a decoded query holds exactly one row of each subspace's
  // centroid-to-centroid distance matrix, so SDC is ADC with reconstructed queries.
  std::vector<float> decoded(nq * dim_);
  decode(query_codes, nq, decoded.data());
  FastScanSearchOptions exact;
  exact.exact = true;
  search(decoded.data(), nq, codes, n, k, distances, ids, exact, filter);
}

}  // namespace qvec
