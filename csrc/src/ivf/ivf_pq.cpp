// IVF-PQ search: per (query, list) tables from the query's own tables plus the list's
// precomputed term, scanned with Pq8Queries (8-bit) or FastScanQueries in exact mode (4-bit),
// whose collectors hold float ADC distances and so persist across lists with different tables.
// When no list has a term of its own (IP, or codes not by residual) a query's 8-bit tables are
// quantized once for all its lists and each list only shifts its distances.
#include <algorithm>
#include <memory>
#include <vector>

#include "kernels/dispatch.h"
#include "ivf_pq4_scan.h"
#include "list_scan.h"
#include "qvec/error.h"
#include "qvec/exact.h"
#include "qvec/fastscan.h"
#include "qvec/ivf.h"
#include "parallel.h"
#include "pq8_scan.h"
#include "search/topk_merge.h"

namespace qvec {
namespace {

/// Query tables of one batch, and the scan of one list for a group of its queries.
class PqListScan final : public detail::ListScan {
 public:
  PqListScan(const IvfPqSearch& ivf, const ProductQuantizer& pq, const IvfLists& lists,
             const float* tables, const float* norms, size_t k, const IdFilter* filter)
      : ivf_(ivf), pq_(pq), lists_(lists), tables_(tables), norms_(norms), k_(k),
        filter_(filter) {}

  /// luts: the batch's quantized 8-bit tables when no list has a term (null: per pair).
  void set_shared_luts(const detail::QueryLuts* luts) { luts_ = luts; }

  void scan(const detail::ListGroup& group, const RangeResults& results) const override {
    if (luts_) {
      scan_shared(group, results);
      return;
    }
    const size_t size = pq_.m() * pq_.ksub();
    // Per thread, grown only: a fresh vector per list (64 KiB per query at m = 64, 8 bits)
    // cost its memset and page faults, 8% of a 1M search.
    thread_local std::vector<float> tables;
    if (tables.size() < group.count * size) tables.resize(group.count * size);
    for (size_t i = 0; i < group.count; ++i) {
      const size_t q = group.queries[i];
      ivf_.pair_table(tables_ + q * size, norms_[q], group.list, group.coarse[i],
                      tables.data() + i * size);
    }
    const uint8_t* codes = lists_.list_codes(group.list);
    const size_t n = lists_.size(group.list);
    const idx_t* ids = lists_.list_ids(group.list);
    if (pq_.nbits() == 8) {
      Pq8Queries(tables.data(), group.count, pq_.m(), k_)
          .search_range(codes, 0, n, ids, results, filter_);
    } else {
      FastScanSearchOptions exact;
      exact.exact = true;
      FastScanQueries(tables.data(), group.count, pq_.m(), k_, exact)
          .search_range(codes, 0, n, ids, results, filter_);
    }
  }

 private:
  void scan_shared(const detail::ListGroup& group, const RangeResults& results) const {
    std::vector<float> shifts(group.count);
    for (size_t i = 0; i < group.count; ++i)
      shifts[i] = ivf_.pair_shift(norms_[group.queries[i]], group.list, group.coarse[i]).shift;
    const size_t n = lists_.size(group.list);
    const detail::Pq8Batch batch{tables_, luts_, pq_.m(), group.queries, shifts.data()};
    detail::pq8_scan_range(batch, 0, group.count, lists_.list_codes(group.list),
                           detail::RowRange{0, n, lists_.list_ids(group.list), filter_},
                           detail::HeapRows{results.distances, results.ids, nullptr, k_});
  }

