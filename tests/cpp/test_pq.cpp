// k-means, product quantization (8 and 4 bit) and the scan layouts against plain loops.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "helpers.h"
#include "qvec/fastscan.h"
#include "qvec/kmeans.h"
#include "qvec/pq.h"
#include "qvec/threads.h"

using qvec::idx_t;
using qvec::Metric;
using qvec::ProductQuantizer;
using qvec_test::expect_topk;
using qvec_test::gaussian;

namespace {

/// Nibble or byte code of subquantizer j of vector i, as documented in qvec/pq.h and fastscan.h.
size_t code_of(const ProductQuantizer& pq, const uint8_t* codes, size_t i, size_t j) {
  const size_t cs = pq.code_size();
  return pq.nbits() == 8 ? codes[i * cs + j] : (codes[i * cs + j / 2] >> (4 * (j % 2))) & 15u;
}

/// Smaller-is-better ADC scores sum_j tables[q, j, code(i, j)] in double: (nq, n).
std::vector<double> naive_adc(const ProductQuantizer& pq, const std::vector<float>& tables,
                              size_t nq, const uint8_t* codes, size_t n) {
  const size_t m = pq.m(), ksub = pq.ksub();
  std::vector<double> out(nq * n);
  for (size_t q = 0; q < nq; ++q)
    for (size_t i = 0; i < n; ++i) {
      double s = 0;
      for (size_t j = 0; j < m; ++j) s += tables[(q * m + j) * ksub + code_of(pq, codes, i, j)];
      out[q * n + i] = s;
    }
  return out;
}

double nearest_mse(const std::vector<float>& x, size_t n, size_t d, const std::vector<float>& c,
                   size_t k) {
  double total = 0;
  for (size_t i = 0; i < n; ++i) {
    double best = std::numeric_limits<double>::infinity();
    for (size_t j = 0; j < k; ++j) {
      double s = 0;
      for (size_t t = 0; t < d; ++t) {
        double diff = double(x[i * d + t]) - c[j * d + t];
        s += diff * diff;
      }
      best = std::min(best, s);
    }
    total += best;
  }
  return total / double(n);
}

TEST(KMeans, DeterministicForASeedWhateverTheThreadCount) {
  const size_t n = 3000, d = 8, k = 16;
  auto x = gaussian(n, d, 11);
  qvec::KMeansOptions options;
  options.iters = 10;
  options.seed = 3;
  const int threads = qvec::get_num_threads();
  std::vector<float> a(k * d), b(k * d), c(k * d), other(k * d);
  qvec::set_num_threads(1);
  double obj_a = qvec::kmeans(x.data(), n, d, d, k, options, a.data());
  qvec::set_num_threads(2);
  double obj_b = qvec::kmeans(x.data(), n, d, d, k, options, b.data());
  double obj_c = qvec::kmeans(x.data(), n, d, d, k, options, c.data());
  qvec::set_num_threads(threads);
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(b.data(), c.data(), b.size() * sizeof(float)));
  EXPECT_EQ(obj_a, obj_b);
  EXPECT_EQ(obj_b, obj_c);
  options.seed = 4;
  qvec::kmeans(x.data(), n, d, d, k, options, other.data());
  EXPECT_NE(0, std::memcmp(a.data(), other.data(), a.size() * sizeof(float)));
  // The objective is the last assignment's; the final centroids can only do as well or better,
  // and 16 centroids must explain a good part of the variance (d = 8 for unit Gaussians).
  double mse = nearest_mse(x, n, d, a, k);
  EXPECT_GT(obj_a, 0.0);
  EXPECT_LE(mse, obj_a * (1 + 1e-4));
  EXPECT_LT(mse, 0.8 * d);
}

TEST(KMeans, StridedRowsEqualACompactCopy) {
  const size_t n = 500, d = 6, lda = 10, k = 8;
  auto wide = gaussian(n, lda, 12);
  std::vector<float> compact(n * d);
  for (size_t i = 0; i < n; ++i)
    std::memcpy(compact.data() + i * d, wide.data() + i * lda + 2, d * sizeof(float));
  qvec::KMeansOptions options;
  std::vector<float> a(k * d), b(k * d);
  qvec::kmeans(wide.data() + 2, n, d, lda, k, options, a.data());
  qvec::kmeans(compact.data(), n, d, d, k, options, b.data());
  EXPECT_EQ(a, b);
}

