// The filter argument of the range contract (qvec/topk.h, qvec/id_filter.h): scanning [0, n)
// as shuffled ranges with a shuffled row -> id map and a filter over the *ids* gives exactly
// the unfiltered search of the allowed rows alone (packed on their own, with their ids), for
// 8-bit ADC, 4-bit fast-scan in every mode and Hamming, with each filter form.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "qvec/binary.h"
#include "qvec/fastscan.h"
#include "qvec/id_filter.h"
#include "qvec/pq.h"
#include "shuffled_ranges.h"

namespace {

using qvec::idx_t;

struct Run {
  std::vector<float> dist;
  std::vector<idx_t> ids;
};

/// search over rows of `packed` (layout per `pack`) cut in shuffled ranges, ids[r] the id of r.
template <class Search>
Run run(const Search& s, const std::vector<uint8_t>& packed, size_t n,
        const std::vector<idx_t>& ids, const qvec::IdFilter* filter, bool shuffle) {
  std::vector<float> d(s.nq() * s.keep()), r(s.needs_rescored() ? s.nq() * s.keep() : 0);
  std::vector<idx_t> i(s.nq() * s.keep());
  const qvec::RangeResults state{d.data(), i.data(), r.data()};
  s.init(state);
  const auto ranges = shuffle ? shuffled_ranges(n, 5, 7) : std::vector<std::pair<size_t, size_t>>{{0, n}};
  for (auto [b, e] : ranges) s.search_range(packed.data(), b, e, ids.data() + b, state, filter);
  Run out{std::vector<float>(s.nq() * s.k()), std::vector<idx_t>(s.nq() * s.k())};
  s.finish(state, out.dist.data(), out.ids.data());
  return out;
}

struct Case {
  size_t n = 2000, m = 8, nq = 5, k = 10;
  std::vector<uint8_t> codes;  // row-major, width bytes per row
  std::vector<idx_t> ids;      // shuffled id of each row: a permutation of 5 * [0, n)
  explicit Case(size_t width) : codes(n * width), ids(n) {
    std::mt19937_64 rng(3);
    for (auto& c : codes) c = static_cast<uint8_t>(rng());
    for (size_t r = 0; r < n; ++r) ids[r] = static_cast<idx_t>(5 * r);
    std::shuffle(ids.begin(), ids.end(), rng);
  }
  /// Rows whose id the filter allows, and the codes and ids of those rows alone.
  void subset(const qvec::IdFilter& f, size_t width, std::vector<uint8_t>& sub_codes,
              std::vector<idx_t>& sub_ids) const {
    for (size_t r = 0; r < n; ++r)
      if (f.allows(ids[r])) {
        sub_codes.insert(sub_codes.end(), codes.begin() + r * width, codes.begin() + (r + 1) * width);
        sub_ids.push_back(ids[r]);
      }
  }
};

/// The three filter forms over ids 0 .. 5 n: every 7th id, an id range, a few sorted ids.
struct Filters {
  std::vector<uint64_t> words;
  std::vector<idx_t> few = {15, 40, 5000, 9995};
  std::vector<qvec::IdFilter> all;
  explicit Filters(size_t nbits) : words((nbits + 63) / 64) {
    for (size_t i = 0; i < nbits; i += 7) words[i / 64] |= uint64_t(1) << (i % 64);
    all = {qvec::IdFilter::bitset(words.data(), nbits), qvec::IdFilter::range(1000, 2500),
           qvec::IdFilter::sorted(few.data(), few.size()), qvec::IdFilter::range(3, 3)};
  }
};

template <class Make, class Pack>
void check(size_t width, Make make, Pack pack) {
  Case c(width);
  Filters filters(5 * c.n);
  std::mt19937_64 rng(5);
  for (const auto& f : filters.all) {
    std::vector<uint8_t> sub_codes;
    std::vector<idx_t> sub_ids;
    c.subset(f, width, sub_codes, sub_ids);
    const auto s = make(c);
    const Run got = run(s, pack(c.codes, c.n), c.n, c.ids, &f, true);
    const Run want = run(s, pack(sub_codes, sub_ids.size()), sub_ids.size(), sub_ids, nullptr, false);
    EXPECT_EQ(got.ids, want.ids);
    EXPECT_EQ(got.dist, want.dist);
    for (idx_t id : got.ids) EXPECT_TRUE(id < 0 || f.allows(id));
  }
}

std::vector<float> tables(size_t nq, size_t m, size_t ksub) {
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> t(nq * m * ksub);
  for (auto& x : t) x = u(rng);
  return t;
}

TEST(FilterRanges, Pq8) {
  const auto t = tables(5, 8, 256);
  check(8, [&](const Case& c) { return qvec::Pq8Queries(t.data(), c.nq, c.m, c.k); },
        [](const std::vector<uint8_t>& codes, size_t n) {
          std::vector<uint8_t> p(qvec::pq8_packed_size(n, 8));
          qvec::pq8_pack(codes.data(), n, 8, p.data());
          return p;
        });
}

TEST(FilterRanges, FastScanEveryMode) {
  const auto t = tables(5, 8, 16);
  for (int mode : {0, 3, -1}) {
    qvec::FastScanSearchOptions o;
    o.rescore = mode > 0 ? size_t(mode) : 0;
    o.exact = mode < 0;
    check(4, [&](const Case& c) { return qvec::FastScanQueries(t.data(), c.nq, c.m, c.k, o); },
          [](const std::vector<uint8_t>& codes, size_t n) {
            std::vector<uint8_t> p(qvec::fastscan_packed_size(n, 8));
            qvec::fastscan_pack(codes.data(), n, 8, p.data());
            return p;
          });
  }
}

TEST(FilterRanges, Hamming) {
  std::vector<uint8_t> queries(5 * 12, 0x5a);
  check(12, [&](const Case& c) { return qvec::HammingQueries(queries.data(), c.nq, 12, c.k); },
        [](const std::vector<uint8_t>& codes, size_t) { return codes; });
}

TEST(IdFilter, FormsAndChecks) {
  std::vector<uint64_t> w = {0b1011, uint64_t(1) << 63};
  const auto b = qvec::IdFilter::bitset(w.data(), 127);
  EXPECT_EQ(b.word32(0), 0b1011u);
  EXPECT_EQ(b.word32(62), 0u);
  EXPECT_FALSE(b.allows(127));
  EXPECT_TRUE(b.any_in(1, 2));
  EXPECT_FALSE(b.any_in(4, 127));
  const auto r = qvec::IdFilter::range(5, 40);
  EXPECT_EQ(r.word32(0), ~uint32_t(0) << 5);
  EXPECT_EQ(r.word32(20), (uint32_t(1) << 20) - 1);
  std::vector<idx_t> bad = {3, 1};
  EXPECT_THROW(qvec::IdFilter::sorted(bad.data(), 2), std::invalid_argument);
}

}  // namespace
