#pragma once
// Thread count used by every parallel region of the core (OpenMP underneath).
#include <cstddef>

namespace qvec {

/// Number of threads parallel calls use; defaults to the number of cores.
int get_num_threads();
/// n >= 1 sets the count; throws std::invalid_argument otherwise.
void set_num_threads(int n);

}  // namespace qvec