/// Spherical Lloyd iterations in double from warm centroids: each round assigns every row to
/// the unit centroid of largest inner product and moves the centroid to its rows' normalised sum.
std::vector<double> spherical_lloyd(const std::vector<float>& x, size_t n, size_t d,
                                    std::vector<double> c, size_t k, size_t iters) {
  auto normalise = [&](double* row) {
    double norm = 0;
    for (size_t t = 0; t < d; ++t) norm += row[t] * row[t];
    for (size_t t = 0; t < d; ++t) row[t] /= std::sqrt(norm);
  };
  for (size_t j = 0; j < k; ++j) normalise(c.data() + j * d);
  for (size_t it = 0; it < iters; ++it) {
    std::vector<double> sums(k * d, 0.0);
    for (size_t i = 0; i < n; ++i) {
      size_t best = 0;
      double best_ip = -INFINITY;
      for (size_t j = 0; j < k; ++j) {
        double ip = 0;
        for (size_t t = 0; t < d; ++t) ip += x[i * d + t] * c[j * d + t];
        if (ip > best_ip) best_ip = ip, best = j;
      }
      for (size_t t = 0; t < d; ++t) sums[best * d + t] += x[i * d + t];
    }
    for (size_t j = 0; j < k; ++j) normalise(sums.data() + j * d);
    c = sums;
  }
  return c;
}

TEST(KMeans, SphericalEqualsUnitCentroidLloydAndHasUnitNorms) {
  // Five directions, rows spread around them at radius ~10 from an origin the data does not
  // surround (every row has a positive first component), warm-started near the directions.
  const size_t n = 1000, d = 8, k = 5, iters = 3;
  auto noise = gaussian(n, d, 21), dirs = gaussian(k, d, 22);
  std::vector<float> x(n * d), warm(k * d);
  for (size_t i = 0; i < n; ++i)
    for (size_t t = 0; t < d; ++t)
      x[i * d + t] = 10.0f * dirs[(i % k) * d + t] + 2.0f * noise[i * d + t] + (t == 0 ? 30 : 0);
  for (size_t j = 0; j < k; ++j)
    for (size_t t = 0; t < d; ++t) warm[j * d + t] = x[j * d + t];
  qvec::KMeansOptions options;
  options.iters = iters;
  options.warm_start = true;
  options.spherical = true;
  std::vector<float> got(warm);
  qvec::kmeans(x.data(), n, d, d, k, options, got.data());
  const auto want = spherical_lloyd(x, n, d, std::vector<double>(warm.begin(), warm.end()), k,
                                    iters);
  for (size_t j = 0; j < k; ++j) {
    double norm = 0;
    for (size_t t = 0; t < d; ++t) {
      norm += double(got[j * d + t]) * got[j * d + t];
      EXPECT_NEAR(got[j * d + t], want[j * d + t], 1e-5) << "centroid " << j << " dim " << t;
    }
    EXPECT_NEAR(norm, 1.0, 1e-6);
  }
  // The same iterations without spherical end elsewhere: the test sees the option.
  options.spherical = false;
  std::vector<float> plain(warm);
  qvec::kmeans(x.data(), n, d, d, k, options, plain.data());
  EXPECT_GT(std::fabs(plain[0] - got[0]), 1.0f);
}

struct PQCase {
  size_t nbits;
  Metric metric;
};

class PQ : public ::testing::TestWithParam<PQCase> {
 protected:
  static constexpr size_t kDim = 32, kM = 8, kN = 2000, kNq = 6, kK = 10;
  void SetUp() override {
    base = gaussian(kN, kDim, 21);
    queries = gaussian(kNq, kDim, 22);
    qvec::PQTrainOptions options;
    options.iters = 8;
    options.seed = 5;
    pq.train(base.data(), kN, options);
    codes.resize(kN * pq.code_size());
    pq.encode(base.data(), kN, codes.data());
    tables.resize(kNq * kM * pq.ksub());
    pq.compute_tables(queries.data(), kNq, tables.data());
  }
  double sign() const { return GetParam().metric == Metric::IP ? -1.0 : 1.0; }

