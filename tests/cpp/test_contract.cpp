// The contracts every entry point shares: k == 0 is std::invalid_argument in every search (one
// test per entry point, so a report names the ones that break it), the thread count, the
// SIMD level and metric names.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "helpers.h"
#include "qvec/binary.h"
#include "qvec/exact.h"
#include "qvec/fastscan.h"
#include "qvec/pq.h"
#include "qvec/rerank.h"
#include "qvec/simd.h"
#include "qvec/threads.h"
#include "qvec/topk.h"

using qvec::idx_t;
using qvec::Metric;
using qvec_test::gaussian;

namespace {

constexpr size_t kDim = 16, kN = 300, kNq = 2;

/// Small trained quantizers and their codes, built once for every entry point.
struct World {
  std::vector<float> base = gaussian(kN, kDim, 1), queries = gaussian(kNq, kDim, 2);
  qvec::ProductQuantizer pq8{kDim, 4, 8, Metric::L2}, pq4{kDim, 4, 4, Metric::L2};
  std::vector<uint8_t> codes8, codes4, packed8, packed4;
  std::vector<float> tables8, tables4;
  qvec::BinaryQuantizer bq{kDim, 1, Metric::L2};
  std::vector<uint8_t> bcodes;
  std::vector<float> bfactors, scores;
  std::vector<idx_t> candidates;

