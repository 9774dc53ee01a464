// The table-build stage of the asymmetric binary search: each float query is centred, rotated,
// quantized to query_bits bits per coordinate, split into bit planes and turned into nibble
// lookup tables and the constants of the scan (see the estimator in rabitq_search.cpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
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
  // Four chains each, in locals: one chain, kept in the returned struct (which stores through
  // u may alias), was bound by the min's and the add's latency, half of the tables' build in a
  // 1M IVF RaBitQ4 search. The min and max are the same in any order; the sum of squares is a
  // fixed order's, at every SIMD level.
  constexpr size_t kChains = 4;
  static_assert(kChains == 4, "the reductions below pair the four chains");
  float lo4[kChains], hi4[kChains];
  double sq4[kChains] = {};
  for (size_t c = 0; c < kChains; ++c) lo4[c] = hi4[c] = v[0];
  size_t j = 0;
  for (; j + kChains <= dim; j += kChains)
    for (size_t c = 0; c < kChains; ++c) {
      lo4[c] = std::min(lo4[c], v[j + c]);
      hi4[c] = std::max(hi4[c], v[j + c]);
      sq4[c] += double(v[j + c]) * v[j + c];
    }
  for (; j < dim; ++j) {
    lo4[0] = std::min(lo4[0], v[j]);
    hi4[0] = std::max(hi4[0], v[j]);
    sq4[0] += double(v[j]) * v[j];
  }
  const float lo = std::min(std::min(lo4[0], lo4[1]), std::min(lo4[2], lo4[3]));
  const float hi = std::max(std::max(hi4[0], hi4[1]), std::max(hi4[2], hi4[3]));
  const double sq = (sq4[0] + sq4[1]) + (sq4[2] + sq4[3]);
  const float delta = hi > lo ? (hi - lo) / levels : 0.0f;
  // Adding and subtracting 2^23 rounds a float in [0, 2^22] to an integer, half to even: what
  // std::nearbyint does in the default mode, without its libm call per coordinate (the call
  // also kept this loop from vectorizing). A sum of integers in double is exact in any order.
  constexpr float kRoundShift = 8388608.0f;
  uint32_t usum = 0;
  for (size_t j = 0; j < dim; ++j) {
    const float x = delta > 0.0f ? ((v[j] - lo) / delta + kRoundShift) - kRoundShift : 0.0f;
    const auto ui = static_cast<unsigned>(std::min(std::max(x, 0.0f), levels));
    usum += ui;
    u[j] = static_cast<uint8_t>(ui);
  }
  return {lo, delta, sq, double(usum)};
}

/// Bit planes of u (size nwords * 64, zero past dim): planes, layout (query_bits, nwords),
/// written; bytes: scratch.
void split_planes(const uint8_t* u, size_t dim, size_t query_bits, size_t nwords,
                  std::vector<uint8_t>& bytes, uint64_t* planes) {
  bytes.assign(query_bits * nwords * 8, 0);
  // Bit b of 8 dimensions' values in one multiply: the bits sit at 8 i of the word, and
  // 0x8040201008040201 moves bit 8 i to 63 - i, without carries; so the top byte has the
  // first dimension in its high bit, as set_bit places it.
  constexpr uint64_t kGather = 0x8040201008040201ull, kLowBits = 0x0101010101010101ull;
  for (size_t k = 0; k * 8 < dim; ++k) {
    uint64_t eight = 0;
    for (size_t i = 0; i < 8; ++i) eight |= uint64_t(u[8 * k + i]) << (8 * i);
    for (size_t b = 0; b < query_bits; ++b)
      bytes[b * nwords * 8 + k] = static_cast<uint8_t>((((eight >> b) & kLowBits) * kGather) >> 56);
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
  std::vector<uint8_t> u(nwords * 64, 0), nibble(nwords * 64, 0), plane_bytes;
  for (size_t q = task * kQueriesPerTask; q < std::min(nq, (task + 1) * kQueriesPerTask); ++q) {
    const QuantizedQuery s = quantize_query(qr + q * dim, dim, query_bits, u.data());
    split_planes(u.data(), dim, query_bits, nwords, plane_bytes,
                 t.planes.data() + q * query_bits * nwords);
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
