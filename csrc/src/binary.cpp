// Binary codes: Hamming search and the binary quantizer (encode, decode, asymmetric and
// symmetric search). Codes are scanned in tiles of kTile vectors, transposed on the fly into
// the blocked layout of kernels/hamming.h so one SIMD load reads a word of 8 codes.
#include "qvec/binary.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "pack.h"
#include "qvec/error.h"
#include "search/topk_merge.h"

namespace qvec {
namespace {

using detail::kBinaryBlock;

constexpr size_t kTile = 256;        // vectors per transposed tile (a multiple of kBinaryBlock)
constexpr size_t kQueryGroup = 16;   // queries per Hamming kernel call
constexpr size_t kQueryBlock = 64;   // queries per grid task

size_t words_of(size_t nbytes) { return (nbytes + 7) / 8; }

/// One packed code of nbytes bytes as nwords 64-bit words, zero-filled past nbytes.
void load_words(const uint8_t* code, size_t nbytes, size_t nwords, uint64_t* out) {
  std::memset(out, 0, nwords * sizeof(uint64_t));
  std::memcpy(out, code, nbytes);
}

/// Transposes `count` <= kTile codes (row i at codes + i * stride, nbytes bytes) into the
/// blocked layout: tile size ceil(count / 8) * nwords * 8 words, zero-filled tail.
void transpose_tile(const uint8_t* codes, size_t stride, size_t nbytes, size_t count,
                    size_t nwords, uint64_t* tile) {
  size_t nblocks = (count + kBinaryBlock - 1) / kBinaryBlock;
  if (nbytes % 8 == 0) {  // whole words: copy straight into place
    for (size_t i = 0; i < count; ++i) {
      const uint8_t* code = codes + i * stride;
      uint64_t* dst = tile + (i / kBinaryBlock) * nwords * kBinaryBlock + i % kBinaryBlock;
      for (size_t w = 0; w < nwords; ++w) std::memcpy(dst + w * kBinaryBlock, code + 8 * w, 8);
    }
    for (size_t i = count; i < nblocks * kBinaryBlock; ++i)
      for (size_t w = 0; w < nwords; ++w)
        tile[(i / kBinaryBlock) * nwords * kBinaryBlock + w * kBinaryBlock + i % kBinaryBlock] = 0;
    return;
  }
  std::memset(tile, 0, nblocks * nwords * kBinaryBlock * sizeof(uint64_t));
  uint64_t words[64];
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* code = codes + i * stride;
    uint64_t* dst = tile + (i / kBinaryBlock) * nwords * kBinaryBlock + i % kBinaryBlock;
    for (size_t w0 = 0; w0 < nwords; w0 += 64) {
      size_t chunk = std::min<size_t>(64, nwords - w0);
      size_t bytes = std::min(nbytes - w0 * 8, chunk * 8);
      load_words(code + w0 * 8, bytes, chunk, words);
      for (size_t w = 0; w < chunk; ++w) dst[(w0 + w) * kBinaryBlock] = words[w];
    }
  }
}

/// Largest distance that can still enter a Hamming key heap whose worst key is top: every id
/// scanned from now on is larger than the kept ones (a scan walks ids upwards), so an equal
/// distance loses the tie; with many equal Hamming distances only smaller ones pass.
int32_t key_threshold(uint64_t top) {
  return top == ~uint64_t(0) ? std::numeric_limits<int32_t>::max()
                             : static_cast<int32_t>(top >> 32) - 1;
}

/// Row-major product out = a B for a (n, d) and B given as packed columns (pack_columns of
/// B^T, ncols columns); out: size n * ncols.
void matmul_packed(const float* a, size_t n, size_t d, const float* packed, size_t ncols,
                   float* out) {
  const detail::DenseKernels& kern = detail::dense_kernels();
  const size_t npacks = (ncols + detail::kPackWidth - 1) / detail::kPackWidth;
  float tile[detail::kTileRows * detail::kPackWidth];
  for (size_t r0 = 0; r0 < n; r0 += detail::kTileRows) {
    size_t rows = std::min(detail::kTileRows, n - r0);
    for (size_t p = 0; p < npacks; ++p) {
      kern.dot_tile16(a + r0 * d, d, rows, packed + p * d * detail::kPackWidth, d, tile,
                      detail::kPackWidth);
      size_t cols = std::min(detail::kPackWidth, ncols - p * detail::kPackWidth);
      for (size_t r = 0; r < rows; ++r)
        std::copy(tile + r * detail::kPackWidth, tile + r * detail::kPackWidth + cols,
                  out + (r0 + r) * ncols + p * detail::kPackWidth);
    }
  }
}

/// Sets bit j (numpy.packbits order) of a packed code.
inline void set_bit(uint8_t* code, size_t j) {
  code[j >> 3] = static_cast<uint8_t>(code[j >> 3] | (0x80u >> (j & 7)));
}
inline bool get_bit(const uint8_t* code, size_t j) { return (code[j >> 3] >> (7 - (j & 7))) & 1u; }

}  // namespace

