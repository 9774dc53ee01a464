#pragma once
// Cooperative interruption of long calls (Ctrl-C). The core knows nothing of signals or of
// Python: a host installs a check, and long-running core calls ask it, from the thread that
// made the call, between units of work of at most a few milliseconds each, no more often than
// every kInterruptPollInterval. A check that says "stop" makes the call throw qvec::Interrupted
// on that thread, after the worker threads have stopped. Outputs the call was writing are then
// partly written; an object whose method was interrupted keeps the state it had before the
// call (training builds its new state aside and commits it only at the end).
#include <chrono>
#include <exception>

namespace qvec {

/// Returns true when the current call should stop. Called only on a thread that entered the
/// core (never on an OpenMP worker), so it may use that thread's host context (the Python
/// binding takes the GIL and runs pending signal handlers). It must not throw.
using InterruptCheck = bool (*)();

/// Installs `check` for every thread of the process; nullptr removes it. Thread-safe: calls
/// that are already running see the new check at their next poll.
void set_interrupt_check(InterruptCheck check) noexcept;

/// Removes the installed check (same as set_interrupt_check(nullptr)).
void clear_interrupt_check() noexcept;

/// The installed check, or nullptr.
InterruptCheck interrupt_check() noexcept;

/// The least time between two calls of the check on one thread: short enough that a call
/// stops well within a second, long enough that the check's cost (the Python binding takes
/// the GIL) never shows in throughput.
constexpr std::chrono::milliseconds kInterruptPollInterval{20};

/// Thrown by a core call whose interrupt check returned true. The call's outputs are
/// unspecified; an object it was a method of is unchanged.
class Interrupted : public std::exception {
 public:
  const char* what() const noexcept override;
};

}  // namespace qvec
