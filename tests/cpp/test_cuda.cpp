// The CUDA path's host side (qvec/cuda.h), which needs no device: the k limit, and on a machine
// without a usable GPU (or a build without CUDA) the errors every entry point gives.
#include <gtest/gtest.h>

#include <vector>

#include "qvec/cuda.h"

namespace {

TEST(Cuda, GpuKLimitIsCheckedOnTheHost) {
  EXPECT_NO_THROW(qvec::cuda::check_gpu_k(1));
  EXPECT_NO_THROW(qvec::cuda::check_gpu_k(qvec::cuda::kMaxGpuK));
  EXPECT_THROW(qvec::cuda::check_gpu_k(0), std::invalid_argument);
  EXPECT_THROW(qvec::cuda::check_gpu_k(qvec::cuda::kMaxGpuK + 1), std::invalid_argument);
  EXPECT_GE(qvec::cuda::kMaxGpuK, 4096u);
}

TEST(Cuda, AvailabilityAndReasonAgree) {
  const bool available = qvec::cuda::available();
  EXPECT_EQ(available, qvec::cuda::unavailable_reason().empty());
  EXPECT_EQ(available, qvec::cuda::device_count() > 0);
  if (!qvec::cuda::compiled()) {
    EXPECT_FALSE(available);
  }
}

TEST(Cuda, WithoutAGpuEveryFactoryThrowsCudaUnavailable) {
  if (qvec::cuda::available()) GTEST_SKIP() << "a GPU is present";
  std::vector<uint8_t> codes(4 * 8, 1);
  std::vector<float> base(4 * 8, 1.0f);
  EXPECT_THROW(qvec::cuda::check_device(0), qvec::cuda::CudaUnavailable);
  EXPECT_THROW(qvec::cuda::GpuIndex::hamming(0, codes.data(), 4, 8),
               qvec::cuda::CudaUnavailable);
  EXPECT_THROW(qvec::cuda::GpuIndex::exact(0, base.data(), 4, 8, qvec::Metric::L2),
               qvec::cuda::CudaUnavailable);
  EXPECT_THROW(qvec::cuda::device_name(0), qvec::cuda::CudaUnavailable);
}

TEST(Cuda, SizesAreCheckedBeforeTheDevice) {
  std::vector<uint8_t> codes(8, 1);
  EXPECT_THROW(qvec::cuda::GpuIndex::hamming(0, codes.data(), 1, 0), std::invalid_argument);
  std::vector<float> c(16, 0.0f);
  EXPECT_THROW(qvec::cuda::GpuIndex::pq(0, c.data(), 8, 3, 8, qvec::Metric::L2, codes.data(), 1),
               std::invalid_argument);
}

}  // namespace
