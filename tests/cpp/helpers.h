#pragma once
// Seeded data and plain double-precision references shared by the C++ tests.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "qvec/common.h"

namespace qvec_test {

using qvec::idx_t;

/// n * d standard normal floats (row-major), the same for the same seed.
inline std::vector<float> gaussian(size_t n, size_t d, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n * d);
  for (float& v : x) v = normal(gen);
  return x;
}

/// n * nbytes random bytes.
inline std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> out(n);
  for (uint8_t& v : out) v = static_cast<uint8_t>(byte(gen));
  return out;
}

/// Smaller-is-better scores in double: squared L2 distances, or negated inner products.
/// queries: (nq, d); base: (n, d); result: (nq, n).
inline std::vector<double> naive_scores(const float* queries, size_t nq, const float* base,
                                        size_t n, size_t d, qvec::Metric metric) {
  std::vector<double> out(nq * n);
  for (size_t q = 0; q < nq; ++q)
    for (size_t i = 0; i < n; ++i) {
      double s = 0;
      for (size_t t = 0; t < d; ++t) {
        double a = queries[q * d + t], b = base[i * d + t];
        s += metric == qvec::Metric::L2 ? (a - b) * (a - b) : -a * b;
      }
      out[q * n + i] = s;
    }
  return out;
}

/// The k best (score, id) of one row of n smaller-is-better scores, ties to the smaller id.
inline std::vector<std::pair<double, idx_t>> naive_topk(const double* scores, size_t n,
                                                        size_t k) {
  std::vector<std::pair<double, idx_t>> all(n);
  for (size_t i = 0; i < n; ++i) all[i] = {scores[i], static_cast<idx_t>(i)};
  std::sort(all.begin(), all.end());
  all.resize(std::min(n, k));
  return all;
}

/// Checks one query's result against smaller-is-better reference scores of all n rows:
/// every returned id is distinct and as good as the reference of its rank (within tol, so
/// float rounding may swap near ties), its distance is sign * its score, and ranks past n are
/// padding (id -1, sign * inf). sign = -1 for similarities (IP), which come back negated.
inline void expect_topk(const double* scores, size_t n, size_t k, const float* distances,
                        const idx_t* ids, double sign, double rel_tol) {
  auto ref = naive_topk(scores, n, k);
  std::set<idx_t> seen;
  for (size_t r = 0; r < k; ++r) {
    SCOPED_TRACE("rank " + std::to_string(r));
    if (r >= n) {
      EXPECT_EQ(ids[r], -1);
      EXPECT_EQ(distances[r], static_cast<float>(sign * std::numeric_limits<double>::infinity()));
      continue;
    }
    ASSERT_GE(ids[r], 0);
    ASSERT_LT(ids[r], static_cast<idx_t>(n));
    EXPECT_TRUE(seen.insert(ids[r]).second) << "duplicate id " << ids[r];
    double got = scores[ids[r]], want = ref[r].first;
    double tol = rel_tol * (1.0 + std::fabs(want));
    EXPECT_NEAR(got, want, tol) << "id " << ids[r] << " is not the rank-" << r << " neighbour";
    EXPECT_NEAR(sign * distances[r], got, tol);
    if (r > 0) {
      EXPECT_LE(sign * distances[r - 1], sign * distances[r] + tol);
    }
  }
}

}  // namespace qvec_test
