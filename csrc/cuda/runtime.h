#pragma once
// Host-side CUDA runtime helpers of gpu_index.cpp and runtime.cpp: error conversion, the
// current-device guard and owning device / pinned / stream handles.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <utility>

namespace qvec::cuda::detail {

/// Throws DeviceOutOfMemory for an allocation failure, CudaError for any other error; `what`
/// names the call. Clears CUDA's last-error state first, so the next call starts clean.
void check(cudaError_t error, const char* what);

/// Makes `device` current for its lifetime.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

/// cudaMalloc'd (pinned == false) or cudaMallocHost'd (pinned == true) bytes, freed on
/// destruction; the size is checked before allocating.
class Buffer {
 public:
  Buffer() = default;
  Buffer(size_t count, size_t elem_size, bool pinned, int device);
  ~Buffer();
  Buffer(Buffer&& o) noexcept { *this = std::move(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(bytes_, o.bytes_);
    std::swap(pinned_, o.pinned_);
    std::swap(device_, o.device_);
    return *this;
  }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  bool pinned_ = false;
  int device_ = 0;
};

/// A non-blocking stream of the current device.
class Stream {
 public:
  Stream();
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }
  void sync() const;

 private:
  cudaStream_t stream_ = nullptr;
};

}  // namespace qvec::cuda::detail
