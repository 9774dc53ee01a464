// qvec_bandwidth [MiB] [repeats]: prints this machine's memory read bandwidth as JSON, for one
// thread and for all threads, e.g.
//   {"bytes": 536870912, "threads": 16, "read_gbps_1": 21.3, "read_gbps_all": 88.0}
#include <cstdio>
#include <cstdlib>

#include "bandwidth.h"
#include "qvec/threads.h"

int main(int argc, char** argv) {
  const size_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 512;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 5;
  if (mib == 0 || repeats <= 0) {
    std::fprintf(stderr, "usage: %s [MiB (default 512)] [repeats (default 5)]\n", argv[0]);
    return 2;
  }
  const size_t bytes = mib << 20;
  const int all = qvec::get_num_threads();
  const double one = qvec::bench::measure_read_bandwidth(bytes, 1, repeats);
  const double many = all > 1 ? qvec::bench::measure_read_bandwidth(bytes, all, repeats) : one;
  std::printf("{\"bytes\": %zu, \"threads\": %d, \"read_gbps_1\": %.3f, \"read_gbps_all\": %.3f}\n",
              bytes, all, one, many);
  return 0;
}
