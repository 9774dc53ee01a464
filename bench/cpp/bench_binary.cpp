// Binary codes: the Hamming, asymmetric-scan, filter and float kernels at every SIMD level,
// then hamming_search and BinaryQuantizer encode / search end to end (active level).
#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "common.h"
#include "kernels/dispatch.h"
#include "qvec/binary.h"

namespace qvec::bench {
namespace {

using detail::DenseKernels;
using detail::FilterKernels;
using detail::HammingKernels;
using detail::RabitqKernels;
using detail::kBinaryBlock;

constexpr size_t kTileVectors = 256;  // vectors per kernel call, as binary.cpp's tiles
constexpr size_t kTileBlocks = kTileVectors / kBinaryBlock;

// nq query codes (1, or 16 as hamming_search groups them) against n codes of nbytes in the
// blocked layout, 256 vectors per call. items: distances (nq * n); bytes: code bytes read
// (n * nbytes, once per call whatever nq).
void BM_hamming_tile(benchmark::State& state, const HammingKernels* kern) {
  const size_t nbytes = static_cast<size_t>(state.range(0)), n = static_cast<size_t>(state.range(1));
  const size_t nq = static_cast<size_t>(state.range(2));
  const size_t nwords = (nbytes + 7) / 8, ntiles = (n + kTileVectors - 1) / kTileVectors;
  const size_t tile_words = kTileBlocks * nwords * kBinaryBlock;
  static LastFixture<std::pair<size_t, size_t>, std::vector<uint64_t>> tile_cache;
  const std::vector<uint64_t>& tiles = tile_cache.get({nwords, ntiles}, [&] {
    std::vector<uint8_t> raw = random_bytes(ntiles * tile_words * 8, 31);
    std::vector<uint64_t> words(ntiles * tile_words);
    std::copy_n(raw.data(), raw.size(), reinterpret_cast<uint8_t*>(words.data()));
    return words;
  });
  std::vector<uint64_t> queries(nq * nwords);
  {
    std::vector<uint8_t> raw = random_bytes(queries.size() * 8, 32);
    std::copy_n(raw.data(), raw.size(), reinterpret_cast<uint8_t*>(queries.data()));
  }
  std::vector<int32_t> out(nq * kTileVectors);
  for (auto _ : state) {
    for (size_t t = 0; t < ntiles; ++t) {
      kern->hamming_tile(queries.data(), nq, tiles.data() + t * tile_words, kTileBlocks, nwords,
                         out.data(), kTileVectors);
      benchmark::DoNotOptimize(out.data());
    }
    benchmark::ClobberMemory();
  }
  set_rates(state, double(nq * ntiles * kTileVectors), double(ntiles * kTileVectors * nwords * 8));
}

// The asymmetric scan: one query of nplanes bit planes against n codes of nlevels levels of
// nbytes each (dim = 8 * nbytes), 256 vectors per call, with a threshold no candidate passes
// (the steady state of a search). items: codes scored (n); bytes: code bytes read
// (n * nlevels * nbytes).
void BM_binary_scan(benchmark::State& state, const RabitqKernels* kern) {
  const size_t nbytes = static_cast<size_t>(state.range(0)), n = static_cast<size_t>(state.range(1));
  const size_t nlevels = static_cast<size_t>(state.range(2));
  const size_t nplanes = static_cast<size_t>(state.range(3));
  const size_t nwords = (nbytes + 7) / 8, ntiles = (n + kTileVectors - 1) / kTileVectors;
  const size_t tile_words = nlevels * kTileBlocks * nwords * kBinaryBlock;
  static LastFixture<std::tuple<size_t, size_t, size_t>, std::vector<uint64_t>> tile_cache;
  const std::vector<uint64_t>& tiles = tile_cache.get({nwords, ntiles, nlevels}, [&] {
    std::vector<uint8_t> raw = random_bytes(ntiles * tile_words * 8, 33);
    std::vector<uint64_t> words(ntiles * tile_words);
    std::copy_n(raw.data(), raw.size(), reinterpret_cast<uint8_t*>(words.data()));
    return words;
  });
  std::vector<uint64_t> planes(nplanes * nwords);
  {
    std::vector<uint8_t> raw = random_bytes(planes.size() * 8, 34);
    std::copy_n(raw.data(), raw.size(), reinterpret_cast<uint8_t*>(planes.data()));
  }
  // Nibble tables: each entry a sum of at most four 4-bit query values.
  std::vector<uint8_t> luts = random_bytes((nplanes + 3) / 4 * nwords * 256, 35);
  for (uint8_t& v : luts) v = static_cast<uint8_t>(v % 61);
  std::vector<float> vec_factors = uniform_floats((nlevels + 3) * kTileVectors, 36);
  const float c[4] = {-0.5f, 0.25f, 1.0f, 2.0f};
  const float threshold = -std::numeric_limits<float>::infinity();
  std::vector<float> dist(kTileVectors);
  std::vector<uint32_t> hits(kTileVectors);
  for (auto _ : state) {
    for (size_t t = 0; t < ntiles; ++t) {
      size_t nhits = kern->scan(planes.data(), nplanes, luts.data(),
                                tiles.data() + t * tile_words, nlevels, kTileBlocks, nwords,
                                vec_factors.data(), c, kTileVectors, threshold, dist.data(),
                                hits.data());
      benchmark::DoNotOptimize(nhits);
      benchmark::DoNotOptimize(dist.data());
    }
    benchmark::ClobberMemory();
  }
  set_rates(state, double(ntiles * kTileVectors),
            double(ntiles * kTileVectors * nlevels * nwords * 8));
}

// Indices of 256 values (one tile's distances) at or under a threshold passing `permille` of
// them. items: values filtered; bytes: values read.
template <class T>
void BM_filter_le(benchmark::State& state, const FilterKernels* kern) {
  const size_t n = kTileVectors;
  const long permille = state.range(0);
  const std::vector<float> raw = uniform_floats(n, 37);
  std::vector<T> values(n);
  for (size_t i = 0; i < n; ++i) values[i] = static_cast<T>(raw[i] * 1000.0f);
  std::vector<T> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  const T threshold = permille == 0 ? static_cast<T>(-10000)
                                    : sorted[std::min(n - 1, size_t(permille) * n / 1000)];
  std::vector<uint32_t> out(n);
  for (auto _ : state) {
    size_t count;
    if constexpr (std::is_same_v<T, float>)
      count = kern->le_f32(values.data(), n, threshold, out.data());
    else
      count = kern->le_i32(values.data(), n, threshold, out.data());
    benchmark::DoNotOptimize(count);
    benchmark::DoNotOptimize(out.data());
  }
  set_rates(state, double(n), double(n * sizeof(T)));
}

// The float kernels of re-ranking: 4,096 dot products or squared L2 distances of d floats.
// items: distances; bytes: floats of the second operand read.
void BM_binary_float(benchmark::State& state, const DenseKernels* kern, bool l2) {
  const size_t d = static_cast<size_t>(state.range(0)), n = 4096;
  const std::vector<float> q = uniform_floats(d, 38);
  const std::vector<float> base = uniform_floats(n * d, 39);
  for (auto _ : state) {
    float acc = 0.0f;
    for (size_t i = 0; i < n; ++i)
      acc += l2 ? kern->l2sqr(q.data(), base.data() + i * d, d)
                : kern->dot(q.data(), base.data() + i * d, d);
    benchmark::DoNotOptimize(acc);
  }
  set_rates(state, double(n), double(n * d * sizeof(float)));
}

constexpr size_t kNq = 64;

// hamming_search end to end: 64 query codes, n codes of nbytes. items: distances (nq * n);
// bytes: nq * n * nbytes.
void BM_hamming_search(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0)), nbytes = static_cast<size_t>(state.range(1));
  const size_t k = static_cast<size_t>(state.range(2));
  const int threads = static_cast<int>(state.range(3));
  static LastFixture<std::pair<size_t, size_t>, std::vector<uint8_t>> codes_cache;
  const std::vector<uint8_t>& codes =
      codes_cache.get({n, nbytes}, [&] { return random_bytes(n * nbytes, 40); });
  const std::vector<uint8_t> queries = random_bytes(kNq * nbytes, 41);
  std::vector<int32_t> dist(kNq * k);
  std::vector<idx_t> ids(kNq * k);
  ScopedThreads scope(threads);
  for (auto _ : state) {
    hamming_search(queries.data(), kNq, codes.data(), n, nbytes, k, dist.data(), ids.data());
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetLabel(simd_level_name(simd_level()));
  set_rates(state, double(kNq * n), double(kNq * n * nbytes), threads);
}

/// A binary quantizer centred on the data mean (identity rotation: the rotation only costs a
/// per-query matrix product in search), with n encoded vectors and 64 queries.
struct BinaryFixture {
  std::unique_ptr<BinaryQuantizer> bq;
  std::vector<float> queries;
  std::vector<uint8_t> codes;
  std::vector<float> factors;
};

BinaryFixture make_binary(size_t n, size_t dim, size_t bits) {
  BinaryFixture f;
  f.bq = std::make_unique<BinaryQuantizer>(dim, bits, Metric::L2);
  std::vector<float> base = clustered_floats(n, dim, 64, 42);
  std::vector<double> sum(dim, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < dim; ++j) sum[j] += base[i * dim + j];
  std::vector<float> mean(dim);
  for (size_t j = 0; j < dim; ++j) mean[j] = static_cast<float>(sum[j] / double(n));
  f.bq->set_transform(mean.data(), nullptr);
  f.queries = clustered_floats(kNq, dim, 64, 43);
  f.codes.resize(n * f.bq->code_size());
  f.factors.resize(n * f.bq->num_factors());
  f.bq->encode(base.data(), n, f.codes.data(), f.factors.data());
  return f;
}

// BinaryQuantizer::encode of 4,096 vectors. items: vectors; bytes: vector floats read.
void BM_binary_encode(benchmark::State& state) {
  const size_t dim = static_cast<size_t>(state.range(0)), bits = static_cast<size_t>(state.range(1));
  const size_t n = 4096;
  BinaryFixture f = make_binary(n, dim, bits);
  const std::vector<float> x = clustered_floats(n, dim, 64, 44);
  std::vector<uint8_t> codes(n * f.bq->code_size());
  std::vector<float> factors(n * f.bq->num_factors());
  ScopedThreads scope(1);
  for (auto _ : state) {
    f.bq->encode(x.data(), n, codes.data(), factors.data());
    benchmark::DoNotOptimize(codes.data());
  }
  state.SetLabel(simd_level_name(simd_level()));
  set_rates(state, double(n), double(n * dim * sizeof(float)));
}

// BinaryQuantizer::search (asymmetric, L2) for 64 queries over n codes, with qvec.binary's
// default query bits (4 for bits = 1, 8 otherwise). items: codes scored (nq * n); bytes:
// nq * n * code_size (bits * dim / 8).
void BM_binary_search(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0)), dim = static_cast<size_t>(state.range(1));
  const size_t bits = static_cast<size_t>(state.range(2)), k = static_cast<size_t>(state.range(3));
  const int threads = static_cast<int>(state.range(4));
  const size_t query_bits = bits == 1 ? 4 : 8;
  static LastFixture<std::tuple<size_t, size_t, size_t>, std::shared_ptr<BinaryFixture>> cache;
  const BinaryFixture& f = *cache.get({n, dim, bits}, [&] {
    ScopedThreads all(all_threads());
    return std::make_shared<BinaryFixture>(make_binary(n, dim, bits));
  });
  std::vector<float> dist(kNq * k);
  std::vector<idx_t> ids(kNq * k);
  ScopedThreads scope(threads);
  for (auto _ : state) {
    f.bq->search(f.queries.data(), kNq, f.codes.data(), f.factors.data(), n, k, query_bits,
                 dist.data(), ids.data());
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetLabel(simd_level_name(simd_level()));
  set_rates(state, double(kNq * n), double(kNq * n * f.bq->code_size()), threads);
}

