#pragma once
// The probe of one query against a byte shadow of the coarse centroids. A one-query probe
// reads every centroid once with nothing to share the read (1024 x 384 or 4096 x 128 floats:
// 1.5 or 2 MiB, at L2 or L3 bandwidth). The shadow holds each centroid, centred on their
// mean, as int8 with a scale of its own (a quarter of the bytes), and the query as 7-bit
// codes, so their products are exact integer sums. Each centroid's shadow value comes with a
// proven interval that holds the exact probe's float value (the quantization errors, by
// Cauchy-Schwarz, and the float kernel's rounding). Only the centroids whose interval reaches
// the nprobe-th best upper end are computed in float, as the exact probe computes them, so the
// answer is the exact probe's, bit for bit.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "qvec/common.h"

namespace qvec::detail {

class ByteCentroids {
 public:
  /// centroids: size nlist * dim, referenced by probe() calls (as passed to them).
  ByteCentroids(const float* centroids, size_t nlist, size_t dim, Metric metric);

  /// The nprobe best centroids of query (size dim), best first, ties to the smaller list,
  /// with their values as the exact direct probe reports them (L2: l2sqr; IP: dot_direct's
  /// inner products). Returns false, writing nothing, where the shadow declines (no shadow,
  /// nprobe near nlist, too wide a candidate set, non-finite values): the caller then probes
  /// exactly.
  bool probe(const float* query, const float* centroids, size_t nprobe, float* coarse,
             idx_t* lists) const;

 private:
  /// The query's 7-bit codes (d4 * 4 bytes, zero past dim) and their scale; false where the
  /// query is not finite.
  bool encode_query(const float* query, uint8_t* codes, double* scale) const;

  size_t nlist_, dim_, d4_;
  bool l2_;
  std::vector<float> mean_;
  std::vector<int8_t> blocks_;  // dot_blocks_i8's layout; empty: no shadow
  // Per centroid l, y_l = c_l - mean: its code scale, 64 times the sum of its codes (the
  // query codes' zero), ||y_l|| (rounded up), ||y_l - scale * codes|| (rounded up), ||y_l||^2
  // and ||c_l|| (rounded up).
  std::vector<float> scale_;
  std::vector<int32_t> code_offset_;
  std::vector<float> norm_, error_, norm2_, raw_norm_;
  double max_norm_ = 0.0, max_raw_norm_ = 0.0;
};

}  // namespace qvec::detail