  const IvfPqSearch& ivf_;
  const ProductQuantizer& pq_;
  const IvfLists& lists_;
  const float* tables_;  // (nq, m, ksub) of the batch
  const float* norms_;   // (nq,) ||q||^2
  size_t k_;
  const IdFilter* filter_;
  const detail::QueryLuts* luts_ = nullptr;
};

/// max - min of a table row of 16 (fast-scan's ksub): branch-free, so it vectorizes, where
/// std::minmax_element's compare-and-branch chain cost 8% of a gcide-minilm IVF-PQ4 search.
float row_span16(const float* row) {
  float lo = row[0], hi = row[0];
  for (size_t c = 1; c < 16; ++c) {
    lo = std::min(lo, row[c]);
    hi = std::max(hi, row[c]);
  }
  return hi - lo;
}

/// Query tables held at once are bounded (8-bit tables of large m are big).
constexpr size_t kMaxTableFloats = size_t(1) << 24;

/// 8-bit tables whose quantized copies serve every list (no list term) are built for this
/// many floats of queries at a time (64 queries of m = 64), so they stay in cache while their
/// lists are scanned: 1,000 gcide queries held 64 MiB of them.
constexpr size_t kSharedPq8TableFloats = size_t(1) << 20;

/// 8-bit tables per thread when each (query, list) pair has its own (search_pairs8): 8 queries
/// of m = 64 (2 MiB), within one core's L2.
constexpr size_t kPairTableFloats = size_t(1) << 17;

/// Codebooks (m, ksub, dsub) as (m, dsub, ksub), the layout pair_rows reads.
std::vector<float> books_by_dimension(const float* book, size_t m, size_t ksub, size_t dsub) {
  std::vector<float> out(m * dsub * ksub);
  for (size_t j = 0; j < m; ++j)
    for (size_t c = 0; c < ksub; ++c)
      for (size_t t = 0; t < dsub; ++t)
        out[(j * dsub + t) * ksub + c] = book[(j * ksub + c) * dsub + t];
  return out;
}

}  // namespace

void ivf_pq8_pair_rows(const float* query_table, const float* centroid, const float* codebooks,
                       size_t m, size_t dsub, float* out) {
  const std::vector<float> books_t = books_by_dimension(codebooks, m, 256, dsub);
  detail::pqlut_kernels().pair_rows(query_table, centroid, books_t.data(), m, 256, dsub, out);
}

IvfPqSearch::IvfPqSearch(const ProductQuantizer& pq, const float* centroids, size_t nlist,
                         bool by_residual)
    : pq_(&pq), nlist_(nlist), by_residual_(by_residual),
      centroids_(centroids, centroids + nlist * pq.dim()), list_max_span_(nlist, 0.0f),
      list_sum_span_(nlist, 0.0f), coarse_(centroids_.data(), nlist, pq.dim(), pq.metric()) {
  QVEC_CHECK_ARG(pq.is_trained(), "the product quantizer is not trained");
  QVEC_CHECK_ARG(nlist >= 1, "nlist must be >= 1");
  if (!by_residual || pq.metric() != Metric::L2) return;
  has_terms_ = true;
  // list term of list l, subquantizer j, centroid c: 2 <c_lj, p_jc>
  const size_t m = pq.m(), ksub = pq.ksub(), dsub = pq.dsub();
  const float* book = pq.centroids().data();
  if (pq.nbits() == 8) {
    // Computed per pair from the codebooks, (m, dsub, ksub) here, and the centroid: at 1M x
    // 128 / 4096 lists the stored terms were 268 MB, read from DRAM at 64 KiB a pair (40% of
    // a search), where computing them takes m * ksub * dsub products from cache.
    books_t_ = books_by_dimension(book, m, ksub, dsub);
    return;
  }
  list_terms_.resize(nlist * m * ksub);
  detail::parallel_for(nlist, [&](size_t l) {
    const detail::DenseKernels& kern = detail::dense_kernels();
    for (size_t j = 0; j < m; ++j) {
      const float* c = centroids_.data() + l * pq.dim() + j * dsub;
      float* out = list_terms_.data() + (l * m + j) * ksub;
      for (size_t s = 0; s < ksub; ++s) out[s] = 2.0f * kern.dot(c, book + (j * ksub + s) * dsub, dsub);
      const auto range = std::minmax_element(out, out + ksub);
      list_max_span_[l] = std::max(list_max_span_[l], *range.second - *range.first);
      list_sum_span_[l] += *range.second - *range.first;
    }
  });
}

std::vector<float> IvfPqSearch::shared_scales(const float* tables, size_t nq,
                                              const IvfProbes& probes) const {
  const size_t m = pq_->m();
  std::vector<float> scales(nq);
  detail::parallel_for((nq + 63) / 64, [&](size_t task) {
    std::vector<float> max_span(probes.nprobe), sum_span(probes.nprobe);
    for (size_t q = task * 64; q < std::min(nq, (task + 1) * 64); ++q) {
      float tmax = 0.0f, tsum = 0.0f;
      for (size_t j = 0; j < m; ++j) {
        const float span = row_span16(tables + (q * m + j) * 16);
        tmax = std::max(tmax, span);
        tsum += span;
      }
      size_t count = 0;
      for (size_t p = 0; p < probes.nprobe; ++p) {
        const idx_t l = probes.lists[q * probes.nprobe + p];
        if (l < 0) continue;
        // a pair table's spans are at most the query's plus the list's (a float's rounding
        // of these sums is covered by the clamping quantizer)
        max_span[count] = tmax + list_max_span_[static_cast<size_t>(l)];
        sum_span[count++] = tsum + list_sum_span_[static_cast<size_t>(l)];
      }
      scales[q] = detail::shared_scale(max_span.data(), sum_span.data(), count, m);
    }
  });
  return scales;
}

IvfPqSearch::~IvfPqSearch() = default;

void IvfPqSearch::search_shared_pq4(const IvfLists& lists, const float* queries, size_t nq,
                                    const IvfProbes& probes, size_t k, float* distances,
                                    idx_t* ids, const IdFilter* filter) const {
  // One quantized table per query serves all its lists; the float tables are only a step to
  // it, so they are built a chunk of queries at a time (1000 queries of m = 128 would hold
  // 8 MiB of them, their page faults alone 5% of a gcide-minilm search).
  constexpr size_t kChunk = 128;
  const size_t m = pq_->m(), dim = pq_->dim(), lut_bytes = fastscan_padded_m(m) * 16;
  std::vector<uint8_t> luts(nq * lut_bytes);
  std::vector<float> biases(nq), scales(nq), norms(nq), tables(std::min(nq, kChunk) * m * 16);
  squared_norms(queries, nq, dim, norms.data());
  for (size_t q0 = 0; q0 < nq; q0 += kChunk) {
    const size_t count = std::min(kChunk, nq - q0);
    pq_->compute_tables(queries + q0 * dim, count, tables.data());
    const IvfProbes part{probes.nprobe, probes.lists + q0 * probes.nprobe,
                         probes.coarse + q0 * probes.nprobe};
    const std::vector<float> chunk_scales = shared_scales(tables.data(), count, part);
    std::copy(chunk_scales.begin(), chunk_scales.end(), scales.begin() + q0);
    detail::quantize_query_tables(tables.data(), count, m, chunk_scales.data(),
                                  luts.data() + q0 * lut_bytes, biases.data() + q0);
  }
  const detail::Pq4ListScan scan(*this, *pq_, lists, nullptr, norms.data(), scales.data(), k,
                                 filter, luts.data(), biases.data());
  detail::ivf_run(lists, nq, probes, k, scan, distances, ids);
}

void IvfPqSearch::pair_table(const float* query_table, float query_norm, size_t list,
                             float coarse, float* out) const {
  const size_t size = pq_->m() * pq_->ksub(), ksub = pq_->ksub();
  if (!by_residual_) {
    std::copy(query_table, query_table + size, out);
    return;
  }
  if (pq_->metric() == Metric::L2) {
    if (list_terms_.empty()) {
      detail::pqlut_kernels().pair_rows(query_table, centroids_.data() + list * pq_->dim(),
                                        books_t_.data(), pq_->m(), ksub, pq_->dsub(), out);
    } else {
      const float* term = list_terms_.data() + list * size;
      for (size_t i = 0; i < size; ++i) out[i] = query_table[i] + term[i];
    }
    const float shift = coarse - query_norm;  // ||q - c_l||^2 - ||q||^2, in subquantizer 0
    for (size_t c = 0; c < ksub; ++c) out[c] += shift;
  } else {
    std::copy(query_table, query_table + size, out);
    for (size_t c = 0; c < ksub; ++c) out[c] -= coarse;  // -<q, c_l>
  }
}

IvfPairShift IvfPqSearch::pair_shift(float query_norm, size_t list, float coarse) const {
  if (!by_residual_) return {};
  if (pq_->metric() == Metric::L2)  // 8-bit terms are computed in pair_table, not stored
    return {list_terms_.empty() ? nullptr : list_terms_.data() + list * pq_->m() * pq_->ksub(),
            coarse - query_norm};
  return {nullptr, -coarse};
}

void IvfPqSearch::search(const IvfLists& lists, const float* queries, size_t nq,
                         const IvfProbes& probes, size_t k, float* distances,
                         idx_t* ids, bool exact, const IdFilter* filter) const {
  check_k(k);
  QVEC_CHECK_ARG(lists.nlist == nlist_, "the lists must number nlist");
  detail::check_probes(probes, nq, nlist_);
  const size_t size = pq_->m() * pq_->ksub(), dim = pq_->dim();
  size_t batch = std::max<size_t>(1, kMaxTableFloats / size);
  if (pq_->nbits() == 4 && !exact && !has_terms_) {
    for (size_t q0 = 0; q0 < nq; q0 += batch) {
      const IvfProbes part{probes.nprobe, probes.lists + q0 * probes.nprobe,
                           probes.coarse + q0 * probes.nprobe};
      search_shared_pq4(lists, queries + q0 * dim, std::min(batch, nq - q0), part, k,
                        distances + q0 * k, ids + q0 * k, filter);
    }
    if (pq_->metric() == Metric::IP) detail::negate(distances, nq * k);
    return;
  }
  const bool shared8 = pq_->nbits() == 8 && !has_terms_;
  if (pq_->nbits() == 8 && !shared8) {
    search_pairs8(lists, queries, nq, probes, k, distances, ids, filter);
    return;
  }
  if (shared8) batch = std::max<size_t>(1, kSharedPq8TableFloats / size);
  std::vector<float> tables(std::min(nq, batch) * size), norms(std::min(nq, batch));
  for (size_t q0 = 0; q0 < nq; q0 += batch) {
    const size_t count = std::min(batch, nq - q0);
    pq_->compute_tables(queries + q0 * dim, count, tables.data());
    squared_norms(queries + q0 * dim, count, dim, norms.data());
    const IvfProbes part{probes.nprobe, probes.lists + q0 * probes.nprobe,
                         probes.coarse + q0 * probes.nprobe};
    if (pq_->nbits() == 4 && !exact) {
      const std::vector<float> scales = shared_scales(tables.data(), count, part);
      const detail::Pq4ListScan scan(*this, *pq_, lists, tables.data(), norms.data(),
                                     scales.data(), k, filter);
      detail::ivf_run(lists, count, part, k, scan, distances + q0 * k, ids + q0 * k);
    } else {
      PqListScan scan(*this, *pq_, lists, tables.data(), norms.data(), k, filter);
      std::unique_ptr<detail::QueryLuts> luts;
      if (shared8) {
        detail::check_lut_m(pq_->m());
        luts = std::make_unique<detail::QueryLuts>(tables.data(), count, pq_->m(), 256,
                                                   pq_->m(), detail::kLutPadding);
        scan.set_shared_luts(luts.get());
      }
      detail::ivf_run(lists, count, part, k, scan, distances + q0 * k, ids + q0 * k);
    }
  }
  if (pq_->metric() == Metric::IP) detail::negate(distances, nq * k);
}

void IvfPqSearch::search_pairs8(const IvfLists& lists, const float* queries, size_t nq,
                                const IvfProbes& probes, size_t k, float* distances, idx_t* ids,
                                const IdFilter* filter) const {
  // Every (query, list) pair sums its own table (the query's plus the list's term), so lists
  // shared by queries save little; what counts is that each query's 64 KiB table (m = 64)
  // stays in cache while its pairs read it. Each thread takes its own few queries, their
  // tables and their lists (the calls inside run on it alone): 1,000 queries' tables at once
  // held 64 MiB, read back from DRAM once per pair (1M x 128, nprobe 8, 2 threads: ~2x).
  const size_t size = pq_->m() * pq_->ksub(), dim = pq_->dim();
  const size_t chunk = std::max<size_t>(1, kPairTableFloats / size);
  detail::parallel_for((nq + chunk - 1) / chunk, [&](size_t task) {
    const size_t q0 = task * chunk, count = std::min(chunk, nq - q0);
    thread_local std::vector<float> tables, norms;
    tables.resize(count * size);
    norms.resize(count);
    pq_->compute_tables(queries + q0 * dim, count, tables.data());
    squared_norms(queries + q0 * dim, count, dim, norms.data());
    const IvfProbes part{probes.nprobe, probes.lists + q0 * probes.nprobe,
                         probes.coarse + q0 * probes.nprobe};
    const PqListScan scan(*this, *pq_, lists, tables.data(), norms.data(), k, filter);
    detail::ivf_run(lists, count, part, k, scan, distances + q0 * k, ids + q0 * k);
  });
  if (pq_->metric() == Metric::IP) detail::negate(distances, nq * k);
}

void IvfPqSearch::search_nearest(const IvfLists& lists, const float* queries, size_t nq,
                                 size_t nprobe, size_t k, float* distances, idx_t* ids,
                                 bool exact, const IdFilter* filter) const {
  check_k(nprobe);
  std::vector<float> coarse(nq * nprobe);
  std::vector<idx_t> probe(nq * nprobe);
  coarse_.probe(queries, nq, nprobe, coarse.data(), probe.data());
  search(lists, queries, nq, IvfProbes{nprobe, probe.data(), coarse.data()}, k, distances, ids,
         exact, filter);
}

void ivf_encode_pq(const ProductQuantizer& pq, const float* centroids, size_t nlist,
                   bool by_residual, const float* x, size_t n, int32_t* assign, uint8_t* codes) {
  const size_t dim = pq.dim(), cs = pq.code_size();
  if (!by_residual) {
    ivf_assign(x, n, dim, centroids, nlist, assign);
    pq.encode(x, n, codes);
    return;
  }
  // Residuals in chunks that stay in L2/L3 (each step runs on all threads).
  constexpr size_t kChunk = 8192;
  std::vector<float> residual(std::min(n, kChunk) * dim);
  for (size_t s = 0; s < n; s += kChunk) {
    const size_t rows = std::min(kChunk, n - s);
    ivf_residuals(x + s * dim, rows, dim, centroids, nlist, assign + s, residual.data());
    pq.encode(residual.data(), rows, codes + s * cs);
  }
}

}  // namespace qvec
