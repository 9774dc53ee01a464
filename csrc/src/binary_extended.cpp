// Extended-RaBitQ code construction. Over the rescaling t the rounded code
// y_j(t) = min(floor(t a_j), ymax) (a_j = |v_j|) changes only at the break points
// t = m / a_j; walking them in increasing order keeps <a, y + 1/2> and ||y + 1/2||^2
// up to date in O(1) per step, so the cosine of every distinct code on the path is seen.
#include "binary_extended.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "binary_tile.h"
#include "qvec/binary.h"

namespace qvec::detail {

namespace {

/// The grid magnitudes at scale t into y; returns (<a, y + 1/2>, ||y + 1/2||^2).
std::pair<double, double> round_at(const float* a, size_t dim, double t, unsigned ymax,
                                   uint8_t* y) {
  double ip = 0.0, sq = 0.0;
  for (size_t j = 0; j < dim; ++j) {
    // t a_j >= 0: truncation is the floor (std::floor is a libm call in this baseline file)
    const double m = t * a[j];
    const unsigned yj = m >= ymax ? ymax : static_cast<unsigned>(m);
    y[j] = static_cast<uint8_t>(yj);
    ip += a[j] * (yj + 0.5);
    sq += (yj + 0.5) * (yj + 0.5);
  }
  return {ip, sq};
}

/// A positive double's bits: increasing with its value.
inline uint64_t bits_of(double t) {
  uint64_t b;
  std::memcpy(&b, &t, sizeof b);
  return b;
}

/// The break points in (t0, t1] of the codes that start at y: (t, coordinate), sorted by t.
/// A counting sort on the high bits of t (a positive double's bits grow with it: buckets even
/// in log t, where the events of the m levels and the coordinates' spread lie; ~4 per event)
/// and one insertion pass for the few pairs left inside a bucket: linear time on average,
/// where std::sort of the pairs was ~60% of an encode (2,688 events at dim 384, 4 bits:
/// 47 -> 33 us per vector with the walk). Equal break points share a bucket, so the order is
/// std::sort's up to the order within equal t, which the walk merges into one step.
void collect_events(const float* a, size_t dim, const uint8_t* y, double t0, double t1,
                    unsigned ymax, ExtendedScratch& s) {
  std::vector<std::pair<double, uint32_t>>& raw = s.unsorted;
  raw.clear();
  double tmin = std::numeric_limits<double>::infinity(), tmax = 0.0;
  for (size_t j = 0; j < dim; ++j) {
    if (a[j] <= 0.0f) continue;
    for (unsigned m = y[j] + 1u; m <= ymax; ++m) {
      const double t = double(m) / a[j];
      if (t > t1) break;
      if (t > t0) {
        raw.emplace_back(t, static_cast<uint32_t>(j));
        tmin = std::min(tmin, t);
        tmax = std::max(tmax, t);
      }
    }
  }
  const size_t ne = raw.size();
  const uint64_t low = bits_of(tmin), span = ne ? bits_of(tmax) - low : 0;
  int shift = 0;
  while ((span >> shift) > 4 * ne) ++shift;
  const size_t nb = static_cast<size_t>(span >> shift) + 1;
  auto bucket = [&](double t) { return static_cast<size_t>((bits_of(t) - low) >> shift); };
  s.bucket_start.assign(nb + 1, 0);
  for (size_t e = 0; e < ne; ++e) ++s.bucket_start[bucket(raw[e].first) + 1];
  for (size_t b = 0; b < nb; ++b) s.bucket_start[b + 1] += s.bucket_start[b];
  s.events.resize(ne);
  for (size_t e = 0; e < ne; ++e) s.events[s.bucket_start[bucket(raw[e].first)]++] = raw[e];
  // One insertion sort over all: an event never passes an earlier bucket's (smaller t), so
  // only the few pairs inside a bucket move, and the rest cost one predictable compare.
  for (size_t e = 1; e < ne; ++e) {
    const std::pair<double, uint32_t> item = s.events[e];
    size_t at = e;
    for (; at > 0 && item < s.events[at - 1]; --at) s.events[at] = s.events[at - 1];
    s.events[at] = item;
  }
}

}  // namespace

double extended_grid(const float* v, size_t dim, size_t bits, bool exhaustive,
                     ExtendedScratch& s) {
  const unsigned ymax = (1u << (bits - 1)) - 1u;
  s.mag.resize(dim);
  s.grid.resize(dim);
  float amax = 0.0f;
  double norm2 = 0.0;
  for (size_t j = 0; j < dim; ++j) {
    s.mag[j] = std::fabs(v[j]);
    amax = std::max(amax, s.mag[j]);
    norm2 += double(v[j]) * v[j];
  }
  const float* a = s.mag.data();
  uint8_t* y = s.grid.data();
  if (ymax == 0 || amax == 0.0f) {  // one bit: the sign code, nothing to search
    auto [ip, sq] = round_at(a, dim, 0.0, ymax, y);
    return norm2 > 0.0 ? ip / std::sqrt(sq * norm2) : 0.0;
  }
  // The path from t0 to t1: everything when it is short; else the window where the largest
  // coordinate sits between 60% and 160% of the top of the grid (at high bits the optimum has
  // the largest coordinate near the top: finer steps help every coordinate, clipping only few).
  double t0 = 0.0, t1 = std::numeric_limits<double>::infinity();
  if (!exhaustive && dim * ymax > kExhaustiveEvents) {
    t0 = 0.6 * (ymax + 1.0) / amax;
    t1 = 1.6 * (ymax + 1.0) / amax;
  }
  auto [ip, sq] = round_at(a, dim, t0, ymax, y);
  collect_events(a, dim, y, t0, t1, ymax, s);
  // cos = ip / sqrt(sq) (ip > 0 on the path): compared as ip^2 best_sq > best_ip^2 sq
  double best_ip2 = ip * ip, best_sq = sq, best_t = t0;
  const size_t ne = s.events.size();
  for (size_t e = 0; e < ne; ++e) {
    const uint32_t j = s.events[e].second;
    const unsigned yj = ++y[j];
    ip += a[j];
    sq += 2.0 * yj;  // (y + 1/2)^2 - (y - 1/2)^2
    // Break points that coincide make one step: score the code after all of them.
    if (e + 1 < ne && s.events[e + 1].first == s.events[e].first) continue;
    if (ip * ip * best_sq > best_ip2 * sq) {
      best_ip2 = ip * ip;
      best_sq = sq;
      // A t inside the code's interval: up to the next break point (none in (t, t1] after
      // the last one; past the last of all, every coordinate is at the top).
      const double t = s.events[e].first;
      const double next = e + 1 < ne ? s.events[e + 1].first : (std::isfinite(t1) ? t1 : 2.0 * t);
      best_t = 0.5 * (t + next);
    }
  }
  auto [bip, bsq] = round_at(a, dim, best_t, ymax, y);
  return norm2 > 0.0 ? bip / std::sqrt(bsq * norm2) : 0.0;
}

void encode_extended(const float* v, size_t dim, size_t bits, double cdot, uint8_t* code,
                     float* f, ExtendedScratch& s) {
  const size_t nbytes = (dim + 7) / 8;
  std::memset(code, 0, bits * nbytes);
  extended_grid(v, dim, bits, false, s);
  const unsigned half = 1u << (bits - 1);
  double norm2 = 0.0, obar_dot = 0.0, obar_sq = 0.0;
  for (size_t j = 0; j < dim; ++j) {
    const unsigned y = s.grid[j];
    const bool pos = v[j] > 0.0f;
    // c = half + y for a positive coordinate, half - 1 - y otherwise: c - (2^bits - 1) / 2 =
    // +-(y + 1/2), and its top bit is the sign bit of 1-bit RaBitQ.
    const unsigned c = pos ? half + y : half - 1u - y;
    for (size_t l = 0; l < bits; ++l)
      if ((c >> (bits - 1 - l)) & 1u) set_bit(code + l * nbytes, j);
    const double o = pos ? y + 0.5 : -(y + 0.5);
    norm2 += double(v[j]) * v[j];
    obar_dot += o * v[j];
    obar_sq += o * o;
  }
  // Least-squares scale of obar: decode is the best reconstruction along the code, and
  // rho = ||v||^2 / <xhat, v> = 1 / cos^2 makes rho <xhat, q> the extended-RaBitQ estimator
  // ||v|| <obar, q> / (||obar|| cos(obar, v)).
  const double scale = obar_sq > 0.0 ? obar_dot / obar_sq : 0.0;
  const double xhat_dot = scale * obar_dot;
  for (size_t l = 0; l < bits; ++l)
    f[BinaryQuantizer::kFixedFactors + l] =
        static_cast<float>(std::ldexp(scale, static_cast<int>(bits) - 2 - static_cast<int>(l)));
  f[0] = static_cast<float>(norm2);
  f[1] = static_cast<float>(cdot);
  f[2] = static_cast<float>(xhat_dot > 0.0 ? norm2 / xhat_dot : 0.0);
}

}  // namespace qvec::detail
