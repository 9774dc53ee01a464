// Int8 scalar-quantized search as a composition of the stages: per-query weights (the query
// folded with the steps, so a decoded vector's score is one dot product with its int8 codes)
// -> block scanner over one range of the sq8 scan layout (kernels/sq8.h) -> collectors ->
// top-k merge. Float scores are exact to float32 rounding; there is no quantized first pass to
// bound, so no rescorer. The symmetric search scans the codes as integer vectors in int32.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "parallel.h"
#include "qvec/error.h"
#include "qvec/scalar.h"
#include "search/collector.h"
#include "search/filter.h"
#include "search/topk_merge.h"
#include "stop.h"

namespace qvec {

/// Asymmetric scores as one dot product: with zero_j = lo_j + 128 step_j (the decoded value of
/// code 0), a decoded vector is zero + step * code, so
///   IP:  -<q, x> = -<q, zero> + sum_j (-q_j step_j) code_j
///   L2:  |q - x|^2 = |q|^2 - 2 <q, zero> + sum_j (-2 q_j step_j) code_j + |x|^2 (block header)
/// distance = constant + dot(weights, code) [+ |x|^2 for L2], smaller is better.
struct Sq8Queries::Prepared {
  size_t nq = 0, k = 0, dim = 0, d4 = 0;
  Metric metric = Metric::L2;
  std::vector<float> weights;    // (nq, d4 * 4), zero past dim
  std::vector<float> constants;  // nq
};

namespace detail {
namespace {

constexpr size_t kStopBlocks = 256;  // blocks scanned between interrupt polls

void prepare(const ScalarQuantizer& sq, const float* queries, size_t nq, size_t k,
             Sq8Queries::Prepared& p) {
  check_k(k);
  QVEC_CHECK_ARG(sq.is_trained(), "the scalar quantizer has no ranges: call set_ranges or train_minmax");
  p.nq = nq, p.k = k, p.dim = sq.dim(), p.d4 = (sq.dim() + 3) / 4, p.metric = sq.metric();
  const size_t ld = p.d4 * 4;
  p.weights.assign(nq * ld, 0.0f);
  p.constants.assign(nq, 0.0f);
  const float* lo = sq.ranges().data();
  const float* step = sq.steps().data();
  const float factor = p.metric == Metric::L2 ? -2.0f : -1.0f;
  for (size_t q = 0; q < nq; ++q) {
    double dot_zero = 0.0, norm = 0.0;
    for (size_t j = 0; j < p.dim; ++j) {
      const float x = queries[q * p.dim + j];
      QVEC_CHECK_ARG(std::isfinite(x), "queries have a NaN or inf at row " + std::to_string(q));
      dot_zero += double(x) * (double(lo[j]) + 128.0 * double(step[j]));
      norm += double(x) * x;
      p.weights[q * ld + j] = factor * x * step[j];
    }
    p.constants[q] = static_cast<float>(p.metric == Metric::L2 ? norm - 2.0 * dot_zero : -dot_zero);
  }
}

/// Block scanner: queries [q0, q1) (at most kSq8Rows) over `range` of `packed` into the
/// collectors rows.at(q - q0).
void scan_range(const Sq8Queries::Prepared& p, size_t q0, size_t q1, const uint8_t* packed,
                const RowRange& range, const HeapRows& rows) {
  const Sq8Kernels& kernels = sq8_kernels();
  const size_t bytes = sq8_block_bytes(p.dim), ld = p.d4 * 4, nr = q1 - q0;
  QVEC_ASSERT(nr <= kSq8Rows);
  float tile[kSq8Rows * kSq8Block], norms[kSq8Block];
  const size_t b0 = range.begin / kSq8Block, b1 = (range.end + kSq8Block - 1) / kSq8Block;
  for (size_t b = b0; b < b1; ++b) {
    if ((b - b0) % kStopBlocks == 0) check_stop();
    const size_t v0 = b == b0 ? range.begin - b * kSq8Block : 0;
    const size_t v1 = std::min(kSq8Block, range.end - b * kSq8Block);
    if (skip_rows(range, b * kSq8Block + v0, b * kSq8Block + v1)) continue;
    const uint8_t* block = packed + b * bytes;
    kernels.dot_f32(p.weights.data() + q0 * ld, ld, nr, reinterpret_cast<const int8_t*>(block + 64),
                    p.d4, tile, kSq8Block);
    std::memcpy(norms, block, sizeof norms);
    for (size_t r = 0; r < nr; ++r) {
      HeapView heap = rows.at(r);
      const float c = p.constants[q0 + r];
      for (size_t v = v0; v < v1; ++v) {
        float d = c + tile[r * kSq8Block + v];
        if (p.metric == Metric::L2) d = std::max(0.0f, d + norms[v]);
        if (d > heap.threshold()) continue;
        const idx_t id = range.id(b * kSq8Block + v);
        // The filter stage (search/filter.h) on the candidates that passed the threshold.
        if (range.filter == nullptr || range.filter->allows(id)) heap.push(d, id);
      }
    }
  }
}

void sorted_results(const HeapRows& rows, size_t nq, size_t k, float* distances, idx_t* ids) {
  parallel_for((nq + 63) / 64, [&](size_t task) {
    for (size_t q = task * 64; q < std::min(nq, (task + 1) * 64); ++q) {
      HeapView heap = rows.at(q);
      heap.sort();
      std::copy(heap.dist, heap.dist + k, distances + q * k);
      std::copy(heap.ids, heap.ids + k, ids + q * k);
    }
  });
}

/// Symmetric scanner: int8 query codes (nq, d4 * 4, zero-padded) against packed codes; code
/// norms (L2) per row.
struct SymmetricBatch {
  const int8_t* queries;
  const int32_t* query_sums;
  const int64_t* query_norms;
  const int64_t* code_norms;
  size_t d4;
  Metric metric;
};

void scan_symmetric(const SymmetricBatch& s, size_t q0, size_t q1, const uint8_t* packed,
                    size_t dim, size_t begin, size_t end, HeapSet& heaps) {
  const Sq8Kernels& kernels = sq8_kernels();
  const size_t bytes = sq8_block_bytes(dim), ld = s.d4 * 4;
  int32_t tile[kSq8Rows * kSq8Block];
  for (size_t b = begin / kSq8Block; b * kSq8Block < end; ++b) {
    if (b % kStopBlocks == 0) check_stop();
    kernels.dot_i8(s.queries + q0 * ld, ld, s.query_sums + q0, q1 - q0,
                   reinterpret_cast<const int8_t*>(packed + b * bytes + 64), s.d4, tile, kSq8Block);
    const size_t v1 = std::min(kSq8Block, end - b * kSq8Block);
    for (size_t r = 0; r < q1 - q0; ++r) {
      HeapView heap = heaps.at(r);
      for (size_t v = 0; v < v1; ++v) {
        const int64_t dot = tile[r * kSq8Block + v];
        const size_t row = b * kSq8Block + v;
        const int64_t d = s.metric == Metric::L2
                              ? s.query_norms[q0 + r] + s.code_norms[row] - 2 * dot
                              : -dot;
        heap.push(static_cast<float>(d), static_cast<idx_t>(row));
      }
    }
  }
}

std::vector<int64_t> code_norms(const int8_t* codes, size_t n, size_t dim) {
  std::vector<int64_t> norms(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t s = 0;
    for (size_t t = 0; t < dim; ++t) s += int64_t(codes[i * dim + t]) * codes[i * dim + t];
    norms[i] = s;
  }
  return norms;
}

}  // namespace
}  // namespace detail

void ScalarQuantizer::search(const float* queries, size_t nq, const int8_t* codes, size_t n,
                             size_t k, float* distances, idx_t* ids) const {
  check_k(k);
  require_trained();
  std::vector<uint8_t> packed(sq8_packed_size(n, dim_));
  pack(codes, n, packed.data());
  search_packed(queries, nq, packed.data(), n, k, distances, ids);
}

void ScalarQuantizer::search_packed(const float* queries, size_t nq, const uint8_t* packed,
                                    size_t n, size_t k, float* distances, idx_t* ids) const {
  Sq8Queries::Prepared p;
  detail::prepare(*this, queries, nq, k, p);
  auto scan = [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
    detail::scan_range(p, q0, q1, packed, detail::RowRange{b0, b1, nullptr},
                       detail::HeapRows::of(heaps, k));
  };
  detail::grid_search(nq, n, k, detail::kSq8Rows, kSq8ScanBlock, scan, distances, ids);
  if (metric_ == Metric::IP) detail::negate(distances, nq * k);
}

void sq8_search_symmetric(const int8_t* query_codes, size_t nq, const int8_t* codes, size_t n,
                          size_t dim, Metric metric, size_t k, float* out_distances,
                          idx_t* out_ids) {
  check_k(k);
  QVEC_CHECK_ARG(dim >= 1 && dim <= kSq8MaxDim,
                 "dim must be in [1, " + std::to_string(kSq8MaxDim) + "]; got " + std::to_string(dim));
  const size_t d4 = (dim + 3) / 4;
  std::vector<int8_t> queries(nq * d4 * 4, 0);
  std::vector<int32_t> sums(nq, 0);
  for (size_t q = 0; q < nq; ++q) {
    std::copy(query_codes + q * dim, query_codes + (q + 1) * dim, queries.data() + q * d4 * 4);
    for (size_t t = 0; t < dim; ++t) sums[q] += query_codes[q * dim + t];
  }
  std::vector<int64_t> qnorms, cnorms;
  if (metric == Metric::L2) {
    qnorms = detail::code_norms(query_codes, nq, dim);
    cnorms = detail::code_norms(codes, n, dim);
  }
  std::vector<uint8_t> packed(sq8_packed_size(n, dim));
  sq8_pack(codes, n, dim, packed.data());
  const detail::SymmetricBatch batch{queries.data(), sums.data(), qnorms.data(), cnorms.data(), d4, metric};
  auto scan = [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
    detail::scan_symmetric(batch, q0, q1, packed.data(), dim, b0, b1, heaps);
  };
  detail::grid_search(nq, n, k, detail::kSq8Rows, kSq8ScanBlock, scan, out_distances, out_ids);
}

Sq8Queries::Sq8Queries(const ScalarQuantizer& sq, const float* queries, size_t nq, size_t k,
                       const float* offsets)
    : RangeSearch(nq, k), prepared_(std::make_unique<Prepared>()) {
  detail::prepare(sq, queries, nq, k, *prepared_);
  if (offsets)
    for (size_t q = 0; q < nq; ++q) prepared_->constants[q] += offsets[q];
}

Sq8Queries::~Sq8Queries() = default;
Sq8Queries::Sq8Queries(Sq8Queries&&) noexcept = default;
Sq8Queries& Sq8Queries::operator=(Sq8Queries&&) noexcept = default;

void Sq8Queries::init(const RangeResults& results) const {
  const detail::HeapRows rows{results.distances, results.ids, nullptr, k_};
  for (size_t q = 0; q < nq_; ++q) rows.at(q).clear();
}

void Sq8Queries::search_range(const uint8_t* codes, size_t begin, size_t end, const idx_t* ids,
                              const RangeResults& results, const IdFilter* filter) const {
  QVEC_CHECK_ARG(begin <= end, "search_range needs begin <= end; got begin = " +
                                   std::to_string(begin) + ", end = " + std::to_string(end));
  const detail::RowRange range{begin, end, ids, filter};
  detail::parallel_for((nq_ + detail::kSq8Rows - 1) / detail::kSq8Rows, [&](size_t block) {
    const size_t q0 = block * detail::kSq8Rows, q1 = std::min(nq_, q0 + detail::kSq8Rows);
    const detail::HeapRows rows{results.distances + q0 * k_, results.ids + q0 * k_, nullptr, k_};
    if (begin < end) detail::scan_range(*prepared_, q0, q1, codes, range, rows);
  });
}

void Sq8Queries::finish(const RangeResults& results, float* distances, idx_t* ids) const {
  detail::sorted_results(detail::HeapRows{results.distances, results.ids, nullptr, k_}, nq_, k_,
                         distances, ids);
}

}  // namespace qvec
