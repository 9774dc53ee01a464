// Exact search, top-k selection and re-ranking against plain loops.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "helpers.h"
#include "qvec/exact.h"
#include "qvec/rerank.h"
#include "qvec/topk.h"

using qvec::idx_t;
using qvec::Metric;
using qvec_test::expect_topk;
using qvec_test::gaussian;
using qvec_test::naive_scores;

namespace {

struct ExactCase {
  size_t nq, n, d, k;
  Metric metric;
};

class ExactSearch : public ::testing::TestWithParam<ExactCase> {};

TEST_P(ExactSearch, MatchesNaiveLoop) {
  const ExactCase c = GetParam();
  auto queries = gaussian(c.nq, c.d, 1);
  auto base = gaussian(c.n, c.d, 2);
  std::vector<float> dist(c.nq * c.k);
  std::vector<idx_t> ids(c.nq * c.k);
  qvec::exact_search(queries.data(), c.nq, base.data(), c.n, c.d, c.metric, c.k, dist.data(),
                     ids.data());
  auto ref = naive_scores(queries.data(), c.nq, base.data(), c.n, c.d, c.metric);
  const double sign = c.metric == Metric::IP ? -1.0 : 1.0;
  for (size_t q = 0; q < c.nq; ++q) {
    SCOPED_TRACE("query " + std::to_string(q));
    expect_topk(ref.data() + q * c.n, c.n, c.k, dist.data() + q * c.k, ids.data() + q * c.k,
                sign, 1e-4);
  }
}

// Few and many queries (the direct and the packed paths), d not a multiple of 16, k > n.
INSTANTIATE_TEST_SUITE_P(
    Shapes, ExactSearch,
    ::testing::Values(ExactCase{3, 1000, 37, 10, Metric::L2}, ExactCase{3, 1000, 37, 10, Metric::IP},
                      ExactCase{100, 700, 64, 7, Metric::L2}, ExactCase{100, 700, 64, 7, Metric::IP},
                      ExactCase{5, 20, 8, 32, Metric::L2}, ExactCase{5, 20, 8, 32, Metric::IP},
                      ExactCase{1, 1, 1, 1, Metric::L2}));

TEST(ExactSearch, NonFiniteBaseThrows) {
  auto queries = gaussian(2, 8, 1);
  auto base = gaussian(50, 8, 2);
  base[17 * 8 + 3] = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> dist(2 * 5);
  std::vector<idx_t> ids(2 * 5);
  EXPECT_THROW(qvec::exact_search(queries.data(), 2, base.data(), 50, 8, Metric::L2, 5,
                                  dist.data(), ids.data()),
               std::invalid_argument);
}

TEST(TopkSmallest, TiesGoToTheSmallerIdAndPaddingFollows) {
  // Row 0 has heavy ties; row 1 is shorter than k after nothing; both checked exactly.
  const size_t nq = 2, n = 6, k = 8;
  const std::vector<float> scores = {3, 1, 2, 1, 3, 0,   //
                                     5, 5, 5, 5, 5, 5};
  std::vector<float> dist(nq * k);
  std::vector<idx_t> ids(nq * k);
  qvec::topk_smallest(scores.data(), nq, n, k, dist.data(), ids.data());
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(ids, (std::vector<idx_t>{5, 1, 3, 2, 0, 4, -1, -1, 0, 1, 2, 3, 4, 5, -1, -1}));
  EXPECT_EQ(dist, (std::vector<float>{0, 1, 1, 2, 3, 3, inf, inf, 5, 5, 5, 5, 5, 5, inf, inf}));
}

TEST(TopkSmallest, MatchesSortOnRandomRows) {
  const size_t nq = 40, n = 5000, k = 25;
  auto scores = gaussian(nq, n, 7);
  std::vector<float> dist(nq * k);
  std::vector<idx_t> ids(nq * k);
  qvec::topk_smallest(scores.data(), nq, n, k, dist.data(), ids.data());
  for (size_t q = 0; q < nq; ++q) {
    std::vector<double> row(scores.begin() + q * n, scores.begin() + (q + 1) * n);
    auto ref = qvec_test::naive_topk(row.data(), n, k);
    for (size_t r = 0; r < k; ++r) {
      EXPECT_EQ(ids[q * k + r], ref[r].second);
      EXPECT_EQ(dist[q * k + r], static_cast<float>(ref[r].first));
    }
  }
}

class Rerank : public ::testing::TestWithParam<Metric> {};

TEST_P(Rerank, BestOfTheCandidatesWithSkipsAndDuplicates) {
  const Metric metric = GetParam();
  const size_t nq = 4, n = 300, d = 24, ncand = 40, k = 10;
  auto queries = gaussian(nq, d, 3);
  auto base = gaussian(n, d, 4);
  std::vector<idx_t> cand(nq * ncand);
  for (size_t q = 0; q < nq; ++q)
    for (size_t j = 0; j < ncand; ++j)  // every 7th id appears twice; every 5th slot is -1
      cand[q * ncand + j] = j % 5 == 4 ? -1 : static_cast<idx_t>((q * 31 + j * 7) % n);
  std::vector<float> dist(nq * k);
  std::vector<idx_t> ids(nq * k);
  qvec::rerank(queries.data(), nq, cand.data(), ncand, base.data(), n, d, metric, k,
               dist.data(), ids.data());
  auto scores = naive_scores(queries.data(), nq, base.data(), n, d, metric);
  const double sign = metric == Metric::IP ? -1.0 : 1.0;
  const double inf = std::numeric_limits<double>::infinity();
  for (size_t q = 0; q < nq; ++q) {
    // Reference: the candidates' scores, every other row out of reach.
    std::vector<double> masked(n, inf);
    for (size_t j = 0; j < ncand; ++j)
      if (cand[q * ncand + j] >= 0) masked[cand[q * ncand + j]] = scores[q * n + cand[q * ncand + j]];
    SCOPED_TRACE("query " + std::to_string(q));
    expect_topk(masked.data(), n, k, dist.data() + q * k, ids.data() + q * k, sign, 1e-4);
  }
}

INSTANTIATE_TEST_SUITE_P(Metrics, Rerank, ::testing::Values(Metric::L2, Metric::IP));

TEST(Rerank, FewerCandidatesThanKArePadded) {
  const size_t d = 4, n = 10, k = 5;
  auto queries = gaussian(1, d, 5);
  auto base = gaussian(n, d, 6);
  const std::vector<idx_t> cand = {3, -1, 3, 8};
  std::vector<float> dist(k);
  std::vector<idx_t> ids(k);
  qvec::rerank(queries.data(), 1, cand.data(), cand.size(), base.data(), n, d, Metric::L2, k,
               dist.data(), ids.data());
  EXPECT_EQ(ids[2], -1);
  EXPECT_EQ(ids[3], -1);
  EXPECT_EQ(ids[4], -1);
  EXPECT_EQ(dist[4], std::numeric_limits<float>::infinity());
  EXPECT_TRUE((ids[0] == 3 && ids[1] == 8) || (ids[0] == 8 && ids[1] == 3));
}

TEST(Rerank, OutOfRangeCandidateThrows) {
  const size_t d = 4, n = 10;
  auto queries = gaussian(1, d, 5);
  auto base = gaussian(n, d, 6);
  for (idx_t bad : {idx_t(10), idx_t(-2)}) {
    const std::vector<idx_t> cand = {1, bad};
    std::vector<float> dist(2);
    std::vector<idx_t> ids(2);
    EXPECT_THROW(qvec::rerank(queries.data(), 1, cand.data(), 2, base.data(), n, d, Metric::L2,
                              2, dist.data(), ids.data()),
                 std::out_of_range)
        << "candidate id " << bad;
  }
}

}  // namespace
