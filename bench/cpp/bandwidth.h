#pragma once
// Memory read-bandwidth probe: how many bytes per second this machine can stream from RAM, so
// that kernel scan rates can be reported as a fraction of it. Built with the baseline flags of
// the bench target (no -m flags): a plain 64-bit reduction already saturates the memory bus.
#include <cstddef>

namespace qvec::bench {

/// Best of `repeats` passes of reading a buffer of `bytes` bytes (rounded down to 4 KiB) with
/// `threads` threads, each summing its own contiguous slice (first touched by that thread).
/// Returns GB/s (1e9 bytes per second). Use a buffer several times the last-level cache.
double measure_read_bandwidth(size_t bytes, int threads, int repeats);

}  // namespace qvec::bench
