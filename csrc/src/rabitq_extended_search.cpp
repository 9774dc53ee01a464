// The extended-RaBitQ search with the float query (BinaryQuantizer::search_extended).
//
// Full estimate of a code c (grid values, ExRabitqKernels) against the rotated float query q:
//   E = rho * scale * (<c, q> - (2^bits - 1) / 2 * sum_j q_j)        (= rho <xhat, q>)
// with scale = 2 alpha_{bits-1} (the extended form's alpha_l = scale 2^(bits - 2 - l)). The
// distance is h + base - m E: IP h = -<x - mean, mean>, base = -<mean, q>, m = 1; L2
// h = ||x_r||^2, base = ||q_r||^2, m = 2.
//
// Pruning (RaBitQ's, as rabitqlib does it): the sign bits alone give the 1-bit estimate
// lambda <s_0, q> with lambda = ||x_r||^2 / ||x_r||_1, computed by the RaBitQ kernel with the
// 4-bit query planes over level 0 only. Its error is ||x_r|| tan(theta_1) <e, q>, e a unit
// vector orthogonal to x_r and uniform under a random rotation (sd ||q|| / sqrt(dim - 1)),
// plus lambda <s_0, query rounding> (sd delta sqrt(dim / 12)). A code whose 1-bit distance
// minus eps of these is still worse than the running k-th distance is skipped; the others get
// E. The k-th distance only falls as the scan goes on, so a tile reads it once.
//
// At one bit the pass and E score the same code with lambda = rho * alpha_0 (= the 1-bit form's
// ||x_r||^2 / ||x_r||_1, so no sign_dots are needed): they differ only by the query's rounding,
// and the bound keeps only that term (sign_pass gives the code-error coefficient 0).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "binary_collect.h"
#include "binary_extended_scan.h"
#include "binary_scan.h"
#include "binary_tile.h"
#include "kernels/dispatch.h"
#include "parallel.h"
#include "stop.h"
#include "qvec/binary.h"
#include "qvec/error.h"
#include "search/filter.h"
#include "search/topk_merge.h"

namespace qvec {

namespace {

using detail::ExtendedQueries;
using detail::kBinaryBlock;
using detail::kBinaryTile;

/// The code side of one tile: level 0 in the blocked layout with the RaBitQ kernel's rows
/// (W_0, beta, g, h), and per vector mu = m rho scale, h, the 1-bit error coefficients.
struct ExtendedTile {
  std::vector<uint64_t> sign;
  std::vector<float> rows;
  std::vector<int32_t> ones;
  std::vector<uint64_t> zero_query;
  std::vector<float> stored, mu, h, errc, lam;
  float max_errc = 0.0f, max_lam = 0.0f;

