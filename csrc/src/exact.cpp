// Exact search: a packed-block matrix product (queries x base) fused with top-k selection, so
// the nq x n distance matrix never exists in memory.
//
// L2 is exact to float32 rounding wherever the data sits. The fast form ||a||^2 + ||b||^2 -
// 2 <a, b> loses everything to cancellation when norms dwarf distances (1000 + N(0, 1)), so it
// only filters: its error has a proven bound (L2Filter), and every candidate that may pass is
// recomputed directly as sum_t (q_t - x_t)^2, so the heaps only ever hold direct distances.
// To keep the filter tight far from the origin, queries and base are translated by the mean
// of the query block (L2 is translation invariant); the base is shifted while it is packed.
// A few queries skip the filter: their distances are all computed directly.
#include "qvec/exact.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "kernels/dispatch.h"
#include "qvec/error.h"
#include "search/filter.h"
#include "search/topk_merge.h"
#include "stop.h"

namespace qvec {
namespace {

using detail::kDirectRows;
using detail::kPackWidth;
using detail::kTileRows;

// Queries per task. Each task packs every base block it scans, so the packing (a scalar
// transpose, plus norms for L2) is paid once per query block: at 64 queries it took about half
// the time of a 1000-query search; 512 queries (768 KiB at d = 384) stream from L3 well.
constexpr size_t kQueryBlock = 512;
constexpr const char* kNonFinite =
    "base contains NaN or infinity (or values too large for float32 distances)";
constexpr size_t kBaseBlock = 256;  // vectors packed at once; stays in L2 for d <= 1024
constexpr float kFloatMax = std::numeric_limits<float>::max();

/// Query rows per tile call: the level's register block (kTileRows when its table says none).
size_t tile_rows(const detail::DenseKernels& kern) {
  return kern.tile_rows >= 1 && kern.tile_rows <= kTileRows ? kern.tile_rows : kTileRows;
}

/// Packs rows [b0, b1) of base, minus shift (size d, or nullptr for none), into
/// (ceil((b1-b0)/16), d, 16) blocks, zero-filling the tail. norms (nullptr, or one float per
/// packed column): the squared norms of the packed columns, each summed in order of t.
void pack_rows(const float* base, size_t d, size_t b0, size_t b1, const float* shift,
               float* packed, float* norms) {
  size_t count = b1 - b0, npacks = (count + kPackWidth - 1) / kPackWidth;
  std::fill(packed, packed + npacks * d * kPackWidth, 0.0f);
  for (size_t i = 0; i < count; ++i) {
    const float* row = base + (b0 + i) * d;
    float* dst = packed + (i / kPackWidth) * d * kPackWidth + i % kPackWidth;
    if (shift)
      for (size_t t = 0; t < d; ++t) dst[t * kPackWidth] = row[t] - shift[t];
    else
      for (size_t t = 0; t < d; ++t) dst[t * kPackWidth] = row[t];
  }
  if (!norms) return;
  for (size_t p = 0; p < npacks; ++p) {
    float acc[kPackWidth] = {};
    const float* pack = packed + p * d * kPackWidth;
    for (size_t t = 0; t < d; ++t)
      for (size_t c = 0; c < kPackWidth; ++c) {
        float v = pack[t * kPackWidth + c];
        acc[c] += v * v;
      }
    std::copy(acc, acc + kPackWidth, norms + p * kPackWidth);
  }
}

/// The error bound of the L2 filter. With a = fl(q - r), b = fl(x - r) (r any float vector),
/// na, nb their squared norms summed in float and f = max(0, fl(fl(na + nb) - 2 p)) where p is
/// a dense kernel's float <a, b> (any summation order, with or without FMA):
///   |f - ||q - x||^2| <= gamma * (na + nb),  gamma = 1.01 (2 g + 8 u) / (1 - g),
/// u = 2^-24, g = d u / (1 - d u). Why: na, nb and 2 p each err by at most g (||a||^2 + ||b||^2)
/// together (a d-term sum of products errs by g times the sum of |terms|, and 2 |a_t b_t| <=
/// a_t^2 + b_t^2); the two roundings that combine them add 3 u (1 + g) of it; the shift's
/// roundings move a - b by at most u / (1 - u) (||a|| + ||b||), which changes the squared
/// distance by at most 4 u (1 + u) + O(u^2) of it; dividing by 1 - g turns the exact norms into
/// the computed na + nb; 1.01 covers the O(u^2) terms and the rounding of the limit itself.
/// A direct distance s = fl(sum_t fl(q_t - x_t)^2) errs by at most g' = (d + 2) u / (1 - (d + 2) u)
/// relative <= gamma, so a row whose direct distance can still be <= threshold T has
/// f <= T (1 + gamma) + gamma (na + nb): that is the filter's limit.
struct L2Filter {
  double gamma;

