#pragma once
// Top-k by one selection over a whole array of distances, for k a large share of the rows
// (the IVF batch probe at nprobe ~ nlist / 8), where a heap would admit most rows at ~45 ns a
// push. Distance and id are packed in one integer so that a plain comparison ranks them as
// the heaps do: distance, then the smaller id.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/filter.h"
#include "qvec/common.h"

namespace qvec::detail {

/// (v, id) as one integer ordered like (v, id) in HeapView: v's bits mapped to an unsigned
/// order of the floats (-0 taken as +0, so it ties with +0 as a float comparison does) above
/// the id. v must not be NaN.
inline uint64_t rank_key(float v, uint32_t id) {
  v += 0.0f;  // -0 -> +0
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  bits ^= (bits >> 31) != 0 ? 0xFFFFFFFFu : 0x80000000u;
  return (static_cast<uint64_t>(bits) << 32) | id;
}

inline float rank_key_value(uint64_t key) {
  uint32_t bits = static_cast<uint32_t>(key >> 32);
  bits ^= (bits >> 31) != 0 ? 0x80000000u : 0xFFFFFFFFu;
  float v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

inline idx_t rank_key_id(uint64_t key) { return static_cast<idx_t>(key & 0xFFFFFFFFu); }

/// Sorts keys[0, n) ascending: a counting sort into about n buckets linear in the value, then
/// one insertion pass, which only moves keys within their bucket (the bucket is monotone in
/// the value, so earlier buckets hold smaller keys). std::sort's branches mispredict on
/// such short arrays (128 keys: ~3x the time). Values spread so unevenly that a bucket holds
/// more than 32 keys go to std::sort. scratch, counts: reused buffers.
inline void sort_keys(uint64_t* keys, size_t n, std::vector<uint64_t>& scratch,
                      std::vector<uint32_t>& counts) {
  const auto insertion = [](uint64_t* a, size_t count) {
    for (size_t i = 1; i < count; ++i) {
      const uint64_t x = a[i];
      size_t j = i;
      for (; j > 0 && x < a[j - 1]; --j) a[j] = a[j - 1];
      a[j] = x;
    }
  };
  if (n <= 16) return insertion(keys, n);
  uint64_t lo_key = keys[0], hi_key = keys[0];
  for (size_t i = 1; i < n; ++i) {  // std::minmax_element's branches mispredict here
    lo_key = std::min(lo_key, keys[i]);
    hi_key = std::max(hi_key, keys[i]);
  }
  const double lo = rank_key_value(lo_key), span = double(rank_key_value(hi_key)) - lo;
  const size_t nbuckets = n;
  const double scale = span > 0 ? double(nbuckets) / span : 0.0;  // fl() of each step is monotone
  const auto bucket = [lo, scale, nbuckets](uint64_t key) {
    return std::min(nbuckets - 1, static_cast<size_t>((rank_key_value(key) - lo) * scale));
  };
  counts.assign(nbuckets + 1, 0);
  for (size_t i = 0; i < n; ++i) ++counts[bucket(keys[i]) + 1];
  uint32_t widest = 0;
  for (size_t b = 1; b <= nbuckets; ++b) {
    widest = std::max(widest, counts[b]);
    counts[b] += counts[b - 1];
  }
  if (widest > 32) return std::sort(keys, keys + n);
  scratch.resize(n);
  for (size_t i = 0; i < n; ++i) scratch[counts[bucket(keys[i])]++] = keys[i];
  std::copy(scratch.begin(), scratch.begin() + n, keys);
  insertion(keys, n);
}

/// The number of v[0, n) that are <= t. Branch-free, so the compiler vectorizes it: a
/// search step's count must not mispredict on every other value as the hit lists would.
inline size_t count_le(const float* v, size_t n, float t) {
  uint32_t count = 0;
  for (size_t i = 0; i < n; ++i) count += v[i] <= t;
  return count;
}

/// Writes to keys (size >= n) a subset of v[0, n) (finite) that holds its k smallest
/// (1 <= k <= n), and returns the subset's size: the values <= T for a T that leaves between
/// k and about 1.25 k of them. T is found by counting at points interpolated between the
/// least and the largest value (about 6 counts on the gcide probe); each count that reaches
/// k is a valid T, so the search may stop anywhere. hits: a reused buffer.
inline size_t gather_smallest(const FilterKernels& filter, const float* v, size_t n, size_t k,
                              std::vector<uint32_t>& hits, uint64_t* keys) {
  hits.resize(n);
  size_t count = n;
  if (n > k + k / 4) {
    constexpr size_t kLanes = 16;  // independent accumulators, so the compiler vectorizes
    float lo_lane[kLanes], hi_lane[kLanes];
    std::fill(lo_lane, lo_lane + kLanes, v[0]);
    std::fill(hi_lane, hi_lane + kLanes, v[0]);
    for (size_t i = 0; i + kLanes <= n; i += kLanes)
      for (size_t j = 0; j < kLanes; ++j) {
        lo_lane[j] = std::min(lo_lane[j], v[i + j]);
        hi_lane[j] = std::max(hi_lane[j], v[i + j]);
      }
    for (size_t i = n / kLanes * kLanes; i < n; ++i) {
      lo_lane[0] = std::min(lo_lane[0], v[i]);
      hi_lane[0] = std::max(hi_lane[0], v[i]);
    }
    // The interpolation's ends: every value is <= above (a valid T); below only anchors it.
    double below = *std::min_element(lo_lane, lo_lane + kLanes);
    double above = *std::max_element(hi_lane, hi_lane + kLanes);
    double below_count = 1.0, above_count = static_cast<double>(n);
    const double target = static_cast<double>(k) * 1.1;
    for (int step = 0; step < 24 && count > k + k / 4; ++step) {
      double frac = (target - below_count) / (above_count - below_count);
      frac = std::min(0.9, std::max(0.1, frac));  // interpolation, bounded so each step shrinks
      const float t = static_cast<float>(below + (above - below) * frac);
      if (!(t > below && t < above)) break;  // no float left between them
      const size_t c = count_le(v, n, t);
      if (c >= k) {
        above = t;
        above_count = static_cast<double>(c);
        count = c;
      } else {
        below = t;
        below_count = static_cast<double>(c);
      }
    }
    if (count < n) {
      count = filter.le_f32(v, n, static_cast<float>(above), hits.data());
      for (size_t j = 0; j < count; ++j) keys[j] = rank_key(v[hits[j]], hits[j]);
      return count;
    }
  }
  for (size_t i = 0; i < n; ++i) keys[i] = rank_key(v[i], static_cast<uint32_t>(i));
  return n;
}

}  // namespace qvec::detail
