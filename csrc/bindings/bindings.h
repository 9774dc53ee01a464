#pragma once
// Shared helpers of the pybind11 module. The Python layer converts and validates user input
// first; these checks are the last line, so a caller of _core directly still gets a clear
// exception instead of a crash.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "qvec/common.h"

namespace qvec::bind {

namespace py = pybind11;

// No forcecast: a silent conversion would hide a copy on the hot path.
using FloatArray = py::array_t<float, py::array::c_style>;
using ByteArray = py::array_t<uint8_t, py::array::c_style>;

void register_common(py::module_& m);
void register_pq(py::module_& m);
void register_binary(py::module_& m);
void register_binary_train(py::module_& m);  // after register_binary: adds a method
void register_fastscan(py::module_& m);
void register_ivf(py::module_& m);  // bind_ivf.cpp: IVF partitioning
void register_scalar(py::module_& m);  // bind_scalar.cpp: ScalarQuantizer (int8)
void register_multivector(py::module_& m);  // multivec
void register_training(py::module_& m);  // bind_training.cpp: OPQ
void register_cuda(py::module_& m);          // bind_cuda.cpp: the CUDA path (qvec/cuda.h)

/// Throws ValueError unless `a` is 2-D with `cols` columns (any count when cols == 0).
template <class Array>
void require_matrix(const Array& a, const char* name, size_t cols = 0) {
  if (a.ndim() != 2)
    throw py::value_error(std::string(name) + " must be 2-D; got " + std::to_string(a.ndim()) +
                          "-D");
  if (cols != 0 && static_cast<size_t>(a.shape(1)) != cols)
    throw py::value_error(std::string(name) + " must have " + std::to_string(cols) +
                          " columns; got " + std::to_string(a.shape(1)));
}

/// Throws ValueError unless a is (rows, cols) (rows == 0 means any).
template <class Array>
void require_shape(const Array& a, const char* name, size_t rows, size_t cols) {
  require_matrix(a, name, cols);
  if (rows != 0 && static_cast<size_t>(a.shape(0)) != rows)
    throw py::value_error(std::string(name) + " must have " + std::to_string(rows) +
                          " rows; got " + std::to_string(a.shape(0)));
}

/// The k contract of every search binding (qvec::check_k: 1 <= k <= kMaxK), applied before
/// any result buffer is allocated, so k = 2**40 is a ValueError and not a MemoryError.
inline size_t require_k(long long k) {
  if (k < 1) throw py::value_error("k must be >= 1; got " + std::to_string(k));
  check_k(static_cast<size_t>(k));  // k > kMaxK: std::invalid_argument, i.e. ValueError
  return static_cast<size_t>(k);
}

/// rows * cols, or ValueError when the element count of a result of that shape overflows a
/// size_t (checked before the buffer is allocated).
inline size_t checked_elements(size_t rows, size_t cols, const char* what) {
  if (cols != 0 && rows > (SIZE_MAX / 16) / cols)
    throw py::value_error(std::string(what) + " of shape (" + std::to_string(rows) + ", " +
                          std::to_string(cols) + ") is too large");
  return rows * cols;
}

/// A (rows, k) float32 / int64 result pair.
struct SearchResult {
  py::array_t<float> distances;
  py::array_t<idx_t> ids;
  SearchResult(size_t rows, size_t k)
      : distances(alloc<float>(rows, k)), ids(alloc<idx_t>(rows, k)) {}
  py::tuple to_tuple() { return py::make_tuple(distances, ids); }

 private:
  template <class T>
  static py::array_t<T> alloc(size_t rows, size_t k) {
    checked_elements(rows, k, "the search result");
    return py::array_t<T>({rows, k});
  }
};

}  // namespace qvec::bind
