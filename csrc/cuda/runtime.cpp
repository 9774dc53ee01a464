// The CUDA runtime side of qvec::cuda (built with QVEC_CUDA): whether a device is usable, and
// the owning handles of runtime.h. The runtime is linked statically; it loads the driver
// (libcuda.so.1) itself at the first call, so a machine without a driver imports qvec and gets
// available() == false with the runtime's reason.
#include "runtime.h"

#include <limits>
#include <string>

#include "qvec/cuda.h"

namespace qvec::cuda {

namespace detail {

void check(cudaError_t error, const char* what) {
  if (error == cudaSuccess) return;
  cudaGetLastError();  // non-sticky errors: the next call must not see this one again
  const std::string message = std::string(what) + ": " + cudaGetErrorString(error);
  if (error == cudaErrorMemoryAllocation)
    throw DeviceOutOfMemory("out of GPU memory (" + message + ")");
  throw CudaError("CUDA error in " + message);
}

DeviceGuard::DeviceGuard(int device) {
  check(cudaGetDevice(&previous_), "cudaGetDevice");
  check(cudaSetDevice(device), "cudaSetDevice");
}
DeviceGuard::~DeviceGuard() {
  if (previous_ >= 0) cudaSetDevice(previous_);
}

Buffer::Buffer(size_t count, size_t elem_size, bool pinned, int device)
    : pinned_(pinned), device_(device) {
  if (count == 0) return;
  if (count > std::numeric_limits<size_t>::max() / elem_size)
    throw DeviceOutOfMemory("out of GPU memory: a buffer of " + std::to_string(count) + " x " +
                            std::to_string(elem_size) + " bytes overflows");
  const size_t bytes = count * elem_size;
  const cudaError_t error = pinned ? cudaMallocHost(&ptr_, bytes) : cudaMalloc(&ptr_, bytes);
  if (error != cudaSuccess) {
    ptr_ = nullptr;
    cudaGetLastError();
    size_t free_bytes = 0, total = 0;
    if (!pinned) cudaMemGetInfo(&free_bytes, &total);
    throw DeviceOutOfMemory(
        std::string(pinned ? "out of pinned host memory" : "out of GPU memory") +
        " allocating " + std::to_string(bytes >> 20) + " MiB on device " +
        std::to_string(device) +
        (pinned ? std::string()
                : " (" + std::to_string(free_bytes >> 20) + " MiB free of " +
                      std::to_string(total >> 20) + " MiB)") +
        ": " + cudaGetErrorString(error));
  }
  bytes_ = bytes;
}

Buffer::~Buffer() {
  if (ptr_ == nullptr) return;
  if (pinned_) {
    cudaFreeHost(ptr_);
  } else {
    int previous = -1;
    cudaGetDevice(&previous);
    cudaSetDevice(device_);
    cudaFree(ptr_);
    if (previous >= 0) cudaSetDevice(previous);
  }
}

Stream::Stream() { check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "stream"); }
Stream::~Stream() {
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}
void Stream::sync() const { check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }

}  // namespace detail

bool compiled() { return true; }

std::string unavailable_reason() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    cudaGetLastError();
    return std::string("the CUDA runtime found no usable GPU: ") + cudaGetErrorString(error) +
           " (" + cudaGetErrorName(error) + ")";
  }
  if (count == 0) return "no CUDA device is visible (CUDA_VISIBLE_DEVICES?)";
  return std::string();
}

bool available() { return unavailable_reason().empty(); }

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

std::string device_name(int device) {
  check_device(device);
  cudaDeviceProp prop{};
  detail::check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
         std::to_string(prop.minor) + ", " + std::to_string(prop.totalGlobalMem >> 20) + " MiB)";
}

}  // namespace qvec::cuda
