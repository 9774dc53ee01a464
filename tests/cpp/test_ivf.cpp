// IVF partitioning (qvec/ivf.h): list building, assignment against brute force, and the
// searches with every list probed against the flat searches of the same codes (same ids and
// distances), plus the contract's errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

#include "helpers.h"
#include "qvec/binary.h"
#include "qvec/exact.h"
#include "qvec/ivf.h"
#include "qvec/pq.h"

namespace {

using qvec::idx_t;
using qvec::IvfCodec;
using qvec::IvfLayout;
using qvec::Metric;

/// Lists of n rows of `codes` assigned to nearest centroids, held together.
struct Built {
  std::vector<int32_t> assign;
  std::vector<uint64_t> offsets, code_offsets;
  std::vector<uint8_t> packed;
  std::vector<idx_t> ids;
  qvec::IvfLists lists;
};

Built build(const IvfLayout& layout, const uint8_t* codes, const std::vector<float>& x, size_t n,
            size_t dim, const std::vector<float>& centroids, size_t nlist) {
  Built b;
  b.assign.resize(n);
  qvec::ivf_assign(x.data(), n, dim, centroids.data(), nlist, b.assign.data());
  b.offsets.resize(nlist + 1);
  b.code_offsets.resize(nlist + 1);
  qvec::ivf_list_offsets(layout, b.assign.data(), n, nlist, b.offsets.data(),
                         b.code_offsets.data());
  b.packed.resize(b.code_offsets[nlist]);
  b.ids.resize(n);
  qvec::ivf_build_lists(layout, codes, b.assign.data(), n, nlist, b.offsets.data(),
                        b.code_offsets.data(), b.packed.data(), b.ids.data());
  b.lists = {nlist, b.offsets.data(), b.code_offsets.data(), b.packed.data(), b.ids.data()};
  b.lists.check(layout, b.packed.size(), n);
  return b;
}

/// Every list probed, in list order.
struct AllProbes {
  std::vector<idx_t> lists;
  std::vector<float> coarse;
  qvec::IvfProbes view;
  AllProbes(const float* q, size_t nq, size_t dim, const std::vector<float>& centroids,
            size_t nlist, Metric metric)
      : lists(nq * nlist), coarse(nq * nlist) {
    qvec::ivf_probe(q, nq, dim, centroids.data(), nlist, metric, nlist, coarse.data(),
                    lists.data());
    view = {nlist, lists.data(), coarse.data()};
  }
};

constexpr size_t kN = 700, kDim = 16, kNlist = 9, kNq = 13, kK = 10;

TEST(Ivf, AssignIsTheNearestCentroid) {
  auto x = qvec_test::gaussian(kN, kDim, 1), c = qvec_test::gaussian(kNlist, kDim, 2);
  std::vector<int32_t> assign(kN);
  qvec::ivf_assign(x.data(), kN, kDim, c.data(), kNlist, assign.data());
  auto scores = qvec_test::naive_scores(x.data(), kN, c.data(), kNlist, kDim, Metric::L2);
  for (size_t i = 0; i < kN; ++i) {
    const double* row = scores.data() + i * kNlist;
    EXPECT_EQ(assign[i], std::min_element(row, row + kNlist) - row) << "row " << i;
  }
}

TEST(Ivf, ListsHoldTheirRowsInOrder) {
  auto x = qvec_test::gaussian(kN, kDim, 3), c = qvec_test::gaussian(kNlist, kDim, 4);
  const IvfLayout layout{IvfCodec::Flat, 4 * kDim, 0};
  Built b = build(layout, reinterpret_cast<const uint8_t*>(x.data()), x, kN, kDim, c, kNlist);
  for (size_t l = 0; l < kNlist; ++l) {
    const idx_t* ids = b.lists.list_ids(l);
    for (size_t r = 0; r < b.lists.size(l); ++r) {
      EXPECT_EQ(b.assign[ids[r]], static_cast<int32_t>(l));
      if (r) EXPECT_LT(ids[r - 1], ids[r]);
      const float* row = reinterpret_cast<const float*>(b.lists.list_codes(l)) + r * kDim;
      EXPECT_TRUE(std::equal(row, row + kDim, x.data() + ids[r] * kDim));
    }
  }
}

TEST(Ivf, FlatWithEveryListEqualsExactSearch) {
  for (Metric metric : {Metric::L2, Metric::IP}) {
    auto x = qvec_test::gaussian(kN, kDim, 5), c = qvec_test::gaussian(kNlist, kDim, 6);
    auto q = qvec_test::gaussian(kNq, kDim, 7);
    Built b = build({IvfCodec::Flat, 4 * kDim, 0}, reinterpret_cast<const uint8_t*>(x.data()), x,
                    kN, kDim, c, kNlist);
    AllProbes p(q.data(), kNq, kDim, c, kNlist, metric);
    std::vector<float> d(kNq * kK), rd(kNq * kK);
    std::vector<idx_t> i(kNq * kK), ri(kNq * kK);
    qvec::ivf_search_flat(b.lists, kDim, metric, q.data(), kNq, p.view, kK, d.data(), i.data());
    qvec::exact_search(q.data(), kNq, x.data(), kN, kDim, metric, kK, rd.data(), ri.data());
    EXPECT_EQ(i, ri);
    for (size_t t = 0; t < d.size(); ++t) EXPECT_NEAR(d[t], rd[t], 1e-4f * (1 + std::abs(rd[t])));
  }
}

TEST(Ivf, PqWithEveryListEqualsTheFlatAdcSearch) {
  for (size_t nbits : {size_t(8), size_t(4)}) {
    auto x = qvec_test::gaussian(kN, kDim, 8), c = qvec_test::gaussian(kNlist, kDim, 9);
    auto q = qvec_test::gaussian(kNq, kDim, 10);
    qvec::ProductQuantizer pq(kDim, 4, nbits, Metric::L2);
    pq.train(x.data(), kN, {});
    std::vector<uint8_t> codes(kN * pq.code_size());
    pq.encode(x.data(), kN, codes.data());
    const IvfLayout layout{nbits == 8 ? IvfCodec::Pq8 : IvfCodec::Pq4, pq.code_size(), 4};
    Built b = build(layout, codes.data(), x, kN, kDim, c, kNlist);
    AllProbes p(q.data(), kNq, kDim, c, kNlist, Metric::L2);
    const qvec::IvfPqSearch ivf(pq, c.data(), kNlist, /*by_residual=*/false);
    std::vector<float> d(kNq * kK), rd(kNq * kK);
    std::vector<idx_t> i(kNq * kK), ri(kNq * kK);
    ivf.search(b.lists, q.data(), kNq, p.view, kK, d.data(), i.data(), /*exact=*/true);
    qvec::FastScanSearchOptions exact;
    exact.exact = true;
    pq.search(q.data(), kNq, codes.data(), kN, kK, rd.data(), ri.data(), exact);
    EXPECT_EQ(i, ri) << "nbits " << nbits;
    EXPECT_EQ(d, rd) << "nbits " << nbits;
  }
}

TEST(Ivf, ResidualPqTablesEqualTheDirectTables) {
  auto x = qvec_test::gaussian(kN, kDim, 11), c = qvec_test::gaussian(kNlist, kDim, 12);
  auto q = qvec_test::gaussian(1, kDim, 13);
  qvec::ProductQuantizer pq(kDim, 4, 4, Metric::L2);
  pq.train(x.data(), kN, {});
  const qvec::IvfPqSearch ivf(pq, c.data(), kNlist, /*by_residual=*/true);
  std::vector<float> qt(4 * 16), table(4 * 16), direct(4 * 16), resid(kDim);
  pq.compute_tables(q.data(), 1, qt.data());
  float norm = 0, coarse = 0;
  for (size_t t = 0; t < kDim; ++t) {
    norm += q[t] * q[t];
    resid[t] = q[t] - c[3 * kDim + t];
    coarse += resid[t] * resid[t];
  }
  ivf.pair_table(qt.data(), norm, 3, coarse, table.data());
  pq.compute_tables(resid.data(), 1, direct.data());  // ||(q - c) - p||^2 per subquantizer
  float sum_t = 0, sum_d = 0;
  for (size_t j = 0; j < 4; ++j) { sum_t += table[j * 16 + 5]; sum_d += direct[j * 16 + 5]; }
  EXPECT_NEAR(sum_t, sum_d, 1e-3f * (1 + sum_d));
}

TEST(Ivf, ContractErrors) {
  auto x = qvec_test::gaussian(kN, kDim, 14), c = qvec_test::gaussian(kNlist, kDim, 15);
  Built b = build({IvfCodec::Flat, 4 * kDim, 0}, reinterpret_cast<const uint8_t*>(x.data()), x,
                  kN, kDim, c, kNlist);
  std::vector<idx_t> bad = {0, static_cast<idx_t>(kNlist)};
  std::vector<float> coarse(2), d(kK);
  std::vector<idx_t> i(kK);
  const qvec::IvfProbes probes{2, bad.data(), coarse.data()};
  EXPECT_THROW(qvec::ivf_search_flat(b.lists, kDim, Metric::L2, x.data(), 1, probes, kK, d.data(),
                                     i.data()),
               std::out_of_range);
  bad[1] = 1;
  EXPECT_THROW(qvec::ivf_search_flat(b.lists, kDim, Metric::L2, x.data(), 1, probes, 0, d.data(),
                                     i.data()),
               std::invalid_argument);
  std::vector<float> cents(kNlist * kDim);
  EXPECT_THROW(qvec::ivf_train_centroids(x.data(), 5, kDim, 6, 0, 5, 0, false, cents.data()),
               std::invalid_argument);
  std::vector<int32_t> wrong = {0, 99};
  std::vector<uint64_t> off(kNlist + 1), coff(kNlist + 1);
  EXPECT_THROW(qvec::ivf_list_offsets({IvfCodec::Flat, 4 * kDim, 0}, wrong.data(), 2, kNlist,
                                      off.data(), coff.data()),
               std::out_of_range);
}

}  // namespace

