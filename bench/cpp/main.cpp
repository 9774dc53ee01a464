// main() of every qvec_bench_* binary: measures memory bandwidth once, records the SIMD level
// and thread count in the benchmark context, then runs the registered benchmarks.
// QVEC_BENCH_BW_MIB (default 256) sets the probe's buffer; 0 skips the probe (bw_frac = 0).
#include <cstdlib>
#include <string>

#include "bandwidth.h"
#include "common.h"

namespace qvec::bench {
namespace {
double g_gbps_one = 0.0;
double g_gbps_all = 0.0;
}  // namespace

std::vector<float> uniform_floats(size_t n, uint64_t seed) {
  std::vector<float> x(n);
  uint64_t s = seed * 0x2545F4914F6CDD1Dull + 1;
  for (float& v : x) v = next_unit(s);
  return x;
}

std::vector<float> clustered_floats(size_t n, size_t d, size_t clusters, uint64_t seed) {
  std::vector<float> centres = uniform_floats(clusters * d, seed ^ 0xC0FFEEull);
  std::vector<float> x(n * d);
  uint64_t s = seed * 0x2545F4914F6CDD1Dull + 7;
  for (size_t i = 0; i < n; ++i) {
    const float* c = centres.data() + (next_u64(s) % clusters) * d;
    for (size_t j = 0; j < d; ++j) x[i * d + j] = c[j] + 0.3f * next_unit(s);
  }
  return x;
}

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> x(n);
  uint64_t s = seed * 0x2545F4914F6CDD1Dull + 3;
  for (uint8_t& v : x) v = static_cast<uint8_t>(next_u64(s) >> 56);
  return x;
}

int all_threads() {
  static const int n = get_num_threads();
  return n;
}

double read_gbps(int threads) { return threads <= 1 ? g_gbps_one : g_gbps_all; }

void set_rates(benchmark::State& state, double items_per_iter, double bytes_per_iter,
               int threads) {
  const double iters = static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<int64_t>(items_per_iter * iters));
  state.SetBytesProcessed(static_cast<int64_t>(bytes_per_iter * iters));
  const double gbps = read_gbps(threads);
  if (gbps > 0.0)
    state.counters["bw_frac"] =
        benchmark::Counter(bytes_per_iter * iters / (gbps * 1e9), benchmark::Counter::kIsRate);
}

}  // namespace qvec::bench

int main(int argc, char** argv) {
  using namespace qvec::bench;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const char* env = std::getenv("QVEC_BENCH_BW_MIB");
  const size_t mib = env != nullptr ? std::strtoull(env, nullptr, 10) : 256;
  if (mib > 0) {
    g_gbps_one = measure_read_bandwidth(mib << 20, 1, 3);
    g_gbps_all = all_threads() > 1 ? measure_read_bandwidth(mib << 20, all_threads(), 3)
                                   : g_gbps_one;
  }
  benchmark::AddCustomContext("qvec_simd_level", qvec::simd_level_name(qvec::simd_level()));
  benchmark::AddCustomContext("qvec_threads", std::to_string(all_threads()));
  benchmark::AddCustomContext("qvec_read_gbps_1", std::to_string(g_gbps_one));
  benchmark::AddCustomContext("qvec_read_gbps_all", std::to_string(g_gbps_all));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