bool register_all() {
  for (const auto& lt : runnable_levels(detail::hamming_scalar_kernels(),
                                        detail::hamming_avx2_kernels(),
                                        detail::hamming_avx512_skx_kernels(),
                                        detail::hamming_avx512_kernels()))
    benchmark::RegisterBenchmark((std::string("BM_hamming_tile/") + lt.name()).c_str(),
                                 BM_hamming_tile, lt.table)
        ->ArgNames({"nbytes", "n", "nq"})
        ->ArgsProduct({{16, 48, 128}, {4096, 1 << 20}, {1, 16}});
  for (const auto& lt : runnable_levels(detail::rabitq_scalar_kernels(),
                                        detail::rabitq_avx2_kernels(),
                                        detail::rabitq_avx512_skx_kernels(),
                                        detail::rabitq_avx512_kernels()))
    benchmark::RegisterBenchmark((std::string("BM_binary_scan/") + lt.name()).c_str(),
                                 BM_binary_scan, lt.table)
        ->ArgNames({"nbytes", "n", "levels", "planes"})
        ->ArgsProduct({{16, 48, 128}, {4096, 1 << 20}, {1, 4}, {4, 8}});
  for (const auto& lt : runnable_levels(detail::filter_scalar_kernels(),
                                        detail::filter_avx2_kernels(),
                                        detail::filter_avx512_skx_kernels(),
                                        detail::filter_avx512_kernels())) {
    const std::string level = lt.name();
    benchmark::RegisterBenchmark(("BM_filter_le_i32/" + level).c_str(), BM_filter_le<int32_t>,
                                 lt.table)
        ->ArgNames({"permille"})
        ->ArgsProduct({{0, 10, 100}});
    benchmark::RegisterBenchmark(("BM_filter_le_f32/" + level).c_str(), BM_filter_le<float>,
                                 lt.table)
        ->ArgNames({"permille"})
        ->ArgsProduct({{0, 10, 100}});
  }
  for (const auto& lt : runnable_levels(detail::dense_scalar_kernels(),
                                        detail::dense_avx2_kernels(),
                                        detail::dense_avx512_skx_kernels(),
                                        detail::dense_avx512_kernels())) {
    const std::string level = lt.name();
    benchmark::RegisterBenchmark(("BM_binary_dot/" + level).c_str(), BM_binary_float, lt.table,
                                 false)
        ->ArgNames({"d"})
        ->ArgsProduct({{128, 384}});
    benchmark::RegisterBenchmark(("BM_binary_l2sqr/" + level).c_str(), BM_binary_float,
                                 lt.table, true)
        ->ArgNames({"d"})
        ->ArgsProduct({{128, 384}});
  }
  const long all = all_threads();
  std::vector<int64_t> threads = {1};
  if (all > 1) threads.push_back(all);
  benchmark::RegisterBenchmark("BM_hamming_search", BM_hamming_search)
      ->ArgNames({"n", "nbytes", "k", "threads"})
      ->ArgsProduct({{100000, 1000000}, {16, 48, 128}, {10, 100}, threads})
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_binary_encode", BM_binary_encode)
      ->ArgNames({"dim", "bits"})
      ->ArgsProduct({{128, 384}, {1, 4}});
  // 1M x 384 floats would take 1.5 GB to generate: dim 384 stops at 100k vectors.
  auto* search = benchmark::RegisterBenchmark("BM_binary_search", BM_binary_search)
                     ->ArgNames({"n", "dim", "bits", "k", "threads"})
                     ->UseRealTime();
  for (int64_t n : {100000, 1000000})
    for (int64_t dim : {128, 384})
      for (int64_t bits : {1, 4})
        for (int64_t k : {10, 100})
          for (int64_t t : threads)
            if (!(n > 100000 && dim > 128)) search->Args({n, dim, bits, k, t});
  return true;
}

const bool registered = register_all();

}  // namespace
}  // namespace qvec::bench
