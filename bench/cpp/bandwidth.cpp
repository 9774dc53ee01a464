#include "bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace qvec::bench {
namespace {

/// Sum of words [begin, end) with eight independent accumulators (the compiler vectorises it).
uint64_t read_words(const uint64_t* words, size_t begin, size_t end) {
  uint64_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = begin;
  for (; i + 8 <= end; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += words[i + j];
  for (; i < end; ++i) acc[0] += words[i];
  uint64_t total = 0;
  for (int j = 0; j < 8; ++j) total += acc[j];
  return total;
}

}  // namespace

double measure_read_bandwidth(size_t bytes, int threads, int repeats) {
  threads = std::max(1, threads);
  repeats = std::max(1, repeats);
  const size_t nwords = std::max<size_t>(bytes / 4096, 1) * 4096 / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> words(new uint64_t[nwords]);
  auto slice = [&](int t, size_t* begin, size_t* end) {
    *begin = nwords * static_cast<size_t>(t) / static_cast<size_t>(threads);
    *end = nwords * static_cast<size_t>(t + 1) / static_cast<size_t>(threads);
  };
  // First touch by the thread that reads the slice later (matters on NUMA machines).
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int t = 0; t < threads; ++t) {
    size_t b, e;
    slice(t, &b, &e);
    for (size_t i = b; i < e; ++i) words[i] = i;
  }
  std::vector<uint64_t> sink(static_cast<size_t>(threads) * 8, 0);  // 64 bytes per thread
  double best = 0.0;
  for (int r = 0; r < repeats; ++r) {
    auto start = std::chrono::steady_clock::now();
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int t = 0; t < threads; ++t) {
      size_t b, e;
      slice(t, &b, &e);
      sink[static_cast<size_t>(t) * 8] += read_words(words.get(), b, e);
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, static_cast<double>(nwords * sizeof(uint64_t)) / seconds / 1e9);
  }
  // Keep the sums observable so the reads cannot be optimised away.
  volatile uint64_t keep = 0;
  for (uint64_t s : sink) keep = keep + s;
  (void)keep;
  return best;
}

}  // namespace qvec::bench
