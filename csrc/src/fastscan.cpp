// 4-bit fast-scan search: code packing, per-query table quantization, and the blocked top-k
// scan around the FastScanKernels. The kernels only sum; this file decides which sums become
// candidates (a threshold derived from each query's heap) and how they are scored.
#include "qvec/fastscan.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "heap.h"
#include "kernels/fastscan.h"
#include "parallel.h"
#include "qvec/error.h"
#include "search_grid.h"

namespace qvec {
namespace detail {

const FastScanKernels& fastscan_kernels() {
  static const FastScanKernels& chosen = select_kernels(
      fastscan_scalar_kernels(), fastscan_avx2_kernels(), fastscan_avx512_kernels());
  return chosen;
}

#if !defined(QVEC_HAVE_AVX2)
const FastScanKernels* fastscan_avx2_kernels() { return nullptr; }
#endif
#if !defined(QVEC_HAVE_AVX512)
const FastScanKernels* fastscan_avx512_kernels() { return nullptr; }
#endif

}  // namespace detail

namespace {

using detail::kFsBlock;
using detail::kFsMaxQueries;

constexpr size_t kKsub = 16;
constexpr size_t kQueryBlock = 16;         // queries per grid task
constexpr size_t kChunkBytes = 32 * 1024;  // codes per kernel call: re-read from L1 / L2 by each query group
constexpr size_t kMaxChunkBlocks = 64;
constexpr size_t kMinReservoir = 64;  // keys a quantized-mode reservoir holds before a shrink

size_t chunk_blocks(size_t m2) {
  return std::max<size_t>(1, std::min(kMaxChunkBlocks, kChunkBytes / (m2 * 16)));
}

/// The code of subquantizer j of vector i in the fast-scan layout.
inline unsigned packed_code(const uint8_t* packed, size_t m2, size_t i, size_t j) {
  unsigned byte = packed[((i / kFsBlock) * m2 + j) * 16 + (i % 16)];
  return (i % kFsBlock) < 16 ? (byte & 15u) : (byte >> 4);
}

/// Float ADC of vector i: sum over j < m of table[j * 16 + code], summed in j order.
inline float float_adc(const float* table, size_t m, const uint8_t* packed, size_t m2, size_t i) {
  float d = 0.0f;
  for (size_t j = 0; j < m; ++j) d += table[j * kKsub + packed_code(packed, m2, i, j)];
  return d;
}

/// Minimum and maximum of 16 floats, as an element-wise tree the compiler vectorizes.
inline void min_max16(const float* t, float* lo, float* hi) {
  float a[8], b[8];
  for (int i = 0; i < 8; ++i) {
    a[i] = t[i] < t[i + 8] ? t[i] : t[i + 8];
    b[i] = t[i] > t[i + 8] ? t[i] : t[i + 8];
  }
  // Stages of constant width, so each unrolls into a few vector min / max.
  for (int i = 0; i < 4; ++i) {
    a[i] = a[i] < a[i + 4] ? a[i] : a[i + 4];
    b[i] = b[i] > b[i + 4] ? b[i] : b[i + 4];
  }
  for (int i = 0; i < 2; ++i) {
    a[i] = a[i] < a[i + 2] ? a[i] : a[i + 2];
    b[i] = b[i] > b[i + 2] ? b[i] : b[i + 2];
  }
  a[0] = a[0] < a[1] ? a[0] : a[1];
  b[0] = b[0] > b[1] ? b[0] : b[1];
  *lo = a[0];
  *hi = b[0];
}

/// Appends the keys (sum << 32 | row) of the candidates of blocks [b, nblk) whose sum is at
/// most t (mask bit set and sum <= t) to keys[*count...], stopping after the block that brings
/// the count to cap; returns the next block. sums: nblk * 32, rows base_row + 32 * b + v.
/// keys has room for cap + 31 entries.
inline size_t append_keys(const uint16_t* sums, const uint32_t* masks, size_t b, size_t nblk,
                          uint64_t base_row, uint32_t t, size_t cap, uint64_t* keys,
                          size_t* count) {
  size_t n = *count;
  while (b < nblk) {
    uint32_t mask = masks[b];
    const uint16_t* s = sums + b * kFsBlock;
    const uint64_t row0 = base_row + b * kFsBlock;
    ++b;
    if (mask == 0) continue;
    do {
      const unsigned v = static_cast<unsigned>(__builtin_ctz(mask));
      const uint32_t sum = s[v];
      keys[n] = (static_cast<uint64_t>(sum) << 32) | (row0 + v);
      n += sum <= t;
      mask &= mask - 1;
    } while (mask != 0);
    if (n >= cap) break;
  }
  *count = n;
  return b;
}

/// The keep-th smallest sum (key >> 32) of keys[0, n), 1 <= keep <= n, all sums <= hi:
/// a radix select on 256-bucket histograms of the sums, without data-dependent branches
/// per key (a comparison-based selection mispredicts on most keys).
inline uint32_t kth_sum(const uint64_t* keys, size_t n, size_t keep, uint32_t hi) {
  uint32_t lo = hi;
  for (size_t i = 0; i < n; ++i) lo = std::min(lo, static_cast<uint32_t>(keys[i] >> 32));
  size_t need = keep;  // rank wanted within [lo, hi]
  for (;;) {
    unsigned shift = 0;
    while (((hi - lo) >> shift) >= 256) ++shift;
    uint32_t hist[257] = {};
    const uint32_t span = hi - lo;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t d = static_cast<uint32_t>(keys[i] >> 32) - lo;  // wraps when below lo
      ++hist[d <= span ? d >> shift : 256];
    }
    uint32_t b = 0;
    while (b < 256 && hist[b] < need) need -= hist[b++];
    QVEC_ASSERT(b < 256);
    if (shift == 0) return lo + b;
    lo += b << shift;
    hi = std::min(hi, lo + ((uint32_t(1) << shift) - 1));
  }
}

void quantize_one(const float* table, size_t m, size_t m2, uint8_t* lut, float* bias,
                  float* scale) {
  float max_span = 0.0f;
  double sum_span = 0.0, total_low = 0.0;
  std::vector<float> lows(m);
  for (size_t j = 0; j < m; ++j) {
    float lo, hi;
    min_max16(table + j * kKsub, &lo, &hi);
    lows[j] = lo;
    total_low += lo;
    max_span = std::max(max_span, hi - lo);
    sum_span += static_cast<double>(hi) - lo;
  }
  // Each entry <= 255 and, entries being rounded up by at most half a step, every sum of m
  // entries <= scale * sum_span + m / 2 < 2^16.
  float s = 1.0f;
  if (max_span > 0.0f) {
    double limit = std::min(255.0 / max_span, (65535.0 - static_cast<double>(m)) / sum_span);
    s = static_cast<float>(std::min(limit, 1e30));
    if (static_cast<double>(s) > limit) s = std::nextafter(s, 0.0f);
  }
  // Round half up: (x + 0.5) truncated, x >= 0 (a plain conversion, no libm call).
  for (size_t j = 0; j < m; ++j) {
    const float* t = table + j * kKsub;
    const float lo = lows[j];
    for (size_t c = 0; c < kKsub; ++c) {
      float v = std::min(255.0f, std::max(0.0f, (t[c] - lo) * s + 0.5f));
      lut[j * kKsub + c] = static_cast<uint8_t>(static_cast<int>(v));
    }
  }
  std::fill(lut + m * kKsub, lut + m2 * kKsub, uint8_t(0));
  *bias = static_cast<float>(total_low);
  *scale = s;
}

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
        row[j / 2] = static_cast<uint8_t>(row[j / 2] | (packed_code(packed, m2, i, j) << (4 * (j % 2))));
    }
  });
}