// -- Hamming --------------------------------------------------------------------------------

void hamming_distances(const uint8_t* a, size_t na, const uint8_t* b, size_t nb, size_t nbytes,
                       int32_t* out) {
  QVEC_CHECK_ARG(nbytes >= 1, "nbytes must be >= 1");
  const detail::HammingKernels& hamming = detail::hamming_kernels();
  const size_t nwords = words_of(nbytes);
  const size_t arows = 64, ablocks = (na + arows - 1) / arows, btiles = (nb + kTile - 1) / kTile;
  detail::parallel_for(ablocks * btiles, [&](size_t task) {
    size_t ab = task / btiles, bt = task % btiles;
    size_t a0 = ab * arows, a1 = std::min(na, a0 + arows);
    size_t b0 = bt * kTile, count = std::min(kTile, nb - b0);
    size_t nblocks = (count + kBinaryBlock - 1) / kBinaryBlock;
    std::vector<uint64_t> tile(kTile * nwords), qwords((a1 - a0) * nwords);
    std::vector<int32_t> dist((a1 - a0) * kTile);
    transpose_tile(b + b0 * nbytes, nbytes, nbytes, count, nwords, tile.data());
    for (size_t i = a0; i < a1; ++i)
      load_words(a + i * nbytes, nbytes, nwords, qwords.data() + (i - a0) * nwords);
    hamming.hamming_tile(qwords.data(), a1 - a0, tile.data(), nblocks, nwords, dist.data(), kTile);
    for (size_t i = a0; i < a1; ++i)
      std::copy(dist.data() + (i - a0) * kTile, dist.data() + (i - a0) * kTile + count,
                out + i * nb + b0);
  });
}

