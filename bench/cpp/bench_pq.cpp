// 8-bit PQ: the quantized ADC scan and the candidate filter at every SIMD level, then table
// build, encoding and search end to end (active level).
#include <algorithm>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "common.h"
#include "kernels/dispatch.h"
#include "qvec/pq.h"

namespace qvec::bench {
namespace {

using detail::kCodeBlock;
using detail::kLutPadding;
using detail::FilterKernels;
using detail::Pq8Kernels;

constexpr size_t kChunkBlocks = 32;  // codes scored per kernel call, as in the PQ scanner

// Quantized ADC over codes in the blocked layout (nblocks, m, 64), 2,048 codes per call, for
// nq = 1 query (scan) or 2 (scan_pair). items: codes scored (nq * n); bytes: code bytes scanned
// (n * m, once per call whatever nq).
void BM_adc_scan_u8(benchmark::State& state, const Pq8Kernels* kern) {
  const size_t n = static_cast<size_t>(state.range(0)), m = static_cast<size_t>(state.range(1));
  const size_t nq = static_cast<size_t>(state.range(2));
  const size_t nblocks = (n + kCodeBlock - 1) / kCodeBlock;
  static LastFixture<std::pair<size_t, size_t>, std::vector<uint8_t>> codes_cache;
  const std::vector<uint8_t>& codes =
      codes_cache.get({n, m}, [&] { return random_bytes(nblocks * m * kCodeBlock, 8); });
  // Table entries small enough for the 16-bit sums, as the scanner guarantees.
  const size_t lut_size = m * 256 + kLutPadding;
  std::vector<uint8_t> luts = random_bytes(2 * lut_size, 9);
  const uint8_t top = static_cast<uint8_t>(std::min<size_t>(255, 65535 / m));
  for (uint8_t& v : luts) v = static_cast<uint8_t>(v % (top + 1));
  std::vector<uint16_t> sums(2 * kChunkBlocks * kCodeBlock);
  uint16_t* second = sums.data() + kChunkBlocks * kCodeBlock;
  for (auto _ : state) {
    for (size_t b = 0; b < nblocks; b += kChunkBlocks) {
      const uint8_t* block = codes.data() + b * m * kCodeBlock;
      const size_t nblk = std::min(kChunkBlocks, nblocks - b);
      if (nq == 2)
        kern->scan_pair(luts.data(), luts.data() + lut_size, block, nblk, m, sums.data(), second);
      else
        kern->scan(luts.data(), block, nblk, m, sums.data());
      benchmark::DoNotOptimize(sums.data());
    }
    benchmark::ClobberMemory();
  }
  set_rates(state, double(nq * nblocks * kCodeBlock), double(nblocks * kCodeBlock * m));
}

// Indices of 16-bit sums at or under a threshold passing `permille` of them.
// items: values filtered; bytes: values read.
void BM_filter_le_u16(benchmark::State& state, const FilterKernels* kern) {
  const size_t n = kChunkBlocks * kCodeBlock;
  const long permille = state.range(0);
  const std::vector<uint8_t> raw = random_bytes(2 * n, 10);
  std::vector<uint16_t> values(n);
  for (size_t i = 0; i < n; ++i) values[i] = static_cast<uint16_t>((raw[2 * i] << 8) | raw[2 * i + 1]);
  std::vector<uint16_t> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  const uint16_t threshold =
      permille == 0 ? 0 : sorted[std::min(n - 1, size_t(permille) * n / 1000)];
  std::vector<uint32_t> out(n);
  for (auto _ : state) {
    size_t count = kern->le_u16(values.data(), n, threshold, out.data());
    benchmark::DoNotOptimize(count);
    benchmark::DoNotOptimize(out.data());
  }
  set_rates(state, double(n), double(n * sizeof(uint16_t)));
}

/// A quantizer whose codebooks are sampled data sub-vectors (no k-means: set-up stays fast and
/// the codes still follow the data), with n encoded vectors.
struct PQFixture {
  std::unique_ptr<ProductQuantizer> pq;
  std::vector<float> queries;
  std::vector<uint8_t> codes;
  size_t n = 0;
};

PQFixture make_pq(size_t n, size_t dim, size_t m, size_t nq) {
  PQFixture f;
  f.n = n;
  f.pq = std::make_unique<ProductQuantizer>(dim, m, 8, Metric::L2);
  const size_t ksub = 256, dsub = dim / m;
  std::vector<float> sample = clustered_floats(ksub, dim, 64, 11);
  std::vector<float> cent(m * ksub * dsub);
  for (size_t j = 0; j < m; ++j)
    for (size_t c = 0; c < ksub; ++c)
      std::copy_n(sample.data() + c * dim + j * dsub, dsub, cent.data() + (j * ksub + c) * dsub);
  f.pq->set_centroids(cent.data());
  f.queries = clustered_floats(nq, dim, 64, 12);
  if (n > 0) {
    std::vector<float> base = clustered_floats(n, dim, 64, 13);
    f.codes.resize(n * m);
    f.pq->encode(base.data(), n, f.codes.data());
  }
  return f;
}

// Lookup tables for nq = 64 queries. items: queries; bytes: table floats written.
void BM_pq_compute_tables(benchmark::State& state) {
  const size_t dim = static_cast<size_t>(state.range(0)), m = static_cast<size_t>(state.range(1));
  const size_t nq = 64;
  PQFixture f = make_pq(0, dim, m, nq);
  std::vector<float> tables(nq * m * 256);
  ScopedThreads scope(1);
  for (auto _ : state) {
    f.pq->compute_tables(f.queries.data(), nq, tables.data());
    benchmark::DoNotOptimize(tables.data());
  }
  state.SetLabel(simd_level_name(simd_level()));
  set_rates(state, double(nq), double(tables.size() * sizeof(float)));
}

// Encoding 4,096 vectors. items: vectors; bytes: vector floats read.
void BM_pq_encode(benchmark::State& state) {
  const size_t dim = static_cast<size_t>(state.range(0)), m = static_cast<size_t>(state.range(1));
  const size_t n = 4096;
  PQFixture f = make_pq(0, dim, m, 0);
  const std::vector<float> x = clustered_floats(n, dim, 64, 14);
  std::vector<uint8_t> codes(n * m);
  ScopedThreads scope(1);
  for (auto _ : state) {
    f.pq->encode(x.data(), n, codes.data());
    benchmark::DoNotOptimize(codes.data());
  }
  state.SetLabel(simd_level_name(simd_level()));
  set_rates(state, double(n), double(n * dim * sizeof(float)));
}

// ProductQuantizer::search (exact ADC top-k) for nq = 64 queries over n codes of dim 128.
// items: codes scored (nq * n); bytes: code bytes scanned (nq * n * m).
void BM_pq_search(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0)), m = static_cast<size_t>(state.range(1));
  const size_t k = static_cast<size_t>(state.range(2));
  const int threads = static_cast<int>(state.range(3));
  const size_t dim = 128, nq = 64;
  static LastFixture<std::pair<size_t, size_t>, std::shared_ptr<PQFixture>> cache;
  const PQFixture& f = *cache.get({n, m}, [&] {
    ScopedThreads all(all_threads());
    return std::make_shared<PQFixture>(make_pq(n, dim, m, nq));
  });
  std::vector<float> dist(nq * k);
  std::vector<idx_t> ids(nq * k);
  ScopedThreads scope(threads);
  for (auto _ : state) {
    f.pq->search(f.queries.data(), nq, f.codes.data(), n, k, dist.data(), ids.data());
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetLabel(simd_level_name(simd_level()));
  set_rates(state, double(nq * n), double(nq * n * m), threads);
}

bool register_all() {
  for (const auto& lt : runnable_levels(detail::pq8_scalar_kernels(), detail::pq8_avx2_kernels(),
                                        static_cast<const Pq8Kernels*>(nullptr),
                                        detail::pq8_avx512_kernels())) {
    const std::string level = lt.name();
    benchmark::RegisterBenchmark(("BM_adc_scan_u8/" + level).c_str(), BM_adc_scan_u8, lt.table)
        ->ArgNames({"n", "m", "nq"})
        ->ArgsProduct({{2048, 1 << 20}, {8, 16, 32, 64}, {1, 2}});
  }
  for (const auto& lt : runnable_levels(detail::filter_scalar_kernels(),
                                        detail::filter_avx2_kernels(),
                                        detail::filter_avx512_skx_kernels(),
                                        detail::filter_avx512_kernels())) {
    const std::string level = lt.name();
    benchmark::RegisterBenchmark(("BM_filter_le_u16/" + level).c_str(), BM_filter_le_u16,
                                 lt.table)
        ->ArgNames({"permille"})
        ->ArgsProduct({{0, 10, 100}});
  }
  benchmark::RegisterBenchmark("BM_pq_compute_tables", BM_pq_compute_tables)
      ->ArgNames({"dim", "m"})
      ->Args({128, 16})->Args({128, 32})->Args({128, 64})
      ->Args({384, 48})->Args({384, 96});
  benchmark::RegisterBenchmark("BM_pq_encode", BM_pq_encode)
      ->ArgNames({"dim", "m"})
      ->Args({128, 16})->Args({128, 64})->Args({384, 48});
  const long all = all_threads();
  std::vector<int64_t> threads = {1};
  if (all > 1) threads.push_back(all);
  benchmark::RegisterBenchmark("BM_pq_search", BM_pq_search)
      ->ArgNames({"n", "m", "k", "threads"})
      ->ArgsProduct({{100000, 1000000}, {16, 32, 64}, {10, 100}, threads})
      ->UseRealTime();
  return true;
}

const bool registered = register_all();

}  // namespace
}  // namespace qvec::bench
