#pragma once
// The candidate collector of the binary range scanners: candidates of one scan of rows
// [begin, end) go into caller-owned per-query top-k buffers (heap.h HeapView layout) that
// persist across scans. Distances travel as order-preserving uint32 ("ordered": the Hamming
// distance itself, or float_order of a float distance).
//
// Without a row -> id map a candidate's id is its row, and rows ascend within a scan, so the
// candidates are first kept in per-query key heaps (ordered << 32 | row - begin: one integer
// compare orders by (distance, id)) whose worst key is a strict bound; they are moved into the
// buffers at finish(). With a map, ids follow no order, so candidates equal to the threshold
// are admitted and go straight to the buffers, whose push breaks the tie by id.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "heap.h"
#include "qvec/common.h"

namespace qvec::detail {

/// Ordered distances of Hamming scans: the distance itself (exact as a float below 2^24).
/// threshold(bound): the kernel filter's inclusive int32 threshold for a bound >= 0.
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
  /// distances, ids: the buffers of nq queries, layout (nq, k); row_ids: nullptr or the ids of
  /// rows [begin, end). Requires end - begin < 2^32 (checked by the scanners).
  RangeCollector(size_t nq, size_t k, size_t begin, const idx_t* row_ids, float* distances,
                 idx_t* ids)
      : k_(k), begin_(begin), row_ids_(row_ids), dist_(distances), ids_(ids) {
    if (row_ids_ == nullptr) keys_.assign(nq * k, KeyHeap::kEmpty);
  }

  /// Largest ordered distance that may still enter query q's top-k; -1 when none can.
  int64_t bound(size_t q) const {
    int64_t b = std::numeric_limits<int64_t>::max();
    if (ids_[q * k_] >= 0) b = Order::encode(dist_[q * k_]);  // the buffer is full
    if (row_ids_ == nullptr && keys_[q * k_] != KeyHeap::kEmpty)
      b = std::min<int64_t>(b, static_cast<int64_t>(keys_[q * k_] >> 32) - 1);
    return b;
  }

  /// A candidate of query q at row `row` (begin <= row < end) with ordered distance d.
  void push(size_t q, uint32_t d, size_t row) {
    if (row_ids_ != nullptr) {
      HeapView{dist_ + q * k_, ids_ + q * k_, k_}.push(Order::decode(d), row_ids_[row - begin_]);
      return;
    }
    uint64_t key = (uint64_t(d) << 32) | (row - begin_);
    uint64_t* heap = keys_.data() + q * k_;
    if (key < heap[0]) KeyHeap{heap, k_}.replace_worst(key);
  }

  /// Moves the key heaps into the buffers (nothing to do with a row map).
  void finish() {
    const size_t nq = keys_.size() / (k_ ? k_ : 1);
    for (size_t q = 0; q < nq; ++q) {
      HeapView heap{dist_ + q * k_, ids_ + q * k_, k_};
      for (size_t j = 0; j < k_; ++j) {
        uint64_t key = keys_[q * k_ + j];
        if (key != KeyHeap::kEmpty)
          heap.push(Order::decode(static_cast<uint32_t>(key >> 32)),
                    static_cast<idx_t>(begin_ + (key & 0xffffffffu)));
      }
    }
  }

 private:
  size_t k_, begin_;
  const idx_t* row_ids_;
  float* dist_;
  idx_t* ids_;
  std::vector<uint64_t> keys_;  // (nq, k) key heaps, empty with a row map
};

}  // namespace qvec::detail
