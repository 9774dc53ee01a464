// The range contract of the int8 scalar-quantized search (qvec/scalar.h Sq8Queries, the codec
// an inverted list would use): scanning [0, n) as shuffled ranges gives exactly the batched
// search's results; with a shuffled row -> id map, exactly the top-k of every row under those
// ids, ties to the smaller id. Rows repeat a few distinct vectors, so most distances tie.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include "qvec/scalar.h"
#include "shuffled_ranges.h"

namespace {

using qvec::idx_t;

struct Data {
  size_t n = 600, nq = 11, dim = 37;
  std::vector<float> x, q;
  std::vector<uint8_t> packed;
};

Data make(qvec::ScalarQuantizer& sq, uint64_t seed) {
  Data d;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> pool(7 * d.dim);
  for (auto& v : pool) v = g(rng);
  d.x.resize(d.n * d.dim);
  for (size_t i = 0; i < d.n; ++i) std::copy_n(pool.data() + (rng() % 7) * d.dim, d.dim, d.x.data() + i * d.dim);
  d.q.resize(d.nq * d.dim);
  for (auto& v : d.q) v = g(rng);
  sq.train_minmax(d.x.data(), d.n);
  std::vector<int8_t> codes(d.n * d.dim);
  sq.encode(d.x.data(), d.n, codes.data());
  d.packed.resize(qvec::sq8_packed_size(d.n, d.dim));
  sq.pack(codes.data(), d.n, d.packed.data());
  return d;
}

void ranged(const qvec::ScalarQuantizer& sq, const Data& d, size_t k, const idx_t* map,
            std::vector<float>& dist, std::vector<idx_t>& ids) {
  qvec::Sq8Queries s(sq, d.q.data(), d.nq, k);
  std::vector<float> hd(d.nq * s.keep());
  std::vector<idx_t> hi(d.nq * s.keep());
  qvec::RangeResults state{hd.data(), hi.data(), nullptr};
  s.init(state);
  for (auto [b, e] : shuffled_ranges(d.n, 6, 42))
    s.search_range(d.packed.data(), b, e, map ? map + b : nullptr, state);
  dist.resize(d.nq * k);
  ids.resize(d.nq * k);
  s.finish(state, dist.data(), ids.data());
}

class Sq8Ranges : public ::testing::TestWithParam<qvec::Metric> {};

TEST_P(Sq8Ranges, ShuffledRangesEqualTheBatchedSearch) {
  qvec::ScalarQuantizer sq(37, GetParam());
  Data d = make(sq, 1);
  const size_t k = 25;
  std::vector<float> want(d.nq * k), got;
  std::vector<idx_t> want_ids(d.nq * k), got_ids;
  sq.search_packed(d.q.data(), d.nq, d.packed.data(), d.n, k, want.data(), want_ids.data());
  if (GetParam() == qvec::Metric::IP)
    for (auto& v : want) v = -v;  // Sq8Queries reports smaller-is-better distances
  ranged(sq, d, k, nullptr, got, got_ids);
  EXPECT_EQ(got_ids, want_ids);
  EXPECT_EQ(got, want);
}

TEST_P(Sq8Ranges, MappedIdsBreakTiesByTheSmallerId) {
  qvec::ScalarQuantizer sq(37, GetParam());
  Data d = make(sq, 2);
  std::vector<idx_t> map(d.n);
  std::iota(map.begin(), map.end(), idx_t(1000));
  std::shuffle(map.begin(), map.end(), std::mt19937_64(3));
  // Every row's distance, from the batched search over all rows.
  std::vector<float> all(d.nq * d.n);
  std::vector<idx_t> rows(d.nq * d.n);
  sq.search_packed(d.q.data(), d.nq, d.packed.data(), d.n, d.n, all.data(), rows.data());
  const size_t k = 30;
  std::vector<float> got;
  std::vector<idx_t> got_ids;
  ranged(sq, d, k, map.data(), got, got_ids);
  for (size_t q = 0; q < d.nq; ++q) {
    std::vector<std::pair<float, idx_t>> ref;
    for (size_t j = 0; j < d.n; ++j) {
      const float v = all[q * d.n + j];
      ref.push_back({GetParam() == qvec::Metric::IP ? -v : v, map[rows[q * d.n + j]]});
    }
    std::sort(ref.begin(), ref.end());
    for (size_t j = 0; j < k; ++j) {
      EXPECT_EQ(got[q * k + j], ref[j].first) << q << " " << j;
      EXPECT_EQ(got_ids[q * k + j], ref[j].second) << q << " " << j;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Metrics, Sq8Ranges, ::testing::Values(qvec::Metric::L2, qvec::Metric::IP));

TEST(Sq8Contract, KZeroAndBadRangesThrow) {
  qvec::ScalarQuantizer sq(4, qvec::Metric::L2);
  float q[4] = {0, 0, 0, 0};
  EXPECT_THROW(qvec::Sq8Queries(sq, q, 1, 1), std::invalid_argument);  // untrained
  const float ranges[8] = {0, 0, 0, 0, 1, 1, 1, 1};
  sq.set_ranges(ranges);
  EXPECT_THROW(qvec::Sq8Queries(sq, q, 1, 0), std::invalid_argument);
  qvec::Sq8Queries s(sq, q, 1, 1);
  float dist;
  idx_t id;
  qvec::RangeResults state{&dist, &id, nullptr};
  s.init(state);
  EXPECT_THROW(s.search_range(nullptr, 5, 4, nullptr, state), std::invalid_argument);
  const float bad[8] = {0, 0, 0, 2, 1, 1, 1, 1};  // maximum below minimum
  EXPECT_THROW(sq.set_ranges(bad), std::invalid_argument);
  EXPECT_THROW(qvec::ScalarQuantizer(0, qvec::Metric::L2), std::invalid_argument);
}

}  // namespace
