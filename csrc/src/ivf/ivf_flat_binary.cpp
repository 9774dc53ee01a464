// IVF searches of float32 lists (exact distances) and of binary-code lists (the quantizer's
// asymmetric estimator over each list as a range; with centroids, on the residual q - c_l,
// whose rotation is built from the once-rotated queries and centroids).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kernels/dispatch.h"
#include "list_scan.h"
#include "parallel.h"
#include "qvec/error.h"
#include "qvec/ivf.h"
#include "search/collector.h"
#include "search/topk_merge.h"

namespace qvec {
namespace {

class FlatListScan final : public detail::ListScan {
 public:
  FlatListScan(const IvfLists& lists, size_t dim, Metric metric, const float* queries, size_t k,
               const IdFilter* filter)
      : lists_(lists), dim_(dim), l2_(metric == Metric::L2), queries_(queries), k_(k),
        filter_(filter) {}

  void scan(const detail::ListGroup& group, const RangeResults& results) const override {
    const detail::DenseKernels& kern = detail::dense_kernels();
    const float* rows = reinterpret_cast<const float*>(lists_.list_codes(group.list));
    const size_t n = lists_.size(group.list);
    const idx_t* ids = lists_.list_ids(group.list);
    for (size_t i = 0; i < group.count; ++i) {
      const float* q = queries_ + group.queries[i] * dim_;
      detail::HeapView heap{results.distances + i * k_, results.ids + i * k_, k_};
      for (size_t r = 0; r < n; ++r) {
        if (filter_ && !filter_->allows(ids[r])) continue;
        const float* x = rows + r * dim_;
        const float d = l2_ ? kern.l2sqr(q, x, dim_) : -kern.dot(q, x, dim_);
        QVEC_CHECK_ARG(std::isfinite(d), "a distance is not finite (NaN or inf in the data)");
        heap.push(d, ids[r]);
      }
    }
  }

 private:
  const IvfLists& lists_;
  size_t dim_;
  bool l2_;
  const float* queries_;
  size_t k_;
  const IdFilter* filter_;
};

/// Rows `rows` (size count) of a batch's tables, in that order.
BinaryQueryTables select_rows(const BinaryQueryTables& t, const size_t* rows, size_t count) {
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
  }
  return out;
}

constexpr size_t kRotateChunk = 64;  // rows per rotation task

/// bq.rotate of n rows on all threads.
void rotate_rows(const BinaryQuantizer& bq, const float* x, size_t n, float* out) {
  const size_t dim = bq.dim();
  detail::parallel_for((n + kRotateChunk - 1) / kRotateChunk, [&](size_t c) {
    const size_t i0 = c * kRotateChunk, i1 = std::min(n, i0 + kRotateChunk);
    bq.rotate(x + i0 * dim, i1 - i0, out + i0 * dim);
  });
}

/// bq.prepare_queries of a batch, its query blocks on all threads.
BinaryQueryTables prepare_batch(const BinaryQuantizer& bq, const float* queries, size_t nq,
                                size_t query_bits) {
  const size_t chunks = (nq + kRotateChunk - 1) / kRotateChunk;
  std::vector<BinaryQueryTables> parts(chunks);
  detail::parallel_for(chunks, [&](size_t c) {
    const size_t q0 = c * kRotateChunk, q1 = std::min(nq, q0 + kRotateChunk);
    parts[c] = bq.prepare_queries(queries + q0 * bq.dim(), q1 - q0, query_bits);
  });
  if (chunks == 1) return std::move(parts[0]);
  BinaryQueryTables out;
  out.nq = nq;
  out.query_bits = query_bits;
  out.nwords = parts.empty() ? 0 : parts[0].nwords;
  for (const BinaryQueryTables& part : parts) {
    out.planes.insert(out.planes.end(), part.planes.begin(), part.planes.end());
    out.luts.insert(out.luts.end(), part.luts.begin(), part.luts.end());
    out.constants.insert(out.constants.end(), part.constants.begin(), part.constants.end());
  }
  return out;
}

/// The residual queries of an IVF binary search in the rotated space, built once per call:
/// pair (q, l) needs (q - c_l - mean) R, the rotation of every probed list's residual, which is
/// (q - o - mean) R - (c_l - o) R for any o, one subtraction per pair once both terms exist.
/// o is the centroids' mean, so both terms are of the data's spread, not of its distance
/// from the origin: far from the origin the subtraction cancels no more than q - c_l would.
class RotatedResiduals {
 public:
  RotatedResiduals(const BinaryQuantizer& bq, const float* centroids, size_t nlist,
                   const float* queries, size_t nq, const IvfProbes& probes)
      : dim_(bq.dim()), slot_(nlist, -1) {
    std::vector<double> sum(dim_, 0.0);
    for (size_t l = 0; l < nlist; ++l)
      for (size_t j = 0; j < dim_; ++j) sum[j] += centroids[l * dim_ + j];
    std::vector<float> origin(dim_), shifted;
    for (size_t j = 0; j < dim_; ++j) origin[j] = static_cast<float>(sum[j] / double(nlist));
    std::vector<size_t> probed;
    for (size_t i = 0; i < nq * probes.nprobe; ++i) {
      const idx_t l = probes.lists[i];
      if (l < 0 || slot_[static_cast<size_t>(l)] >= 0) continue;
      slot_[static_cast<size_t>(l)] = static_cast<int64_t>(probed.size());
      probed.push_back(static_cast<size_t>(l));
    }
    shifted.resize(probed.size() * dim_);
    for (size_t p = 0; p < probed.size(); ++p)
      for (size_t j = 0; j < dim_; ++j)
        shifted[p * dim_ + j] = centroids[probed[p] * dim_ + j] - origin[j];
    lists_.resize(shifted.size());
    rotate_rows(bq, shifted.data(), probed.size(), lists_.data());
    const std::vector<float>& mean = bq.mean();
    shifted.resize(nq * dim_);
    for (size_t q = 0; q < nq; ++q)
      for (size_t j = 0; j < dim_; ++j)
        shifted[q * dim_ + j] = (queries[q * dim_ + j] - origin[j]) - mean[j];
    queries_.resize(shifted.size());
    rotate_rows(bq, shifted.data(), nq, queries_.data());
  }