  explicit L2Filter(size_t d) {
    const double u = std::ldexp(1.0, -24), du = static_cast<double>(d + 2) * u;
    // Beyond d ~ 2^22 the bound says nothing: every row is recomputed.
    gamma = du < 0.25 ? 1.01 * (2 * (du / (1 - du)) + 8 * u) / (1 - du / (1 - du))
                      : std::numeric_limits<double>::infinity();
  }

  /// The largest filter value that may still qualify against a heap threshold, for a query
  /// with shifted squared norm na and base columns whose shifted squared norms are <= nb_max.
  float limit(float threshold, float na, float nb_max) const {
    double lim = static_cast<double>(threshold) * (1 + gamma) + gamma * (double(na) + nb_max);
    return lim < kFloatMax ? static_cast<float>(lim * (1 + 1e-7)) : INFINITY;
  }
};

/// One exact_search: the scan of one (query block x base range) task for grid_search.
class ExactScan {
 public:
  ExactScan(const float* queries, const float* base, size_t d, bool l2, const IdFilter* allowed)
      : kern_(detail::dense_kernels()), filter_(detail::filter_kernels()), queries_(queries),
        base_(base), d_(d), l2_(l2), bound_(d), allowed_(allowed) {}

  void operator()(size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) const {
    if (q1 - q0 > kDirectRows) scan_packed(q0, q1, b0, b1, heaps);
    else if (l2_) scan_direct_l2(q0, q1, b0, b1, heaps);
    else scan_direct_ip(q0, q1, b0, b1, heaps);
  }

 private:
  /// Too few queries to pay for packing: every distance straight from the row-major base.
  void scan_direct_l2(size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) const {
    std::vector<float> dist(kBaseBlock);
    std::vector<uint32_t> hits(kBaseBlock);
    for (size_t bb = b0; bb < b1; bb += kBaseBlock) {
      detail::check_stop();
      size_t count = std::min(b1, bb + kBaseBlock) - bb;
      if (skip(bb, bb + count)) continue;
      for (size_t q = q0; q < q1; ++q) {
        const float* query = queries_ + q * d_;
        bool finite = true;
        for (size_t i = 0; i < count; ++i) {
          dist[i] = kern_.l2sqr(query, base_ + (bb + i) * d_, d_);
          finite &= dist[i] <= kFloatMax;  // false for NaN and inf
        }
        if (!finite) throw std::invalid_argument(kNonFinite);
        detail::HeapView heap = heaps.at(q - q0);
        size_t nhits = detail::allowed_hits(
            hits.data(), filter_.le_f32(dist.data(), count, heap.threshold(), hits.data()), bb,
            row_range(bb, bb + count));
        for (size_t h = 0; h < nhits; ++h)
          heap.push(dist[hits[h]], static_cast<idx_t>(bb + hits[h]));
      }
    }
  }