  ProductQuantizer pq{kDim, kM, GetParam().nbits, GetParam().metric};
  std::vector<float> base, queries, tables;
  std::vector<uint8_t> codes;
};

TEST_P(PQ, EncodePicksTheNearestCentroidAndDecodeReturnsIt) {
  ASSERT_TRUE(pq.is_trained());
  ASSERT_EQ(pq.centroids().size(), kM * pq.ksub() * pq.dsub());
  const size_t dsub = pq.dsub(), ksub = pq.ksub();
  std::vector<float> decoded(kN * kDim);
  pq.decode(codes.data(), kN, decoded.data());
  if (pq.nbits() == 4) {  // the nibble layout: an even m fills every high nibble
    EXPECT_EQ(pq.code_size(), kM / 2);
  }
  for (size_t i = 0; i < kN; i += 7)
    for (size_t j = 0; j < kM; ++j) {
      const float* sub = base.data() + i * kDim + j * dsub;
      size_t code = code_of(pq, codes.data(), i, j);
      ASSERT_LT(code, ksub);
      auto dist = [&](size_t c) {
        double s = 0;
        for (size_t t = 0; t < dsub; ++t) {
          double diff = double(sub[t]) - pq.centroids()[(j * ksub + c) * dsub + t];
          s += diff * diff;
        }
        return s;
      };
      double best = dist(0);
      for (size_t c = 1; c < ksub; ++c) best = std::min(best, dist(c));
      EXPECT_NEAR(dist(code), best, 1e-4 * (1 + best)) << "vector " << i << " subspace " << j;
      for (size_t t = 0; t < dsub; ++t)
        ASSERT_EQ(decoded[i * kDim + j * dsub + t], pq.centroids()[(j * ksub + code) * dsub + t]);
    }
}

TEST_P(PQ, SearchIsTheExactADCTopK) {
  auto ref = naive_adc(pq, tables, kNq, codes.data(), kN);
  qvec::FastScanSearchOptions exact;
  exact.exact = true;  // the 4-bit path's exact mode; 8-bit search is always exact
  std::vector<float> dist(kNq * kK);
  std::vector<idx_t> ids(kNq * kK);
  pq.search(queries.data(), kNq, codes.data(), kN, kK, dist.data(), ids.data(), exact);
  for (size_t q = 0; q < kNq; ++q) {
    SCOPED_TRACE("query " + std::to_string(q));
    expect_topk(ref.data() + q * kN, kN, kK, dist.data() + q * kK, ids.data() + q * kK, sign(),
                1e-4);
  }
}

TEST_P(PQ, SearchPackedEqualsSearch) {
  std::vector<uint8_t> packed(pq.nbits() == 8 ? qvec::pq8_packed_size(kN, kM)
                                              : qvec::fastscan_packed_size(kN, kM));
  if (pq.nbits() == 8)
    qvec::pq8_pack(codes.data(), kN, kM, packed.data());
  else
    qvec::fastscan_pack(codes.data(), kN, kM, packed.data());
  for (size_t rescore : {size_t(0), size_t(3)}) {
    qvec::FastScanSearchOptions options;
    options.rescore = rescore;
    std::vector<float> d1(kNq * kK), d2(kNq * kK);
    std::vector<idx_t> i1(kNq * kK), i2(kNq * kK);
    pq.search(queries.data(), kNq, codes.data(), kN, kK, d1.data(), i1.data(), options);
    pq.search_packed(queries.data(), kNq, packed.data(), kN, kK, options, d2.data(), i2.data());
    EXPECT_EQ(i1, i2) << "rescore " << rescore;
    EXPECT_EQ(d1, d2) << "rescore " << rescore;
  }
}