void hamming_search(const uint8_t* queries, size_t nq, const uint8_t* codes, size_t n,
                    size_t nbytes, size_t k, int32_t* distances, idx_t* ids) {
  QVEC_CHECK_ARG(nbytes >= 1, "nbytes must be >= 1");
  QVEC_CHECK_ARG(k >= 1, "k must be >= 1");
  // Distances go through the float heap: exact for integers below 2^24 bits.
  QVEC_CHECK_ARG(nbytes < (size_t(1) << 21), "codes longer than 2^24 bits are not supported");
  QVEC_CHECK_ARG(n < (size_t(1) << 32), "more than 2^32 codes are not supported");
  const detail::HammingKernels& hamming = detail::hamming_kernels();
  const detail::FilterKernels& filter = detail::filter_kernels();
  const size_t nwords = words_of(nbytes);
  auto scan = [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
    const size_t nqb = q1 - q0;
    std::vector<uint64_t> tile(kTile * nwords), qwords(nqb * nwords);
    std::vector<int32_t> dist(kQueryGroup * kTile);
    std::vector<uint32_t> hits(kTile);
    // One integer heap per query: key = distance << 32 | (id - b0), so a single unsigned
    // compare orders by distance, then id (the tie rule), without unpredictable branches.
    std::vector<uint64_t> keys(nqb * k, ~uint64_t(0));
    for (size_t q = q0; q < q1; ++q)
      load_words(queries + q * nbytes, nbytes, nwords, qwords.data() + (q - q0) * nwords);
    for (size_t t0 = b0; t0 < b1; t0 += kTile) {
      detail::check_stop();
      size_t count = std::min(kTile, b1 - t0), nblocks = (count + kBinaryBlock - 1) / kBinaryBlock;
      transpose_tile(codes + t0 * nbytes, nbytes, nbytes, count, nwords, tile.data());
      for (size_t g0 = 0; g0 < nqb; g0 += kQueryGroup) {
        size_t g = std::min(kQueryGroup, nqb - g0);
        hamming.hamming_tile(qwords.data() + g0 * nwords, g, tile.data(), nblocks, nwords,
                             dist.data(), kTile);
        for (size_t r = 0; r < g; ++r) {
          uint64_t* heap = keys.data() + (g0 + r) * k;
          const int32_t* row = dist.data() + r * kTile;
          size_t nhits = filter.le_i32(row, count, key_threshold(heap[0]), hits.data());
          const uint64_t local = t0 - b0;
          for (size_t h = 0; h < nhits; ++h) {
            uint64_t key = (uint64_t(uint32_t(row[hits[h]])) << 32) | (local + hits[h]);
            if (key < heap[0]) detail::KeyHeap{heap, k}.replace_worst(key);
          }
        }
      }
    }
    detail::drain_key_heaps(keys.data(), nqb, k, static_cast<idx_t>(b0),
                            [](uint32_t d) { return static_cast<float>(d); }, heaps);
  };
  std::vector<float> fdist(nq * k);
  detail::grid_search(nq, n, k, 64, kTile, scan, fdist.data(), ids);
  for (size_t i = 0; i < nq * k; ++i)
    distances[i] = ids[i] < 0 ? std::numeric_limits<int32_t>::max() : static_cast<int32_t>(fdist[i]);
}

// -- BinaryQuantizer ------------------------------------------------------------------------

BinaryQuantizer::BinaryQuantizer(size_t dim, size_t bits, Metric metric)
    : dim_(dim), bits_(bits), metric_(metric) {
  QVEC_CHECK_ARG(dim >= 1, "dim must be >= 1");
  QVEC_CHECK_ARG(bits >= 1 && bits <= kMaxBits,
                 "bits must be in [1, " + std::to_string(kMaxBits) + "]; got " +
                     std::to_string(bits));
}

void BinaryQuantizer::require_trained() const {
  if (!trained_) throw std::invalid_argument("the BinaryQuantizer is not trained");
}

void BinaryQuantizer::set_transform(const float* mean, const float* rotation) {
  mean_.assign(mean, mean + dim_);
  rotation_.clear();
  rotation_packed_.clear();
  rotation_t_packed_.clear();
  if (rotation != nullptr) {
    rotation_.assign(rotation, rotation + dim_ * dim_);
    const size_t npacks = (dim_ + detail::kPackWidth - 1) / detail::kPackWidth;
    std::vector<float> rt(dim_ * dim_);
    for (size_t i = 0; i < dim_; ++i)
      for (size_t j = 0; j < dim_; ++j) rt[j * dim_ + i] = rotation[i * dim_ + j];
    rotation_packed_.resize(npacks * dim_ * detail::kPackWidth);
    rotation_t_packed_.resize(npacks * dim_ * detail::kPackWidth);
    // x R: columns of R are the rows of R^T; x R^T: columns of R^T are the rows of R.
    detail::pack_columns(rt.data(), dim_, dim_, dim_, rotation_packed_.data(), nullptr);
    detail::pack_columns(rotation, dim_, dim_, dim_, rotation_t_packed_.data(), nullptr);
  }
  trained_ = true;
}

void BinaryQuantizer::transform(const float* x, size_t n, bool centre, float* out) const {
  if (centre) {
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < dim_; ++j) out[i * dim_ + j] = x[i * dim_ + j] - mean_[j];
  } else {
    std::copy(x, x + n * dim_, out);
  }
  if (rotation_.empty()) return;
  std::vector<float> tmp(out, out + n * dim_);
  matmul_packed(tmp.data(), n, dim_, rotation_packed_.data(), dim_, out);
}

