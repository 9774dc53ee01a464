// Float kernels and exact search: dot_tile16 and nearest at every SIMD level, then
// exact_search and topk_smallest end to end (active level, 1 thread and all threads).
#include <algorithm>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "common.h"
#include "kernels/dispatch.h"
#include "qvec/exact.h"
#include "qvec/topk.h"

namespace qvec::bench {
namespace {

using detail::DenseKernels;
using detail::kPackWidth;
using detail::kTileRows;

// 8 query rows against n vectors packed 16 per block: the inner loop of exact search.
// items: distances (8 * n); bytes: base floats read (n * d * 4).
void BM_dot_tile16(benchmark::State& state, const DenseKernels* kern) {
  const size_t n = static_cast<size_t>(state.range(0)), d = static_cast<size_t>(state.range(1));
  static LastFixture<std::pair<size_t, size_t>, std::vector<float>> base_cache;
  const std::vector<float>& base = base_cache.get({n, d}, [&] { return uniform_floats(n * d, 1); });
  const std::vector<float> a = uniform_floats(kTileRows * d, 2);
  std::vector<float> out(kTileRows * kPackWidth);
  const size_t npacks = n / kPackWidth;
  for (auto _ : state) {
    for (size_t p = 0; p < npacks; ++p) {
      kern->dot_tile16(a.data(), d, kTileRows, base.data() + p * d * kPackWidth, d, out.data(),
                       kPackWidth);
      benchmark::DoNotOptimize(out.data());
    }
    benchmark::ClobberMemory();
  }
  set_rates(state, double(kTileRows * n), double(n * d * sizeof(float)));
}

// Nearest of ksub centroids for 4096 rows of d floats in one call: PQ encoding (256
// centroids of a few components), k-means and IVF assignment (thousands of centroids of the
// full dimension). items: rows assigned; bytes: row floats read.
void BM_nearest(benchmark::State& state, const DenseKernels* kern) {
  const size_t d = static_cast<size_t>(state.range(0)), n = 4096;
  const size_t ksub = static_cast<size_t>(state.range(1)), npacks = ksub / kPackWidth;
  const std::vector<float> x = uniform_floats(n * d, 3);
  const std::vector<float> cent = uniform_floats(ksub * d, 4);  // packed layout (npacks, d, 16)
  std::vector<float> norms(ksub, 0.0f);
  for (size_t p = 0; p < npacks; ++p)
    for (size_t t = 0; t < d; ++t)
      for (size_t c = 0; c < kPackWidth; ++c) {
        float v = cent[(p * d + t) * kPackWidth + c];
        norms[p * kPackWidth + c] += v * v;
      }
  std::vector<int32_t> best_index(n);
  std::vector<float> best_value(n), second_value(n);
  for (auto _ : state) {
    kern->nearest(x.data(), d, n, cent.data(), norms.data(), npacks, d, best_index.data(),
                  best_value.data(), second_value.data());
    benchmark::DoNotOptimize(best_index.data());
  }
  set_rates(state, double(n), double(n * d * sizeof(float)));
}

// exact_search end to end: nq queries, n base vectors, k = 10. items: distances; bytes: nq *
// n * d * 4 (base floats scanned per query).
void BM_exact_search(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0)), d = static_cast<size_t>(state.range(1));
  const int threads = static_cast<int>(state.range(2));
  const size_t nq = 64, k = 10;
  static LastFixture<std::pair<size_t, size_t>, std::vector<float>> base_cache;
  const std::vector<float>& base =
      base_cache.get({n, d}, [&] { return clustered_floats(n, d, 64, 5); });
  const std::vector<float> queries = clustered_floats(nq, d, 64, 6);
  std::vector<float> dist(nq * k);
  std::vector<idx_t> ids(nq * k);
  ScopedThreads scope(threads);
  for (auto _ : state) {
    exact_search(queries.data(), nq, base.data(), n, d, Metric::L2, k, dist.data(), ids.data());
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetLabel(simd_level_name(simd_level()));
  set_rates(state, double(nq * n), double(nq * n * d * sizeof(float)), threads);
}

// topk_smallest: nq rows of n scores -> k smallest. items: scores; bytes: scores read.
void BM_topk(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0)), k = static_cast<size_t>(state.range(1));
  const size_t nq = 64;
  const std::vector<float> scores = uniform_floats(nq * n, 7);
  std::vector<float> dist(nq * k);
  std::vector<idx_t> ids(nq * k);
  ScopedThreads scope(1);
  for (auto _ : state) {
    topk_smallest(scores.data(), nq, n, k, dist.data(), ids.data());
    benchmark::DoNotOptimize(ids.data());
  }
  set_rates(state, double(nq * n), double(nq * n * sizeof(float)));
}

bool register_all() {
  for (const auto& lt : runnable_levels(detail::dense_scalar_kernels(),
                                        detail::dense_avx2_kernels(),
                                        detail::dense_avx512_skx_kernels(),
                                        detail::dense_avx512_kernels())) {
    const std::string level = lt.name();
    benchmark::RegisterBenchmark(("BM_dot_tile16/" + level).c_str(), BM_dot_tile16, lt.table)
        ->ArgNames({"n", "d"})
        ->ArgsProduct({{4096, 65536}, {64, 128, 384, 768}});
    benchmark::RegisterBenchmark(("BM_nearest/" + level).c_str(), BM_nearest, lt.table)
        ->ArgNames({"d", "ksub"})
        ->ArgsProduct({{2, 4, 8, 16, 32}, {256}})
        ->Args({128, 4096})
        ->Args({384, 1024});
  }
  const long all = all_threads();
  std::vector<int64_t> threads = {1};
  if (all > 1) threads.push_back(all);
  benchmark::RegisterBenchmark("BM_exact_search", BM_exact_search)
      ->ArgNames({"n", "d", "threads"})
      ->ArgsProduct({{10000, 100000}, {128, 384}, threads})
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_topk", BM_topk)
      ->ArgNames({"n", "k"})
      ->ArgsProduct({{1000, 100000}, {1, 10, 100}});
  return true;
}

const bool registered = register_all();

}  // namespace
}  // namespace qvec::bench