  void scan_direct_ip(size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) const {
    std::vector<float> dots(kDirectRows * kBaseBlock);
    for (size_t bb = b0; bb < b1; bb += kBaseBlock) {
      detail::check_stop();
      size_t count = std::min(b1, bb + kBaseBlock) - bb;
      if (skip(bb, bb + count)) continue;
      kern_.dot_direct(queries_ + q0 * d_, d_, q1 - q0, base_ + bb * d_, d_, count, d_,
                       dots.data(), kBaseBlock);
      for (size_t c0 = 0; c0 < count; c0 += kPackWidth)
        push_tile_ip(dots.data() + c0, kBaseBlock, 0, q1 - q0, bb + c0,
                     std::min(kPackWidth, count - c0), heaps);
    }
  }

  /// Query rows (shifted by their mean for L2) times packed base blocks (shifted alike).
  void scan_packed(size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) const {
    const size_t nqb = q1 - q0;
    std::vector<float> shift, shifted, qnorms, bnorms;
    const float* rows = queries_ + q0 * d_;
    if (l2_) {
      shift_queries(q0, q1, shift, shifted, qnorms);
      rows = shifted.data();
      bnorms.resize(kBaseBlock);
    }
    std::vector<float> packed(kBaseBlock * d_);
    float tile[kTileRows * kPackWidth];
    const size_t group = tile_rows(kern_);
    for (size_t bb = b0; bb < b1; bb += kBaseBlock) {
      detail::check_stop();
      size_t be = std::min(b1, bb + kBaseBlock), count = be - bb;
      if (skip(bb, be)) continue;
      size_t npacks = (count + kPackWidth - 1) / kPackWidth;
      pack_rows(base_, d_, bb, be, l2_ ? shift.data() : nullptr, packed.data(),
                l2_ ? bnorms.data() : nullptr);
      for (size_t r0 = 0; r0 < nqb; r0 += group) {
        size_t rows_here = std::min(group, nqb - r0);
        for (size_t p = 0; p < npacks; ++p) {
          kern_.dot_tile16(rows + r0 * d_, d_, rows_here, packed.data() + p * d_ * kPackWidth,
                           d_, tile, kPackWidth);
          size_t first = bb + p * kPackWidth, cols = std::min(kPackWidth, count - p * kPackWidth);
          if (l2_)
            push_tile_l2(tile, q0, r0, rows_here, qnorms.data(), bnorms.data() + p * kPackWidth,
                         first, cols, heaps);
          else
            push_tile_ip(tile, kPackWidth, r0, rows_here, first, cols, heaps);
        }
      }
    }
  }

  /// shift = the mean of queries [q0, q1) (summed in double), shifted = the queries minus
  /// shift, qnorms = their squared norms.
  void shift_queries(size_t q0, size_t q1, std::vector<float>& shift, std::vector<float>& shifted,
                     std::vector<float>& qnorms) const {
    const size_t nqb = q1 - q0;
    std::vector<double> mean(d_, 0.0);
    for (size_t q = q0; q < q1; ++q)
      for (size_t t = 0; t < d_; ++t) mean[t] += queries_[q * d_ + t];
    shift.resize(d_);
    for (size_t t = 0; t < d_; ++t) shift[t] = static_cast<float>(mean[t] / double(nqb));
    shifted.resize(nqb * d_);
    for (size_t i = 0; i < nqb * d_; ++i) shifted[i] = queries_[q0 * d_ + i] - shift[i % d_];
    qnorms.resize(nqb);
    squared_norms(shifted.data(), nqb, d_, qnorms.data());
  }

