// The range contract of the PQ searches (qvec/pq.h Pq8Queries, qvec/fastscan.h
// FastScanQueries): scanning [0, n) as several ranges, in shuffled order, with a shuffled
// row -> id map gives exactly the top-k of one full scan with those ids (ties to the smaller
// id), for 8-bit ADC and for 4-bit fast-scan in every mode. The reference is brute force over
// every row with the documented arithmetic (float ADC summed in subquantizer order; quantized
// sums of the tables fastscan_quantize_tables returns). Also: the k, k * rescore and m limits,
// and exactness when the tables have a large offset relative to their spread.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include "qvec/common.h"
#include "qvec/fastscan.h"
#include "qvec/pq.h"
#include "qvec/topk.h"
#include "shuffled_ranges.h"

namespace {

using qvec::idx_t;

struct Result {
  std::vector<float> dist;
  std::vector<idx_t> ids;
};

/// Random codes and float tables of one code width. ksub 256: codes (n, m); ksub 16: nibble
/// codes (n, ceil(m / 2)).
struct Data {
  size_t n, m, nq, ksub;
  std::vector<uint8_t> codes, packed;
  std::vector<float> tables;  // (nq, m, ksub)

  unsigned code(size_t i, size_t j) const {
    if (ksub == 256) return codes[i * m + j];
    return (codes[i * ((m + 1) / 2) + j / 2] >> (4 * (j % 2))) & 15u;
  }
  float adc(size_t q, size_t i) const {  // float ADC, summed in j order as documented
    float d = 0.0f;
    for (size_t j = 0; j < m; ++j) d += tables[(q * m + j) * ksub + code(i, j)];
    return d;
  }
};

/// distinct: number of distinct code rows (few -> massive ties); offset: added to every entry.
Data make_data(size_t n, size_t m, size_t nq, size_t ksub, size_t distinct, float offset,
               float spread, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Data d{n, m, nq, ksub, {}, {}, {}};
  const size_t width = ksub == 256 ? m : (m + 1) / 2;
  std::vector<uint8_t> pool(distinct * width);
  for (auto& b : pool) b = static_cast<uint8_t>(rng());
  if (ksub == 16 && m % 2 == 1)
    for (size_t r = 0; r < distinct; ++r) pool[r * width + width - 1] &= 15;  // high nibble 0
  d.codes.resize(n * width);
  for (size_t i = 0; i < n; ++i) {
    const size_t r = distinct >= n ? i : rng() % distinct;
    std::copy_n(pool.data() + r * width, width, d.codes.data() + i * width);
  }
  std::uniform_real_distribution<float> u(0.0f, spread);
  d.tables.resize(nq * m * ksub);
  for (auto& t : d.tables) t = offset + u(rng);
  if (ksub == 256) {
    d.packed.resize(qvec::pq8_packed_size(n, m));
    qvec::pq8_pack(d.codes.data(), n, m, d.packed.data());
  } else {
    d.packed.resize(qvec::fastscan_packed_size(n, m));
    qvec::fastscan_pack(d.codes.data(), n, m, d.packed.data());
  }
  return d;
}

bool before(const std::pair<float, idx_t>& a, const std::pair<float, idx_t>& b) {
  if (a.first != b.first) return a.first < b.first;
  return a.second < b.second;
}

/// The best k of (score(i), ids[i]) over every row, padded with (+inf, -1).
template <class Score>
std::vector<std::pair<float, idx_t>> best_k(size_t n, size_t k, const std::vector<idx_t>& ids,
                                            Score score) {
  std::vector<std::pair<float, idx_t>> all(n);
  for (size_t i = 0; i < n; ++i) all[i] = {score(i), ids[i]};
  const size_t kk = std::min(k, n);
  std::partial_sort(all.begin(), all.begin() + kk, all.end(), before);
  all.resize(kk);
  all.resize(k, {std::numeric_limits<float>::infinity(), idx_t(-1)});
  return all;
}

enum class Mode { Pq8, Quantized, Rescore, Exact };

/// Brute-force reference of a search with row -> id map `ids`.
Result reference(const Data& d, Mode mode, size_t k, size_t rescore,
                 const std::vector<idx_t>& ids) {
  Result out{std::vector<float>(d.nq * k), std::vector<idx_t>(d.nq * k)};
  std::vector<uint8_t> luts;
  std::vector<float> bias(d.nq), scale(d.nq);
  if (d.ksub == 16) {
    luts.resize(d.nq * qvec::fastscan_padded_m(d.m) * 16);
    qvec::fastscan_quantize_tables(d.tables.data(), d.nq, d.m, luts.data(), bias.data(),
                                   scale.data());
  }
  for (size_t q = 0; q < d.nq; ++q) {
    auto sum = [&](size_t i) {
      uint32_t s = 0;
      for (size_t j = 0; j < d.m; ++j)
        s += luts[(q * qvec::fastscan_padded_m(d.m) + j) * 16 + d.code(i, j)];
      return static_cast<float>(s);
    };
    auto adc = [&](size_t i) { return d.adc(q, i); };
    std::vector<std::pair<float, idx_t>> top;
    if (mode == Mode::Pq8 || mode == Mode::Exact) top = best_k(d.n, k, ids, adc);
    if (mode == Mode::Quantized) {
      top = best_k(d.n, k, ids, sum);
      for (auto& e : top)
        if (e.second >= 0) e.first = bias[q] + e.first / scale[q];
    }
    if (mode == Mode::Rescore) {
      auto cand = best_k(d.n, k * rescore, ids, sum);
      std::vector<size_t> row_of(d.n);  // id -> row through the map
      std::vector<std::pair<idx_t, size_t>> inverse(d.n);
      for (size_t i = 0; i < d.n; ++i) inverse[i] = {ids[i], i};
      std::sort(inverse.begin(), inverse.end());
      std::vector<idx_t> cand_ids;
      for (auto& c : cand)
        if (c.second >= 0) cand_ids.push_back(c.second);
      top = best_k(cand_ids.size(), k, cand_ids, [&](size_t c) {
        auto it = std::lower_bound(inverse.begin(), inverse.end(),
                                   std::make_pair(cand_ids[c], size_t(0)));
        return adc(it->second);
      });
    }
    for (size_t i = 0; i < k; ++i) {
      out.dist[q * k + i] = top[i].first;
      out.ids[q * k + i] = top[i].second;
    }
  }
  return out;
}

/// One library search over all rows, no id map.
Result full_search(const Data& d, Mode mode, size_t k, size_t rescore) {
  Result out{std::vector<float>(d.nq * k), std::vector<idx_t>(d.nq * k)};
  if (mode == Mode::Pq8) {
    qvec::adc_search_u8_packed(d.tables.data(), d.nq, d.m, d.packed.data(), d.n, k,
                               out.dist.data(), out.ids.data());
  } else {
    qvec::FastScanSearchOptions o;
    o.rescore = mode == Mode::Rescore ? rescore : 0;
    o.exact = mode == Mode::Exact;
    qvec::fastscan_search(d.tables.data(), d.nq, d.m, d.packed.data(), d.n, k, o,
                          out.dist.data(), out.ids.data());
  }
  return out;
}

/// The range API over `ranges` of the array, row r reported as ids[r] (ids: size n), through
/// the codec-independent RangeSearch interface.
Result range_search(const qvec::RangeSearch& queries, const Data& d,
                    const std::vector<std::pair<size_t, size_t>>& ranges,
                    const std::vector<idx_t>& ids, bool with_map) {
  const size_t keep = queries.keep(), k = queries.k();
  std::vector<float> dist(d.nq * keep), rescored(queries.needs_rescored() ? d.nq * keep : 0);
  std::vector<idx_t> state_ids(d.nq * keep);
  const qvec::RangeResults state{dist.data(), state_ids.data(), rescored.data()};
  queries.init(state);
  for (const auto& [b, e] : ranges)
    queries.search_range(d.packed.data(), b, e, with_map ? ids.data() + b : nullptr, state);
  Result out{std::vector<float>(d.nq * k), std::vector<idx_t>(d.nq * k)};
  queries.finish(state, out.dist.data(), out.ids.data());
  return out;
}

Result range_search(const Data& d, Mode mode, size_t k, size_t rescore,
                    const std::vector<std::pair<size_t, size_t>>& ranges,
                    const std::vector<idx_t>& ids, bool with_map) {
  if (mode == Mode::Pq8)
    return range_search(qvec::Pq8Queries(d.tables.data(), d.nq, d.m, k), d, ranges, ids,
                        with_map);
  qvec::FastScanSearchOptions o;
  o.rescore = mode == Mode::Rescore ? rescore : 0;
  o.exact = mode == Mode::Exact;
  return range_search(qvec::FastScanQueries(d.tables.data(), d.nq, d.m, k, o), d, ranges, ids,
                      with_map);
}

void expect_same(const Result& got, const Result& want, const char* what) {
  ASSERT_EQ(got.ids.size(), want.ids.size()) << what;
  size_t bad = 0;
  for (size_t i = 0; i < got.ids.size(); ++i)
    if (got.ids[i] != want.ids[i] || !(got.dist[i] == want.dist[i] ||
                                       (std::isinf(got.dist[i]) && std::isinf(want.dist[i]))))
      ++bad;
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.ids.size() << " entries differ";
}

std::vector<idx_t> identity(size_t n) {
  std::vector<idx_t> ids(n);
  std::iota(ids.begin(), ids.end(), idx_t(0));
  return ids;
}

/// A shuffled map onto sparse ids: row r -> 3 * perm[r] + 7.
std::vector<idx_t> shuffled_ids(size_t n, uint64_t seed) {
  std::vector<idx_t> ids = identity(n);
  std::shuffle(ids.begin(), ids.end(), std::mt19937_64(seed));
  for (auto& id : ids) id = 3 * id + 7;
  return ids;
}

/// Every check of the range contract for one data set and mode.
void check_ranges(const Data& d, Mode mode, size_t k, size_t rescore, uint64_t seed) {
  const std::vector<idx_t> rows = identity(d.n), map = shuffled_ids(d.n, seed);
  const Result want_rows = reference(d, mode, k, rescore, rows);
  const Result want_map = reference(d, mode, k, rescore, map);
  expect_same(full_search(d, mode, k, rescore), want_rows, "full search");
  const std::vector<std::pair<size_t, size_t>> one = {{0, d.n}};
  expect_same(range_search(d, mode, k, rescore, one, rows, false), want_rows, "one range");
  const auto ranges = shuffled_ranges(d.n, 6, seed + 1);
  expect_same(range_search(d, mode, k, rescore, ranges, rows, false), want_rows,
              "shuffled ranges, no map");
  expect_same(range_search(d, mode, k, rescore, ranges, map, true), want_map,
              "shuffled ranges, shuffled id map");
  expect_same(range_search(d, mode, k, rescore, one, map, true), want_map,
              "one range, shuffled id map");
}

struct Case {
  size_t ksub, m, n, k, rescore, distinct;
  Mode mode;
};

class Ranges : public ::testing::TestWithParam<Case> {};

TEST_P(Ranges, UnionOfShuffledRangesEqualsOneFullScan) {
  const Case c = GetParam();
  const Data d = make_data(c.n, c.m, 5, c.ksub, c.distinct ? c.distinct : c.n, 0.0f, 10.0f,
                           1000 + c.m + c.k);
  check_ranges(d, c.mode, c.k, c.rescore, 77 + c.k);
}

INSTANTIATE_TEST_SUITE_P(
    PqModes, Ranges,
    ::testing::Values(
        // 8-bit ADC (exact float top-k), n not a multiple of the 64-row block.
        Case{256, 8, 3001, 1, 0, 0, Mode::Pq8}, Case{256, 16, 3001, 10, 0, 0, Mode::Pq8},
        Case{256, 8, 500, 600, 0, 0, Mode::Pq8},  // k > n: padding
        Case{256, 8, 3001, 10, 0, 40, Mode::Pq8},  // many exact ties
        // 4-bit: quantized sums (integers: ties everywhere), re-scored, exact; odd m.
        Case{16, 7, 4001, 10, 0, 0, Mode::Quantized}, Case{16, 16, 4001, 100, 0, 0, Mode::Quantized},
        Case{16, 16, 4001, 10, 0, 30, Mode::Quantized},  // massive ties: reservoir tie-breaks
        Case{16, 7, 4001, 10, 4, 0, Mode::Rescore}, Case{16, 16, 4001, 20, 3, 30, Mode::Rescore},
        Case{16, 16, 300, 50, 8, 0, Mode::Rescore},  // k * rescore > n
        Case{16, 7, 4001, 10, 0, 0, Mode::Exact}, Case{16, 32, 4001, 50, 0, 25, Mode::Exact}));

// The LUT error bound includes the float rounding of the ADC sums: with a large offset
// relative to the spread (each sum's rounding is many quantization steps), the 8-bit search
// and the 4-bit exact mode must still return the exact float ADC top-k.
TEST(LutBound, ExactUnderLargeOffset) {
  for (size_t ksub : {size_t(256), size_t(16)}) {
    const Data d = make_data(2000, 16, 6, ksub, 2000, 1.0e4f, 1.0e-2f, 5 + ksub);
    const Mode mode = ksub == 256 ? Mode::Pq8 : Mode::Exact;
    expect_same(full_search(d, mode, 10, 0), reference(d, mode, 10, 0, identity(d.n)),
                ksub == 256 ? "pq8, offset tables" : "pq4 exact, offset tables");
  }
}

TEST(Limits, KAndRescoreCheckedBeforeAllocating) {
  const Data d8 = make_data(100, 8, 2, 256, 100, 0.0f, 1.0f, 1);
  const Data d4 = make_data(100, 8, 2, 16, 100, 0.0f, 1.0f, 2);
  std::vector<float> dist(1);
  std::vector<idx_t> ids(1);
  qvec::FastScanSearchOptions huge;
  huge.rescore = size_t(1) << 62;  // k * rescore overflows 64 bits for k >= 4
  for (size_t k : {size_t(0), qvec::kMaxK + 1, size_t(1) << 40}) {
    EXPECT_THROW(qvec::adc_search_u8_packed(d8.tables.data(), 2, 8, d8.packed.data(), 100, k,
                                            dist.data(), ids.data()),
                 std::invalid_argument);
    EXPECT_THROW(qvec::fastscan_search(d4.tables.data(), 2, 8, d4.packed.data(), 100, k, {},
                                       dist.data(), ids.data()),
                 std::invalid_argument);
    EXPECT_THROW(qvec::topk_smallest(dist.data(), 1, 1, k, dist.data(), ids.data()),
                 std::invalid_argument);
    EXPECT_THROW(qvec::Pq8Queries(d8.tables.data(), 2, 8, k), std::invalid_argument);
    EXPECT_THROW(qvec::FastScanQueries(d4.tables.data(), 2, 8, k, {}), std::invalid_argument);
  }
  for (size_t k : {size_t(4), size_t(1000)}) {
    EXPECT_THROW(qvec::fastscan_keep(k, huge), std::invalid_argument);
    EXPECT_THROW(qvec::fastscan_search(d4.tables.data(), 2, 8, d4.packed.data(), 100, k, huge,
                                       dist.data(), ids.data()),
                 std::invalid_argument);
    EXPECT_THROW(qvec::FastScanQueries(d4.tables.data(), 2, 8, k, huge), std::invalid_argument);
  }
  qvec::FastScanSearchOptions r;
  r.rescore = qvec::kMaxK / 16 + 1;
  EXPECT_THROW(qvec::fastscan_keep(16, r), std::invalid_argument);
  r.rescore = qvec::kMaxK / 16;
  EXPECT_EQ(qvec::fastscan_keep(16, r), qvec::kMaxK);
  r.exact = true;  // exact ignores rescore
  EXPECT_EQ(qvec::fastscan_keep(16, r), 16u);
}

TEST(Limits, SubquantizersFitSixteenBitSums) {
  EXPECT_THROW(qvec::ProductQuantizer(65535, 65535, 4, qvec::Metric::L2), std::invalid_argument);
  EXPECT_THROW(qvec::ProductQuantizer(65535, 65535, 8, qvec::Metric::L2), std::invalid_argument);
  std::vector<float> tables(65535 * 16, 1.0f), dist(1);
  std::vector<uint8_t> packed(qvec::fastscan_packed_size(1, 65535), 0);
  std::vector<idx_t> ids(1);
  EXPECT_THROW(qvec::fastscan_search(tables.data(), 1, 65535, packed.data(), 1, 1, {},
                                     dist.data(), ids.data()),
               std::invalid_argument);
  EXPECT_THROW(qvec::FastScanQueries(tables.data(), 1, 65535, 1, {}), std::invalid_argument);
  // At the limit the sums still fit: every row of a constant-spread table, one vector.
  qvec::ProductQuantizer pq(qvec::kMaxScanM, qvec::kMaxScanM, 4, qvec::Metric::L2);
  EXPECT_EQ(pq.m(), qvec::kMaxScanM);
}

}  // namespace
