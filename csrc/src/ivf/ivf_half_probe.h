#pragma once
// The L2 probe of one query against a half-precision shadow of the coarse centroids. A one-
// query probe reads every centroid once with nothing to share the read: 4096 x 128 floats are
// 2 MiB, which L2 does not keep beside the lists, so the probe runs at L3 bandwidth. The
// shadow is half the bytes. Its approximate distances pick a shortlist, the exact float
// distances (the dense l2sqr, as the exact probe computes them) rank it, and a bound on each
// shadow row's rounding error proves that no centroid left out could rank among the nprobe
// best; where it cannot prove that, probe() declines and the caller probes exactly.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "qvec/common.h"

namespace qvec::detail {

/// Up to this many L2 queries are probed one by one (the exact direct probe, ivf_coarse.cpp,
/// and the half-precision shadow, whose answers are the direct probe's); more share each
/// centroid read in exact_search.
constexpr size_t kDirectProbeQueries = 4;

/// The `keep` smallest values of v (size n >= keep >= 1) with their indices, ascending, ties
/// to the smaller index. Every value not kept is >= vals[keep - 1]: a rejected one was >= the
/// threshold of its time, an evicted one was the threshold, and the threshold only falls.
inline void smallest(const float* v, size_t n, size_t keep, float* vals, idx_t* ids) {
  const auto insert = [&](size_t pos, size_t l) {
    const float x = v[l];
    for (; pos > 0 && x < vals[pos - 1]; --pos) {
      vals[pos] = vals[pos - 1];
      ids[pos] = ids[pos - 1];
    }
    vals[pos] = x;
    ids[pos] = static_cast<idx_t>(l);
  };
  for (size_t l = 0; l < keep; ++l) insert(l, l);
  float threshold = vals[keep - 1];
  for (size_t l = keep; l < n; ++l)  // after the first lists almost none pass
    if (v[l] < threshold) {
      insert(keep - 1, l);
      threshold = vals[keep - 1];
    }
}

class HalfCentroids {
 public:
  /// centroids: size nlist * dim, referenced by probe() calls (as passed to them).
  HalfCentroids(const float* centroids, size_t nlist, size_t dim);

  /// The nprobe nearest centroids of query (size dim) and their exact squared distances, best
  /// first, ties to the smaller list: the exact direct probe's answer. Returns false, writing
  /// nothing, where the shadow cannot prove it (no shadow, nprobe near nlist, near-ties at
  /// the shortlist's edge, non-finite values).
  bool probe(const float* query, const float* centroids, size_t nprobe, float* coarse,
             idx_t* lists) const;

 private:
  size_t nlist_, dim_;
  float scale_ = 1.0f;        // a power of two: (c - mean) * scale fits half precision
  std::vector<float> mean_;   // the centroids' mean, in float
  std::vector<uint16_t> half_;  // (nlist, dim): half((c - mean) * scale); empty: no shadow
  double row_error_ = 0.0;    // max_l || decode(half_l) / scale - (c_l - mean) ||
};

}  // namespace qvec::detail
