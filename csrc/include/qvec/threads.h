#pragma once
// Thread count used by every parallel region of the core (OpenMP underneath).
#include <cstddef>

namespace qvec {

/// Upper bound of the thread count, whatever the request (set_num_threads, OMP_NUM_THREADS):
/// max(kMaxThreadsFloor, 4 * hardware threads). Far above any useful count (compute-bound
/// loops gain nothing past the hardware threads), and low enough that the OpenMP runtime
/// never has to build a team so large that it crashes (libgomp segfaults at 100000).
constexpr int kMaxThreadsFloor = 256;
int max_num_threads();

/// Number of threads parallel calls use; defaults to the number of cores (OMP_NUM_THREADS
/// when set), at most max_num_threads().
int get_num_threads();
/// Sets the count; throws std::invalid_argument unless 1 <= n <= max_num_threads().
/// Thread-safe: calls already running keep the count they started with.
void set_num_threads(int n);

}  // namespace qvec
