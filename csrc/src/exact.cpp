// Exact search: a blocked matrix product (base x queries) fused with top-k selection, so the
// nq x n distance matrix never exists in memory. The queries are packed once per query block
// (32 to a block, column-wise); the base is read where it lies (for L2, a shifted copy of one
// base block at a time), so no base transpose is paid per query block.
//
// L2 is exact to float32 rounding wherever the data sits. The fast form ||a||^2 + ||b||^2 -
// 2 <a, b> loses everything to cancellation when norms dwarf distances (1000 + N(0, 1)), so it
// only filters: its error has a proven bound (L2Filter), and every candidate that may pass is
// recomputed directly as sum_t (q_t - x_t)^2, so the heaps only ever hold direct distances.
// To keep the filter tight far from the origin, queries and base are translated by the mean
// of the query block (L2 is translation invariant); the base is shifted one block at a time.
// A few queries skip the filter: their distances are all computed directly.
#include "qvec/exact.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "kernels/dispatch.h"
#include "parallel.h"
#include "qvec/error.h"
#include "search/filter.h"
#include "search/select.h"
#include "search/topk_merge.h"
#include "stop.h"

namespace qvec {
namespace {

using detail::kDirectRows;
using detail::kPackWidth;
using detail::kScanQueries;

// Queries per task. For L2 each task shifts (and takes norms of) every base block it scans,
// which is paid once per query block; 512 queries (768 KiB at d = 384) stay in L2.
constexpr size_t kQueryBlock = 512;
constexpr const char* kNonFinite =
    "base contains NaN or infinity (or values too large for float32 distances)";
// Base rows per step: a multiple of the 12- and 6-row register blocks of the AVX-512 and AVX2
// kernels (256 left a 4-row call per block); a block (or its shifted copy) stays in L2 for
// d <= 1024.
constexpr size_t kBaseBlock = 264;
constexpr float kFloatMax = std::numeric_limits<float>::max();

/// Packs rows [0, count) of rows (row-major, d floats each) into groups of kScanQueries, each
/// two (d, 16) packs: layout (ceil(count / 32), 2, d, 16), zero-filled past count.
void pack_queries(const float* rows, size_t count, size_t d, float* packed) {
  const size_t ngroups = (count + kScanQueries - 1) / kScanQueries;
  std::fill(packed, packed + ngroups * kScanQueries * d, 0.0f);
  for (size_t i = 0; i < count; ++i) {
    const float* row = rows + i * d;
    float* dst = packed + (i / kPackWidth) * d * kPackWidth + i % kPackWidth;
    for (size_t t = 0; t < d; ++t) dst[t * kPackWidth] = row[t];
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
  /// Dense selection's buffers, per thread (select_dense).
  struct DenseScratch {
    std::vector<float> rows, nb_max;
    std::vector<uint64_t> keys, scratch;
    std::vector<uint32_t> hits, counts;
    std::vector<uint8_t> taken;  // L2: the rows whose direct distance is already a key
  };

  /// The packed path's per-task state: the queries packed in groups of 32 (shifted by their
  /// mean for L2), their norms, and one base block's shifted copy and norms (L2).
  struct Blocked {
    std::vector<float> shift, qpack, qnorms, xshifted, xnorms;
    std::vector<float> dist = std::vector<float>(kBaseBlock * kScanQueries);
    std::vector<uint32_t> masks = std::vector<uint32_t>(kBaseBlock);
    float limits[kScanQueries];
  };

 public:
  ExactScan(const float* queries, const float* base, size_t d, bool l2, const IdFilter* allowed)
      : kern_(detail::dense_kernels()), filter_(detail::filter_kernels()), queries_(queries),
        base_(base), d_(d), l2_(l2), bound_(d), allowed_(allowed) {}

  void operator()(size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) const {
    if (q1 - q0 > kDirectRows) scan_packed(q0, q1, b0, b1, heaps);
    else if (l2_) scan_direct_l2(q0, q1, b0, b1, heaps);
    else scan_direct_ip(q0, q1, b0, b1, heaps);
  }

  /// Queries [q0, q1) against all n rows (k <= n) by one selection per query instead of
  /// heaps: every tile distance (limits +inf) goes to its query's row of distances. The answer
  /// is the heaps': IP selects the same tile values; L2 takes the k smallest filter values,
  /// whose direct distances bound the k-th smallest direct distance from above (U), and
  /// selects among the direct distances of every row the filter cannot rule out against U.
  /// out_d, out_i: (q1 - q0) x k, best first.
  void select_dense(size_t q0, size_t q1, size_t n, size_t k, float* out_d, idx_t* out_i) const {
    // Per thread and kept: a fresh 2 MiB of rows per task cost page faults and a memset worth
    // a tenth of the search (gcide probe, nprobe 128).
    thread_local DenseScratch sc;
    const size_t nqb = q1 - q0, nblocks = (n + kBaseBlock - 1) / kBaseBlock;
    Blocked st;
    prepare(q0, q1, st);
    sc.rows.resize(nqb * n);
    sc.nb_max.assign(nblocks, 0.0f);
    sc.keys.resize(n);
    if (l2_) sc.taken.assign(n, 0);
    dense_rows(nqb, n, st, sc.rows.data(), sc.nb_max.data());
    for (size_t qi = 0; qi < nqb; ++qi) {
      const float* row = sc.rows.data() + qi * n;
      size_t count = detail::gather_smallest(filter_, row, n, k, sc.hits, sc.keys.data());
      detail::sort_keys(sc.keys.data(), count, sc.scratch, sc.counts);
      if (l2_) {
        count = direct_candidates(q0 + qi, row, n, k, st.qnorms[qi], sc);
        detail::sort_keys(sc.keys.data(), count, sc.scratch, sc.counts);
      }
      for (size_t j = 0; j < k; ++j) {
        out_d[qi * k + j] = detail::rank_key_value(sc.keys[j]);
        out_i[qi * k + j] = detail::rank_key_id(sc.keys[j]);
      }
    }
  }

 private:
  /// Every tile distance of the packed queries in st (nqb of them) against all n rows into
  /// rows (nqb x n); for L2 the largest shifted squared norm of each base block into nb_max.
  void dense_rows(size_t nqb, size_t n, Blocked& st, float* rows, float* nb_max) const {
    const size_t ngroups = (nqb + kScanQueries - 1) / kScanQueries;
    std::fill(st.limits, st.limits + kScanQueries, INFINITY);
    for (size_t bb = 0, b = 0; bb < n; bb += kBaseBlock, ++b) {
      detail::check_stop();
      const size_t count = std::min(n, bb + kBaseBlock) - bb;
      const float* x = base_ + bb * d_;
      if (l2_) {
        shift_rows(bb, bb + count, st);
        x = st.xshifted.data();
        nb_max[b] = *std::max_element(st.xnorms.begin(), st.xnorms.begin() + count);
      }
      for (size_t g = 0; g < ngroups; ++g) {
        if (!kern_.scan_block(x, d_, count, st.qpack.data() + g * kScanQueries * d_, d_,
                              l2_ ? st.qnorms.data() + g * kScanQueries : nullptr,
                              l2_ ? st.xnorms.data() : nullptr, st.limits, st.dist.data(),
                              st.masks.data()))
          throw std::invalid_argument(kNonFinite);
        const size_t cols = std::min(kScanQueries, nqb - g * kScanQueries);
        for (size_t c = 0; c < cols; ++c) {
          float* dst = rows + (g * kScanQueries + c) * n + bb;
          for (size_t r = 0; r < count; ++r) dst[r] = st.dist[r * kScanQueries + c];
        }
      }
    }
  }

  /// L2 dense selection for query q: sc.keys[0, k) hold the rows of the k smallest filter
  /// values (row). Rewrites sc.keys to the direct distances of those rows and of every other
  /// row whose filter value is within the filter's limit for U, the largest of the first k
  /// direct distances (the k-th smallest direct distance is at most U). Returns their count.
  /// sc.taken: n zero bytes, zero again on return.
  size_t direct_candidates(size_t q, const float* row, size_t n, size_t k, float qnorm,
                           DenseScratch& sc) const {
    const float* query = queries_ + q * d_;
    const auto direct = [&](size_t i) {
      const float dist = kern_.l2sqr(query, base_ + i * d_, d_);
      if (!(dist <= kFloatMax)) throw std::invalid_argument(kNonFinite);
      return detail::rank_key(dist, static_cast<uint32_t>(i));
    };
    uint64_t* keys = sc.keys.data();
    float upper = 0.0f;
    for (size_t j = 0; j < k; ++j) {
      const size_t i = static_cast<size_t>(detail::rank_key_id(keys[j]));
      keys[j] = direct(i);
      upper = std::max(upper, detail::rank_key_value(keys[j]));
      sc.taken[i] = 1;
    }
    size_t count = k;  // sc.hits holds n from gather_smallest: room for any block
    for (size_t bb = 0, b = 0; bb < n; bb += kBaseBlock, ++b) {
      const size_t rows = std::min(n, bb + kBaseBlock) - bb;
      const size_t nhits = filter_.le_f32(row + bb, rows,
                                          bound_.limit(upper, qnorm, sc.nb_max[b]), sc.hits.data());
      for (size_t h = 0; h < nhits; ++h)
        if (!sc.taken[bb + sc.hits[h]]) keys[count++] = direct(bb + sc.hits[h]);
    }
    for (size_t j = 0; j < k; ++j) sc.taken[detail::rank_key_id(keys[j])] = 0;
    return count;
  }

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
    std::vector<uint32_t> hits(kBaseBlock);
    for (size_t bb = b0; bb < b1; bb += kBaseBlock) {
      detail::check_stop();
      size_t count = std::min(b1, bb + kBaseBlock) - bb;
      if (skip(bb, bb + count)) continue;
      kern_.dot_direct(queries_ + q0 * d_, d_, q1 - q0, base_ + bb * d_, d_, count, d_,
                       dots.data(), kBaseBlock);
      for (size_t q = q0; q < q1; ++q) {
        float* dist = dots.data() + (q - q0) * kBaseBlock;
        bool finite = true;
        for (size_t i = 0; i < count; ++i) {
          dist[i] = -dist[i];
          finite &= std::fabs(dist[i]) <= kFloatMax;  // false for NaN and inf
        }
        // The caller's base is not scanned for NaN/inf up front (that pass would cost as much
        // as a one-query search); a bad value surfaces here as a non-finite distance.
        if (!finite) throw std::invalid_argument(kNonFinite);
        detail::HeapView heap = heaps.at(q - q0);
        size_t nhits = detail::allowed_hits(
            hits.data(), filter_.le_f32(dist, count, heap.threshold(), hits.data()), bb,
            row_range(bb, bb + count));
        for (size_t h = 0; h < nhits; ++h) heap.push(dist[hits[h]], static_cast<idx_t>(bb + hits[h]));
      }
    }
  }

  /// Base blocks (shifted by the query mean for L2) times packed groups of 32 queries.
  void scan_packed(size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) const {
    const size_t nqb = q1 - q0, ngroups = (nqb + kScanQueries - 1) / kScanQueries;
    Blocked st;
    prepare(q0, q1, st);
    for (size_t bb = b0; bb < b1; bb += kBaseBlock) {
      detail::check_stop();
      size_t be = std::min(b1, bb + kBaseBlock), count = be - bb;
      if (skip(bb, be)) continue;
      const float* x = base_ + bb * d_;
      float nb_max = 0.0f;
      if (l2_) {
        shift_rows(bb, be, st);
        x = st.xshifted.data();
        nb_max = *std::max_element(st.xnorms.begin(), st.xnorms.begin() + count);
      }
      for (size_t g = 0; g < ngroups; ++g) {
        prefetch_slice(be, b1, g, ngroups);
        const size_t cols = std::min(kScanQueries, nqb - g * kScanQueries);
        for (size_t c = 0; c < kScanQueries; ++c)
          st.limits[c] = c < cols ? limit(heaps, g * kScanQueries + c, st, nb_max) : -INFINITY;
        if (!kern_.scan_block(x, d_, count, st.qpack.data() + g * kScanQueries * d_, d_,
                              l2_ ? st.qnorms.data() + g * kScanQueries : nullptr,
                              l2_ ? st.xnorms.data() : nullptr, st.limits, st.dist.data(),
                              st.masks.data()))
          throw std::invalid_argument(kNonFinite);
        push_block(q0, g * kScanQueries, bb, count, nb_max, st, heaps);
      }
    }
  }

  /// Packs queries [q0, q1) into st (shifted by their mean for L2, with the base block's
  /// shifted-copy buffers).
  void prepare(size_t q0, size_t q1, Blocked& st) const {
    const size_t nqb = q1 - q0, ngroups = (nqb + kScanQueries - 1) / kScanQueries;
    st.qpack.resize(ngroups * kScanQueries * d_);
    st.qnorms.assign(ngroups * kScanQueries, 0.0f);
    if (l2_) {
      std::vector<float> shifted;
      shift_queries(q0, q1, st.shift, shifted, st.qnorms);
      st.qnorms.resize(ngroups * kScanQueries, 0.0f);  // padding queries: finite, never pass
      pack_queries(shifted.data(), nqb, d_, st.qpack.data());
      st.xshifted.resize(kBaseBlock * d_);
      st.xnorms.resize(kBaseBlock);
    } else {
      pack_queries(queries_ + q0 * d_, nqb, d_, st.qpack.data());
    }
  }

  /// Prefetches slice g of ngroups of the next base block (rows from `next`, up to b1) into
  /// L2 while this block is scanned, so the first group's pass over a block (1 of 16 at 512
  /// queries; the others read it from L2) need not wait on DRAM. Its gain was within this
  /// shared machine's noise (a few hundred prefetches per ~10^5 cycles of products).
  void prefetch_slice(size_t next, size_t b1, size_t g, size_t ngroups) const {
    const size_t count = std::min(b1, next + kBaseBlock) - std::min(b1, next);
    const char* first = reinterpret_cast<const char*>(base_ + next * d_);
    const size_t bytes = count * d_ * sizeof(float), step = (bytes + ngroups - 1) / ngroups;
    for (size_t off = g * step; off < std::min(bytes, (g + 1) * step); off += 64)
      __builtin_prefetch(first + off, 0, 2);
  }

  /// The largest tile distance that may still qualify for query qi (relative to the task's
  /// first query): the heap threshold (IP), the L2 filter's limit for it (L2).
  float limit(detail::HeapSet& heaps, size_t qi, const Blocked& st, float nb_max) const {
    float threshold = heaps.at(qi).threshold();
    return l2_ ? bound_.limit(threshold, st.qnorms[qi], nb_max) : threshold;
  }

  /// Rows [b0, be) of the base minus the query mean into st.xshifted, their squared norms into
  /// st.xnorms.
  void shift_rows(size_t b0, size_t be, Blocked& st) const {
    const float* shift = st.shift.data();
    for (size_t i = 0; i < be - b0; ++i) {
      const float* row = base_ + (b0 + i) * d_;
      float* dst = st.xshifted.data() + i * d_;
      for (size_t t = 0; t < d_; ++t) dst[t] = row[t] - shift[t];
      st.xnorms[i] = kern_.dot(dst, dst, d_);
    }
  }

  /// Pushes the block's candidates: base rows [first, first + rows) against the 32 queries
  /// from g0 (relative to the task's first query q0). IP distances go straight to the heaps;
  /// for L2 every candidate is recomputed directly. Each push refreshes that query's limit.
  void push_block(size_t q0, size_t g0, size_t first, size_t rows, float nb_max, Blocked& st,
                  detail::HeapSet& heaps) const {
    for (size_t r = 0; r < rows; ++r) {
      uint32_t m = st.masks[r];
      if (m == 0) continue;
      if (allowed_ && !allowed_->allows(static_cast<idx_t>(first + r))) continue;
      const idx_t id = static_cast<idx_t>(first + r);
      for (; m != 0; m &= m - 1) {
        size_t c = static_cast<size_t>(__builtin_ctz(m));
        float dist = st.dist[r * kScanQueries + c];
        if (!(dist <= st.limits[c])) continue;  // an earlier row of this block tightened it
        if (l2_) {
          dist = kern_.l2sqr(queries_ + (q0 + g0 + c) * d_, base_ + (first + r) * d_, d_);
          if (!(dist <= kFloatMax)) throw std::invalid_argument(kNonFinite);
        }
        heaps.at(g0 + c).push(dist, id);
        st.limits[c] = limit(heaps, g0 + c, st, nb_max);
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

  /// Rows [r0, r1) as a range with this search's filter (ids are rows).
  detail::RowRange row_range(size_t r0, size_t r1) const { return {r0, r1, nullptr, allowed_}; }
  /// True when rows [r0, r1) hold no allowed id.
  bool skip(size_t r0, size_t r1) const { return detail::skip_rows(row_range(r0, r1), r0, r1); }

  const detail::DenseKernels& kern_;
  const detail::FilterKernels& filter_;
  const float* queries_;
  const float* base_;
  size_t d_;
  bool l2_;
  L2Filter bound_;
  const IdFilter* allowed_;  // null: every row
};

/// Dense selection (ExactScan::select_dense) replaces the heaps when k is a large share of
/// the rows: a heap then admits most rows (k (1 + ln(n / k)) pushes of ~45 ns), while the
/// selection costs a few ns per row. 1,000 queries, 1 thread: 1024 x 384 IP (the gcide IVF
/// probe) at k = 128, 29.8 -> 10.9 ms, and level with the heaps at k = 8; 4096 x 128 L2 (1M)
/// at k = 64, 31.5 -> 27.1 ms, but slower below n / 64 (direct L2 distances for every
/// candidate). Packed queries only, no filter (it could leave fewer than k rows), and rows
/// numbered in 32 bits.
constexpr size_t kDenseRowsPerK = 64;
constexpr size_t kDenseMaxRows = size_t(1) << 16;

bool use_dense_selection(size_t nq, size_t n, size_t k, const IdFilter* filter) {
  return filter == nullptr && nq > kDirectRows && k <= n && n <= kDenseRowsPerK * k &&
         n <= kDenseMaxRows;
}

/// Queries per dense-selection task: rows of distances of at most 2^19 floats (2 MiB), at
/// least one packed group, and two tasks per thread where there are enough queries.
size_t dense_query_block(size_t nq, size_t n) {
  const size_t threads = static_cast<size_t>(get_num_threads());
  const size_t by_memory = (size_t(1) << 19) / n, by_threads = (nq + 2 * threads - 1) / (2 * threads);
  const size_t block = std::min({kQueryBlock, by_memory, by_threads});
  return std::max(kScanQueries, (block + kScanQueries - 1) / kScanQueries * kScanQueries);
}

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
  if (use_dense_selection(nq, n, k, filter)) {
    const size_t block = dense_query_block(nq, n);
    detail::parallel_for((nq + block - 1) / block, [&](size_t t) {
      const size_t q0 = t * block, q1 = std::min(nq, q0 + block);
      scan.select_dense(q0, q1, n, k, distances + q0 * k, ids + q0 * k);
    });
  } else {
    detail::grid_search(nq, n, k, kQueryBlock, kBaseBlock, scan, distances, ids);
  }
  if (!l2) detail::negate(distances, nq * k);
}

}  // namespace qvec