  /// IP: products dots[r * ldt + c] of query rows [r0, r0 + rows) (relative to the task's first
  /// query) and 16 base rows from `first` become distances -dot; only the columns that pass
  /// each heap's threshold are pushed: after the first blocks almost none do.
  void push_tile_ip(float* dots, size_t ldt, size_t r0, size_t rows, size_t first, size_t cols,
                    detail::HeapSet& heaps) const {
    float thresholds[kTileRows];
    uint32_t masks[kTileRows];
    for (size_t r = 0; r < rows; ++r) thresholds[r] = heaps.at(r0 + r).threshold();
    // The caller's base is not scanned for NaN/inf up front (that pass would cost as much as a
    // one-query search); a bad value surfaces here as a non-finite distance.
    if (!kern_.tile_distances16(dots, ldt, rows, cols, nullptr, nullptr, thresholds, masks))
      throw std::invalid_argument(kNonFinite);
    allowed_columns(first, masks, rows);
    for (size_t r = 0; r < rows; ++r) {
      detail::HeapView heap = heaps.at(r0 + r);
      for (uint32_t m = masks[r]; m != 0; m &= m - 1) {
        size_t c = static_cast<size_t>(__builtin_ctz(m));
        float dist = dots[r * ldt + c];
        if (dist <= heap.threshold()) heap.push(dist, static_cast<idx_t>(first + c));
      }
    }
  }

  /// L2: the tile's filter values, then a direct distance for every column that may qualify.
  void push_tile_l2(float* tile, size_t q0, size_t r0, size_t rows, const float* qnorms,
                    const float* bnorms, size_t first, size_t cols, detail::HeapSet& heaps) const {
    float thresholds[kTileRows];
    uint32_t masks[kTileRows];
    const float nb_max = *std::max_element(bnorms, bnorms + cols);
    for (size_t r = 0; r < rows; ++r)
      thresholds[r] = bound_.limit(heaps.at(r0 + r).threshold(), qnorms[r0 + r], nb_max);
    if (!kern_.tile_distances16(tile, kPackWidth, rows, cols, qnorms + r0, bnorms, thresholds,
                                masks))
      throw std::invalid_argument(kNonFinite);
    allowed_columns(first, masks, rows);
    for (size_t r = 0; r < rows; ++r) {
      detail::HeapView heap = heaps.at(r0 + r);
      const float* query = queries_ + (q0 + r0 + r) * d_;
      for (uint32_t m = masks[r]; m != 0; m &= m - 1) {
        size_t c = static_cast<size_t>(__builtin_ctz(m));
        float dist = kern_.l2sqr(query, base_ + (first + c) * d_, d_);
        if (!(dist <= kFloatMax)) throw std::invalid_argument(kNonFinite);
        heap.push(dist, static_cast<idx_t>(first + c));
      }
    }
  }

  /// Rows [r0, r1) as a range with this search's filter (ids are rows).
  detail::RowRange row_range(size_t r0, size_t r1) const { return {r0, r1, nullptr, allowed_}; }
  /// True when rows [r0, r1) hold no allowed id.
  bool skip(size_t r0, size_t r1) const { return detail::skip_rows(row_range(r0, r1), r0, r1); }
  /// Clears the tile's mask bits (bit c: row first + c) of rows the filter rejects.
  void allowed_columns(size_t first, uint32_t* masks, size_t nrows) const {
    if (!allowed_) return;
    const uint32_t allow = allowed_->word32(static_cast<idx_t>(first));
    for (size_t r = 0; r < nrows; ++r) masks[r] &= allow;
  }

  const detail::DenseKernels& kern_;
  const detail::FilterKernels& filter_;
  const float* queries_;
  const float* base_;
  size_t d_;
  bool l2_;
  L2Filter bound_;
  const IdFilter* allowed_;  // null: every row
};

}  // namespace

void squared_norms(const float* x, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) {
    const float* row = x + i * d;
    float s = 0.0f;
    for (size_t t = 0; t < d; ++t) s += row[t] * row[t];
    out[i] = s;
  }
}

void exact_search(const float* queries, size_t nq, const float* base, size_t n, size_t d,
                  Metric metric, size_t k, float* distances, idx_t* ids,
                  const IdFilter* filter) {
  check_k(k);
  QVEC_CHECK_ARG(d >= 1, "d must be >= 1");
  const bool l2 = metric == Metric::L2;
  ExactScan scan(queries, base, d, l2, filter);
  detail::grid_search(nq, n, k, kQueryBlock, kBaseBlock, scan, distances, ids);
  if (!l2) detail::negate(distances, nq * k);
}

}  // namespace qvec
