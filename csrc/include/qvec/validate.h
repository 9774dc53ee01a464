#pragma once
#include <cstddef>

namespace qvec {

/// True when none of the n floats at x is NaN or infinite.
bool all_finite(const float* x, size_t n);

}  // namespace qvec
