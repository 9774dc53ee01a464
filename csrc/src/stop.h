#pragma once
// Stopping long work early: the core's side of qvec/interrupt.h, and the stop flag that a
// parallel_for raises when one of its tasks fails, so the others need not run to their end.
#include <atomic>

namespace qvec::detail {

/// True when the host's check says stop. Asks it only on a thread that entered the core (not
/// an OpenMP worker, at any nesting level) and at most once per kInterruptPollInterval on that
/// thread; otherwise a relaxed load and, on the calling thread, a coarse clock read.
bool interrupt_requested();

/// Thrown by check_stop in a task whose parallel_for (or an enclosing one) is already stopping;
/// parallel_for swallows it and re-throws the exception that made it stop. Not an
/// std::exception, so no `catch (const std::exception&)` on the way can mistake it for one.
struct TaskStopped {};

/// The stop flag of the parallel_for whose task runs on this thread, linked to the flags of
/// the parallel_for calls around it (which may run on another thread).
class StopScope {
 public:
  StopScope(const std::atomic<bool>* stopping, const StopScope* outer) noexcept;
  ~StopScope();
  StopScope(const StopScope&) = delete;
  StopScope& operator=(const StopScope&) = delete;

  /// True when this or an enclosing parallel_for is stopping.
  bool stopping() const noexcept;

 private:
  const std::atomic<bool>* stopping_;
  const StopScope* outer_;
  const StopScope* previous_;  // this thread's scope before this one
};

/// The innermost StopScope of this thread, or nullptr outside parallel_for.
const StopScope* current_stop_scope() noexcept;

/// Call between units of long work (a k-means iteration, a chunk of a scan): throws
/// qvec::Interrupted on the calling thread when interrupt_requested(), and TaskStopped in a
/// task whose parallel_for is stopping. A task is otherwise the unit of interruption, so a
/// task longer than a few milliseconds calls this once per chunk.
void check_stop();

}  // namespace qvec::detail