void fastscan_quantize_tables(const float* tables, size_t nq, size_t m, uint8_t* luts,
                              float* bias, float* scale) {
  const size_t m2 = fastscan_padded_m(m);
  detail::parallel_for((nq + 63) / 64, [&](size_t task) {
    size_t q1 = std::min(nq, (task + 1) * 64);
    for (size_t q = task * 64; q < q1; ++q)
      quantize_one(tables + q * m * kKsub, m, m2, luts + q * m2 * kKsub, bias + q, scale + q);
  });
}

void fastscan_scan_sums(const uint8_t* luts, size_t nq, size_t m, const uint8_t* packed,
                        size_t n, uint16_t* sums) {
  const detail::FastScanKernels& kern = detail::fastscan_kernels();
  const size_t m2 = fastscan_padded_m(m), nblocks = (n + 31) / 32, lut_size = m2 * kKsub;
  detail::parallel_for((nq + kFsMaxQueries - 1) / kFsMaxQueries, [&](size_t task) {
    size_t q0 = task * kFsMaxQueries, count = std::min(kFsMaxQueries, nq - q0);
    std::vector<uint16_t> out(count * nblocks * kFsBlock);
    std::vector<uint32_t> masks(count * nblocks);
    const uint16_t limit[kFsMaxQueries] = {0, 0, 0, 0};
    kern.scan(luts + q0 * lut_size, lut_size, count, packed, nblocks, m2, limit, out.data(),
              nblocks * kFsBlock, masks.data());
    for (size_t q = 0; q < count; ++q)
      std::copy(out.data() + q * nblocks * kFsBlock, out.data() + q * nblocks * kFsBlock + n,
                sums + (q0 + q) * n);
  });
}

