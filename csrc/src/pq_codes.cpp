// Codes of 1..8 bits widened to the two widths the scan kernels read (4-bit fast-scan, 8-bit
// ADC), and back.
#include "pq_codes.h"

#include <algorithm>

#include "parallel.h"
#include "qvec/pq.h"

namespace qvec {
namespace {

constexpr size_t kRowsPerTask = 4096;

/// Rewrites n rows of m codes from `from_bits` to `to_bits` per code (both 1..8; every code
/// fits both widths).
void recode(const uint8_t* in, size_t n, size_t m, size_t from_bits, size_t to_bits,
            uint8_t* out) {
  const size_t in_size = pq_code_size(m, from_bits), out_size = pq_code_size(m, to_bits);
  detail::parallel_for((n + kRowsPerTask - 1) / kRowsPerTask, [&](size_t task) {
    const size_t end = std::min(n, (task + 1) * kRowsPerTask);
    for (size_t i = task * kRowsPerTask; i < end; ++i) {
      const uint8_t* src = in + i * in_size;
      uint8_t* dst = out + i * out_size;
      std::fill(dst, dst + out_size, uint8_t(0));
      for (size_t j = 0; j < m; ++j)
        detail::set_code(dst, j, to_bits, detail::get_code(src, j, from_bits));
    }
  });
}

}  // namespace

void pq_widen_codes(const uint8_t* codes, size_t n, size_t m, size_t nbits, uint8_t* wide) {
  recode(codes, n, m, nbits, pq_scan_bits(nbits), wide);
}

void pq_narrow_codes(const uint8_t* wide, size_t n, size_t m, size_t nbits, uint8_t* codes) {
  recode(wide, n, m, pq_scan_bits(nbits), nbits, codes);
}

}  // namespace qvec
