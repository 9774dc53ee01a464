// 4-bit fast-scan PQ: the scan kernel at every SIMD level, then table quantization, packing,
// fastscan_search and ProductQuantizer(nbits = 4) search end to end (active level).
#include <algorithm>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "common.h"
#include "kernels/dispatch.h"
#include "qvec/fastscan.h"
#include "qvec/pq.h"

namespace qvec::bench {
namespace {

using detail::Pq4Kernels;
using detail::kFsBlock;
using detail::kFsMaxQueries;

// Blocks per kernel call, as the fast-scan search sizes them: 16 KiB of codes, at most 64.
size_t chunk_blocks(size_t m2) {
  return std::max<size_t>(1, std::min<size_t>(64, 16384 / (m2 * 16)));
}

// The scan kernel over n codes in fast-scan blocks, nq (1 or 4) queries sharing each code
// load, one chunk of blocks per call. items: codes scored (nq * n); bytes: code bytes read
// (n * m2 / 2, once per call whatever nq).
void BM_fastscan_scan(benchmark::State& state, const Pq4Kernels* kern) {
  const size_t n = static_cast<size_t>(state.range(0)), m = static_cast<size_t>(state.range(1));
  const size_t nq = static_cast<size_t>(state.range(2));
  const size_t m2 = fastscan_padded_m(m), nblocks = (n + kFsBlock - 1) / kFsBlock;
  static LastFixture<std::pair<size_t, size_t>, std::vector<uint8_t>> codes_cache;
  const std::vector<uint8_t>& codes =
      codes_cache.get({n, m2}, [&] { return random_bytes(nblocks * m2 * 16, 21); });
  // Table entries small enough that sums of m2 stay under 2^16, as quantization guarantees.
  std::vector<uint8_t> luts = random_bytes(kFsMaxQueries * m2 * 16, 22);
  const uint8_t top = static_cast<uint8_t>(std::min<size_t>(255, 65535 / m2));
  for (uint8_t& v : luts) v = static_cast<uint8_t>(v % (top + 1));
  const size_t chunk = chunk_blocks(m2), ldo = chunk * kFsBlock;
  std::vector<uint16_t> thresholds(kFsMaxQueries, uint16_t(0)), out(kFsMaxQueries * ldo);
  std::vector<uint32_t> masks(kFsMaxQueries * chunk);
  const uint8_t* tables[kFsMaxQueries];
  for (size_t q = 0; q < kFsMaxQueries; ++q) tables[q] = luts.data() + q * m2 * 16;
  for (auto _ : state) {
    for (size_t b = 0; b < nblocks; b += chunk) {
      uint32_t hit = kern->scan(tables, nq, codes.data() + b * m2 * 16,
                                std::min(chunk, nblocks - b), m2, thresholds.data(), out.data(),
                                ldo, masks.data());
      benchmark::DoNotOptimize(hit);
      benchmark::DoNotOptimize(out.data());
    }
    benchmark::ClobberMemory();
  }
  set_rates(state, double(nq * nblocks * kFsBlock), double(nblocks * m2 * 16));
}

// Float tables (nq = 64 queries, m subquantizers of 16 entries) to uint8 tables.
// items: queries; bytes: table floats read.
void BM_fastscan_quantize_tables(benchmark::State& state) {
  const size_t m = static_cast<size_t>(state.range(0)), nq = 64;
  const std::vector<float> tables = uniform_floats(nq * m * 16, 23);
  std::vector<uint8_t> luts(nq * fastscan_padded_m(m) * 16);
  std::vector<float> bias(nq), scale(nq);
  ScopedThreads scope(1);
  for (auto _ : state) {
    fastscan_quantize_tables(tables.data(), nq, m, luts.data(), bias.data(), scale.data());
    benchmark::DoNotOptimize(luts.data());
  }
  state.SetLabel(simd_level_name(simd_level()));
  set_rates(state, double(nq), double(tables.size() * sizeof(float)));
}

// Nibble codes of n vectors to the fast-scan layout. items: vectors; bytes: nibble code
// bytes read (n * ceil(m / 2)).
void BM_fastscan_pack(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0)), m = static_cast<size_t>(state.range(1));
  const size_t cs = (m + 1) / 2;
  const std::vector<uint8_t> codes = random_bytes(n * cs, 24);
  std::vector<uint8_t> packed(fastscan_packed_size(n, m));
  ScopedThreads scope(1);
  for (auto _ : state) {
    fastscan_pack(codes.data(), n, m, packed.data());
    benchmark::DoNotOptimize(packed.data());
  }
  set_rates(state, double(n), double(n * cs));
}

