#include "qvec/validate.h"

#include <cmath>
#include <cstring>
#include <string>

#include "qvec/common.h"
#include "qvec/error.h"

namespace qvec {

bool all_finite(const float* x, size_t n) {
  // Summing x * 0 turns any NaN or inf into NaN and stays branch-free, so it vectorises.
  constexpr size_t kChunk = 4096;
  for (size_t start = 0; start < n; start += kChunk) {
    size_t end = start + kChunk < n ? start + kChunk : n;
    float acc = 0.0f;
    for (size_t i = start; i < end; ++i) acc += x[i] * 0.0f;
    if (acc != 0.0f) return false;
  }
  return true;
}

Metric parse_metric(const char* name) {
  if (std::strcmp(name, "l2") == 0) return Metric::L2;
  if (std::strcmp(name, "ip") == 0) return Metric::IP;
  throw std::invalid_argument("metric must be 'l2' or 'ip'; got '" + std::string(name) + "'");
}

const char* metric_name(Metric metric) { return metric == Metric::L2 ? "l2" : "ip"; }

}  // namespace qvec