void BinaryQuantizer::encode(const float* x, size_t n, uint8_t* codes, float* factors) const {
  require_trained();
  const size_t chunk = 256, nbytes = level_bytes(), nf = num_factors();
  detail::parallel_for((n + chunk - 1) / chunk, [&](size_t c) {
    size_t i0 = c * chunk, i1 = std::min(n, i0 + chunk);
    std::vector<float> xr((i1 - i0) * dim_), r(dim_);
    transform(x + i0 * dim_, i1 - i0, true, xr.data());
    for (size_t i = i0; i < i1; ++i) {
      const float* v = xr.data() + (i - i0) * dim_;
      uint8_t* code = codes + i * code_size();
      float* f = factors + i * nf;
      std::memset(code, 0, code_size());
      std::copy(v, v + dim_, r.begin());
      double norm2 = 0.0, cdot = 0.0, xhat_dot = 0.0;
      for (size_t j = 0; j < dim_; ++j) {
        norm2 += double(v[j]) * v[j];
        cdot += (double(x[i * dim_ + j]) - mean_[j]) * mean_[j];
      }
      for (size_t l = 0; l < bits_; ++l) {
        uint8_t* level = code + l * nbytes;
        double l1 = 0.0;
        for (size_t j = 0; j < dim_; ++j) {
          l1 += std::fabs(r[j]);
          if (r[j] > 0.0f) set_bit(level, j);
        }
        float alpha = static_cast<float>(l1 / double(dim_));
        double s_dot = 0.0;  // <s_l, x_r>
        for (size_t j = 0; j < dim_; ++j) {
          float s = r[j] > 0.0f ? alpha : -alpha;
          s_dot += double(get_bit(level, j) ? 1.0f : -1.0f) * v[j];
          r[j] -= s;
        }
        xhat_dot += alpha * s_dot;
        f[BinaryQuantizer::kFixedFactors + l] = alpha;
      }
      double rho = xhat_dot > 0.0 ? norm2 / xhat_dot : 0.0;
      f[0] = static_cast<float>(norm2);
      f[1] = static_cast<float>(cdot);
      f[2] = static_cast<float>(rho);
    }
  });
}

void BinaryQuantizer::decode(const uint8_t* codes, const float* factors, size_t n,
                             float* x) const {
  require_trained();
  const size_t chunk = 256, nbytes = level_bytes(), nf = num_factors();
  detail::parallel_for((n + chunk - 1) / chunk, [&](size_t c) {
    size_t i0 = c * chunk, i1 = std::min(n, i0 + chunk);
    std::vector<float> xr((i1 - i0) * dim_, 0.0f);
    for (size_t i = i0; i < i1; ++i) {
      float* v = xr.data() + (i - i0) * dim_;
      for (size_t l = 0; l < bits_; ++l) {
        float alpha = factors[i * nf + kFixedFactors + l];
        const uint8_t* level = codes + i * code_size() + l * nbytes;
        for (size_t j = 0; j < dim_; ++j) v[j] += get_bit(level, j) ? alpha : -alpha;
      }
    }
    float* out = x + i0 * dim_;
    if (rotation_.empty())
      std::copy(xr.begin(), xr.end(), out);
    else
      matmul_packed(xr.data(), i1 - i0, dim_, rotation_t_packed_.data(), dim_, out);
    for (size_t i = i0; i < i1; ++i)
      for (size_t j = 0; j < dim_; ++j) x[i * dim_ + j] += mean_[j];
  });
}