namespace {

TEST(Ivf, FilteredSearchEqualsTheFilteredFlatSearch) {
  auto x = qvec_test::gaussian(kN, kDim, 16), c = qvec_test::gaussian(kNlist, kDim, 17);
  auto q = qvec_test::gaussian(kNq, kDim, 18);
  Built b = build({IvfCodec::Flat, 4 * kDim, 0}, reinterpret_cast<const uint8_t*>(x.data()), x,
                  kN, kDim, c, kNlist);
  AllProbes p(q.data(), kNq, kDim, c, kNlist, Metric::L2);
  std::vector<uint64_t> words((kN + 63) / 64, 0);
  for (size_t i = 0; i < kN; i += 3) words[i / 64] |= uint64_t(1) << (i % 64);
  const qvec::IdFilter filter = qvec::IdFilter::bitset(words.data(), kN);
  std::vector<float> d(kNq * kK), rd(kNq * kK);
  std::vector<idx_t> i(kNq * kK), ri(kNq * kK);
  qvec::ivf_search_flat(b.lists, kDim, Metric::L2, q.data(), kNq, p.view, kK, d.data(), i.data(),
                        &filter);
  qvec::exact_search(q.data(), kNq, x.data(), kN, kDim, Metric::L2, kK, rd.data(), ri.data(),
                     &filter);
  EXPECT_EQ(i, ri);
  for (idx_t id : i) EXPECT_EQ(id % 3, 0);
}

}  // namespace