  World() {
    qvec::PQTrainOptions options;
    options.iters = 2;
    for (auto* pq : {&pq8, &pq4}) pq->train(base.data(), kN, options);
    codes8.resize(kN * pq8.code_size());
    codes4.resize(kN * pq4.code_size());
    pq8.encode(base.data(), kN, codes8.data());
    pq4.encode(base.data(), kN, codes4.data());
    packed8.resize(qvec::pq8_packed_size(kN, 4));
    packed4.resize(qvec::fastscan_packed_size(kN, 4));
    qvec::pq8_pack(codes8.data(), kN, 4, packed8.data());
    qvec::fastscan_pack(codes4.data(), kN, 4, packed4.data());
    tables8.resize(kNq * 4 * 256);
    tables4.resize(kNq * 4 * 16);
    pq8.compute_tables(queries.data(), kNq, tables8.data());
    pq4.compute_tables(queries.data(), kNq, tables4.data());
    std::vector<float> mean(kDim, 0.0f);
    bq.set_transform(mean.data(), nullptr);
    bcodes.resize(kN * bq.code_size());
    bfactors.resize(kN * bq.num_factors());
    bq.encode(base.data(), kN, bcodes.data(), bfactors.data());
    scores = gaussian(kNq, kN, 3);
    candidates = {0, 1, 2, 3, 4, 5};
  }
};

const World& world() {
  static const World w;
  return w;
}

/// Output buffers for nq queries and k results (one slot at least, so a function that ignores
/// k == 0 writes into memory it owns instead of crashing the test binary).
struct Out {
  explicit Out(size_t k) : dist(std::max<size_t>(1, kNq * k)), idist(dist.size()), ids(dist.size()) {}
  std::vector<float> dist;
  std::vector<int32_t> idist;
  std::vector<idx_t> ids;
};

struct Entry {
  std::string name;
  std::function<void(const World& w, size_t k, Out& out)> search;
};

/// Every search entry point of the public headers (lazy: the World is built on first use).
std::vector<Entry> entries() {
  return {
      {"exact_search", [](const World& w, size_t k, Out& o) {
         qvec::exact_search(w.queries.data(), kNq, w.base.data(), kN, kDim, Metric::L2, k,
                            o.dist.data(), o.ids.data());
       }},
      {"topk_smallest", [](const World& w, size_t k, Out& o) {
         qvec::topk_smallest(w.scores.data(), kNq, kN, k, o.dist.data(), o.ids.data());
       }},
      {"rerank", [](const World& w, size_t k, Out& o) {
         qvec::rerank(w.queries.data(), 1, w.candidates.data(), w.candidates.size(),
                      w.base.data(), kN, kDim, Metric::L2, k, o.dist.data(), o.ids.data());
       }},
      {"hamming_search", [](const World& w, size_t k, Out& o) {
         qvec::hamming_search(w.bcodes.data(), kNq, w.bcodes.data(), kN, w.bq.code_size(), k,
                              o.idist.data(), o.ids.data());
       }},
      {"BinaryQuantizer_search", [](const World& w, size_t k, Out& o) {
         w.bq.search(w.queries.data(), kNq, w.bcodes.data(), w.bfactors.data(), kN, k, 4,
                     o.dist.data(), o.ids.data());
       }},
      {"BinaryQuantizer_search_symmetric", [](const World& w, size_t k, Out& o) {
         w.bq.search_symmetric(w.bcodes.data(), w.bfactors.data(), kNq, w.bcodes.data(),
                               w.bfactors.data(), kN, k, o.dist.data(), o.ids.data());
       }},
      {"PQ8_search", [](const World& w, size_t k, Out& o) {
         w.pq8.search(w.queries.data(), kNq, w.codes8.data(), kN, k, o.dist.data(), o.ids.data());
       }},
      {"PQ4_search", [](const World& w, size_t k, Out& o) {
         w.pq4.search(w.queries.data(), kNq, w.codes4.data(), kN, k, o.dist.data(), o.ids.data());
       }},
      {"PQ4_search_exact", [](const World& w, size_t k, Out& o) {
         qvec::FastScanSearchOptions exact;
         exact.exact = true;
         w.pq4.search(w.queries.data(), kNq, w.codes4.data(), kN, k, o.dist.data(), o.ids.data(),
                      exact);
       }},
      {"PQ8_search_packed", [](const World& w, size_t k, Out& o) {
         w.pq8.search_packed(w.queries.data(), kNq, w.packed8.data(), kN, k, {}, o.dist.data(),
                             o.ids.data());
       }},
      {"PQ4_search_packed", [](const World& w, size_t k, Out& o) {
         w.pq4.search_packed(w.queries.data(), kNq, w.packed4.data(), kN, k, {}, o.dist.data(),
                             o.ids.data());
       }},
      {"PQ8_search_sdc", [](const World& w, size_t k, Out& o) {
         w.pq8.search_sdc(w.codes8.data(), kNq, w.codes8.data(), kN, k, o.dist.data(),
                          o.ids.data());
       }},
      {"PQ4_search_sdc", [](const World& w, size_t k, Out& o) {
         w.pq4.search_sdc(w.codes4.data(), kNq, w.codes4.data(), kN, k, o.dist.data(),
                          o.ids.data());
       }},
      {"adc_search_u8", [](const World& w, size_t k, Out& o) {
         qvec::adc_search_u8(w.tables8.data(), kNq, 4, w.codes8.data(), kN, k, o.dist.data(),
                             o.ids.data());
       }},
      {"adc_search_u8_packed", [](const World& w, size_t k, Out& o) {
         qvec::adc_search_u8_packed(w.tables8.data(), kNq, 4, w.packed8.data(), kN, k,
                                    o.dist.data(), o.ids.data());
       }},
      {"fastscan_search", [](const World& w, size_t k, Out& o) {
         qvec::fastscan_search(w.tables4.data(), kNq, 4, w.packed4.data(), kN, k, {},
                               o.dist.data(), o.ids.data());
       }},
      {"fastscan_search_rescore", [](const World& w, size_t k, Out& o) {
         qvec::FastScanSearchOptions rescore;
         rescore.rescore = 4;
         qvec::fastscan_search(w.tables4.data(), kNq, 4, w.packed4.data(), kN, k, rescore,
                               o.dist.data(), o.ids.data());
       }},
  };
}

class KContract : public ::testing::TestWithParam<size_t> {};  // index into entries()

TEST_P(KContract, KZeroThrowsInvalidArgument) {
  const Entry e = entries()[GetParam()];
  Out out(0);
  EXPECT_THROW(e.search(world(), 0, out), std::invalid_argument) << e.name;
}

TEST_P(KContract, KOneWorks) {
  const Entry e = entries()[GetParam()];
  Out out(1);
  EXPECT_NO_THROW(e.search(world(), 1, out)) << e.name;
  EXPECT_GE(out.ids[0], 0) << e.name;
}

INSTANTIATE_TEST_SUITE_P(EveryEntryPoint, KContract,
                         ::testing::Range(size_t(0), entries().size()),
                         [](const auto& info) { return entries()[info.param].name; });

TEST(KContract, CheckKBounds) {
  EXPECT_THROW(qvec::check_k(0), std::invalid_argument);
  EXPECT_NO_THROW(qvec::check_k(1));
  EXPECT_NO_THROW(qvec::check_k(qvec::kMaxK));
  EXPECT_THROW(qvec::check_k(qvec::kMaxK + 1), std::invalid_argument);
}

TEST(Threads, SetAndGet) {
  const int before = qvec::get_num_threads();
  EXPECT_GE(before, 1);
  qvec::set_num_threads(1);
  EXPECT_EQ(qvec::get_num_threads(), 1);
  qvec::set_num_threads(3);
  EXPECT_EQ(qvec::get_num_threads(), 3);
  EXPECT_THROW(qvec::set_num_threads(0), std::invalid_argument);
  EXPECT_THROW(qvec::set_num_threads(-4), std::invalid_argument);
  EXPECT_EQ(qvec::get_num_threads(), 3);  // a rejected value changes nothing
  qvec::set_num_threads(before);
}

TEST(Threads, ResultsDoNotDependOnTheThreadCount) {
  const World& w = world();
  const int before = qvec::get_num_threads();
  std::vector<std::vector<idx_t>> ids;
  for (int threads : {1, 2, 5}) {
    qvec::set_num_threads(threads);
    Out out(10);
    w.pq8.search(w.queries.data(), kNq, w.codes8.data(), kN, 10, out.dist.data(), out.ids.data());
    ids.push_back(out.ids);
  }
  qvec::set_num_threads(before);
  EXPECT_EQ(ids[0], ids[1]);
  EXPECT_EQ(ids[0], ids[2]);
}

TEST(Simd, LevelIsNamedAndNotAboveTheCpu) {
  const qvec::SimdLevel level = qvec::simd_level();
  EXPECT_LE(static_cast<int>(level), static_cast<int>(qvec::supported_simd_level()));
  const std::string name = qvec::simd_level_name(level);
  EXPECT_TRUE(name == "scalar" || name == "avx2" || name == "avx512_skx" || name == "avx512")
      << name;
}

TEST(Metric, ParseAndName) {
  EXPECT_EQ(qvec::parse_metric("l2"), Metric::L2);
  EXPECT_EQ(qvec::parse_metric("ip"), Metric::IP);
  EXPECT_STREQ(qvec::metric_name(Metric::IP), "ip");
  EXPECT_THROW(qvec::parse_metric("cosine2"), std::invalid_argument);
}

}  // namespace