/// A 4-bit quantizer whose codebooks are sampled data sub-vectors (no k-means: set-up stays
/// fast and the codes still follow the data), n encoded vectors in both layouts, and the
/// float tables of the queries.
struct PQ4Fixture {
  std::unique_ptr<ProductQuantizer> pq;
  std::vector<float> queries;
  std::vector<float> tables;   // (nq, m, 16)
  std::vector<uint8_t> codes;  // nibble codes (n, ceil(m / 2))
  std::vector<uint8_t> packed; // fast-scan layout
};

PQ4Fixture make_pq4(size_t n, size_t dim, size_t m, size_t nq) {
  PQ4Fixture f;
  f.pq = std::make_unique<ProductQuantizer>(dim, m, 4, Metric::L2);
  const size_t ksub = 16, dsub = dim / m;
  std::vector<float> sample = clustered_floats(ksub, dim, 8, 25);
  std::vector<float> cent(m * ksub * dsub);
  for (size_t j = 0; j < m; ++j)
    for (size_t c = 0; c < ksub; ++c)
      std::copy_n(sample.data() + c * dim + j * dsub, dsub, cent.data() + (j * ksub + c) * dsub);
  f.pq->set_centroids(cent.data());
  f.queries = clustered_floats(nq, dim, 64, 26);
  f.tables.resize(nq * m * ksub);
  f.pq->compute_tables(f.queries.data(), nq, f.tables.data());
  std::vector<float> base = clustered_floats(n, dim, 64, 27);
  f.codes.resize(n * f.pq->code_size());
  f.pq->encode(base.data(), n, f.codes.data());
  f.packed.resize(fastscan_packed_size(n, m));
  fastscan_pack(f.codes.data(), n, m, f.packed.data());
  return f;
}

constexpr size_t kDim = 128, kNq = 64;

const PQ4Fixture& pq4_fixture(size_t n, size_t m) {
  static LastFixture<std::pair<size_t, size_t>, std::shared_ptr<PQ4Fixture>> cache;
  return *cache.get({n, m}, [&] {
    ScopedThreads all(all_threads());
    return std::make_shared<PQ4Fixture>(make_pq4(n, kDim, m, kNq));
  });
}

// fastscan_search ranking by the quantized tables (rescore 0) for nq = 64 queries over n
// packed codes, tables given. items: codes scored (nq * n); bytes: nq * n * m / 2.
void BM_fastscan_search(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0)), m = static_cast<size_t>(state.range(1));
  const size_t k = static_cast<size_t>(state.range(2));
  const int threads = static_cast<int>(state.range(3));
  const PQ4Fixture& f = pq4_fixture(n, m);
  std::vector<float> dist(kNq * k);
  std::vector<idx_t> ids(kNq * k);
  ScopedThreads scope(threads);
  for (auto _ : state) {
    fastscan_search(f.tables.data(), kNq, m, f.packed.data(), n, k, FastScanSearchOptions{},
                    dist.data(), ids.data());
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetLabel(simd_level_name(simd_level()));
  set_rates(state, double(kNq * n), double(kNq * n * m / 2), threads);
}

