#pragma once
// parallel_for over task indices on the qvec thread count. The first exception thrown by a
// task is re-thrown on the calling thread once every thread has stopped. Before each task the
// calling thread polls the host's interrupt check (qvec/interrupt.h): when it says stop, or a
// task throws, no thread starts another task, and tasks that call check_stop (stop.h) return
// early from within; qvec::Interrupted is then thrown on the caller.
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>

#include "qvec/threads.h"
#include "stop.h"

namespace qvec::detail {

template <class Task>
void parallel_for(size_t ntasks, Task&& task) {
  if (ntasks == 0) return;
  const int nthreads = get_num_threads();
  // Tasks of this call see the stop flags of the calls around it, whichever thread runs them.
  const StopScope* outer = current_stop_scope();
  std::atomic<bool> failed{false};
  if (nthreads <= 1 || ntasks == 1) {
    StopScope scope(&failed, outer);
    for (size_t i = 0; i < ntasks; ++i) {
      check_stop();
      task(i);
    }
    return;
  }
  std::exception_ptr error;
  std::mutex error_mutex;
  std::atomic<bool> task_stopped{false};
  const long long n = static_cast<long long>(ntasks);
#pragma omp parallel num_threads(nthreads)
  {
    StopScope scope(&failed, outer);
#pragma omp for schedule(dynamic, 1)
    for (long long i = 0; i < n; ++i) {
      if (failed.load(std::memory_order_relaxed)) continue;
      try {
        check_stop();
        task(static_cast<size_t>(i));
      } catch (const TaskStopped&) {
        task_stopped.store(true);  // or by this call's own failure: error says which
        failed.store(true);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed.store(true);
      }
    }
  }
  if (error) std::rethrow_exception(error);
  if (task_stopped.load()) throw TaskStopped();
}

}  // namespace qvec::detail