TEST_P(PQ, SdcIsADCWithDecodedQueries) {
  std::vector<uint8_t> qcodes(kNq * pq.code_size());
  pq.encode(queries.data(), kNq, qcodes.data());
  std::vector<float> decoded(kNq * kDim), dtables(kNq * kM * pq.ksub());
  pq.decode(qcodes.data(), kNq, decoded.data());
  pq.compute_tables(decoded.data(), kNq, dtables.data());
  auto ref = naive_adc(pq, dtables, kNq, codes.data(), kN);
  std::vector<float> dist(kNq * kK);
  std::vector<idx_t> ids(kNq * kK);
  pq.search_sdc(qcodes.data(), kNq, codes.data(), kN, kK, dist.data(), ids.data());
  for (size_t q = 0; q < kNq; ++q) {
    SCOPED_TRACE("query " + std::to_string(q));
    expect_topk(ref.data() + q * kN, kN, kK, dist.data() + q * kK, ids.data() + q * kK, sign(),
                1e-4);
  }
}

INSTANTIATE_TEST_SUITE_P(Widths, PQ,
                         ::testing::Values(PQCase{8, Metric::L2}, PQCase{8, Metric::IP},
                                           PQCase{4, Metric::L2}, PQCase{4, Metric::IP}),
                         [](const auto& info) {
                           return "bits" + std::to_string(info.param.nbits) +
                                  (info.param.metric == Metric::L2 ? "_l2" : "_ip");
                         });

TEST(PQ4, QuantizedAndRescoredSearchStayCloseToExactADC) {
  const size_t dim = 32, m = 16, n = 3000, nq = 20, k = 10;
  auto base = gaussian(n, dim, 31);
  auto queries = gaussian(nq, dim, 32);
  ProductQuantizer pq(dim, m, 4, Metric::L2);
  qvec::PQTrainOptions train;
  train.iters = 8;
  pq.train(base.data(), n, train);
  std::vector<uint8_t> codes(n * pq.code_size());
  pq.encode(base.data(), n, codes.data());
  std::vector<float> tables(nq * m * 16);
  pq.compute_tables(queries.data(), nq, tables.data());
  auto ref = naive_adc(pq, tables, nq, codes.data(), n);
  for (size_t rescore : {size_t(0), size_t(4)}) {
    qvec::FastScanSearchOptions options;
    options.rescore = rescore;
    std::vector<float> dist(nq * k);
    std::vector<idx_t> ids(nq * k);
    pq.search(queries.data(), nq, codes.data(), n, k, dist.data(), ids.data(), options);
    size_t hits = 0;
    for (size_t q = 0; q < nq; ++q) {
      auto truth = qvec_test::naive_topk(ref.data() + q * n, n, k);
      for (size_t r = 0; r < k; ++r) {
        idx_t id = ids[q * k + r];
        ASSERT_GE(id, 0);
        for (const auto& t : truth) hits += t.second == id;
        // Quantized distances are off by at most m / 2 table steps; re-scored ones are exact.
        double tol = rescore ? 1e-4 * (1 + ref[q * n + id]) : 0.1 * (1 + ref[q * n + id]);
        EXPECT_NEAR(dist[q * k + r], ref[q * n + id], tol) << "rescore " << rescore;
      }
    }
    EXPECT_GE(double(hits) / double(nq * k), rescore ? 0.95 : 0.8) << "rescore " << rescore;
  }
}

TEST(FastScan, PackFollowsTheDocumentedLayoutAndUnpackInvertsIt) {
  for (size_t m : {size_t(1), size_t(7), size_t(16)})
    for (size_t n : {size_t(1), size_t(31), size_t(77)}) {
      SCOPED_TRACE("m " + std::to_string(m) + " n " + std::to_string(n));
      const size_t cs = (m + 1) / 2;
      auto codes = qvec_test::random_bytes(n * cs, static_cast<uint32_t>(m * 1000 + n));
      if (m % 2)  // an odd m leaves the last high nibble 0
        for (size_t i = 0; i < n; ++i) codes[i * cs + cs - 1] &= 15;
      std::vector<uint8_t> packed(qvec::fastscan_packed_size(n, m), 0xAB);
      qvec::fastscan_pack(codes.data(), n, m, packed.data());
      const size_t m2 = qvec::fastscan_padded_m(m);
      ASSERT_EQ(packed.size(), (n + 31) / 32 * m2 * 16);
      for (size_t i = 0; i < (n + 31) / 32 * 32; ++i)
        for (size_t j = 0; j < m2; ++j) {
          size_t b = i / 32, t = i % 32;
          uint8_t byte = packed[(b * m2 + j) * 16 + t % 16];
          size_t got = t < 16 ? byte & 15u : byte >> 4;
          size_t want = i < n && j < m ? (codes[i * cs + j / 2] >> (4 * (j % 2))) & 15u : 0;
          ASSERT_EQ(got, want) << "vector " << i << " subquantizer " << j;
        }
      std::vector<uint8_t> back(n * cs, 0xCD);
      qvec::fastscan_unpack(packed.data(), n, m, back.data());
      EXPECT_EQ(back, codes);
    }
}