namespace {

/// A query turned into what the asymmetric scan needs: its bit planes and the constants c of
/// RabitqKernels::scan.
struct QueryPlanes {
  std::vector<uint64_t> planes;  // (query_bits, nwords)
  std::vector<uint8_t> luts;     // nibble tables (see RabitqKernels::scan)
  float c[4];
};

/// Nibble tables of 4-bit query values u (size nwords * 64, zero past dim): layout
/// (nwords, 2, 8, 16), see RabitqKernels::scan.
void build_luts(const uint8_t* u, size_t nwords, uint8_t* luts) {
  for (size_t w = 0; w < nwords; ++w)
    for (size_t i = 0; i < 8; ++i) {
      const uint8_t* dims = u + 64 * w + 8 * i;
      for (unsigned m = 0; m < 16; ++m) {
        unsigned lo = 0, hi = 0;
        for (unsigned t = 0; t < 4; ++t)
          if ((m >> t) & 1u) {
            lo += dims[7 - t];
            hi += dims[3 - t];
          }
        luts[w * 256 + i * 16 + m] = static_cast<uint8_t>(lo);
        luts[w * 256 + 128 + i * 16 + m] = static_cast<uint8_t>(hi);
      }
    }
}

}  // namespace

void BinaryQuantizer::search(const float* queries, size_t nq, const uint8_t* codes,
                             const float* factors, size_t n, size_t k, size_t query_bits,
                             float* distances, idx_t* ids) const {
  require_trained();
  QVEC_CHECK_ARG(k >= 1, "k must be >= 1");
  QVEC_CHECK_ARG(n < (size_t(1) << 32), "more than 2^32 codes are not supported");
  QVEC_CHECK_ARG(query_bits >= 1 && query_bits <= kMaxQueryBits,
                 "query_bits must be in [1, " + std::to_string(kMaxQueryBits) + "]; got " +
                     std::to_string(query_bits));
  const detail::HammingKernels& hamming = detail::hamming_kernels();
  const detail::RabitqKernels& rabitq = detail::rabitq_kernels();
  const bool l2 = metric_ == Metric::L2;
  const size_t nbytes = level_bytes(), nwords = words_of(nbytes), nf = num_factors();
  const float levels = static_cast<float>((1u << query_bits) - 1);

  auto scan = [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
    const size_t nqb = q1 - q0;
    // Query side: centre, rotate, quantize to query_bits (q_r ~= lo + delta * u), split u into
    // bit planes. With sum = sum_j (lo + delta u_j) and <b_l, q_r> ~= lo pc(b_l) + delta S_l:
    //   est <x_r, q_r> = rho sum_l alpha_l (2 <b_l, q_r> - sum)
    //                  = delta sum_l W_l S_l + 2 lo beta - sum g       (W_l = 2 rho alpha_l)
    // IP adds the exact <x - mean, mean> + <mean, q> (its error then scales with
    // ||q - mean||, not ||q||); L2 is ||x_r||^2 + ||q_r||^2 - 2 est.
    std::vector<float> qr(nqb * dim_);
    transform(queries + q0 * dim_, nqb, true, qr.data());
    std::vector<QueryPlanes> qp(nqb);
    std::vector<uint8_t> plane_bytes(query_bits * nwords * 8), ucodes(nwords * 64),
        unibble(nwords * 64, 0);
    for (size_t q = 0; q < nqb; ++q) {
      const float* v = qr.data() + q * dim_;
      QueryPlanes& p = qp[q];
      float lo = v[0], hi = v[0];
      double sq = 0.0;
      for (size_t j = 0; j < dim_; ++j) {
        lo = std::min(lo, v[j]);
        hi = std::max(hi, v[j]);
        sq += double(v[j]) * v[j];
      }
      const float delta = hi > lo ? (hi - lo) / levels : 0.0f;
      std::fill(plane_bytes.begin(), plane_bytes.end(), uint8_t(0));
      std::fill(ucodes.begin(), ucodes.end(), uint8_t(0));
      double usum = 0.0;
      for (size_t j = 0; j < dim_; ++j) {
        float u = delta > 0.0f ? std::nearbyint((v[j] - lo) / delta) : 0.0f;
        unsigned ui = static_cast<unsigned>(std::min(std::max(u, 0.0f), levels));
        usum += ui;
        ucodes[j] = static_cast<uint8_t>(ui);
        for (size_t b = 0; b < query_bits; ++b)
          if ((ui >> b) & 1u) set_bit(plane_bytes.data() + b * nwords * 8, j);
      }
      const float sum = static_cast<float>(double(dim_) * lo + double(delta) * usum);
      p.planes.resize(query_bits * nwords);
      for (size_t b = 0; b < query_bits; ++b)
        load_words(plane_bytes.data() + b * nwords * 8, nwords * 8, nwords,
                   p.planes.data() + b * nwords);
      const size_t sets = (query_bits + 3) / 4;
      p.luts.resize(sets * nwords * 256);
      for (size_t set = 0; set < sets; ++set) {
        for (size_t j = 0; j < dim_; ++j) unibble[j] = static_cast<uint8_t>((ucodes[j] >> (4 * set)) & 15u);
        build_luts(unibble.data(), nwords, p.luts.data() + set * nwords * 256);
      }
      if (l2) {
        p.c[0] = -2.0f * delta;
        p.c[1] = -4.0f * lo;
        p.c[2] = 2.0f * sum;
        p.c[3] = static_cast<float>(sq);
      } else {
        double cq = 0.0;
        for (size_t j = 0; j < dim_; ++j) cq += double(mean_[j]) * queries[(q0 + q) * dim_ + j];
        p.c[0] = -delta;
        p.c[1] = -2.0f * lo;
        p.c[2] = sum;
        p.c[3] = static_cast<float>(-cq);
      }
    }
    // Base side, one tile at a time: codes in the blocked layout (bits, nblocks, nwords, 8),
    // factors as (bits + 3, nblocks * 8): W_l, beta, g, h.
    std::vector<uint64_t> tile(bits_ * kTile * nwords);
    std::vector<float> vf((bits_ + 3) * kTile), dist(kTile);
    std::vector<uint64_t> zero_query(nwords, 0);
    std::vector<int32_t> ones(bits_ * kTile);
    std::vector<uint32_t> hits(kTile);
    // Integer key heaps as in hamming_search: float_order(distance) << 32 | (id - b0).
    std::vector<uint64_t> keys(nqb * k, ~uint64_t(0));
    for (size_t t0 = b0; t0 < b1; t0 += kTile) {
      detail::check_stop();
      const size_t count = std::min(kTile, b1 - t0);
      const size_t nblocks = (count + kBinaryBlock - 1) / kBinaryBlock, width = nblocks * kBinaryBlock;
      for (size_t l = 0; l < bits_; ++l)
        transpose_tile(codes + t0 * code_size() + l * nbytes, code_size(), nbytes, count, nwords,
                       tile.data() + l * nblocks * nwords * kBinaryBlock);
      std::fill(vf.begin(), vf.end(), 0.0f);
      float* beta = vf.data() + bits_ * width;
      float* g = beta + width;
      float* h = g + width;
      // popcount(b_l) of every vector: the Hamming distance of each level to a zero query.
      for (size_t l = 0; l < bits_; ++l)
        hamming.hamming_tile(zero_query.data(), 1,
                             tile.data() + l * nblocks * nwords * kBinaryBlock, nblocks, nwords,
                             ones.data() + l * kTile, kTile);
      for (size_t i = 0; i < count; ++i) {
        const float* f = factors + (t0 + i) * nf;
        double alpha_sum = 0.0, alpha_pc = 0.0;
        for (size_t l = 0; l < bits_; ++l) {
          const float alpha = f[kFixedFactors + l];
          vf[l * width + i] = 2.0f * f[2] * alpha;
          alpha_sum += alpha;
          alpha_pc += double(alpha) * double(ones[l * kTile + i]);
        }
        beta[i] = static_cast<float>(f[2] * alpha_pc);
        g[i] = static_cast<float>(f[2] * alpha_sum);
        h[i] = l2 ? f[0] : -f[1];
      }
      for (size_t q = 0; q < nqb; ++q) {
        const QueryPlanes& p = qp[q];
        uint64_t* heap = keys.data() + q * k;
        const float threshold = heap[0] == ~uint64_t(0)
                                    ? std::numeric_limits<float>::infinity()
                                    : detail::order_float(static_cast<uint32_t>(heap[0] >> 32));
        size_t nhits = rabitq.scan(p.planes.data(), query_bits, p.luts.data(), tile.data(),
                                   bits_, nblocks, nwords, vf.data(), p.c, count, threshold,
                                   dist.data(), hits.data());
        const uint64_t local = t0 - b0;
        for (size_t j = 0; j < nhits; ++j) {
          uint64_t key = (uint64_t(detail::float_order(dist[hits[j]])) << 32) | (local + hits[j]);
          if (key < heap[0]) detail::KeyHeap{heap, k}.replace_worst(key);
        }
      }
    }
    detail::drain_key_heaps(keys.data(), nqb, k, static_cast<idx_t>(b0), detail::order_float,
                            heaps);
  };
  detail::grid_search(nq, n, k, kQueryBlock, kTile, scan, distances, ids);
  if (!l2) detail::negate(distances, nq * k);
}

