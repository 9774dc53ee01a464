#pragma once
// Types shared by every part of the core.
#include <cstddef>
#include <cstdint>

namespace qvec {

/// Vector ids: row numbers of the searched array, or -1 for "no result" padding.
using idx_t = int64_t;

/// How two vectors are compared. L2 is the squared Euclidean distance (smaller is better);
/// IP is the inner product, a similarity (larger is better).
enum class Metric : int { L2 = 0, IP = 1 };

/// Parses "l2" / "ip"; throws std::invalid_argument otherwise.
Metric parse_metric(const char* name);
const char* metric_name(Metric metric);

}  // namespace qvec
