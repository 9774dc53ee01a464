#pragma once
// parallel_for over task indices on the qvec thread count. The first exception thrown by a
// task is re-thrown on the calling thread once every thread has stopped.
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>

#include "qvec/threads.h"

namespace qvec::detail {

template <class Task>
void parallel_for(size_t ntasks, Task&& task) {
  if (ntasks == 0) return;
  int nthreads = get_num_threads();
  if (nthreads <= 1 || ntasks == 1) {
    for (size_t i = 0; i < ntasks; ++i) task(i);
    return;
  }
  std::exception_ptr error;
  std::mutex error_mutex;
  std::atomic<bool> failed{false};
  const long long n = static_cast<long long>(ntasks);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
  for (long long i = 0; i < n; ++i) {
    if (failed.load(std::memory_order_relaxed)) continue;
    try {
      task(static_cast<size_t>(i));
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      failed.store(true);
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace qvec::detail
