// The query side of the IVF binary searches (ivf_binary_queries.h): query tables and rotations
// built once per call, so a probed list costs a row selection or, for L2 residuals, one
// subtraction and a quantization per pair instead of a rotation.
#include "ivf_binary_queries.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "binary_extended_scan.h"
#include "binary_scan.h"
#include "parallel.h"

namespace qvec::detail {
namespace {

constexpr size_t kRotateChunk = 64;  // rows per rotation task

/// bq.rotate of n rows on all threads.
void rotate_rows(const BinaryQuantizer& bq, const float* x, size_t n, float* out) {
  const size_t dim = bq.dim();
  detail::parallel_for((n + kRotateChunk - 1) / kRotateChunk, [&](size_t c) {
    const size_t i0 = c * kRotateChunk, i1 = std::min(n, i0 + kRotateChunk);
    bq.rotate(x + i0 * dim, i1 - i0, out + i0 * dim);
  });
}

/// bq.prepare_rotated of a batch (rotated: its (q - mean) R; queries: the q), its query blocks on
/// all threads.
BinaryQueryTables prepare_batch(const BinaryQuantizer& bq, const float* rotated,
                                const float* queries, size_t nq, size_t query_bits) {
  const size_t chunks = (nq + kRotateChunk - 1) / kRotateChunk, dim = bq.dim();
  std::vector<BinaryQueryTables> parts(chunks);
  detail::parallel_for(chunks, [&](size_t c) {
    const size_t q0 = c * kRotateChunk, q1 = std::min(nq, q0 + kRotateChunk);
    parts[c] = bq.prepare_rotated(rotated + q0 * dim, queries + q0 * dim, q1 - q0, query_bits);
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

}  // namespace

/// The residual queries of an IVF binary search in the rotated space, built once per call:
/// pair (q, l) needs (q - c_l - mean) R, the rotation of every probed list's residual, which is
/// (q - o - mean) R - (c_l - o) R for any o, one subtraction per pair once both terms exist.
/// o is the probed centroids' mean, so both terms are of the data's spread, not of its
/// distance from the origin: far from the origin the subtraction cancels no more than q - c_l
/// would.
class RotatedResiduals {
 public:
  RotatedResiduals(const BinaryQuantizer& bq, const float* centroids, size_t nlist,
                   const float* queries, size_t nq, const IvfProbes& probes)
      : dim_(bq.dim()), slot_(nlist, -1) {
    std::vector<size_t> probed;
    for (size_t i = 0; i < nq * probes.nprobe; ++i) {
      const idx_t l = probes.lists[i];
      if (l < 0 || slot_[static_cast<size_t>(l)] >= 0) continue;
      slot_[static_cast<size_t>(l)] = static_cast<int64_t>(probed.size());
      probed.push_back(static_cast<size_t>(l));
    }
    // the probed centroids' mean: near the data, and a few rows for a one-query search
    std::vector<double> sum(dim_, 0.0);
    for (size_t l : probed)
      for (size_t j = 0; j < dim_; ++j) sum[j] += centroids[l * dim_ + j];
    std::vector<float> origin(dim_), shifted(probed.size() * dim_);
    for (size_t j = 0; j < dim_; ++j)
      origin[j] = static_cast<float>(sum[j] / double(std::max<size_t>(1, probed.size())));
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

IvfBinaryQueries::IvfBinaryQueries(const BinaryQuantizer& bq, const float* centroids,
                                   size_t nlist, const float* queries, size_t nq,
                                   const IvfProbes& probes, size_t query_bits, float eps)
    : bq_(bq), query_bits_(query_bits), eps_(eps),
      coarse_ip_(centroids && bq.metric() == Metric::IP) {
  if (centroids && bq.metric() == Metric::L2) {
    residuals_ = std::make_unique<RotatedResiduals>(bq, centroids, nlist, queries, nq, probes);
    return;
  }
  // every query rotated once, for its tables (bit planes, or the float query's pass) and its
  // float query
  const size_t dim = bq.dim();
  std::vector<float> centred(nq * dim), rotated(nq * dim);
  for (size_t q = 0; q < nq; ++q)
    for (size_t j = 0; j < dim; ++j) centred[q * dim + j] = queries[q * dim + j] - bq.mean()[j];
  rotate_rows(bq, centred.data(), nq, rotated.data());
  if (query_bits > 0) {
    tables_ = prepare_batch(bq, rotated.data(), queries, nq, query_bits);
    return;
  }
  const std::vector<float> base =
      bq.metric() == Metric::IP ? ip_query_base(bq, queries, nq) : std::vector<float>();
  extended_ = std::make_unique<ExtendedQueries>(prepare_extended_rotated(
      bq, rotated.data(), nq, base.data(), eps,
      std::isfinite(eps) ? prepare_batch(bq, rotated.data(), queries, nq, kPassBits)
                         : BinaryQueryTables()));
}

IvfBinaryQueries::~IvfBinaryQueries() = default;

std::vector<float> IvfBinaryQueries::rotated_pairs(const ListGroup& group) const {
  std::vector<float> out(group.count * bq_.dim());
  residuals_->pairs(group, out.data());
  return out;
}

std::vector<float> IvfBinaryQueries::pair_shifts(const ListGroup& group) const {
  // IP of residual codes: -<q, c_l + r> = -coarse - <q, r>
  std::vector<float> out(group.count, 0.0f);
  if (coarse_ip_)
    for (size_t i = 0; i < group.count; ++i) out[i] = -group.coarse[i];
  return out;
}

GroupTables IvfBinaryQueries::tables_of(const ListGroup& group) const {
  GroupTables out;
  if (residuals_) {
    out.own = bq_.prepare_rotated(rotated_pairs(group).data(), nullptr, group.count, query_bits_);
    return out;
  }
  out.shared = &tables_;
  out.rows = group.queries;
  if (coarse_ip_) {  // only the constants are the pair's own
    const std::vector<float> shifts = pair_shifts(group);
    out.constants.resize(group.count * 4);
    for (size_t i = 0; i < group.count; ++i) {
      const float* c = tables_.constants.data() + 4 * group.queries[i];
      std::copy(c, c + 4, out.constants.data() + 4 * i);
      out.constants[4 * i + 3] += shifts[i];
    }
  }
  return out;
}

ExtendedQueries IvfBinaryQueries::extended_of(const ListGroup& group) const {
  if (residuals_) {
    const std::vector<float> v = rotated_pairs(group);
    return prepare_extended_rotated(
        bq_, v.data(), group.count, nullptr, eps_,
        std::isfinite(eps_) ? bq_.prepare_rotated(v.data(), nullptr, group.count, kPassBits)
                            : BinaryQueryTables());
  }
  const std::vector<float> shifts = pair_shifts(group);
  return select_extended_rows(*extended_, group.queries, group.count, shifts.data());
}

}  // namespace qvec::detail