namespace {

/// IVF binary rows of x (ivf_binary_pack_rows), and the codes, factors and sign dots they
/// come from.
std::vector<uint8_t> binary_rows(const qvec::BinaryQuantizer& bq, const std::vector<float>& x,
                                 size_t n, std::vector<uint8_t>& codes,
                                 std::vector<float>& factors, std::vector<float>& dots) {
  codes.resize(n * bq.code_size());
  factors.resize(n * bq.num_factors());
  dots.resize(n);
  bq.encode(x.data(), n, codes.data(), factors.data());
  bq.sign_dots(x.data(), n, dots.data());
  std::vector<uint8_t> rows(n * qvec::ivf_binary_row_bytes(bq));
  qvec::ivf_binary_pack_rows(bq, codes.data(), factors.data(), dots.data(), n, rows.data());
  return rows;
}

TEST(Ivf, BinaryFloatQueryWithEveryListEqualsTheFlatExtendedSearch) {
  for (Metric metric : {Metric::L2, Metric::IP}) {
    for (size_t bits : {size_t(1), size_t(3)}) {
      auto x = qvec_test::gaussian(kN, kDim, 19), c = qvec_test::gaussian(kNlist, kDim, 20);
      auto q = qvec_test::gaussian(kNq, kDim, 21);
      qvec::BinaryQuantizer bq(kDim, bits, metric, qvec::BinaryCodeForm::Extended);
      qvec::BinaryTrainOptions options;
      options.rotation = qvec::BinaryRotation::Random;
      bq.train(x.data(), kN, options);
      // past one bit: alpha_0 alone of the bits level scales, and the sign dot
      EXPECT_EQ(qvec::ivf_binary_row_bytes(bq),
                bits > 1 ? bq.row_size() - 4 * (bits - 1) + 4 : bq.row_size());
      std::vector<uint8_t> codes;
      std::vector<float> factors, dots;
      const std::vector<uint8_t> rows = binary_rows(bq, x, kN, codes, factors, dots);
      const IvfLayout layout{IvfCodec::Binary, qvec::ivf_binary_row_bytes(bq), 0};
      Built b = build(layout, rows.data(), x, kN, kDim, c, kNlist);
      AllProbes p(q.data(), kNq, kDim, c, kNlist, metric);
      for (float eps : {std::numeric_limits<float>::infinity(), 1.9f}) {
        std::vector<float> d(kNq * kK), rd(kNq * kK);
        std::vector<idx_t> i(kNq * kK), ri(kNq * kK);
        qvec::ivf_search_binary_float(b.lists, bq, nullptr, q.data(), kNq, p.view, kK, eps,
                                      d.data(), i.data());
        bq.search_extended(q.data(), kNq, codes.data(), factors.data(), dots.data(), kN, kK, eps,
                           rd.data(), ri.data());
        EXPECT_EQ(i, ri) << "bits " << bits << " eps " << eps;
        for (size_t t = 0; t < d.size(); ++t)
          EXPECT_NEAR(d[t], rd[t], 1e-5f * (1 + std::abs(rd[t])));
      }
    }
  }
}

TEST(Ivf, BinaryRowsOfExtendedCodesKeepAlphaZeroAndTheSignDot) {
  auto x = qvec_test::gaussian(kN, kDim, 24);
  for (size_t bits : {size_t(2), size_t(5)}) {
    qvec::BinaryQuantizer bq(kDim, bits, Metric::L2, qvec::BinaryCodeForm::Extended);
    bq.train(x.data(), kN, {});
    std::vector<uint8_t> codes;
    std::vector<float> factors, dots;
    const std::vector<uint8_t> rows = binary_rows(bq, x, kN, codes, factors, dots);
    const size_t stride = qvec::ivf_binary_row_bytes(bq), nf = bq.num_factors();
    ASSERT_EQ(qvec::ivf_binary_row_factors(bq), qvec::BinaryQuantizer::kFixedFactors + 1);
    for (size_t i = 0; i < kN; ++i) {
      const uint8_t* row = rows.data() + i * stride;
      EXPECT_EQ(0, std::memcmp(row, codes.data() + i * bq.code_size(), bq.code_size()));
      float kept[5];
      std::memcpy(kept, row + bq.factor_offset(), sizeof kept);
      for (size_t f = 0; f < 4; ++f) EXPECT_EQ(kept[f], factors[i * nf + f]);
      EXPECT_EQ(kept[4], dots[i]);
      for (size_t l = 1; l < bits; ++l)  // the levels' scales the row leaves out
        EXPECT_EQ(factors[i * nf + 3 + l], std::ldexp(kept[3], -int(l)));
    }
  }
}

TEST(Ivf, BinaryFloatQueryNeedsExtendedCodes) {
  auto x = qvec_test::gaussian(kN, kDim, 22), c = qvec_test::gaussian(kNlist, kDim, 23);
  qvec::BinaryQuantizer bq(kDim, 2, Metric::L2);  // residual form
  bq.train(x.data(), kN, {});
  std::vector<uint8_t> codes;
  std::vector<float> factors, dots;
  const std::vector<uint8_t> rows = binary_rows(bq, x, kN, codes, factors, dots);
  Built b = build({IvfCodec::Binary, qvec::ivf_binary_row_bytes(bq), 0}, rows.data(), x, kN,
                  kDim, c, kNlist);
  AllProbes p(x.data(), 1, kDim, c, kNlist, Metric::L2);
  std::vector<float> d(kK);
  std::vector<idx_t> i(kK);
  EXPECT_THROW(qvec::ivf_search_binary_float(b.lists, bq, nullptr, x.data(), 1, p.view, kK, 1.9f,
                                             d.data(), i.data()),
               std::invalid_argument);
}

}  // namespace
