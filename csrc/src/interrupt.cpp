// The process-wide interrupt check and the rate-limited poll of it.
#include "qvec/interrupt.h"

#include <atomic>
#include <chrono>

#include "interrupt_poll.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace qvec {
namespace {

std::atomic<InterruptCheck> g_check{nullptr};

// The check may use the host context of the thread that entered the core (the GIL), which
// an OpenMP worker does not have. A worker of an outer region that runs an inactive nested
// region is thread 0 there, so every level is looked at, not only the innermost.
bool is_calling_thread() {
#ifdef _OPENMP
  for (int level = omp_get_level(); level > 0; --level)
    if (omp_get_ancestor_thread_num(level) != 0) return false;
#endif
  return true;
}

}  // namespace

void set_interrupt_check(InterruptCheck check) noexcept {
  g_check.store(check, std::memory_order_release);
}

void clear_interrupt_check() noexcept { set_interrupt_check(nullptr); }

InterruptCheck interrupt_check() noexcept { return g_check.load(std::memory_order_acquire); }

const char* Interrupted::what() const noexcept { return "qvec: call interrupted"; }

namespace detail {

bool interrupt_requested() {
  InterruptCheck check = g_check.load(std::memory_order_acquire);
  if (check == nullptr) return false;
  // Per thread, so two host threads in the core never share (or race on) one deadline, and
  // across calls, so a loop of small calls asks no more often than one long call does.
  thread_local std::chrono::steady_clock::time_point next_poll{};
  const auto now = std::chrono::steady_clock::now();
  if (now < next_poll || !is_calling_thread()) return false;
  next_poll = now + kInterruptPollInterval;
  return check();
}

void poll_interrupt() {
  if (interrupt_requested()) throw Interrupted();
}

}  // namespace detail
}  // namespace qvec
