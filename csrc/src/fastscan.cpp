// 4-bit fast-scan layout and raw parts: code packing, the table quantization and the raw
// sums exposed for tests and callers with their own tables. The searches are composed in
// fastscan_search.cpp from the block scanners of pq4_scan.cpp.
#include "qvec/fastscan.h"

#include <algorithm>
#include <vector>

#include "kernels/dispatch.h"
#include "parallel.h"
#include "search/lut_quantizer.h"
#include "search/rescore.h"

namespace qvec {
namespace {

using detail::kFsBlock;
using detail::kFsMaxQueries;

}  // namespace

void fastscan_pack(const uint8_t* codes, size_t n, size_t m, uint8_t* packed) {
  const size_t cs = (m + 1) / 2, m2 = fastscan_padded_m(m), nblocks = (n + 31) / 32;
  detail::parallel_for((nblocks + 63) / 64, [&](size_t task) {
    size_t b1 = std::min(nblocks, (task + 1) * 64);
    for (size_t b = task * 64; b < b1; ++b) {
      uint8_t* dst = packed + b * m2 * 16;
      std::fill(dst, dst + m2 * 16, uint8_t(0));
      size_t count = std::min(kFsBlock, n - b * kFsBlock);
      for (size_t v = 0; v < count; ++v) {
        const uint8_t* row = codes + (b * kFsBlock + v) * cs;
        unsigned shift = v < 16 ? 0 : 4;
        for (size_t j = 0; j < m; ++j) {
          unsigned c = (row[j / 2] >> (4 * (j % 2))) & 15u;
          dst[j * 16 + v % 16] = static_cast<uint8_t>(dst[j * 16 + v % 16] | (c << shift));
        }
      }
    }
  });
}

void fastscan_unpack(const uint8_t* packed, size_t n, size_t m, uint8_t* codes) {
  const size_t cs = (m + 1) / 2, m2 = fastscan_padded_m(m);
  detail::parallel_for((n + 4095) / 4096, [&](size_t task) {
    size_t i1 = std::min(n, (task + 1) * 4096);
    for (size_t i = task * 4096; i < i1; ++i) {
      uint8_t* row = codes + i * cs;
      std::fill(row, row + cs, uint8_t(0));
      for (size_t j = 0; j < m; ++j)
        row[j / 2] = static_cast<uint8_t>(row[j / 2] | (detail::pq4_code(packed, m2, i, j) << (4 * (j % 2))));
    }
  });
}

void fastscan_quantize_tables(const float* tables, size_t nq, size_t m, uint8_t* luts,
                              float* bias, float* scale) {
  detail::check_lut_m(m);
  const size_t m2 = fastscan_padded_m(m);
  detail::parallel_for((nq + 63) / 64, [&](size_t task) {
    size_t q1 = std::min(nq, (task + 1) * 64);
    for (size_t q = task * 64; q < q1; ++q) {
      uint8_t* lut = luts + q * m2 * 16;
      const detail::LutScale s = detail::quantize_lut(tables + q * m * 16, m, 16, lut);
      std::fill(lut + m * 16, lut + m2 * 16, uint8_t(0));
      bias[q] = s.bias;
      scale[q] = s.scale;
    }
  });
}

void fastscan_scan_sums(const uint8_t* luts, size_t nq, size_t m, const uint8_t* packed,
                        size_t n, uint16_t* sums) {
  const detail::Pq4Kernels& kern = detail::pq4_kernels();
  const size_t m2 = fastscan_padded_m(m), nblocks = (n + 31) / 32, lut_size = m2 * 16;
  detail::parallel_for((nq + kFsMaxQueries - 1) / kFsMaxQueries, [&](size_t task) {
    size_t q0 = task * kFsMaxQueries, count = std::min(kFsMaxQueries, nq - q0);
    std::vector<uint16_t> out(count * nblocks * kFsBlock);
    std::vector<uint32_t> masks(count * nblocks);
    const uint16_t limit[kFsMaxQueries] = {};
    const uint8_t* tables[kFsMaxQueries];
    for (size_t q = 0; q < count; ++q) tables[q] = luts + (q0 + q) * lut_size;
    kern.scan(tables, count, packed, nblocks, m2, limit, out.data(),
              nblocks * kFsBlock, masks.data());
    for (size_t q = 0; q < count; ++q)
      std::copy(out.data() + q * nblocks * kFsBlock, out.data() + q * nblocks * kFsBlock + n,
                sums + (q0 + q) * n);
  });
}

}  // namespace qvec