void BinaryQuantizer::search_symmetric(const uint8_t* query_codes, const float* query_factors,
                                       size_t nq, const uint8_t* codes, const float* factors,
                                       size_t n, size_t k, float* distances, idx_t* ids) const {
  require_trained();
  QVEC_CHECK_ARG(k >= 1, "k must be >= 1");
  const detail::HammingKernels& hamming = detail::hamming_kernels();
  const detail::FilterKernels& filter = detail::filter_kernels();
  const bool l2 = metric_ == Metric::L2;
  const size_t nbytes = level_bytes(), nwords = words_of(nbytes), nf = num_factors();
  double mean_norm2 = 0.0;
  for (size_t j = 0; j < dim_; ++j) mean_norm2 += double(mean_[j]) * mean_[j];
  const float fdim = static_cast<float>(dim_);

  auto scan = [&](size_t q0, size_t q1, size_t b0, size_t b1, detail::HeapSet& heaps) {
    std::vector<uint64_t> tile(bits_ * kTile * nwords), qwords(bits_ * nwords);
    std::vector<int32_t> ham(bits_ * kTile);
    std::vector<float> dot(kTile), dist(kTile);
    std::vector<uint32_t> hits(kTile);
    for (size_t t0 = b0; t0 < b1; t0 += kTile) {
      detail::check_stop();
      size_t count = std::min(kTile, b1 - t0), nblocks = (count + kBinaryBlock - 1) / kBinaryBlock;
      for (size_t l = 0; l < bits_; ++l)
        transpose_tile(codes + t0 * code_size() + l * nbytes, code_size(), nbytes, count, nwords,
                       tile.data() + l * kTile * nwords);
      for (size_t q = q0; q < q1; ++q) {
        const float* qf = query_factors + q * nf;
        for (size_t m = 0; m < bits_; ++m)
          load_words(query_codes + q * code_size() + m * nbytes, nbytes, nwords,
                     qwords.data() + m * nwords);
        std::fill(dot.begin(), dot.begin() + count, 0.0f);
        for (size_t l = 0; l < bits_; ++l) {
          // ham[m * kTile + i] = hamming(query level m, vector i level l)
          hamming.hamming_tile(qwords.data(), bits_, tile.data() + l * kTile * nwords, nblocks,
                               nwords, ham.data(), kTile);
          for (size_t m = 0; m < bits_; ++m) {
            const float qa = qf[kFixedFactors + m];
            const int32_t* h = ham.data() + m * kTile;
            for (size_t i = 0; i < count; ++i)
              dot[i] += factors[(t0 + i) * nf + kFixedFactors + l] * qa *
                        (fdim - 2.0f * static_cast<float>(h[i]));
          }
        }
        for (size_t i = 0; i < count; ++i) {
          const float* f = factors + (t0 + i) * nf;
          dist[i] = l2 ? f[0] + qf[0] - 2.0f * dot[i]
                       : -(dot[i] + f[1] + qf[1] + static_cast<float>(mean_norm2));
        }
        detail::HeapView heap = heaps.at(q - q0);
        size_t nhits = filter.le_f32(dist.data(), count, heap.threshold(), hits.data());
        for (size_t h = 0; h < nhits; ++h)
          heap.push(dist[hits[h]], static_cast<idx_t>(t0 + hits[h]));
      }
    }
  };
  detail::grid_search(nq, n, k, kQueryBlock, kTile, scan, distances, ids);
  if (!l2) detail::negate(distances, nq * k);
}

}  // namespace qvec
