#pragma once
// The optional CUDA path: codes uploaded once to one GPU (GpuIndex) and searched there with the
// CPU's stages mirrored on the device: per-query table build, a scan of one code range at a
// time that keeps each query's candidates under its current k-th best (the per-query
// threshold), a per-query top-k of those candidates after every range, and the final sorted
// top-k (ties to the smaller row). Host-only header: no CUDA types, so it builds without the
// toolkit; without CUDA (QVEC_CUDA=OFF, no nvcc) every entry point below still links,
// available() is false and the GpuIndex factories throw CudaUnavailable.
//
// Result contract of every search: distances and ids of size nq * k, layout (nq, k), best
// first in the CPU search's units, ids are rows of the uploaded array, ties to the smaller
// row, k > n pads with id -1 and the CPU's padding value.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "qvec/binary.h"
#include "qvec/common.h"

namespace qvec::cuda {

/// Largest k a GPU search accepts: the final sort keeps k keys of 8 bytes in one thread block's
/// shared memory (32 KiB).
constexpr size_t kMaxGpuK = 4096;

/// No usable GPU: built without CUDA, no driver, no device. what() says which.
class CudaUnavailable : public std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// A device allocation failed; the index and the process stay usable (free memory, retry).
class DeviceOutOfMemory : public std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// Any other CUDA runtime error, with the call that failed and CUDA's message.
class CudaError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Whether qvec was compiled with its CUDA kernels.
bool compiled();
/// Whether a search can run: compiled, a driver and at least one device.
bool available();
/// Empty when available(); otherwise why not (no CUDA build, no driver, no device ...).
std::string unavailable_reason();
/// Devices visible to the CUDA runtime (0 when unavailable).
int device_count();
/// "name (sm_XY, N MiB)" of a device; throws std::invalid_argument for a bad id.
std::string device_name(int device);

/// The k contract of the GPU searches: 1 <= k <= kMaxGpuK, else std::invalid_argument naming
/// the limit. Checked before anything touches a device.
void check_gpu_k(size_t k);
/// Throws CudaUnavailable unless available(), std::invalid_argument unless
/// 0 <= device < device_count().
void check_device(int device);

/// Rows per scan range on the device, and the most candidates a query holds between two
/// top-k passes (k + kScanRows): with k <= kMaxGpuK, one range can never overflow them.
constexpr size_t kScanRows = size_t(1) << 16;

/// Codes resident on one GPU. Copyable handle (copies share the device arrays); the device
/// memory is freed with the last copy. Searches from several threads may run at once.
class GpuIndex {
 public:
  enum class Kind : int { Pq8 = 0, Pq4 = 1, Hamming = 2, Binary = 3, Exact = 4 };

  /// Product-quantization codes. centroids: size m * ksub * dsub, layout (m, ksub, dsub),
  /// ksub = 2^nbits, dim = m * dsub; codes: size n * code_size, the layout of
  /// ProductQuantizer::encode (nbits = 8: (n, m); nbits = 4: nibble codes, see qvec/fastscan.h).
  /// The GPU computes float ADC, i.e. ProductQuantizer::search with exact ADC (for nbits = 4 the
  /// CPU's rescore="exact"). Throws std::invalid_argument for bad sizes (n >= 2^32 included).
  static GpuIndex pq(int device, const float* centroids, size_t dim, size_t m, size_t nbits,
                     Metric metric, const uint8_t* codes, size_t n);
  /// Packed binary codes for Hamming search: codes: size n * nbytes, layout (n, nbytes),
  /// numpy.packbits order; 1 <= nbytes < 2^21.
  static GpuIndex hamming(int device, const uint8_t* codes, size_t n, size_t nbytes);
  /// Codes of a trained BinaryQuantizer (copied): codes: size n * bq.code_size(); factors: size
  /// n * bq.num_factors(), as encode() writes them. Search as BinaryQuantizer::search, whose
  /// table build runs on the host; the scan gives the CPU's distances bit for bit.
  static GpuIndex binary(int device, const BinaryQuantizer& bq, const uint8_t* codes,
                         const float* factors, size_t n);
  /// Float vectors for exact search: base: size n * dim, layout (n, dim), finite.
  static GpuIndex exact(int device, const float* base, size_t n, size_t dim, Metric metric);

  Kind kind() const;
  int device() const;
  size_t size() const;
  /// Floats per query (dim) of the float searches, bytes per query code of Hamming.
  size_t query_width() const;

  /// Float searches (every kind but Hamming). queries: size nq * query_width(), layout
  /// (nq, dim); query_bits: Binary only, 1 <= query_bits <= BinaryQuantizer::kMaxQueryBits.
  /// Queries go to the device in batches on two streams, so copies overlap the scans.
  /// Throws std::invalid_argument (bad k, wrong kind, bad query_bits), DeviceOutOfMemory,
  /// CudaError.
  void search(const float* queries, size_t nq, size_t k, size_t query_bits, float* distances,
              idx_t* ids) const;
  /// Hamming search: queries: size nq * nbytes; distances as hamming_search (INT32_MAX pads).
  void search_hamming(const uint8_t* queries, size_t nq, size_t k, int32_t* distances,
                      idx_t* ids) const;

  struct State;

 private:
  explicit GpuIndex(std::shared_ptr<const State> state) : state_(std::move(state)) {}
  std::shared_ptr<const State> state_;
};

}  // namespace qvec::cuda
