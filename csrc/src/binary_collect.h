#pragma once
// The candidate collector of the binary block scanners: the candidates of one scan of a range
// (search/range.h) go into the caller's per-query heaps (HeapRows, search/collector.h), which
// persist across ranges. Distances travel as order-preserving uint32 ("ordered": the Hamming
// distance itself, or float_order of a float distance).
//
// Without a row -> id map ids ascend with rows, so the candidates of the scan are first kept
// in per-query key heaps (ordered << 32 | row - begin: one integer compare orders by
// (distance, id)) whose worst key is a strict bound, and moved into the heaps at finish().
// With a map ids follow no order: candidates equal to the threshold are admitted and go
// straight to the heaps, whose push breaks the tie by id.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "qvec/common.h"
#include "qvec/error.h"
#include "search/collector.h"
#include "search/range.h"

namespace qvec::detail {

/// Ordered distances of Hamming scans: the distance itself (exact as a float below 2^24).
/// threshold(bound): the filter kernel's inclusive threshold for a bound >= 0.
struct HammingOrder {
  static uint32_t encode(float d) { return static_cast<uint32_t>(d); }
  static float decode(uint32_t u) { return static_cast<float>(u); }
  static int32_t threshold(int64_t bound) {
    return static_cast<int32_t>(std::min<int64_t>(bound, std::numeric_limits<int32_t>::max()));
  }
};
/// Ordered distances of float scans (float_order).
struct FloatOrder {
  static uint32_t encode(float d) { return float_order(d); }
  static float decode(uint32_t u) { return order_float(u); }
  static float threshold(int64_t bound) {
    const float inf = std::numeric_limits<float>::infinity();
    return bound >= int64_t(float_order(inf)) ? inf : order_float(static_cast<uint32_t>(bound));
  }
};

template <class Order>
class RangeCollector {
 public:
  /// rows: the heaps of nq queries (row i: query i of the scan); range.size() < 2^32.
  RangeCollector(size_t nq, const RowRange& range, const HeapRows& rows)
      : nq_(nq), mapped_(!range.ascending_ids()), range_(range), rows_(rows) {
    if (mapped_) return;
    keys_.assign(nq * rows.k, KeyHeap::kEmpty);
    // The caller's heaps do not change until finish(): their bounds are read once, and each
    // query's bound is kept up to date as its key heap fills.
    outer_.resize(nq);
    bound_.resize(nq);
    for (size_t q = 0; q < nq; ++q) bound_[q] = outer_[q] = heap_bound(q);
  }

  /// Largest ordered distance that may still enter query q's top-k; -1 when none can.
  int64_t bound(size_t q) const { return mapped_ ? heap_bound(q) : bound_[q]; }

  /// A candidate of query q at row `row` of the range with ordered distance d.
  void push(size_t q, uint32_t d, size_t row) {
    if (mapped_) {
      rows_.at(q).push(Order::decode(d), range_.id(row));
      return;
    }
    const uint64_t key = (uint64_t(d) << 32) | (row - range_.begin);
    uint64_t* heap = keys_.data() + q * rows_.k;
    if (key >= heap[0]) return;
    KeyHeap{heap, rows_.k}.replace_worst(key);
    // A later row loses a tie with the worst key (ids ascend), so the bound is below it; an
    // empty key heap's 2^32 - 2 is above every ordered distance a threshold admits.
    bound_[q] = std::min(outer_[q], static_cast<int64_t>(heap[0] >> 32) - 1);
  }

  /// Moves the key heaps into the caller's heaps (nothing to do with a row map).
  void finish() {
    for (size_t q = 0; q < nq_ && !mapped_; ++q) {
      HeapView heap = rows_.at(q);
      for (size_t j = 0; j < rows_.k; ++j) {
        const uint64_t key = keys_[q * rows_.k + j];
        if (key != KeyHeap::kEmpty)
          heap.push(Order::decode(static_cast<uint32_t>(key >> 32)),
                    static_cast<idx_t>(range_.begin + (key & 0xffffffffu)));
      }
    }
  }

 private:
  /// The bound of the caller's heap of query q: its worst distance once full (inclusive, as a
  /// tie with it may still win by id).
  int64_t heap_bound(size_t q) const {
    const HeapView heap = rows_.at(q);
    return heap.ids[0] >= 0 ? int64_t(Order::encode(heap.dist[0]))
                            : std::numeric_limits<int64_t>::max();
  }

  size_t nq_;
  bool mapped_;
  RowRange range_;
  HeapRows rows_;
  std::vector<uint64_t> keys_;  // (nq, k) key heaps; empty with a row map
  std::vector<int64_t> outer_;  // heap_bound of each query, with the key heaps
  std::vector<int64_t> bound_;  // bound(q) with the key heaps
};

/// Throws std::invalid_argument unless begin <= end and end - begin < 2^32 (the key heaps
/// hold 32-bit local rows).
inline void check_binary_range(size_t begin, size_t end) {
  QVEC_CHECK_ARG(begin <= end, "search_range needs begin <= end; got begin = " +
                                   std::to_string(begin) + ", end = " + std::to_string(end));
  QVEC_CHECK_ARG(end - begin < (size_t(1) << 32),
                 "search_range supports ranges of fewer than 2^32 rows");
}

}  // namespace qvec::detail