TEST(PQ8Layout, PackUnpackRoundTrip) {
  const size_t n = 130, m = 5;
  auto codes = qvec_test::random_bytes(n * m, 41);
  std::vector<uint8_t> packed(qvec::pq8_packed_size(n, m));
  qvec::pq8_pack(codes.data(), n, m, packed.data());
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < m; ++j)
      ASSERT_EQ(packed[((i / 64) * m + j) * 64 + i % 64], codes[i * m + j]);
  std::vector<uint8_t> back(n * m);
  qvec::pq8_unpack(packed.data(), n, m, back.data());
  EXPECT_EQ(back, codes);
}

TEST(FastScan, ExactSearchOnCallerTablesMatchesNaiveSums) {
  const size_t m = 9, n = 500, nq = 3, k = 12;
  auto raw = gaussian(nq * m, 16, 51);
  std::vector<float> tables(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) tables[i] = std::fabs(raw[i]);
  const size_t cs = (m + 1) / 2;
  auto codes = qvec_test::random_bytes(n * cs, 52);
  for (size_t i = 0; i < n; ++i) codes[i * cs + cs - 1] &= 15;
  std::vector<uint8_t> packed(qvec::fastscan_packed_size(n, m));
  qvec::fastscan_pack(codes.data(), n, m, packed.data());
  std::vector<double> ref(nq * n);
  for (size_t q = 0; q < nq; ++q)
    for (size_t i = 0; i < n; ++i) {
      double s = 0;
      for (size_t j = 0; j < m; ++j)
        s += tables[(q * m + j) * 16 + ((codes[i * cs + j / 2] >> (4 * (j % 2))) & 15u)];
      ref[q * n + i] = s;
    }
  qvec::FastScanSearchOptions options;
  options.exact = true;
  std::vector<float> dist(nq * k);
  std::vector<idx_t> ids(nq * k);
  qvec::fastscan_search(tables.data(), nq, m, packed.data(), n, k, options, dist.data(),
                        ids.data());
  for (size_t q = 0; q < nq; ++q) {
    SCOPED_TRACE("query " + std::to_string(q));
    expect_topk(ref.data() + q * n, n, k, dist.data() + q * k, ids.data() + q * k, 1.0, 1e-5);
  }
}

TEST(ADC8, CallerTablesMatchNaiveSums) {
  const size_t m = 4, n = 300, nq = 2, k = 9;
  auto raw = gaussian(nq * m, 256, 61);
  auto codes = qvec_test::random_bytes(n * m, 62);
  std::vector<double> ref(nq * n);
  for (size_t q = 0; q < nq; ++q)
    for (size_t i = 0; i < n; ++i) {
      double s = 0;
      for (size_t j = 0; j < m; ++j) s += raw[(q * m + j) * 256 + codes[i * m + j]];
      ref[q * n + i] = s;
    }
  std::vector<float> dist(nq * k);
  std::vector<idx_t> ids(nq * k);
  qvec::adc_search_u8(raw.data(), nq, m, codes.data(), n, k, dist.data(), ids.data());
  for (size_t q = 0; q < nq; ++q) {
    SCOPED_TRACE("query " + std::to_string(q));
    expect_topk(ref.data() + q * n, n, k, dist.data() + q * k, ids.data() + q * k, 1.0, 1e-5);
  }
}

}  // namespace