  void size_for(size_t nwords, size_t nf) {
    sign.resize(kBinaryTile * nwords);
    rows.resize(4 * kBinaryTile);
    ones.resize(kBinaryTile);
    zero_query.assign(nwords, 0);
    stored.resize(kBinaryTile * nf);
    for (std::vector<float>* v : {&mu, &h, &errc, &lam}) v->resize(kBinaryTile);
  }
};

/// A thread's buffers of extended_scan, kept across calls: an IVF search calls it once per
/// short list, where allocating them cost more than the scan.
struct ExtendedScanScratch {
  ExtendedTile tile;
  std::vector<float> dist = std::vector<float>(kBinaryTile), dots = std::vector<float>(kBinaryTile);
  std::vector<uint32_t> rows = std::vector<uint32_t>(kBinaryTile);
};

}  // namespace

detail::ExtendedQueries detail::prepare_extended_rotated(const BinaryQuantizer& bq, const float* qr,
                                                 size_t nq, const float* ip_base, float eps,
                                                 BinaryQueryTables pass) {
  const size_t dim = bq.dim(), bits = bq.bits();
  const bool l2 = bq.metric() == Metric::L2, prune = pass.nq > 0;
  const double m = l2 ? 2.0 : 1.0;
  ExtendedQueries e;
  e.lanes = 8 * bq.level_bytes();
  e.q.assign(nq * e.lanes, 0.0f);
  e.offset.resize(nq);
  e.base.resize(nq);
  e.err.resize(nq);
  e.round.resize(nq);
  e.tables = std::move(pass);
  const double half_range = (double(1u << bits) - 1.0) / 2.0;
  for (size_t i = 0; i < nq; ++i) {
    const float* v = qr + i * dim;
    double sum = 0.0, sq = 0.0;
    for (size_t j = 0; j < dim; ++j) {
      e.q[i * e.lanes + (j & ~size_t(7)) + 7 - (j & 7)] = v[j];
      sum += v[j];
      sq += double(v[j]) * v[j];
    }
    e.offset[i] = static_cast<float>(half_range * sum);
    e.base[i] = l2 ? static_cast<float>(sq) : ip_base[i];
    e.err[i] = static_cast<float>(eps * m * std::sqrt(sq) / std::sqrt(std::max<double>(dim - 1, 1)));
    // The pass tables' step: c[0] = -m delta (rabitq_query.cpp).
    const double delta = prune ? -double(e.tables.constants[i * 4]) / m : 0.0;
    e.round[i] = static_cast<float>(eps * m * delta * std::sqrt(double(dim) / 12.0));
  }
  return e;
}

detail::ExtendedQueries detail::select_extended_rows(const ExtendedQueries& e, const size_t* rows,
                                                     size_t count, const float* shifts) {
  ExtendedQueries out;
  out.lanes = e.lanes;
  out.q.resize(count * e.lanes);
  for (std::vector<float>* v : {&out.offset, &out.base, &out.err, &out.round}) v->resize(count);
  for (size_t i = 0; i < count; ++i) {
    const size_t r = rows[i];
    std::copy_n(e.q.data() + r * e.lanes, e.lanes, out.q.data() + i * e.lanes);
    out.offset[i] = e.offset[r];
    out.base[i] = e.base[r] + (shifts ? shifts[i] : 0.0f);
    out.err[i] = e.err[r];
    out.round[i] = e.round[r];
  }
  if (e.tables.nq > 0) out.tables = select_table_rows(e.tables, rows, count, shifts);
  return out;
}

namespace {

/// One vector's side of the 1-bit pass: lambda = ||x_r||^2 / ||x_r||_1 and the coefficient
/// ||x_r|| tan(theta_1) of the sign code's error (0 at one bit, where E scores the same code).
struct SignPass {
  double lam, errc;
};

SignPass sign_pass(const BinaryQuantizer& bq, const float* f, const detail::BinaryRows& data,
                   size_t row, double dim) {
  if (bq.bits() == 1) return {double(f[2]) * f[BinaryQuantizer::kFixedFactors], 0.0};
  const double norm2 = f[0], l1 = data.sign_dot(row);
  if (!(l1 > 0.0)) return {0.0, norm2 > 0.0 ? std::numeric_limits<double>::infinity() : 0.0};
  // With cos = l1 / (sqrt(dim) ||x_r||): ||x_r|| tan = sqrt(norm2 (dim norm2 - l1^2)) / l1, one
  // square root and one division (there were two and three, 6% of a 1M IVF RaBitQ4 search).
  const double inv = 1.0 / l1;
  const double gap = std::max(0.0, norm2 * (dim * norm2 - l1 * l1));
  return {norm2 * inv, std::sqrt(gap) * inv};
}

/// Tile rows [t0, t0 + count) of data into t; when pruning, also the 1-bit pass's side.
void load_extended_tile(const BinaryQuantizer& bq, const detail::BinaryRows& data, bool prune,
                        size_t t0, size_t count, ExtendedTile& t) {
  const size_t bits = bq.bits(), nf = bq.num_factors(), nbytes = bq.level_bytes();
  const size_t nwords = detail::words_of(nbytes), nblocks = detail::blocks_of(count);
  const size_t width = nblocks * kBinaryBlock;
  const bool l2 = bq.metric() == Metric::L2;
  const double dim = double(bq.dim());
  data.load_factors(t0, count, nf, t.stored.data());
  for (size_t i = 0; i < count; ++i) {
    const float* f = t.stored.data() + i * nf;
    const double scale = 2.0 * f[BinaryQuantizer::kFixedFactors + bits - 1];
    t.mu[i] = static_cast<float>((l2 ? 2.0 : 1.0) * f[2] * scale);
    t.h[i] = l2 ? f[0] : -f[1];
  }
  if (!prune) return;
  detail::transpose_tile(data.codes + t0 * data.code_stride, data.code_stride, nbytes, count,
                         nwords, t.sign.data());
  detail::hamming_kernels().hamming_tile(t.zero_query.data(), 1, t.sign.data(), nblocks, nwords,
                                         t.ones.data(), kBinaryTile);
  std::fill(t.rows.begin(), t.rows.begin() + 4 * width, 0.0f);
  t.max_errc = t.max_lam = 0.0f;
  for (size_t i = 0; i < count; ++i) {
    const float* f = t.stored.data() + i * nf;
    const auto [lam, errc] = sign_pass(bq, f, data, t0 + i, dim);
    t.rows[i] = static_cast<float>(2.0 * lam);
    t.rows[width + i] = static_cast<float>(lam * t.ones[i]);
    t.rows[2 * width + i] = static_cast<float>(lam);
    t.rows[3 * width + i] = t.h[i];
    t.errc[i] = static_cast<float>(errc);
    t.lam[i] = static_cast<float>(lam);
    t.max_errc = std::max(t.max_errc, t.errc[i]);
    t.max_lam = std::max(t.max_lam, t.lam[i]);
  }
}

/// The rows of the tile query qi scores in full into rows (absolute row numbers); returns
/// their number. Pruning: the 1-bit pass and its lower bound against thr.
size_t extended_candidates(const ExtendedQueries& e, size_t qi, const ExtendedTile& t,
                           size_t t0, size_t count, size_t nwords, float thr, bool prune,
                           const detail::RowRange& range, float* dist, uint32_t* rows) {
  size_t n = 0;
  if (!prune) {
    for (size_t i = 0; i < count; ++i) rows[n++] = static_cast<uint32_t>(i);
    n = detail::allowed_hits(rows, n, t0, range);
  } else {
    const float slack_err = e.err[qi], slack_round = e.round[qi];
    float limit = thr + t.max_errc * slack_err + t.max_lam * slack_round;
    if (!(limit >= thr)) limit = std::numeric_limits<float>::infinity();  // inf * 0
    const size_t qb = e.tables.query_bits, sets = (qb + 3) / 4;
    size_t nhits = detail::rabitq_kernels().scan(
        e.tables.planes.data() + qi * qb * nwords, qb,
        e.tables.luts.data() + qi * sets * nwords * 256, t.sign.data(), 1,
        detail::blocks_of(count), nwords, t.rows.data(), e.tables.constants.data() + qi * 4,
        count, limit, dist, rows);
    nhits = detail::allowed_hits(rows, nhits, t0, range);
    for (size_t j = 0; j < nhits; ++j) {
      const uint32_t v = rows[j];
      const float lower = dist[v] - t.errc[v] * slack_err - t.lam[v] * slack_round;
      if (!(lower > thr)) rows[n++] = v;  // NaN (an infinite coefficient): keep
    }
  }
  for (size_t j = 0; j < n; ++j) rows[j] += static_cast<uint32_t>(t0);
  return n;
}

}  // namespace

void detail::extended_scan(const BinaryQuantizer& bq, const ExtendedQueries& e, size_t nq,
                           const BinaryRows& data, const RowRange& range,
                           const HeapRows& heaps) {
  const bool prune = e.tables.nq > 0;
  const detail::ExRabitqKernels& ex = detail::exrabitq_kernels();
  const size_t nbytes = bq.level_bytes(), nwords = detail::words_of(nbytes);
  thread_local ExtendedScanScratch scratch;
  ExtendedTile& tile = scratch.tile;
  tile.size_for(nwords, bq.num_factors());
  std::vector<float>& dist = scratch.dist;
  std::vector<float>& dots = scratch.dots;
  std::vector<uint32_t>& rows = scratch.rows;
  detail::RangeCollector<detail::FloatOrder> collector(nq, range, heaps);
  for (size_t t0 = range.begin; t0 < range.end; t0 += kBinaryTile) {
    detail::check_stop();
    const size_t count = std::min(kBinaryTile, range.end - t0);
    if (detail::skip_rows(range, t0, t0 + count)) continue;
    load_extended_tile(bq, data, prune, t0, count, tile);
    for (size_t q = 0; q < nq; ++q) {
      const int64_t bound = collector.bound(q);
      if (bound < 0) continue;
      const float thr = detail::FloatOrder::threshold(bound);
      const size_t n = extended_candidates(e, q, tile, t0, count, nwords, thr, prune, range,
                                           dist.data(), rows.data());
      ex.code_dots(e.q.data() + q * e.lanes, nbytes, bq.bits(), data.codes, data.code_stride,
                   rows.data(), n, dots.data());
      for (size_t j = 0; j < n; ++j) {
        const size_t i = rows[j] - t0;
        const float d = tile.h[i] + e.base[q] - tile.mu[i] * (dots[j] - e.offset[q]);
        if (d <= thr) collector.push(q, detail::float_order(d), rows[j]);
      }
    }
  }
  collector.finish();
}

void BinaryQuantizer::sign_dots(const float* x, size_t n, float* out) const {
  require_trained();
  detail::parallel_for((n + kBinaryTile - 1) / kBinaryTile, [&](size_t c) {
    const size_t i0 = c * kBinaryTile, i1 = std::min(n, i0 + kBinaryTile);
    std::vector<float> xr((i1 - i0) * dim_);
    transform(x + i0 * dim_, i1 - i0, true, xr.data());
    for (size_t i = i0; i < i1; ++i) {
      double l1 = 0.0;
      for (size_t j = 0; j < dim_; ++j) l1 += std::fabs(xr[(i - i0) * dim_ + j]);
      out[i] = static_cast<float>(l1);
    }
  });
}

void BinaryQuantizer::search_extended(const float* queries, size_t nq, const uint8_t* codes,
                                      const float* factors, const float* sign_dots, size_t n,
                                      size_t k, float eps, float* distances, idx_t* ids,
                                      const IdFilter* filter) const {
  require_trained();
  check_k(k);
  QVEC_CHECK_ARG(form_ == BinaryCodeForm::Extended || bits_ == 1,
                 "search_extended needs extended codes (method 'extended') or 1-bit codes");
  QVEC_CHECK_ARG(eps > 0.0f, "eps must be > 0; got " + std::to_string(eps));
  QVEC_CHECK_ARG(n < (size_t(1) << 32), "more than 2^32 codes are not supported");
  const bool prune = (sign_dots != nullptr || bits_ == 1) && std::isfinite(eps);
  detail::BinaryRows data = detail::BinaryRows::arrays(*this, codes, factors);
  data.sign_dots = reinterpret_cast<const uint8_t*>(sign_dots);
  data.sign_stride = sizeof(float);
  auto scan = [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
    const size_t count = q1 - q0;
    std::vector<float> qr(count * dim_);
    transform(queries + q0 * dim_, count, true, qr.data());
    const std::vector<float> ip_base = metric_ == Metric::IP
                                           ? detail::ip_query_base(*this, queries + q0 * dim_, count)
                                           : std::vector<float>();
    const detail::ExtendedQueries e = detail::prepare_extended_rotated(
        *this, qr.data(), count, ip_base.data(), eps,
        prune ? prepare_rotated(qr.data(), queries + q0 * dim_, count, detail::kPassBits)
              : BinaryQueryTables());
    detail::extended_scan(*this, e, count, data, detail::RowRange{b0, b1, nullptr, filter},
                          detail::HeapRows::of(heaps, k));
  };
  detail::grid_search(nq, n, k, detail::kBinaryQueryBlock, kBinaryTile, scan, distances, ids);
  if (metric_ == Metric::IP) detail::negate(distances, nq * k);
}

}  // namespace qvec
