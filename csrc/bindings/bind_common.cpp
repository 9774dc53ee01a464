// Dispatch, threads, validation helpers, exact search and top-k.
#include <stdexcept>
#include <string>

#include "bindings.h"
#include "filter_arg.h"
#include "qvec/exact.h"
#include "qvec/simd.h"
#include "qvec/threads.h"
#include "qvec/topk.h"
#include "qvec/validate.h"

namespace qvec::bind {

void register_common(py::module_& m) {
  // Limits are read by the Python layer from here, so the core states them once.
  m.attr("MAX_K") = kMaxK;

  m.def("simd_level", [] { return std::string(simd_level_name(simd_level())); });
  m.def("supported_simd_level",
        [] { return std::string(simd_level_name(supported_simd_level())); });
  m.def(
      "kernel_level",
      [](const std::string& family) {
        const char* name = kernel_level_name(family.c_str());
        if (name == nullptr)
          throw std::invalid_argument("family must be one of dense, pq8, pq4, hamming, rabitq, exrabitq, "
                                      "filter, sq8, maxsim, pqlut; got '" + family + "'");
        return std::string(name);
      },
      py::arg("family"));
  m.def("get_num_threads", &get_num_threads);
  m.def("set_num_threads", &set_num_threads, py::arg("n"));

  m.def(
      "all_finite",
      [](FloatArray x) {
        const float* data = x.data();
        size_t n = static_cast<size_t>(x.size());
        py::gil_scoped_release release;
        return all_finite(data, n);
      },
      py::arg("x"));

  m.def(
      "exact_search",
      [](FloatArray queries, FloatArray base, long long k, const std::string& metric,
         const FilterArg* filter) {
        require_matrix(queries, "queries");
        require_matrix(base, "base", static_cast<size_t>(queries.shape(1)));
        size_t kk = require_k(k);
        Metric met = parse_metric(metric.c_str());
        size_t nq = queries.shape(0), n = base.shape(0), d = queries.shape(1);
        SearchResult out(nq, kk);
        {
          py::gil_scoped_release release;
          exact_search(queries.data(), nq, base.data(), n, d, met, kk,
                       out.distances.mutable_data(), out.ids.mutable_data(),
                       core_filter(filter));
        }
        return out.to_tuple();
      },
      py::arg("queries"), py::arg("base"), py::arg("k"), py::arg("metric"),
      py::arg("filter") = py::none());

  m.def(
      "topk_smallest",
      [](FloatArray distances, long long k) {
        require_matrix(distances, "distances");
        size_t kk = require_k(k);
        size_t nq = distances.shape(0), n = distances.shape(1);
        SearchResult out(nq, kk);
        {
          py::gil_scoped_release release;
          topk_smallest(distances.data(), nq, n, kk, out.distances.mutable_data(),
                        out.ids.mutable_data());
        }
        return out.to_tuple();
      },
      py::arg("distances"), py::arg("k"));
}

}  // namespace qvec::bind
