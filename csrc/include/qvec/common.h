#pragma once
// Types shared by every part of the core.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace qvec {

/// Vector ids: row numbers of the searched array, or -1 for "no result" padding.
using idx_t = int64_t;

/// How two vectors are compared. L2 is the squared Euclidean distance (smaller is better);
/// IP is the inner product, a similarity (larger is better).
enum class Metric : int { L2 = 0, IP = 1 };

/// Parses "l2" / "ip"; throws std::invalid_argument otherwise.
Metric parse_metric(const char* name);
const char* metric_name(Metric metric);

/// Largest k any search accepts: far above any useful top-k, and small enough that a result
/// buffer is checked before it is allocated (k = 2^31 must be an error, not a 24 GB allocation).
constexpr size_t kMaxK = size_t(1) << 24;

/// The contract of every top-k entry point: 1 <= k <= kMaxK, else std::invalid_argument.
inline void check_k(size_t k) {
  if (k == 0 || k > kMaxK)
    throw std::invalid_argument("k must be in [1, " + std::to_string(kMaxK) + "]; got " +
                                std::to_string(k));
}

}  // namespace qvec