void fastscan_search(const float* tables, size_t nq, size_t m, const uint8_t* packed, size_t n,
                     size_t k, const FastScanSearchOptions& options, float* distances,
                     idx_t* ids) {
  QVEC_ASSERT(m > 0 && k > 0);
  QVEC_CHECK_ARG(n < (size_t(1) << 32), "fast-scan search handles fewer than 2^32 vectors");
  const detail::FastScanKernels& kern = detail::fastscan_kernels();
  const size_t m2 = fastscan_padded_m(m), lut_size = m2 * kKsub, table_size = m * kKsub;
  const size_t chunk = chunk_blocks(m2), stride = chunk * kFsBlock;
  const bool exact = options.exact;
  const size_t keep = exact ? k : k * std::max<size_t>(1, options.rescore);
  const bool rescore = !exact && options.rescore > 0;
  // The quantization error of a sum is at most m / 2 steps; +2 covers float rounding.
  const float slack = 0.5f * static_cast<float>(m) + 2.0f;

  std::vector<uint8_t> luts(nq * lut_size);
  std::vector<float> bias(nq), scale(nq);
  fastscan_quantize_tables(tables, nq, m, luts.data(), bias.data(), scale.data());

  // Largest quantized sum that may still enter the top `keep` of query q, whose current
  // keep-th best is kth; -1 if none can.
  auto threshold = [&](size_t q, float kth) -> long {
    if (std::isinf(kth)) return 65535;
    if (!exact) return static_cast<long>(kth);
    float t = std::floor((kth - bias[q]) * scale[q] + slack);
    if (t < 0.0f) return -1;
    return t >= 65535.0f ? 65535 : static_cast<long>(t);
  };

  // Quantized modes (rescore 0 or r) keep, per query, a reservoir of integer keys
  // (sum << 32 | row; one integer comparison orders by sum, then by row, the order of the float
  // heaps). Sums at or below the threshold are appended without further upkeep; when the
  // reservoir holds `cap` keys, a selection keeps the `keep` smallest and lowers the threshold
  // to below the keep-th smallest sum (rows come in increasing order within a scan, so an
  // equal sum can no longer enter). The keep smallest keys are the heap's result exactly.
  const size_t cap = std::max<size_t>(2 * keep, kMinReservoir);
  auto scan_keys = [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
    std::vector<uint16_t> sums(kFsMaxQueries * stride);
    std::vector<uint32_t> masks(kFsMaxQueries * chunk);
    const size_t room = cap + kFsBlock;  // a block may add 32 keys past cap before a shrink
    std::vector<uint64_t> keys((q1 - q0) * room);
    std::vector<size_t> count_of(q1 - q0, 0);
    std::vector<long> thr_of(q1 - q0, 65535);
    uint16_t limit[kFsMaxQueries];
    const size_t first_block = b0 / kFsBlock, end_block = (b1 + kFsBlock - 1) / kFsBlock;
    // Keeps the keys whose sum is at most the keep-th smallest sum S (at least keep of them)
    // and sets the threshold to S - 1. Many ties at S could leave the reservoir nearly full;
    // then an exact selection keeps exactly keep keys.
    auto shrink = [&](uint64_t* r, size_t& n_keys, long& t) {
      // Appended sums are <= t, kept ones <= t + 1 (the last S).
      const uint32_t kth = kth_sum(r, n_keys, keep, static_cast<uint32_t>(t + 1));
      const uint64_t bound = (static_cast<uint64_t>(kth) << 32) | 0xffffffffu;
      size_t kept = 0;
      for (size_t i = 0; i < n_keys; ++i) {
        const uint64_t key = r[i];
        r[kept] = key;
        kept += key <= bound;
      }
      if (kept > (keep + cap) / 2) {
        std::nth_element(r, r + (keep - 1), r + kept);
        kept = keep;
      }
      n_keys = kept;
      t = static_cast<long>(kth) - 1;
    };
    for (size_t cb = first_block, nblk = 0; cb < end_block; cb += nblk) {
      detail::check_stop();
      nblk = std::min(chunk, end_block - cb);
      const size_t base_row = cb * kFsBlock;
      const uint8_t* block_codes = packed + cb * m2 * 16;
      // Rows outside [b0, b1) in the first and last block of the range are masked off.
      const size_t end_row = std::min(b1, base_row + nblk * kFsBlock);
      for (size_t g = q0; g < q1; g += kFsMaxQueries) {
        const size_t count = std::min(kFsMaxQueries, q1 - g);
        bool any = false;
        for (size_t qi = 0; qi < count; ++qi) {
          const long t = thr_of[g + qi - q0];
          limit[qi] = static_cast<uint16_t>(std::max(0L, t));
          any = any || t >= 0;
        }
        if (!any) continue;
        const uint32_t hit = kern.scan(luts.data() + g * lut_size, lut_size, count, block_codes,
                                       nblk, m2, limit, sums.data(), stride, masks.data());
        for (size_t qi = 0; qi < count; ++qi) {
          const size_t slot = g + qi - q0;
          long t = thr_of[slot];
          if (!((hit >> qi) & 1u) || t < 0) continue;
          uint32_t* mk = masks.data() + qi * nblk;
          if (base_row < b0) mk[0] &= ~uint32_t(0) << (b0 - base_row);
          const size_t last_row = base_row + (nblk - 1) * kFsBlock;
          if (last_row + kFsBlock > end_row) mk[nblk - 1] &= (uint32_t(1) << (end_row - last_row)) - 1u;
          const uint16_t* s = sums.data() + qi * stride;
          uint64_t* r = keys.data() + slot * room;
          size_t n_keys = count_of[slot];
          for (size_t b = 0; b < nblk;) {
            b = append_keys(s, mk, b, nblk, base_row, static_cast<uint32_t>(t), cap, r, &n_keys);
            if (n_keys >= cap) {
              shrink(r, n_keys, t);
              if (t < 0) break;
            }
          }
          count_of[slot] = n_keys;
          thr_of[slot] = t;
        }
      }
    }
    for (size_t q = q0; q < q1; ++q) {
      uint64_t* r = keys.data() + (q - q0) * room;
      size_t n_keys = count_of[q - q0];
      if (n_keys > keep) {
        std::nth_element(r, r + (keep - 1), r + n_keys);
        n_keys = keep;
      }
      // Worst first is a valid max-heap: empty slots, then the keys in decreasing order.
      std::sort(r, r + n_keys);
      detail::HeapView heap = heaps.at(q - q0);
      const size_t empty = keep - n_keys;
      for (size_t i = 0; i < n_keys; ++i) {
        const uint64_t key = r[n_keys - 1 - i];
        heap.dist[empty + i] = static_cast<float>(key >> 32);
        heap.ids[empty + i] = static_cast<idx_t>(key & 0xffffffffu);
      }
    }
  };

  // Exact mode: a candidate is re-scored with the float tables whenever the quantization error
  // bound says it could still enter the float heap.
  auto scan_exact = [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
    std::vector<uint16_t> sums(kFsMaxQueries * stride);
    std::vector<uint32_t> masks(kFsMaxQueries * chunk);
    long thr[kFsMaxQueries];
    uint16_t limit[kFsMaxQueries];
    const size_t first_block = b0 / kFsBlock, end_block = (b1 + kFsBlock - 1) / kFsBlock;
    // Chunks grow from about k codes: until the heaps fill, every sum is a candidate, so the
    // first thresholds come from few codes.
    size_t ramp = std::max<size_t>(1, (keep + kFsBlock - 1) / kFsBlock);
    for (size_t cb = first_block, nblk = 0; cb < end_block; cb += nblk) {
      detail::check_stop();
      nblk = std::min(std::min(chunk, ramp), end_block - cb);
      ramp = std::min(chunk, 2 * ramp);
      const size_t base_row = cb * kFsBlock;
      const uint8_t* block_codes = packed + cb * m2 * 16;
      for (size_t g = q0; g < q1; g += kFsMaxQueries) {
        const size_t count = std::min(kFsMaxQueries, q1 - g);
        bool any = false;
        for (size_t qi = 0; qi < count; ++qi) {
          const size_t q = g + qi;
          thr[qi] = threshold(q, heaps.at(q - q0).threshold());
          limit[qi] = static_cast<uint16_t>(std::max(0L, thr[qi]));
          any = any || thr[qi] >= 0;
        }
        if (!any) continue;
        const uint32_t hit = kern.scan(luts.data() + g * lut_size, lut_size, count, block_codes,
                                       nblk, m2, limit, sums.data(), stride, masks.data());
        for (size_t qi = 0; qi < count; ++qi) {
          if (!((hit >> qi) & 1u) || thr[qi] < 0) continue;
          const size_t q = g + qi;
          const uint16_t* s = sums.data() + qi * stride;
          long t = thr[qi];
          for (size_t b = 0; b < nblk && t >= 0; ++b) {
            for (uint32_t mask = masks[qi * nblk + b]; mask != 0; mask &= mask - 1) {
              const size_t at = b * kFsBlock + static_cast<size_t>(__builtin_ctz(mask));
              const size_t row = base_row + at;
              if (static_cast<long>(s[at]) > t || row < b0 || row >= b1) continue;
              detail::HeapView heap = heaps.at(q - q0);
              float d = float_adc(tables + q * table_size, m, packed, m2, row);
              if (d <= heap.threshold()) {
                heap.push(d, static_cast<idx_t>(row));
                t = threshold(q, heap.threshold());
                if (t < 0) break;
              }
            }
          }
        }
      }
    }
  };
  auto scan = [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
    if (exact)
      scan_exact(q0, q1, b0, b1, heaps);
    else
      scan_keys(q0, q1, b0, b1, heaps);
  };

  if (!rescore) {
    detail::grid_search(nq, n, keep, kQueryBlock, kFsBlock, scan, distances, ids);
    if (!exact)
      for (size_t q = 0; q < nq; ++q)
        for (size_t i = 0; i < k; ++i)
          if (ids[q * k + i] >= 0)
            distances[q * k + i] = bias[q] + distances[q * k + i] / scale[q];
    return;
  }
  std::vector<float> cand_dist(nq * keep);
  std::vector<idx_t> cand_ids(nq * keep);
  detail::grid_search(nq, n, keep, kQueryBlock, kFsBlock, scan, cand_dist.data(),
                      cand_ids.data());
  detail::parallel_for((nq + 63) / 64, [&](size_t task) {
    size_t q1 = std::min(nq, (task + 1) * 64);
    for (size_t q = task * 64; q < q1; ++q) {
      detail::HeapView heap{distances + q * k, ids + q * k, k};
      heap.clear();
      for (size_t i = 0; i < keep; ++i) {
        idx_t id = cand_ids[q * keep + i];
        if (id < 0) continue;
        heap.push(float_adc(tables + q * table_size, m, packed, m2, static_cast<size_t>(id)), id);
      }
      heap.sort();
    }
  });
}

}  // namespace qvec
