#pragma once
// The query side of an IVF binary search, built once per call and read per (list, queries)
// group: for L2 residual codes each pair's rotated residual query, otherwise rows of the
// batch's own (IP residual codes score q itself, the pair adding the coarse <q, c_l>).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "binary_scan.h"
#include "list_scan.h"
#include "qvec/binary.h"
#include "qvec/ivf.h"

namespace qvec::detail {

class RotatedResiduals;
struct ExtendedQueries;

/// A list group's bit-plane queries: the pairs' own tables (L2 residual codes), or rows of the
/// batch's tables read in place with each pair's constants (shifted for IP residual codes).
struct GroupTables {
  BinaryQueryTables own;
  const BinaryQueryTables* shared = nullptr;
  const size_t* rows = nullptr;
  std::vector<float> constants;

  BinaryQuerySide side() const {
    if (shared == nullptr) return BinaryQuerySide{own};
    return BinaryQuerySide{*shared, rows, constants.empty() ? nullptr : constants.data()};
  }
};

class IvfBinaryQueries {
 public:
  /// centroids: null, or the lists' (codes of x - c_l). query_bits >= 1: the bit-plane scan's
  /// tables (tables_of); 0: the float query's (extended_of), pruned by the sign bits when eps
  /// is finite.
  IvfBinaryQueries(const BinaryQuantizer& bq, const float* centroids, size_t nlist,
                   const float* queries, size_t nq, const IvfProbes& probes, size_t query_bits,
                   float eps);
  ~IvfBinaryQueries();

  /// The group's queries as its list's codes see them.
  GroupTables tables_of(const ListGroup& group) const;
  ExtendedQueries extended_of(const ListGroup& group) const;

 private:
  /// The rotated residuals (q - c_l - mean) R of the group's queries (L2 residual codes).
  std::vector<float> rotated_pairs(const ListGroup& group) const;
  /// -(the pair's constant) of each of the group's queries: IP residual codes add <q, c_l>.
  std::vector<float> pair_shifts(const ListGroup& group) const;

  const BinaryQuantizer& bq_;
  size_t query_bits_;
  float eps_;
  bool coarse_ip_;
  std::unique_ptr<RotatedResiduals> residuals_;  // L2 with centroids
  BinaryQueryTables tables_;                     // otherwise, bit-plane: every query's
  std::unique_ptr<ExtendedQueries> extended_;    // otherwise, float query: every query's
};

}  // namespace qvec::detail
