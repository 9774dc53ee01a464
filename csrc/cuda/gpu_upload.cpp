// GpuIndex construction: checks the sizes, copies the codes to the device once and rearranges
// them there into the scan layouts of launch.h.
#include <cstring>
#include <string>
#include <vector>

#include "gpu_state.h"
#include "launch.h"
#include "qvec/error.h"

namespace qvec::cuda {

namespace {

using detail::Buffer;
using detail::check;

void check_rows(size_t n) {
  QVEC_CHECK_ARG(n < (size_t(1) << 32), "a GPU index holds fewer than 2^32 rows; got " +
                                            std::to_string(n));
}

/// The host array `src` (count elements of elem_size bytes) on the device.
Buffer to_device(const void* src, size_t count, size_t elem_size, int device,
                 cudaStream_t stream) {
  Buffer out(count, elem_size, false, device);
  if (count != 0)
    check(cudaMemcpyAsync(out.as<void>(), src, count * elem_size, cudaMemcpyHostToDevice, stream),
          "cudaMemcpyAsync (upload)");
  return out;
}

std::shared_ptr<GpuIndex::State> new_state(GpuIndex::Kind kind, int device, Metric metric,
                                            size_t n) {
  auto s = std::make_shared<GpuIndex::State>();
  s->kind = kind;
  s->device = device;
  s->metric = metric;
  s->n = n;
  return s;
}

/// Per-vector rows of the estimator, layout (bits + 3, n): W_l, beta, g, h, computed exactly as
/// load_base_tile (csrc/src/rabitq_search.cpp) does, so the scan sees the CPU's numbers.
std::vector<float> rabitq_factors(const BinaryQuantizer& bq, const uint8_t* codes,
                                  const float* factors, size_t n) {
  const size_t bits = bq.bits(), nf = bq.num_factors(), lb = bq.level_bytes();
  const bool l2 = bq.metric() == Metric::L2;
  std::vector<float> out((bits + 3) * n);
  for (size_t i = 0; i < n; ++i) {
    const float* f = factors + i * nf;
    double alpha_sum = 0.0, alpha_pc = 0.0;
    for (size_t l = 0; l < bits; ++l) {
      const uint8_t* level = codes + i * bq.code_size() + l * lb;
      int ones = 0;
      for (size_t b = 0; b < lb; ++b) ones += __builtin_popcount(level[b]);
      const float alpha = f[BinaryQuantizer::kFixedFactors + l];
      out[l * n + i] = 2.0f * f[2] * alpha;
      alpha_sum += alpha;
      alpha_pc += double(alpha) * double(ones);
    }
    out[bits * n + i] = static_cast<float>(f[2] * alpha_pc);
    out[(bits + 1) * n + i] = static_cast<float>(f[2] * alpha_sum);
    out[(bits + 2) * n + i] = l2 ? f[0] : -f[1];
  }
  return out;
}

}  // namespace

GpuIndex GpuIndex::pq(int device, const float* centroids, size_t dim, size_t m, size_t nbits,
                      Metric metric, const uint8_t* codes, size_t n) {
  QVEC_CHECK_ARG(nbits == 4 || nbits == 8, "nbits must be 4 or 8; got " + std::to_string(nbits));
  QVEC_CHECK_ARG(m >= 1 && dim % m == 0 && dim > 0,
                 "m must divide dim; got dim " + std::to_string(dim) + ", m " + std::to_string(m));
  check_rows(n);
  check_device(device);
  detail::DeviceGuard guard(device);
  detail::Stream stream;
  auto s = new_state(nbits == 8 ? Kind::Pq8 : Kind::Pq4, device, metric, n);
  s->dim = dim;
  s->m = m;
  s->ksub = size_t(1) << nbits;
  s->dsub = dim / m;
  const size_t width = nbits == 8 ? m : (m + 1) / 2;
  s->aux = to_device(centroids, m * s->ksub * s->dsub, sizeof(float), device, stream.get());
  Buffer raw = to_device(codes, n * width, 1, device, stream.get());
  s->codes = Buffer(n * width, 1, false, device);
  if (n != 0) detail::transpose_bytes(raw.as<uint8_t>(), n, width, s->codes.as<uint8_t>(),
                                      stream.get());
  check(cudaGetLastError(), "transpose_bytes");
  stream.sync();
  return GpuIndex(std::move(s));
}

GpuIndex GpuIndex::hamming(int device, const uint8_t* codes, size_t n, size_t nbytes) {
  QVEC_CHECK_ARG(nbytes >= 1 && nbytes < (size_t(1) << 21),
                 "nbytes must be in [1, 2^21); got " + std::to_string(nbytes));
  check_rows(n);
  check_device(device);
  detail::DeviceGuard guard(device);
  detail::Stream stream;
  auto s = new_state(Kind::Hamming, device, Metric::L2, n);
  s->nbytes = nbytes;
  s->nw = (nbytes + 3) / 4;
  Buffer raw = to_device(codes, n * nbytes, 1, device, stream.get());
  s->codes = Buffer(n * s->nw, sizeof(uint32_t), false, device);
  if (n != 0)
    detail::pack_words(raw.as<uint8_t>(), n, nbytes, 0, nbytes, s->nw, s->codes.as<uint32_t>(),
                       stream.get());
  check(cudaGetLastError(), "pack_words");
  stream.sync();
  return GpuIndex(std::move(s));
}

GpuIndex GpuIndex::binary(int device, const BinaryQuantizer& bq, const uint8_t* codes,
                          const float* factors, size_t n) {
  bq.require_trained();
  check_rows(n);
  check_device(device);
  detail::DeviceGuard guard(device);
  detail::Stream stream;
  auto s = new_state(Kind::Binary, device, bq.metric(), n);
  s->dim = bq.dim();
  s->bits = bq.bits();
  s->nw = 2 * ((bq.level_bytes() + 7) / 8);  // the CPU's 64-bit words, as 32-bit halves
  s->bq = std::make_unique<BinaryQuantizer>(bq);
  const std::vector<float> rows = rabitq_factors(bq, codes, factors, n);
  s->aux = to_device(rows.data(), rows.size(), sizeof(float), device, stream.get());
  Buffer raw = to_device(codes, n * bq.code_size(), 1, device, stream.get());
  s->codes = Buffer(s->bits * s->nw * n, sizeof(uint32_t), false, device);
  for (size_t l = 0; l < s->bits && n != 0; ++l)
    detail::pack_words(raw.as<uint8_t>(), n, bq.code_size(), l * bq.level_bytes(),
                       bq.level_bytes(), s->nw, s->codes.as<uint32_t>() + l * s->nw * n,
                       stream.get());
  check(cudaGetLastError(), "pack_words");
  stream.sync();  // `rows` is pageable host memory the copy reads until here
  return GpuIndex(std::move(s));
}

GpuIndex GpuIndex::exact(int device, const float* base, size_t n, size_t dim, Metric metric) {
  QVEC_CHECK_ARG(dim >= 1, "dim must be >= 1");
  check_rows(n);
  check_device(device);
  detail::DeviceGuard guard(device);
  detail::Stream stream;
  auto s = new_state(Kind::Exact, device, metric, n);
  s->dim = dim;
  Buffer raw = to_device(base, n * dim, sizeof(float), device, stream.get());
  s->codes = Buffer(n * dim, sizeof(float), false, device);
  if (n != 0)
    detail::transpose_floats(raw.as<float>(), n, dim, s->codes.as<float>(), stream.get());
  check(cudaGetLastError(), "transpose_floats");
  stream.sync();
  return GpuIndex(std::move(s));
}

GpuIndex::Kind GpuIndex::kind() const { return state_->kind; }
int GpuIndex::device() const { return state_->device; }
size_t GpuIndex::size() const { return state_->n; }
size_t GpuIndex::query_width() const {
  return state_->kind == Kind::Hamming ? state_->nbytes : state_->dim;
}

}  // namespace qvec::cuda
