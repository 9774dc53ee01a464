// The CUDA path (qvec/cuda.h): availability, and GpuIndex (codes resident on one device).
// Registered in every build; without CUDA the factories raise CudaUnavailableError.
#include <string>

#include "bindings.h"
#include "qvec/cuda.h"
#include "qvec/pq.h"

namespace qvec::bind {

namespace {

using cuda::GpuIndex;

size_t require_gpu_k(long long k) {
  if (k < 1) throw py::value_error("k must be >= 1; got " + std::to_string(k));
  cuda::check_gpu_k(static_cast<size_t>(k));
  return static_cast<size_t>(k);
}

const char* kind_name(GpuIndex::Kind kind) {
  switch (kind) {
    case GpuIndex::Kind::Pq8: return "pq8";
    case GpuIndex::Kind::Pq4: return "pq4";
    case GpuIndex::Kind::Hamming: return "hamming";
    case GpuIndex::Kind::Binary: return "binary";
    case GpuIndex::Kind::Exact: return "exact";
  }
  return "?";
}

void register_gpu_index(py::module_& m) {
  // Module-level factories (pybind's static methods carry no signature line for the stub test).
  py::class_<GpuIndex> cls(m, "GpuIndex");
  cls.def(py::init([]() -> GpuIndex* {
    throw py::type_error("a GpuIndex is made by gpu_index_pq, _hamming, _binary or _exact");
  }));
  m.def(
          "gpu_index_pq",
          [](int device, const ProductQuantizer& pq, ByteArray codes) {
            if (!pq.is_trained()) throw py::value_error("the ProductQuantizer is not trained");
            require_matrix(codes, "codes", pq.code_size());
            py::gil_scoped_release release;
            return GpuIndex::pq(device, pq.centroids().data(), pq.dim(), pq.m(), pq.nbits(),
                                pq.metric(), codes.data(), codes.shape(0));
          },
          py::arg("device"), py::arg("pq"), py::arg("codes"));
  m.def(
          "gpu_index_hamming",
          [](int device, ByteArray codes) {
            require_matrix(codes, "codes");
            size_t n = codes.shape(0), nbytes = codes.shape(1);
            py::gil_scoped_release release;
            return GpuIndex::hamming(device, codes.data(), n, nbytes);
          },
          py::arg("device"), py::arg("codes"));
  m.def(
          "gpu_index_binary",
          [](int device, const BinaryQuantizer& bq, ByteArray codes, FloatArray factors) {
            require_matrix(codes, "codes", bq.code_size());
            require_matrix(factors, "factors", bq.num_factors());
            if (factors.shape(0) != codes.shape(0))
              throw py::value_error("factors must have as many rows as codes");
            py::gil_scoped_release release;
            return GpuIndex::binary(device, bq, codes.data(), factors.data(), codes.shape(0));
          },
          py::arg("device"), py::arg("bq"), py::arg("codes"), py::arg("factors"));
  m.def(
          "gpu_index_exact",
          [](int device, FloatArray base, const std::string& metric) {
            require_matrix(base, "base");
            Metric mt = parse_metric(metric.c_str());
            size_t n = base.shape(0), dim = base.shape(1);
            py::gil_scoped_release release;
            return GpuIndex::exact(device, base.data(), n, dim, mt);
          },
          py::arg("device"), py::arg("base"), py::arg("metric"));
  cls.def_property_readonly("kind", [](const GpuIndex& g) { return kind_name(g.kind()); })
      .def_property_readonly("device", &GpuIndex::device)
      .def_property_readonly("ntotal", &GpuIndex::size)
      .def(
          "search",
          [](const GpuIndex& g, FloatArray queries, long long k, size_t query_bits) {
            require_matrix(queries, "queries", g.query_width());
            size_t kk = require_gpu_k(k), nq = queries.shape(0);
            SearchResult out(nq, kk);
            {
              py::gil_scoped_release release;
              g.search(queries.data(), nq, kk, query_bits, out.distances.mutable_data(),
                       out.ids.mutable_data());
            }
            return out.to_tuple();
          },
          py::arg("queries"), py::arg("k"), py::arg("query_bits") = 0)
      .def(
          "search_hamming",
          [](const GpuIndex& g, ByteArray queries, long long k) {
            require_matrix(queries, "query_codes", g.query_width());
            size_t kk = require_gpu_k(k), nq = queries.shape(0);
            checked_elements(nq, kk, "the search result");
            py::array_t<int32_t> dist({nq, kk});
            py::array_t<idx_t> ids({nq, kk});
            {
              py::gil_scoped_release release;
              g.search_hamming(queries.data(), nq, kk, dist.mutable_data(), ids.mutable_data());
            }
            return py::make_tuple(dist, ids);
          },
          py::arg("query_codes"), py::arg("k"));
}

}  // namespace

void register_cuda(py::module_& m) {
  py::register_exception<cuda::CudaUnavailable>(m, "CudaUnavailableError", PyExc_RuntimeError);
  py::register_exception<cuda::DeviceOutOfMemory>(m, "GpuOutOfMemoryError", PyExc_MemoryError);
  py::register_exception<cuda::CudaError>(m, "CudaError", PyExc_RuntimeError);
  m.attr("CUDA_MAX_K") = cuda::kMaxGpuK;
  m.def("cuda_compiled", &cuda::compiled);
  m.def("cuda_available", [] {
    py::gil_scoped_release release;
    return cuda::available();
  });
  m.def("cuda_unavailable_reason", [] {
    py::gil_scoped_release release;
    return cuda::unavailable_reason();
  });
  m.def("cuda_device_count", &cuda::device_count);
  m.def("cuda_device_name", &cuda::device_name, py::arg("device"));
  m.def("cuda_check_k", [](long long k) { return require_gpu_k(k); }, py::arg("k"));
  m.def("cuda_check_device", &cuda::check_device, py::arg("device"));
  register_gpu_index(m);
}

}  // namespace qvec::bind