// ProductQuantizer(nbits = 4)::search on nibble codes, as users call it: tables, packing of
// the codes (every call) and the quantized scan. items: codes scored; bytes: nq * n * m / 2.
void BM_pq4_search(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0)), m = static_cast<size_t>(state.range(1));
  const size_t k = static_cast<size_t>(state.range(2));
  const int threads = static_cast<int>(state.range(3));
  const PQ4Fixture& f = pq4_fixture(n, m);
  std::vector<float> dist(kNq * k);
  std::vector<idx_t> ids(kNq * k);
  ScopedThreads scope(threads);
  for (auto _ : state) {
    f.pq->search(f.queries.data(), kNq, f.codes.data(), n, k, dist.data(), ids.data());
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetLabel(simd_level_name(simd_level()));
  set_rates(state, double(kNq * n), double(kNq * n * m / 2), threads);
}

// ProductQuantizer(nbits = 4)::search_packed on codes packed once (what an index does), by
// mode: 0 quantized tables, 4 re-score the best 4k with float tables, -1 exact float ADC.
// items: codes scored; bytes: nq * n * m / 2.
void BM_pq4_search_packed(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0)), m = static_cast<size_t>(state.range(1));
  const size_t k = static_cast<size_t>(state.range(2));
  const long mode = state.range(3);
  const int threads = static_cast<int>(state.range(4));
  const PQ4Fixture& f = pq4_fixture(n, m);
  FastScanSearchOptions options;
  options.exact = mode < 0;
  options.rescore = mode > 0 ? static_cast<size_t>(mode) : 0;
  std::vector<float> dist(kNq * k);
  std::vector<idx_t> ids(kNq * k);
  ScopedThreads scope(threads);
  for (auto _ : state) {
    f.pq->search_packed(f.queries.data(), kNq, f.packed.data(), n, k, options, dist.data(),
                        ids.data());
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetLabel(simd_level_name(simd_level()));
  set_rates(state, double(kNq * n), double(kNq * n * m / 2), threads);
}

bool register_all() {
  for (const auto& lt : runnable_levels(detail::pq4_scalar_kernels(), detail::pq4_avx2_kernels(),
                                        detail::pq4_avx512_skx_kernels(),
                                        detail::pq4_avx512_kernels())) {
    const std::string level = lt.name();
    benchmark::RegisterBenchmark(("BM_fastscan_scan/" + level).c_str(), BM_fastscan_scan,
                                 lt.table)
        ->ArgNames({"n", "m", "nq"})
        ->ArgsProduct({{2048, 1 << 20}, {16, 32, 64}, {1, 4}});
  }
  benchmark::RegisterBenchmark("BM_fastscan_quantize_tables", BM_fastscan_quantize_tables)
      ->ArgNames({"m"})
      ->ArgsProduct({{16, 32, 64}});
  benchmark::RegisterBenchmark("BM_fastscan_pack", BM_fastscan_pack)
      ->ArgNames({"n", "m"})
      ->ArgsProduct({{100000}, {16, 32, 64}});
  const long all = all_threads();
  std::vector<int64_t> threads = {1};
  if (all > 1) threads.push_back(all);
  benchmark::RegisterBenchmark("BM_fastscan_search", BM_fastscan_search)
      ->ArgNames({"n", "m", "k", "threads"})
      ->ArgsProduct({{100000, 1000000}, {16, 32, 64}, {10, 100}, threads})
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_pq4_search", BM_pq4_search)
      ->ArgNames({"n", "m", "k", "threads"})
      ->ArgsProduct({{100000, 1000000}, {16, 32, 64}, {10, 100}, threads})
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_pq4_search_packed", BM_pq4_search_packed)
      ->ArgNames({"n", "m", "k", "mode", "threads"})
      ->ArgsProduct({{1000000}, {16, 32, 64}, {10}, {0, 4, -1}, threads})
      ->UseRealTime();
  return true;
}

const bool registered = register_all();

}  // namespace
}  // namespace qvec::bench
