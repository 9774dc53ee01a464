#pragma once
// The shared part of every "indices of the values <= threshold" kernel: each ISA file turns a
// vector of values into a bit mask its own way; these turn masks, and the scalar remainder,
// into indices. Internal linkage on purpose: every kernel file gets its own copy built with
// its own flags, so the linker can never hand baseline code an AVX-512 build of them.
#include <cstddef>
#include <cstdint>

namespace qvec::detail {
namespace {

/// Appends base + b for every set bit b of mask, ascending; returns the new count.
inline size_t append_hits(uint64_t mask, size_t base, uint32_t* out, size_t count) {
  while (mask) {
    out[count++] = static_cast<uint32_t>(base + static_cast<size_t>(__builtin_ctzll(mask)));
    mask &= mask - 1;
  }
  return count;
}

/// Appends every i in [begin, n) with values[i] <= threshold: the scalar definition, and the
/// remainder after the SIMD blocks. Returns the new count.
template <class T>
size_t append_le(const T* values, size_t begin, size_t n, T threshold, uint32_t* out,
                 size_t count) {
  for (size_t i = begin; i < n; ++i)
    if (values[i] <= threshold) out[count++] = static_cast<uint32_t>(i);
  return count;
}

}  // namespace
}  // namespace qvec::detail
