#pragma once
// The rescorer: candidates found with quantized tables get their float ADC distance, the sum
// over j < m of table[j * ksub + code(row, j)] added in j order (so every path computing a
// candidate's distance gives the same float). Used by the 8-bit exact search, by 4-bit
// rescore = r, and by the 4-bit exact mode. table: one query's float tables, size m * ksub,
// layout (m, ksub).
#include <cstddef>
#include <cstdint>

#include "kernels/pq4.h"
#include "kernels/pq8.h"
#include "qvec/common.h"
#include "search/collector.h"

namespace qvec::detail {

/// The code of subquantizer j of row `row` in the fast-scan layout with m2 subquantizers.
inline unsigned pq4_code(const uint8_t* packed, size_t m2, size_t row, size_t j) {
  const unsigned byte = packed[((row / kFsBlock) * m2 + j) * 16 + (row % 16)];
  return (row % kFsBlock) < 16 ? (byte & 15u) : (byte >> 4);
}

/// Float ADC of row `row` of 8-bit codes in the pq8 scan layout; table: size m * 256.
inline float pq8_adc(const float* table, size_t m, const uint8_t* packed, size_t row) {
  const uint8_t* code = packed + (row / kCodeBlock) * m * kCodeBlock + row % kCodeBlock;
  float d = 0.0f;
  for (size_t j = 0; j < m; ++j) d += table[j * 256 + code[j * kCodeBlock]];
  return d;
}

/// Float ADC of row `row` of 4-bit codes in the fast-scan layout (m2 = m rounded up to even);
/// table: size m * 16.
inline float pq4_adc(const float* table, size_t m, const uint8_t* packed, size_t m2,
                     size_t row) {
  float d = 0.0f;
  for (size_t j = 0; j < m; ++j) d += table[j * 16 + pq4_code(packed, m2, row, j)];
  return d;
}

/// Re-ranks `count` candidates (ids[i] < 0 skipped) by distance_of(i) into `heap` (clear()ed by
/// the caller, or holding earlier results), then sorts it best first.
template <class DistanceOf>
void rescore_into(const idx_t* ids, size_t count, DistanceOf distance_of, HeapView heap) {
  for (size_t i = 0; i < count; ++i)
    if (ids[i] >= 0) heap.push(distance_of(i), ids[i]);
  heap.sort();
}

}  // namespace qvec::detail
