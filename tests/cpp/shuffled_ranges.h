#pragma once
// Test helper shared by the range-contract suites: [0, n) cut into ranges in shuffled order.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

/// Cuts [0, n) at `cuts` random points (empty and unaligned ranges included), shuffled.
inline std::vector<std::pair<size_t, size_t>> shuffled_ranges(size_t n, size_t cuts,
                                                              uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<size_t> at = {0, n};
  for (size_t c = 0; c < cuts; ++c) at.push_back(rng() % (n + 1));
  at.push_back(at[2]);  // an empty range
  std::sort(at.begin(), at.end());
  std::vector<std::pair<size_t, size_t>> ranges;
  for (size_t i = 0; i + 1 < at.size(); ++i) ranges.push_back({at[i], at[i + 1]});
  std::shuffle(ranges.begin(), ranges.end(), rng);
  return ranges;
}
