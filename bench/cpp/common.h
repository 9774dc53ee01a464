#pragma once
// Shared by every qvec_bench_* binary: the SIMD levels a kernel table can run at on this CPU,
// seeded data, and rate counters.
//
// Conventions for every benchmark:
//   items/s  the natural unit of the kernel (distances, codes scored, vectors encoded...).
//   bytes/s  bytes of vectors or codes scanned: for a search, nq * n * bytes per vector, so
//            batched queries (one read of the codes serves a block of queries) can exceed RAM
//            bandwidth; it is the effective scan rate users compare.
//   bw_frac  bytes/s divided by this machine's memory read bandwidth measured at start-up
//            with the same thread count (see "qvec_read_gbps_*" in the context header).
// Kernel-table benchmarks are named BM_<kernel>/<level>/...; levels the CPU or the build lacks
// are not registered. End-to-end benchmarks (exact_search, pq_search...) run at the active
// level: rerun with QVEC_SIMD=avx2 or scalar to compare levels.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "qvec/simd.h"
#include "qvec/threads.h"

namespace qvec::bench {

template <class Table>
struct LevelTable {
  SimdLevel level;
  const Table* table;
  const char* name() const { return simd_level_name(level); }
};

/// The non-null tables whose level this CPU supports, lowest first (skx: the avx512_skx table,
/// nullptr for a family without one).
template <class Table>
std::vector<LevelTable<Table>> runnable_levels(const Table* scalar, const Table* avx2,
                                               const Table* skx, const Table* avx512) {
  const int best = static_cast<int>(supported_simd_level());
  std::vector<LevelTable<Table>> out;
  const LevelTable<Table> all[4] = {{SimdLevel::Scalar, scalar},
                                    {SimdLevel::AVX2, avx2},
                                    {SimdLevel::AVX512_SKX, skx},
                                    {SimdLevel::AVX512, avx512}};
  for (const auto& lt : all)
    if (lt.table != nullptr && static_cast<int>(lt.level) <= best) out.push_back(lt);
  return out;
}

/// splitmix64: fast seeded generator for bulk benchmark data.
inline uint64_t next_u64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
inline float next_unit(uint64_t& state) {  // uniform in [-1, 1)
  return static_cast<float>(next_u64(state) >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

/// n uniform floats in [-1, 1).
std::vector<float> uniform_floats(size_t n, uint64_t seed);
/// n x d vectors around `clusters` random centres (noise 0.3 of the centre spread): data with
/// structure, so quantizers and pruning behave as on embeddings rather than on pure noise.
std::vector<float> clustered_floats(size_t n, size_t d, size_t clusters, uint64_t seed);
/// n uniform bytes.
std::vector<uint8_t> random_bytes(size_t n, uint64_t seed);

/// Threads of the machine (qvec's default thread count).
int all_threads();
/// Read bandwidth in GB/s for 1 thread or for all_threads() (measured once in main()).
double read_gbps(int threads);

/// Sets items/s, bytes/s and bw_frac from per-iteration counts, after the timing loop.
void set_rates(benchmark::State& state, double items_per_iter, double bytes_per_iter,
               int threads = 1);

/// Sets qvec's thread count for the scope of a benchmark and restores it after.
class ScopedThreads {
 public:
  explicit ScopedThreads(int n) : saved_(get_num_threads()) { set_num_threads(n); }
  ~ScopedThreads() { set_num_threads(saved_); }
  ScopedThreads(const ScopedThreads&) = delete;
  ScopedThreads& operator=(const ScopedThreads&) = delete;

 private:
  int saved_;
};

/// Keeps the fixture of the last argument set: benchmarks are re-run with growing iteration
/// counts, and one slot avoids rebuilding data without holding every size at once.
template <class Key, class Value>
class LastFixture {
 public:
  template <class Make>
  const Value& get(const Key& key, Make&& make) {
    if (!has_ || !(key == key_)) {
      value_ = Value();  // free the previous fixture first
      value_ = make();
      key_ = key;
      has_ = true;
    }
    return value_;
  }

 private:
  bool has_ = false;
  Key key_{};
  Value value_{};
};

}  // namespace qvec::bench
