#pragma once
// What a GpuIndex holds on its device (shared by gpu_upload.cpp and gpu_search.cpp).
#include <cstddef>
#include <memory>

#include "qvec/binary.h"
#include "qvec/cuda.h"
#include "runtime.h"

namespace qvec::cuda {

struct GpuIndex::State {
  Kind kind;
  int device;
  Metric metric;
  size_t n = 0;
  size_t dim = 0;       // floats per query (every kind but Hamming)
  size_t m = 0, ksub = 0, dsub = 0;  // PQ
  size_t nbytes = 0;    // Hamming: bytes per code
  size_t nw = 0;        // binary kinds: 32-bit words per code level
  size_t bits = 0;      // Binary: levels
  detail::Buffer codes;    // bytes (width, n) or words (bits, nw, n) or floats (dim, n)
  detail::Buffer aux;      // PQ: centroids (m, ksub, dsub); Binary: factors (bits + 3, n)
  std::unique_ptr<BinaryQuantizer> bq;  // Binary: the host table build
};

}  // namespace qvec::cuda
