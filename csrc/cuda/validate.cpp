// Host-side checks of the GPU searches, built with and without CUDA: a bad k or device id is
// the same error on every machine, before any device is touched.
#include <string>

#include "qvec/cuda.h"

namespace qvec::cuda {

void check_gpu_k(size_t k) {
  if (k == 0 || k > kMaxGpuK)
    throw std::invalid_argument("k must be in [1, " + std::to_string(kMaxGpuK) +
                                "] on the GPU; got " + std::to_string(k));
}

void check_device(int device) {
  const std::string reason = unavailable_reason();
  if (!reason.empty()) throw CudaUnavailable(reason);
  const int count = device_count();
  if (device < 0 || device >= count)
    throw std::invalid_argument("device must be in [0, " + std::to_string(count) + "); got " +
                                std::to_string(device));
}

}  // namespace qvec::cuda
