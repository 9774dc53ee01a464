#pragma once
// Candidate collectors: what a block scanner hands its candidates to. Each query has one
// collector; it owns that query's threshold (its current k-th best), which the scanner reads
// before each block and which persists across ranges (see range.h), so scanning range after
// range into the same collectors gives the top-k of their union.
//
// The order everywhere is lexicographic on (distance, id), id -1 ("empty") ranked after every
// real id: ties go to the smaller id and results never depend on scan order.
//
//   HeapView         k (distance, id) of one query in caller memory, a max-heap (float modes)
//   PayloadHeapView  the same, each entry carrying one float more (a re-score) along
//   KeyHeap          k 64-bit keys distance << 32 | local id (integer / float_order'ed distances)
//   HeapSet          HeapViews of a block of queries in one allocation
//   HeapRows         HeapViews of a block of queries in caller memory (rows of (n, k) arrays)
//   SumReservoir     quantized-mode collector: 16-bit sums appended without upkeep, shrunk by a
//                    radix select when full
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "qvec/common.h"
#include "qvec/error.h"
#include "search/range.h"

namespace qvec::detail {

inline bool worse(float da, idx_t ia, float db, idx_t ib) {
  // Bitwise, not short-circuit: flag arithmetic instead of two branches, which heap sifts
  // mispredict (the same answer for every input, NaN included).
  return (da > db) | ((da == db) & (static_cast<uint64_t>(ia) > static_cast<uint64_t>(ib)));
}

/// Places (d, id[, p]) into the max-heap of `size` entries whose root slot is free, moving
/// larger children up until it fits. kPayload: `payload` is an array moved with the entries.
template <bool kPayload>
inline void sift_down(float* dist, idx_t* ids, float* payload, size_t size, float d, idx_t id,
                      float p) {
  size_t i = 0;
  for (;;) {
    const size_t left = 2 * i + 1;
    if (left >= size) break;
    // The worse child (the left one on a tie) moves up if it is worse than (d, id): the
    // largest of the three, as a sift takes it, with the child picked without a branch.
    size_t child = left;
    if (left + 1 < size) child += worse(dist[left + 1], ids[left + 1], dist[left], ids[left]);
    if (!worse(dist[child], ids[child], d, id)) break;
    dist[i] = dist[child];
    ids[i] = ids[child];
    if (kPayload) payload[i] = payload[child];
    i = child;
  }
  dist[i] = d;
  ids[i] = id;
  if (kPayload) payload[i] = p;
}

/// Heap sort in place, best first (the heap of `size` entries becomes a sorted list).
inline void sort_heap(float* dist, idx_t* ids, size_t size) {
  for (size_t end = size; end > 1; --end) {
    const float d = dist[end - 1];
    const idx_t id = ids[end - 1];
    dist[end - 1] = dist[0];
    ids[end - 1] = ids[0];
    sift_down<false>(dist, ids, nullptr, end - 1, d, id, 0.0f);
  }
}

/// k slots for one query: dist[0] / ids[0] is the worst kept entry. Starts clear()ed (every slot
/// (+inf, -1)); the threshold is then +inf, so everything enters until k are kept.
struct HeapView {
  float* dist;
  idx_t* ids;
  size_t k;

  float threshold() const { return dist[0]; }
  /// True when (d, id) would enter (it beats the worst kept entry).
  bool admits(float d, idx_t id) const { return worse(dist[0], ids[0], d, id); }
  /// Keeps (d, id) if it beats the worst kept entry.
  void push(float d, idx_t id) {
    if (admits(d, id)) sift_down<false>(dist, ids, nullptr, k, d, id, 0.0f);
  }
  void clear() {
    std::fill(dist, dist + k, std::numeric_limits<float>::infinity());
    std::fill(ids, ids + k, idx_t(-1));
  }
  /// True when nothing is kept (every slot (+inf, -1)).
  bool empty() const {
    return std::all_of(ids, ids + k, [](idx_t id) { return id < 0; });
  }
  /// Turns the heap into a best-first sorted list in place.
  void sort() { sort_heap(dist, ids, k); }
};

/// A HeapView whose entries carry a float payload (e.g. the float re-score of a candidate
/// ranked by its quantized distance), moved with the entry. payload: size k.
struct PayloadHeapView {
  HeapView heap;
  float* payload;

  void push(float d, idx_t id, float p) {
    if (heap.admits(d, id)) sift_down<true>(heap.dist, heap.ids, payload, heap.k, d, id, p);
  }
  void clear() {
    heap.clear();
    std::fill(payload, payload + heap.k, 0.0f);
  }
};

/// The k best (distance, id) of one query as 64-bit keys (ordered distance << 32 | local id)
/// in a max-heap: one integer comparison orders by distance, then by id, as HeapView does.
/// Scanners with integer (or float_order'ed) distances use it for its cheap comparisons.
struct KeyHeap {
  static constexpr uint64_t kEmpty = ~uint64_t(0);
  uint64_t* keys;
  size_t k;

