// The range contract of the binary searches (qvec/binary.h HammingQueries, BinaryQueries,
// BinarySymmetricQueries): scanning [0, n) as several ranges, in shuffled order, gives exactly
// the batched search's results; with a shuffled row -> id map, exactly the top-k of every row
// with those ids, ties to the smaller id. The data repeat a few distinct vectors, so most
// distances tie. References: brute-force popcounts (Hamming), and each row's estimate as the
// batched search over all rows reports it (asymmetric, symmetric). Also the k and range checks,
// and BinaryQuantizer::train's determinism and orthogonal rotations.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "qvec/binary.h"
#include "qvec/threads.h"
#include "qvec/topk.h"
#include "shuffled_ranges.h"

namespace {

using qvec::idx_t;

template <class D>
struct Result {
  std::vector<D> dist;
  std::vector<idx_t> ids;
};

/// n rows drawn from `distinct` random vectors of dim floats (few -> massive ties).
std::vector<float> repeated_vectors(size_t n, size_t dim, size_t distinct, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> pool(distinct * dim), x(n * dim);
  for (auto& v : pool) v = g(rng) + 0.2f;
  for (size_t i = 0; i < n; ++i) {
    const size_t r = rng() % distinct;
    std::copy_n(pool.data() + r * dim, dim, x.data() + i * dim);
  }
  return x;
}

std::vector<idx_t> shuffled_ids(size_t n, uint64_t seed) {
  std::vector<idx_t> ids(n);
  std::iota(ids.begin(), ids.end(), idx_t(1000));
  std::shuffle(ids.begin(), ids.end(), std::mt19937_64(seed));
  return ids;
}

/// Best k of (key(i), ids[i]) over n rows by (key, id), padded with (pad, -1); `key` orders
/// ascending, `value` is what is reported.
template <class D, class Key, class Value>
Result<D> best_k(size_t nq, size_t n, size_t k, const std::vector<idx_t>& ids, Key key,
                 Value value, D pad) {
  Result<D> out{std::vector<D>(nq * k, pad), std::vector<idx_t>(nq * k, -1)};
  std::vector<size_t> rows(n);
  std::vector<decltype(key(0, 0))> keys(n);
  for (size_t q = 0; q < nq; ++q) {
    for (size_t i = 0; i < n; ++i) keys[i] = key(q, i);
    std::iota(rows.begin(), rows.end(), size_t(0));
    std::sort(rows.begin(), rows.end(), [&](size_t a, size_t b) {
      return keys[a] != keys[b] ? keys[a] < keys[b] : ids[a] < ids[b];
    });
    for (size_t j = 0; j < std::min(k, n); ++j) {
      out.dist[q * k + j] = value(q, rows[j]);
      out.ids[q * k + j] = ids[rows[j]];
    }
  }
  return out;
}

/// The range API over `ranges`, row r reported as ids[r] when with_map; scan(b, e, map, state)
/// runs one search_range (null: the RangeSearch interface's, on `codes`).
template <class D, class Scan>
Result<D> range_search(const qvec::RangeSearch& queries, const uint8_t* codes,
                       const std::vector<std::pair<size_t, size_t>>& ranges,
                       const std::vector<idx_t>& ids, bool with_map, Scan scan) {
  const size_t nq = queries.nq(), keep = queries.keep(), k = queries.k();
  std::vector<float> dist(nq * keep);
  std::vector<idx_t> state_ids(nq * keep);
  const qvec::RangeResults state{dist.data(), state_ids.data()};
  queries.init(state);
  for (const auto& [b, e] : ranges) {
    const idx_t* map = with_map ? ids.data() + b : nullptr;
    if (codes)
      queries.search_range(codes, b, e, map, state);
    else
      scan(b, e, map, state);
  }
  Result<D> out{std::vector<D>(nq * k), std::vector<idx_t>(nq * k)};
  if constexpr (std::is_same_v<D, float>)
    queries.finish(state, out.dist.data(), out.ids.data());
  else
    scan(0, 0, nullptr, state, out.dist.data(), out.ids.data());
  return out;
}

template <class D>
void expect_same(const Result<D>& a, const Result<D>& b) {
  ASSERT_EQ(a.ids, b.ids);
  ASSERT_EQ(a.dist, b.dist);
}

Result<float> as_float(const Result<int32_t>& r) {
  Result<float> out{std::vector<float>(r.dist.size()), r.ids};
  for (size_t i = 0; i < r.dist.size(); ++i)
    out.dist[i] = r.ids[i] < 0 ? std::numeric_limits<float>::infinity() : float(r.dist[i]);
  return out;
}

TEST(BinaryRanges, Hamming) {
  for (size_t nbytes : {3, 16, 40}) {
    const size_t n = 1500, nq = 70, distinct = 9;
    std::mt19937_64 rng(nbytes);
    std::vector<uint8_t> pool(distinct * nbytes), codes(n * nbytes), queries(nq * nbytes);
    for (auto& b : pool) b = static_cast<uint8_t>(rng());
    for (size_t i = 0; i < n; ++i)
      std::copy_n(pool.data() + (rng() % distinct) * nbytes, nbytes, codes.data() + i * nbytes);
    for (auto& b : queries) b = static_cast<uint8_t>(rng());
    auto ham = [&](size_t q, size_t i) {
      int32_t h = 0;
      for (size_t t = 0; t < nbytes; ++t)
        h += __builtin_popcount(unsigned(queries[q * nbytes + t] ^ codes[i * nbytes + t]));
      return h;
    };
    const auto ranges = shuffled_ranges(n, 7, nbytes + 1);
    const auto ids = shuffled_ids(n, nbytes + 2);
    std::vector<idx_t> rows(n);
    std::iota(rows.begin(), rows.end(), idx_t(0));
    for (size_t k : {1, 10, 2000}) {
      qvec::HammingQueries hq(queries.data(), nq, nbytes, k);
      auto as_int = [&](size_t b, size_t e, const idx_t* map, const qvec::RangeResults& s,
                        int32_t* d = nullptr, idx_t* i = nullptr) {
        if (d) hq.finish(s, d, i);
        else hq.search_range(codes.data(), b, e, map, s);
      };
      Result<int32_t> full{std::vector<int32_t>(nq * k), std::vector<idx_t>(nq * k)};
      qvec::hamming_search(queries.data(), nq, codes.data(), n, nbytes, k, full.dist.data(),
                           full.ids.data());
      const int32_t pad = std::numeric_limits<int32_t>::max();
      expect_same(best_k<int32_t>(nq, n, k, rows, ham, ham, pad), full);
      expect_same(range_search<int32_t>(hq, nullptr, ranges, ids, false, as_int), full);
      expect_same(range_search<int32_t>(hq, nullptr, ranges, ids, true, as_int),
                  best_k<int32_t>(nq, n, k, ids, ham, ham, pad));
      auto none = [](size_t, size_t, const idx_t*, const qvec::RangeResults&) {};
      expect_same(range_search<float>(hq, codes.data(), ranges, ids, false, none),
                  as_float(full));
    }
  }
}

/// Every row's score per query as the batched search (k = n) reports it: layout (nq, n).
template <class Search>
std::vector<float> scores_of_rows(size_t nq, size_t n, Search search) {
  std::vector<float> dist(nq * n), scores(nq * n);
  std::vector<idx_t> ids(nq * n);
  search(n, dist.data(), ids.data());
  for (size_t q = 0; q < nq; ++q)
    for (size_t j = 0; j < n; ++j)
      scores[q * n + static_cast<size_t>(ids[q * n + j])] = dist[q * n + j];
  return scores;
}

/// The batched search's results as a range search's finish() reports them: IP negated.
Result<float> as_distances(Result<float> r, bool ip) {
  if (ip)
    for (float& d : r.dist) d = -d;
  return r;
}

TEST(BinaryRanges, AsymmetricAndSymmetric) {
  const size_t dim = 70, n = 1300, nq = 67;
  const auto base = repeated_vectors(n, dim, 11, 5), queries = repeated_vectors(nq, dim, 50, 6);
  const auto ranges = shuffled_ranges(n, 6, 7);
  const auto ids = shuffled_ids(n, 8);
  std::vector<idx_t> rows(n);
  std::iota(rows.begin(), rows.end(), idx_t(0));
  for (qvec::Metric metric : {qvec::Metric::L2, qvec::Metric::IP})
    for (size_t bits : {1, 2}) {
      qvec::BinaryQuantizer bq(dim, bits, metric);
      qvec::BinaryTrainOptions options;
      options.rotation = qvec::BinaryRotation::Random;
      bq.train(base.data(), n, options);
      std::vector<uint8_t> codes(n * bq.code_size()), qcodes(nq * bq.code_size());
      std::vector<float> factors(n * bq.num_factors()), qfactors(nq * bq.num_factors());
      bq.encode(base.data(), n, codes.data(), factors.data());
      bq.encode(queries.data(), nq, qcodes.data(), qfactors.data());
      std::vector<uint8_t> packed(n * bq.row_size());
      bq.pack_rows(codes.data(), factors.data(), n, packed.data());
      const bool ip = metric == qvec::Metric::IP;
      auto asym = [&](size_t kk, float* d, idx_t* i) {
        bq.search(queries.data(), nq, codes.data(), factors.data(), n, kk, 4, d, i);
      };
      auto sym = [&](size_t kk, float* d, idx_t* i) {
        bq.search_symmetric(qcodes.data(), qfactors.data(), nq, codes.data(), factors.data(), n,
                            kk, d, i);
      };
      const std::vector<float> all_scores[2] = {scores_of_rows(nq, n, asym),
                                                scores_of_rows(nq, n, sym)};
      for (size_t k : {1, 10, 1500}) {
        qvec::BinaryQueries aq(bq, queries.data(), nq, k, 4);
        qvec::BinarySymmetricQueries sq(bq, qcodes.data(), qfactors.data(), nq, k);
        for (int which = 0; which < 2; ++which) {
          const qvec::RangeSearch& search =
              which == 0 ? static_cast<const qvec::RangeSearch&>(aq) : sq;
          auto arrays = [&](size_t b, size_t e, const idx_t* map, const qvec::RangeResults& s) {
            if (which == 0) aq.search_range(codes.data(), factors.data(), b, e, map, s);
            else sq.search_range(codes.data(), factors.data(), b, e, map, s);
          };
          const std::vector<float>& scores = all_scores[which];
          auto key = [&](size_t q, size_t i) {
            return ip ? -scores[q * n + i] : scores[q * n + i];
          };
          Result<float> full{std::vector<float>(nq * k), std::vector<idx_t>(nq * k)};
          if (which == 0)
            asym(k, full.dist.data(), full.ids.data());
          else
            sym(k, full.dist.data(), full.ids.data());
          const float inf = std::numeric_limits<float>::infinity();
          expect_same(best_k<float>(nq, n, k, rows, key, key, inf), as_distances(full, ip));
          expect_same(range_search<float>(search, nullptr, ranges, ids, false, arrays),
                      as_distances(full, ip));
          expect_same(range_search<float>(search, packed.data(), ranges, ids, false, arrays),
                      as_distances(full, ip));
          const auto mapped = best_k<float>(nq, n, k, ids, key, key, inf);
          expect_same(range_search<float>(search, nullptr, ranges, ids, true, arrays), mapped);
          expect_same(range_search<float>(search, packed.data(), ranges, ids, true, arrays),
                      mapped);
        }
      }
    }
}

TEST(BinaryRanges, Checks) {
  std::vector<uint8_t> codes(64);
  EXPECT_THROW(qvec::HammingQueries(codes.data(), 1, 8, 0), std::invalid_argument);
  EXPECT_THROW(qvec::HammingQueries(codes.data(), 1, 8, qvec::kMaxK + 1), std::invalid_argument);
  qvec::HammingQueries hq(codes.data(), 1, 8, 3);
  std::vector<float> d(3);
  std::vector<idx_t> i(3);
  const qvec::RangeResults state{d.data(), i.data()};
  hq.init(state);
  EXPECT_THROW(hq.search_range(codes.data(), 5, 4, nullptr, state), std::invalid_argument);
  qvec::BinaryQuantizer bq(16, 1, qvec::Metric::L2);
  std::vector<float> q(16);
  EXPECT_THROW(qvec::BinaryQueries(bq, q.data(), 1, 3, 4), std::invalid_argument);  // untrained
  bq.set_transform(q.data(), nullptr);
  EXPECT_THROW(qvec::BinaryQueries(bq, q.data(), 1, 0, 4), std::invalid_argument);
  EXPECT_THROW(qvec::BinaryQueries(bq, q.data(), 1, 3, 9), std::invalid_argument);
  EXPECT_THROW(qvec::BinarySymmetricQueries(bq, codes.data(), q.data(), 1, 0),
               std::invalid_argument);
}

TEST(BinaryTrain, DeterministicAndOrthogonal) {
  const size_t dim = 48, n = 3000;
  const auto x = repeated_vectors(n, dim, n, 9);
  for (auto rotation : {qvec::BinaryRotation::Random, qvec::BinaryRotation::Itq}) {
    std::vector<std::vector<float>> got;
    for (int threads : {1, 3}) {
      qvec::set_num_threads(threads);
      qvec::BinaryQuantizer bq(dim, 1, qvec::Metric::IP);
      qvec::BinaryTrainOptions options;
      options.rotation = rotation;
      options.seed = 4;
      options.max_train = 1000;
      bq.train(x.data(), n, options);
      got.push_back(bq.rotation());
      const auto& r = bq.rotation();
      for (size_t a = 0; a < dim; ++a)
        for (size_t b = 0; b < dim; ++b) {
          double s = 0.0;
          for (size_t t = 0; t < dim; ++t) s += double(r[t * dim + a]) * r[t * dim + b];
          EXPECT_NEAR(s, a == b ? 1.0 : 0.0, 1e-6);
        }
    }
    EXPECT_EQ(got[0], got[1]);
  }
  qvec::BinaryQuantizer bq(dim, 1, qvec::Metric::IP);
  EXPECT_THROW(bq.train(x.data(), 0, {}), std::invalid_argument);
  std::vector<float> bad(x);
  bad[5] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(bq.train(bad.data(), n, {}), std::invalid_argument);
}

}  // namespace
