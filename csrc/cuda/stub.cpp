// qvec::cuda in a build without CUDA (QVEC_CUDA=OFF, or AUTO without nvcc): everything links,
// nothing runs on a device, and the reason says how to get a CUDA build.
#include "qvec/cuda.h"

namespace qvec::cuda {

namespace {
const char kReason[] =
    "qvec was built without CUDA (QVEC_CUDA=OFF, or no nvcc found at build time); rebuild with "
    "the CUDA toolkit installed, e.g. pip install . -Ccmake.define.QVEC_CUDA=ON";
}

bool compiled() { return false; }
bool available() { return false; }
std::string unavailable_reason() { return kReason; }
int device_count() { return 0; }
std::string device_name(int device) {
  check_device(device);
  return std::string();
}

GpuIndex GpuIndex::pq(int device, const float*, size_t, size_t, size_t, Metric, const uint8_t*,
                      size_t) {
  check_device(device);
  return GpuIndex(nullptr);
}
GpuIndex GpuIndex::hamming(int device, const uint8_t*, size_t, size_t) {
  check_device(device);
  return GpuIndex(nullptr);
}
GpuIndex GpuIndex::binary(int device, const BinaryQuantizer&, const uint8_t*, const float*,
                          size_t) {
  check_device(device);
  return GpuIndex(nullptr);
}
GpuIndex GpuIndex::exact(int device, const float*, size_t, size_t, Metric) {
  check_device(device);
  return GpuIndex(nullptr);
}

// Unreachable: no GpuIndex can be built without CUDA.
GpuIndex::Kind GpuIndex::kind() const { return Kind::Exact; }
int GpuIndex::device() const { return -1; }
size_t GpuIndex::size() const { return 0; }
size_t GpuIndex::query_width() const { return 0; }
void GpuIndex::search(const float*, size_t, size_t k, size_t, float*, idx_t*) const {
  check_gpu_k(k);
  throw CudaUnavailable(kReason);
}
void GpuIndex::search_hamming(const uint8_t*, size_t, size_t k, int32_t*, idx_t*) const {
  check_gpu_k(k);
  throw CudaUnavailable(kReason);
}

}  // namespace qvec::cuda
