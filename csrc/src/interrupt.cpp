// The process-wide interrupt check, its rate-limited poll, and the stop scopes of parallel_for.
#include "qvec/interrupt.h"

#include <atomic>
#include <chrono>

#include "stop.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef __linux__
#include <time.h>
#endif

namespace qvec {
namespace {

std::atomic<InterruptCheck> g_check{nullptr};
thread_local const detail::StopScope* t_scope = nullptr;

using Clock = std::chrono::steady_clock;

// Read before every task of the calling thread: the coarse clock (a few ms resolution, ample
// for a 20 ms interval) costs a quarter of steady_clock's ~70 ns on a virtual machine.
Clock::time_point now() {
#if defined(__linux__) && defined(CLOCK_MONOTONIC_COARSE)
  timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) == 0)
    return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
        std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
#endif
  return Clock::now();
}

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
  if (check == nullptr || !is_calling_thread()) return false;
  // Per thread, so two host threads in the core never share (or race on) one deadline, and
  // across calls, so a loop of small calls asks no more often than one long call does.
  thread_local Clock::time_point next_poll{};
  const Clock::time_point t = now();
  if (t < next_poll) return false;
  next_poll = t + kInterruptPollInterval;
  return check();
}

StopScope::StopScope(const std::atomic<bool>* stopping, const StopScope* outer) noexcept
    : stopping_(stopping), outer_(outer), previous_(t_scope) {
  t_scope = this;
}

StopScope::~StopScope() { t_scope = previous_; }

bool StopScope::stopping() const noexcept {
  for (const StopScope* s = this; s != nullptr; s = s->outer_)
    if (s->stopping_->load(std::memory_order_relaxed)) return true;
  return false;
}

const StopScope* current_stop_scope() noexcept { return t_scope; }

void check_stop() {
  if (interrupt_requested()) throw Interrupted();
  if (t_scope != nullptr && t_scope->stopping()) throw TaskStopped();
}

}  // namespace detail
}  // namespace qvec
