// The table-build stage of the asymmetric binary search: each float query is centred, rotated,
// quantized to query_bits bits per coordinate, split into bit planes and turned into nibble
// lookup tables and the constants of the scan (see the estimator in rabitq_search.cpp).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "binary_scan.h"
#include "binary_tile.h"
#include "parallel.h"
#include "qvec/binary.h"
#include "qvec/error.h"

namespace qvec {

namespace {

/// Nibble tables of 4-bit query values u (size nwords * 64, zero past dim): layout
/// (nwords, 2, 8, 16), see BinaryQueryTables::luts.
void build_luts(const uint8_t* u, size_t nwords, uint8_t* luts) {
  for (size_t w = 0; w < nwords; ++w)
    for (size_t i = 0; i < 8; ++i) {
      const uint8_t* dims = u + 64 * w + 8 * i;
      uint8_t* lo = luts + w * 256 + i * 16;
      uint8_t* hi = lo + 128;
      lo[0] = hi[0] = 0;
      // Each subset m is m without its lowest bit t, plus dimension t's value: one add per
      // entry instead of four tests (the same sums; this was 8% of an IVF 1-bit search).
      for (unsigned m = 1; m < 16; ++m) {
        const unsigned t = static_cast<unsigned>(__builtin_ctz(m)), rest = m & (m - 1);
        lo[m] = static_cast<uint8_t>(lo[rest] + dims[7 - t]);
        hi[m] = static_cast<uint8_t>(hi[rest] + dims[3 - t]);
      }
    }
}

/// One rotated query v (size dim) quantized to q_r ~= lo + delta * u with u in
/// [0, 2^query_bits - 1]: u (size nwords * 64, zero past dim), written; the statistics the
/// scan constants need are returned.
struct QuantizedQuery {
  float lo, delta;
  double sq, usum;  // ||q_r||^2, sum_j u_j
};
QuantizedQuery quantize_query(const float* v, size_t dim, size_t query_bits, uint8_t* u) {
  const float levels = static_cast<float>((1u << query_bits) - 1);
  QuantizedQuery s{v[0], 0.0f, 0.0, 0.0};
  float hi = v[0];
  for (size_t j = 0; j < dim; ++j) {
    s.lo = std::min(s.lo, v[j]);
    hi = std::max(hi, v[j]);
    s.sq += double(v[j]) * v[j];
  }
  s.delta = hi > s.lo ? (hi - s.lo) / levels : 0.0f;
  for (size_t j = 0; j < dim; ++j) {
    float x = s.delta > 0.0f ? std::nearbyint((v[j] - s.lo) / s.delta) : 0.0f;
    unsigned ui = static_cast<unsigned>(std::min(std::max(x, 0.0f), levels));
    s.usum += ui;
    u[j] = static_cast<uint8_t>(ui);
  }
  return s;
}

/// Bit planes of u (size dim): planes, layout (query_bits, nwords), written.
void split_planes(const uint8_t* u, size_t dim, size_t query_bits, size_t nwords,
                  uint64_t* planes) {
  std::vector<uint8_t> bytes(query_bits * nwords * 8, 0);
  // Each packed byte (8 dimensions, the first in the high bit as set_bit places it) is made
  // in a register and stored once: a read-modify-write per set bit was 5% of an IVF search.
  for (size_t k = 0; k * 8 < dim; ++k) {
    const size_t count = std::min<size_t>(8, dim - 8 * k);
    for (size_t b = 0; b < query_bits; ++b) {
      unsigned byte = 0;
      for (size_t i = 0; i < count; ++i) byte |= ((u[8 * k + i] >> b) & 1u) << (7 - i);
      bytes[b * nwords * 8 + k] = static_cast<uint8_t>(byte);
    }
  }
  for (size_t b = 0; b < query_bits; ++b)
    detail::load_words(bytes.data() + b * nwords * 8, nwords * 8, nwords, planes + b * nwords);
}

/// The tables of rotated queries qr = (q - mean) R (size nq * dim); ip_base (Metric::IP only,
/// size nq): each query's -<mean, q> (detail::ip_query_base).
BinaryQueryTables build_tables(const float* qr, size_t nq, size_t dim, size_t nwords,
                               size_t query_bits, Metric metric, const float* ip_base) {
  const size_t sets = (query_bits + 3) / 4;
  BinaryQueryTables t;
  t.nq = nq;
  t.query_bits = query_bits;
  t.nwords = nwords;
  t.planes.resize(nq * query_bits * nwords);
  t.luts.resize(nq * sets * nwords * 256);
  t.constants.resize(nq * 4);
  // Queries in blocks on all threads: a batch's tables were serial, 14% of an IVF 1-bit
  // search of 1,000 gcide queries at 2 threads.
  constexpr size_t kQueriesPerTask = 32;
  detail::parallel_for((nq + kQueriesPerTask - 1) / kQueriesPerTask, [&](size_t task) {
  std::vector<uint8_t> u(nwords * 64, 0), nibble(nwords * 64, 0);
  for (size_t q = task * kQueriesPerTask; q < std::min(nq, (task + 1) * kQueriesPerTask); ++q) {
    const QuantizedQuery s = quantize_query(qr + q * dim, dim, query_bits, u.data());
    split_planes(u.data(), dim, query_bits, nwords, t.planes.data() + q * query_bits * nwords);
    for (size_t set = 0; set < sets; ++set) {
      for (size_t j = 0; j < dim; ++j) nibble[j] = static_cast<uint8_t>((u[j] >> (4 * set)) & 15u);
      build_luts(nibble.data(), nwords, t.luts.data() + (q * sets + set) * nwords * 256);
    }
    // With sum = sum_j (lo + delta u_j), see the estimator in rabitq_search.cpp.
    const float sum = static_cast<float>(double(dim) * s.lo + double(s.delta) * s.usum);
    float* c = t.constants.data() + q * 4;
    if (metric == Metric::L2) {
      c[0] = -2.0f * s.delta;
      c[1] = -4.0f * s.lo;
      c[2] = 2.0f * sum;
      c[3] = static_cast<float>(s.sq);
    } else {
      c[0] = -s.delta;
      c[1] = -2.0f * s.lo;
      c[2] = sum;
      c[3] = ip_base[q];
    }
  }
  });
  return t;
}

}  // namespace

BinaryQueryTables BinaryQuantizer::prepare_queries(const float* queries, size_t nq,
                                                   size_t query_bits) const {
  require_trained();
  detail::check_query_bits(query_bits);
  std::vector<float> qr(nq * dim_);
  transform(queries, nq, true, qr.data());
  return prepare_rotated(qr.data(), queries, nq, query_bits);
}

BinaryQueryTables BinaryQuantizer::prepare_rotated(const float* rotated, const float* queries,
                                                   size_t nq, size_t query_bits) const {
  require_trained();
  detail::check_query_bits(query_bits);
  QVEC_CHECK_ARG(metric_ == Metric::L2 || queries != nullptr,
                 "prepare_rotated needs the queries themselves for Metric::IP");
  const std::vector<float> ip_base =
      metric_ == Metric::IP ? detail::ip_query_base(*this, queries, nq) : std::vector<float>();
  return build_tables(rotated, nq, dim_, detail::words_of(level_bytes()), query_bits, metric_,
                      ip_base.data());
}

void BinaryQuantizer::rotate(const float* x, size_t n, float* out) const {
  require_trained();
  transform(x, n, false, out);
}

namespace detail {

std::vector<float> ip_query_base(const BinaryQuantizer& bq, const float* queries, size_t nq) {
  std::vector<float> base(nq);
  for (size_t i = 0; i < nq; ++i) {
    double cq = 0.0;
    for (size_t j = 0; j < bq.dim(); ++j) cq += double(bq.mean()[j]) * queries[i * bq.dim() + j];
    base[i] = static_cast<float>(-cq);
  }
  return base;
}

BinaryQueryTables select_table_rows(const BinaryQueryTables& t, const size_t* rows, size_t count,
                                    const float* shifts) {
  const size_t plane_words = t.query_bits * t.nwords;
  const size_t lut_bytes = (t.query_bits + 3) / 4 * t.nwords * 256;
  BinaryQueryTables out;
  out.nq = count;
  out.query_bits = t.query_bits;
  out.nwords = t.nwords;
  out.planes.resize(count * plane_words);
  out.luts.resize(count * lut_bytes);
  out.constants.resize(count * 4);
  for (size_t i = 0; i < count; ++i) {
    const size_t r = rows[i];
    std::copy_n(t.planes.data() + r * plane_words, plane_words, out.planes.data() + i * plane_words);
    std::copy_n(t.luts.data() + r * lut_bytes, lut_bytes, out.luts.data() + i * lut_bytes);
    std::copy_n(t.constants.data() + r * 4, 4, out.constants.data() + i * 4);
    if (shifts) out.constants[i * 4 + 3] += shifts[i];
  }
  return out;
}

}  // namespace detail

}  // namespace qvec
