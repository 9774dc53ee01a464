#pragma once
// The core's side of qvec/interrupt.h: where long loops ask whether to stop.
namespace qvec::detail {

/// True when the host's check says stop. Asks it only on a thread that entered the core (not
/// an OpenMP worker, at any nesting level) and at most once per kInterruptPollInterval on that
/// thread; otherwise a relaxed load and, on the calling thread, a clock read.
bool interrupt_requested();

/// Throws qvec::Interrupted when interrupt_requested(). For serial loops of the core; parallel
/// loops poll through parallel_for.
void poll_interrupt();

}  // namespace qvec::detail
