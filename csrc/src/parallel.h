#pragma once
// parallel_for over task indices on the qvec thread count. The first exception thrown by a
// task is re-thrown on the calling thread once every thread has stopped. Between tasks the
// calling thread polls the host's interrupt check (qvec/interrupt.h): when it says stop, no
// thread starts another task and qvec::Interrupted is thrown on the caller. A task is the
// unit of interruption, so callers keep tasks to a few milliseconds.
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>

#include "interrupt_poll.h"
#include "qvec/interrupt.h"
#include "qvec/threads.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace qvec::detail {

inline int omp_thread_num() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

template <class Task>
void parallel_for(size_t ntasks, Task&& task) {
  if (ntasks == 0) return;
  int nthreads = get_num_threads();
  if (nthreads <= 1 || ntasks == 1) {
    for (size_t i = 0; i < ntasks; ++i) {
      poll_interrupt();
      task(i);
    }
    return;
  }
  std::exception_ptr error;
  std::mutex error_mutex;
  std::atomic<bool> failed{false};
  auto fail = [&](std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(error_mutex);
    if (!error) error = e;
    failed.store(true);
  };
  const long long n = static_cast<long long>(ntasks);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
  for (long long i = 0; i < n; ++i) {
    if (failed.load(std::memory_order_relaxed)) continue;
    // Thread 0 is the thread that called in (and released the GIL); only it may ask.
    if (omp_thread_num() == 0 && interrupt_requested()) {
      fail(std::make_exception_ptr(Interrupted()));
      continue;
    }
    try {
      task(static_cast<size_t>(i));
    } catch (...) {
      fail(std::current_exception());
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace qvec::detail
