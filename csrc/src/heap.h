#pragma once
// Fixed-size max-heaps keeping the k best (smallest) (distance, id) pairs of each query.
// Order is lexicographic on (distance, id) with id -1 ("empty") ranked after every real id,
// so ties go to the smaller id and results never depend on scan order.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "qvec/common.h"

namespace qvec::detail {

inline bool worse(float da, idx_t ia, float db, idx_t ib) {
  if (da != db) return da > db;
  return static_cast<uint64_t>(ia) > static_cast<uint64_t>(ib);
}

/// Places (d, id) into the max-heap of `size` entries whose root slot is free, moving larger
/// children up until it fits.
inline void sift_down(float* dist, idx_t* ids, size_t size, float d, idx_t id) {
  size_t i = 0;
  for (;;) {
    size_t left = 2 * i + 1, right = left + 1, largest = i;
    float ld = d;
    idx_t li = id;
    if (left < size && worse(dist[left], ids[left], ld, li)) {
      largest = left;
      ld = dist[left];
      li = ids[left];
    }
    if (right < size && worse(dist[right], ids[right], ld, li)) largest = right;
    if (largest == i) break;
    dist[i] = dist[largest];
    ids[i] = ids[largest];
    i = largest;
  }
  dist[i] = d;
  ids[i] = id;
}

/// k slots for one query: dist[0] / ids[0] is the worst kept entry.
struct HeapView {
  float* dist;
  idx_t* ids;
  size_t k;

  float threshold() const { return dist[0]; }

  /// Keeps (d, id) if it beats the worst kept entry.
  void push(float d, idx_t id) {
    if (worse(dist[0], ids[0], d, id)) sift_down(dist, ids, k, d, id);
  }

  void clear() {
    for (size_t i = 0; i < k; ++i) {
      dist[i] = std::numeric_limits<float>::infinity();
      ids[i] = -1;
    }
  }

  /// Turns the heap into a best-first sorted list in place.
  void sort();
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

/// Heaps for a contiguous range of queries, backed by one allocation.
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

}  // namespace qvec::detail
