#include "qvec/validate.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "qvec/common.h"
#include "qvec/error.h"

namespace qvec {

bool all_finite(const float* x, size_t n) {
  // NaN and inf are exactly the floats whose exponent bits are all ones. An integer OR
  // reduction vectorises (a float one would not, without fast-math), so this runs at memory
  // speed; chunks let a bad value stop the scan early.
  constexpr uint32_t kExponent = 0x7f800000u;
  constexpr size_t kChunk = 4096;
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(x);
  for (size_t start = 0; start < n; start += kChunk) {
    size_t end = start + kChunk < n ? start + kChunk : n;
    uint32_t bad = 0;
    for (size_t i = start; i < end; ++i) {
      uint32_t bits;
      std::memcpy(&bits, bytes + i * sizeof(float), sizeof(bits));
      bad |= static_cast<uint32_t>((bits & kExponent) == kExponent);
    }
    if (bad) return false;
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
