#include "qvec/threads.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>

#include "qvec/error.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace qvec {
namespace {

int default_thread_count() {
#ifdef _OPENMP
  return std::min(omp_get_max_threads(), max_num_threads());
#else
  return 1;
#endif
}

// Atomic: searches on some threads read it while another thread sets it.
std::atomic<int>& thread_count() {
  static std::atomic<int> count{default_thread_count()};
  return count;
}

}  // namespace

int max_num_threads() {
  static const int limit = [] {
    // hardware_concurrency() may be 0 (unknown); the floor still applies then.
    long hw = static_cast<long>(std::thread::hardware_concurrency());
    return static_cast<int>(std::max<long>(kMaxThreadsFloor, 4 * hw));
  }();
  return limit;
}

int get_num_threads() { return thread_count().load(std::memory_order_relaxed); }

void set_num_threads(int n) {
  QVEC_CHECK_ARG(n >= 1 && n <= max_num_threads(),
                 "num_threads must be in [1, " + std::to_string(max_num_threads()) +
                     "] (at most max(256, 4 x hardware threads)); got " + std::to_string(n));
  thread_count().store(n, std::memory_order_relaxed);
}

}  // namespace qvec