  /// The rotated residuals of the group's queries to its list: out (size count * dim), written.
  void pairs(const detail::ListGroup& group, float* out) const {
    const float* c = lists_.data() + static_cast<size_t>(slot_[group.list]) * dim_;
    for (size_t i = 0; i < group.count; ++i) {
      const float* q = queries_.data() + group.queries[i] * dim_;
      for (size_t j = 0; j < dim_; ++j) out[i * dim_ + j] = q[j] - c[j];
    }
  }

 private:
  size_t dim_;
  std::vector<int64_t> slot_;  // per list: its row of lists_, -1 when no query probes it
  std::vector<float> lists_, queries_;
};

/// Binary lists scanned with query tables built once per call: each query's (no centroids, or
/// IP, where residual codes score q itself and the pair adds the coarse <q, c_l>), or for L2
/// residuals each pair's from the rotated residuals (one subtraction and a quantization per
/// pair, not a rotation).
class BinaryListScan final : public detail::ListScan {
 public:
  BinaryListScan(const IvfLists& lists, const BinaryQuantizer& bq, const float* centroids,
                 const float* queries, size_t nq, const IvfProbes& probes, size_t k,
                 size_t query_bits, const IdFilter* filter)
      : lists_(lists), bq_(bq), k_(k), query_bits_(query_bits), filter_(filter) {
    if (centroids && bq.metric() == Metric::L2)
      residuals_ = std::make_unique<RotatedResiduals>(bq, centroids, lists.nlist, queries, nq,
                                                      probes);
    else
      tables_ = prepare_batch(bq, queries, nq, query_bits);
    coarse_ip_ = centroids && bq.metric() == Metric::IP;
  }

  void scan(const detail::ListGroup& group, const RangeResults& results) const override {
    BinaryQueryTables tables;
    if (residuals_) {
      std::vector<float> rotated(group.count * bq_.dim());
      residuals_->pairs(group, rotated.data());
      tables = bq_.prepare_rotated(rotated.data(), group.count, query_bits_);
    } else {
      tables = select_rows(tables_, group.queries, group.count);
      // IP of residual codes: -<q, c_l + r> = -coarse - <q, r>, a constant of the pair
      if (coarse_ip_)
        for (size_t i = 0; i < group.count; ++i) tables.constants[i * 4 + 3] -= group.coarse[i];
    }
    BinaryQueries(bq_, std::move(tables), k_)
        .search_range(lists_.list_codes(group.list), 0, lists_.size(group.list),
                      lists_.list_ids(group.list), results, filter_);
  }

 private:
  const IvfLists& lists_;
  const BinaryQuantizer& bq_;
  size_t k_, query_bits_;
  const IdFilter* filter_;
  BinaryQueryTables tables_;                     // every query's (no L2 residuals)
  std::unique_ptr<RotatedResiduals> residuals_;  // L2 with centroids
  bool coarse_ip_ = false;                       // IP with centroids: add the coarse term
};

}  // namespace

void ivf_search_flat(const IvfLists& lists, size_t dim, Metric metric, const float* queries,
                     size_t nq, const IvfProbes& probes, size_t k, float* distances,
                     idx_t* ids, const IdFilter* filter) {
  check_k(k);
  QVEC_CHECK_ARG(dim >= 1, "dim must be >= 1");
  const FlatListScan scan(lists, dim, metric, queries, k, filter);
  detail::ivf_run(lists, nq, probes, k, scan, distances, ids);
  if (metric == Metric::IP) detail::negate(distances, nq * k);
}

void ivf_search_binary(const IvfLists& lists, const BinaryQuantizer& bq, const float* centroids,
                       const float* queries, size_t nq, const IvfProbes& probes, size_t k,
                       size_t query_bits, float* distances, idx_t* ids,
                       const IdFilter* filter) {
  check_k(k);
  bq.require_trained();
  QVEC_CHECK_ARG(query_bits >= 1 && query_bits <= BinaryQuantizer::kMaxQueryBits,
                 "query_bits must be in [1, " + std::to_string(BinaryQuantizer::kMaxQueryBits) +
                     "]");
  detail::check_probes(probes, nq, lists.nlist);  // before the probed lists index the centroids
  const BinaryListScan scan(lists, bq, centroids, queries, nq, probes, k, query_bits, filter);
  detail::ivf_run(lists, nq, probes, k, scan, distances, ids);
  if (bq.metric() == Metric::IP) detail::negate(distances, nq * k);
}

}  // namespace qvec
