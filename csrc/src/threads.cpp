#include "qvec/threads.h"

#include <string>

#include "qvec/error.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace qvec {
namespace {

int& thread_count() {
#ifdef _OPENMP
  static int count = omp_get_max_threads();
#else
  static int count = 1;
#endif
  return count;
}

}  // namespace

int get_num_threads() { return thread_count(); }

void set_num_threads(int n) {
  QVEC_CHECK_ARG(n >= 1, "num_threads must be >= 1; got " + std::to_string(n));
  thread_count() = n;
}

}  // namespace qvec