  uint64_t worst() const { return keys[0]; }
  /// Replaces the worst key by `key` (the caller checked key < worst()).
  void replace_worst(uint64_t key) {
    size_t i = 0;
    for (;;) {
      size_t left = 2 * i + 1;
      if (left >= k) break;
      size_t right = left + 1;
      size_t child = (right < k && keys[right] > keys[left]) ? right : left;
      if (keys[child] <= key) break;
      keys[i] = keys[child];
      i = child;
    }
    keys[i] = key;
  }
};

/// Float distances as unsigned integers in the same order (a bijection on non-NaN floats), so
/// a KeyHeap key float_order(distance) << 32 | id compares as (distance, id).
inline uint32_t float_order(float f) {
  f += 0.0f;  // -0 -> +0: equal floats must give equal keys
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
}
inline float order_float(uint32_t u) {
  uint32_t bits = (u & 0x80000000u) ? u & 0x7fffffffu : ~u;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/// Heaps for a contiguous range of queries, backed by one allocation, each clear()ed.
class HeapSet {
 public:
  HeapSet(size_t nq, size_t k) : k_(k), dist_(nq * k), ids_(nq * k) {
    for (size_t q = 0; q < nq; ++q) at(q).clear();
  }
  HeapView at(size_t q) { return {dist_.data() + q * k_, ids_.data() + q * k_, k_}; }
  float* distances() { return dist_.data(); }
  idx_t* ids() { return ids_.data(); }

 private:
  size_t k_;
  std::vector<float> dist_;
  std::vector<idx_t> ids_;
};

/// The collectors of a block of queries in caller memory: query i's heap is row i of (n, k)
/// arrays dist and ids (and payload, when not null). A HeapSet's arrays are such rows.
struct HeapRows {
  float* dist;
  idx_t* ids;
  float* payload;  // null: entries carry no payload
  size_t k;

  HeapView at(size_t i) const { return {dist + i * k, ids + i * k, k}; }
  PayloadHeapView with_payload(size_t i) const { return {at(i), payload + i * k}; }
  static HeapRows of(HeapSet& heaps, size_t k) { return {heaps.distances(), heaps.ids(), nullptr, k}; }
};

/// Moves key heaps (layout (nq, k), keys as in KeyHeap) into heaps.at(0..nq): id = base + the
/// low 32 bits, distance = distance_of(the high 32 bits); empty slots are skipped.
template <class DistanceOf>
void drain_key_heaps(const uint64_t* keys, size_t nq, size_t k, idx_t base,
                     DistanceOf distance_of, HeapSet& heaps) {
  for (size_t q = 0; q < nq; ++q) {
    HeapView heap = heaps.at(q);
    for (size_t j = 0; j < k; ++j) {
      uint64_t key = keys[q * k + j];
      if (key != KeyHeap::kEmpty)
        heap.push(distance_of(static_cast<uint32_t>(key >> 32)),
                  base + static_cast<idx_t>(key & 0xffffffffu));
    }
  }
}

/// Rows per mask word of a block scanner's output (bit v of a mask = row 32 b + v).
constexpr size_t kMaskRows = 32;

/// The quantized-mode collector of one query over one range (range.h): candidates whose 16-bit
/// sum is at most limit() are appended as keys sum << 32 | (row - range.begin), with no upkeep
/// per candidate; when `cap` keys are held, a radix select keeps the best `keep` by (sum, id)
/// and lowers the limit to what may still enter:
///   ascending ids (no map): a later row loses every tie, so the limit drops below the keep-th
///     sum S, and the keys at S are kept (all of them unless that would refill most of the cap);
///   with a map: the limit stays at S and ties at S are settled by id at each selection.
/// The best `keep` keys of all appended ones (select()) are then exactly the top `keep` of the
/// range by (sum, id). The collector's threshold across ranges is the caller's: it passes the
/// limit its kept results allow to the constructor.
class SumReservoir {
 public:
  /// keys: room for cap + kMaskRows keys (one mask word may add 32 past cap); 1 <= keep < cap;
  /// range.size() < 2^32; limit: the largest sum that may enter (-1: none, 65535: any).
  SumReservoir(uint64_t* keys, size_t keep, size_t cap, const RowRange& range, long limit)
      : keys_(keys), keep_(keep), cap_(cap), range_(range), limit_(limit) {}

  long limit() const { return limit_; }
  size_t size() const { return count_; }
  const uint64_t* keys() const { return keys_; }
  /// The row of a key.
  size_t row(uint64_t key) const { return range_.begin + static_cast<size_t>(key & 0xffffffffu); }

  /// Appends the candidates of mask words [0, nwords): row row0 + 32 b + v for bit v of
  /// masks[b] (rows outside the range already cleared by the caller) with sum
  /// sums[32 b + v] <= limit(); shrinks whenever the cap is reached.
  void append(const uint16_t* sums, const uint32_t* masks, size_t nwords, size_t row0);

  /// Reduces the keys to the best min(size(), keep) by (sum, id), in no particular order.
  void select();
  /// Sorts the keys ascending: by (sum, id) when ids ascend with rows.
  void sort_keys() { std::sort(keys_, keys_ + count_); }

 private:
  size_t append_words(const uint16_t* sums, const uint32_t* masks, size_t b, size_t nwords,
                      uint64_t local0);
  void shrink();
  /// Keeps exactly the best `keep` keys given the keep-th smallest sum S.
  void keep_best(uint32_t S);
  uint32_t kth_sum() const;

  uint64_t* keys_;
  size_t keep_, cap_;
  RowRange range_;
  long limit_;
  size_t count_ = 0;
};

}  // namespace qvec::detail
