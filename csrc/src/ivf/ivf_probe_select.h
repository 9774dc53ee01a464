#pragma once
// What the one-query probes share (ivf_coarse.cpp's direct probe, ivf_byte_probe.cpp's
// shadow): how many queries count as few, and the top-k of a short array of distances.
#include <cstddef>

#include "qvec/common.h"

namespace qvec::detail {

/// Up to this many queries are probed directly (ivf_coarse.cpp: L2 one by one, IP in one
/// dot_direct call; IvfCoarseProbe first tries the byte shadow, whose answers are the direct
/// probe's); more share each centroid read in exact_search.
constexpr size_t kDirectProbeQueries = 4;

/// The `keep` smallest values of v (size n >= keep >= 1) with their indices, ascending, ties
/// to the smaller index. Every value not kept is >= vals[keep - 1]: a rejected one was >= the
/// threshold of its time, an evicted one was the threshold, and the threshold only falls.
template <class Value>
inline void smallest(const Value* v, size_t n, size_t keep, Value* vals, idx_t* ids) {
  const auto insert = [&](size_t pos, size_t l) {
    const Value x = v[l];
    for (; pos > 0 && x < vals[pos - 1]; --pos) {
      vals[pos] = vals[pos - 1];
      ids[pos] = ids[pos - 1];
    }
    vals[pos] = x;
    ids[pos] = static_cast<idx_t>(l);
  };
  for (size_t l = 0; l < keep; ++l) insert(l, l);
  Value threshold = vals[keep - 1];
  for (size_t l = keep; l < n; ++l)  // after the first lists almost none pass
    if (v[l] < threshold) {
      insert(keep - 1, l);
      threshold = vals[keep - 1];
    }
}

}  // namespace qvec::detail
