#pragma once
// IEEE half precision (binary16) in baseline code: the encoding of the IVF probe's shadow
// centroids (ivf_half_probe.h) and the decoding its scalar kernel reads. Every half is a
// float exactly, so decode is exact; encode rounds to nearest, ties to even.
#include <cmath>
#include <cstdint>
#include <cstring>

namespace qvec::detail {

inline float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h >> 15) << 31, exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
  if (exp == 0x1Fu) {  // inf, NaN
    const uint32_t bits = sign | 0x7F800000u | (mant << 13);
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  }
  // normal: (1024 + mant) 2^(exp - 25); subnormal: mant 2^-24
  const float magnitude = exp == 0 ? std::ldexp(float(mant), -24)
                                   : std::ldexp(float(1024u + mant), int(exp) - 25);
  return sign ? -magnitude : magnitude;
}

/// Finite x with |x| < 65520 (the largest value rounding to a finite half), else +-inf.
inline uint16_t float_to_half(float x) {
  const uint16_t sign = std::signbit(x) ? 0x8000u : 0u;
  const float a = std::fabs(x);
  if (!(a < 65520.0f)) return uint16_t(sign | (std::isnan(x) ? 0x7E00u : 0x7C00u));
  if (a == 0.0f) return sign;         // frexp gives no exponent for it
  int e;
  std::frexp(a, &e);                  // a = f 2^e, f in [0.5, 1)
  const int q = e - 11 < -24 ? -24 : e - 11;   // the half's unit in the last place is 2^q
  const double m = std::nearbyint(std::ldexp(double(a), -q));  // ties to even (default mode)
  const unsigned steps = unsigned(m);
  if (q == -24 && steps < 1024u) return uint16_t(sign | steps);  // subnormal (or zero)
  // steps in [1024, 2048]: 2048 carries into the next binade
  const unsigned exp = unsigned(q + 25) + (steps >> 11), mant = (steps >> (steps >> 11)) - 1024u;
  return uint16_t(sign | (exp << 10) | mant);
}

}  // namespace qvec::detail
