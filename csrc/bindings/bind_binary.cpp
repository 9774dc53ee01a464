// Binary codes (Hamming search, BinaryQuantizer) and exact re-ranking.
#include <limits>
#include <optional>

#include <pybind11/stl.h>

#include "bindings.h"
#include "filter_arg.h"
#include "qvec/binary.h"
#include "qvec/rerank.h"

namespace qvec::bind {

namespace {

using IdArray = py::array_t<idx_t, py::array::c_style>;

void require_codes(const ByteArray& a, const char* name, size_t nbytes) {
  require_matrix(a, name, nbytes);
  if (a.shape(1) == 0) throw py::value_error(std::string(name) + " must have nbytes >= 1");
}

}  // namespace

void register_binary(py::module_& m) {
  m.attr("BINARY_MAX_BITS") = BinaryQuantizer::kMaxBits;
  m.attr("BINARY_MAX_QUERY_BITS") = BinaryQuantizer::kMaxQueryBits;
  m.attr("BINARY_FIXED_FACTORS") = BinaryQuantizer::kFixedFactors;

  m.def(
      "hamming_distances",
      [](ByteArray a, ByteArray b) {
        require_codes(a, "a", 0);
        require_codes(b, "b", static_cast<size_t>(a.shape(1)));
        size_t na = a.shape(0), nb = b.shape(0), nbytes = a.shape(1);
        checked_elements(na, nb, "the distance matrix");
        py::array_t<int32_t> out({na, nb});
        int32_t* dst = out.mutable_data();
        {
          py::gil_scoped_release release;
          hamming_distances(a.data(), na, b.data(), nb, nbytes, dst);
        }
        return out;
      },
      py::arg("a"), py::arg("b"));

  m.def(
      "hamming_search",
      [](ByteArray queries, ByteArray codes, long long k, const FilterArg* filter) {
        require_codes(queries, "query_codes", 0);
        require_codes(codes, "codes", static_cast<size_t>(queries.shape(1)));
        size_t kk = require_k(k);
        size_t nq = queries.shape(0), n = codes.shape(0), nbytes = queries.shape(1);
        checked_elements(nq, kk, "the search result");
        py::array_t<int32_t> distances({nq, kk});
        py::array_t<idx_t> ids({nq, kk});
        int32_t* d = distances.mutable_data();
        idx_t* i = ids.mutable_data();
        {
          py::gil_scoped_release release;
          hamming_search(queries.data(), nq, codes.data(), n, nbytes, kk, d, i,
                         core_filter(filter));
        }
        return py::make_tuple(distances, ids);
      },
      py::arg("query_codes"), py::arg("codes"), py::arg("k"), py::arg("filter") = py::none());

  m.def(
      "rerank",
      [](FloatArray queries, IdArray candidate_ids, FloatArray base, long long k,
         const std::string& metric) {
        require_matrix(queries, "queries");
        require_shape(candidate_ids, "candidate_ids", queries.shape(0), 0);
        require_matrix(base, "base", static_cast<size_t>(queries.shape(1)));
        size_t kk = require_k(k);
        Metric met = parse_metric(metric.c_str());
        size_t nq = queries.shape(0), ncand = candidate_ids.shape(1), n = base.shape(0),
               d = queries.shape(1);
        SearchResult out(nq, kk);
        {
          py::gil_scoped_release release;
          rerank(queries.data(), nq, candidate_ids.data(), ncand, base.data(), n, d, met, kk,
                 out.distances.mutable_data(), out.ids.mutable_data());
        }
        return out.to_tuple();
      },
      py::arg("queries"), py::arg("candidate_ids"), py::arg("base"), py::arg("k"),
      py::arg("metric"));

  py::class_<BinaryQuantizer>(m, "BinaryQuantizer")
      .def(py::init([](size_t dim, size_t bits, const std::string& metric,
                       const std::string& method) {
             return BinaryQuantizer(dim, bits, parse_metric(metric.c_str()),
                                    parse_binary_code_form(method.c_str()));
           }),
           py::arg("dim"), py::arg("bits"), py::arg("metric"), py::arg("method") = "residual")
      .def_property_readonly(
          "method", [](const BinaryQuantizer& q) { return binary_code_form_name(q.form()); })
      .def_property_readonly("dim", &BinaryQuantizer::dim)
      .def_property_readonly("bits", &BinaryQuantizer::bits)
      .def_property_readonly("level_bytes", &BinaryQuantizer::level_bytes)
      .def_property_readonly("code_size", &BinaryQuantizer::code_size)
      .def_property_readonly("num_factors", &BinaryQuantizer::num_factors)
      .def_property_readonly("is_trained", &BinaryQuantizer::is_trained)
      .def_property_readonly("metric",
                             [](const BinaryQuantizer& q) { return metric_name(q.metric()); })
      .def(
          "set_transform",
          [](BinaryQuantizer& q, FloatArray mean, std::optional<FloatArray> rotation) {
            if (mean.ndim() != 1 || static_cast<size_t>(mean.shape(0)) != q.dim())
              throw py::value_error("mean must have shape (dim,)");
            if (rotation) require_shape(*rotation, "rotation", q.dim(), q.dim());
            q.set_transform(mean.data(), rotation ? rotation->data() : nullptr);
          },
          py::arg("mean"), py::arg("rotation"))
      .def("get_mean",
           [](const BinaryQuantizer& q) {
             py::array_t<float> out(q.mean().size());
             std::copy(q.mean().begin(), q.mean().end(), out.mutable_data());
             return out;
           })
      .def("get_rotation",
           [](const BinaryQuantizer& q) -> py::object {
             if (q.rotation().empty()) return py::none();
             py::array_t<float> out({q.dim(), q.dim()});
             std::copy(q.rotation().begin(), q.rotation().end(), out.mutable_data());
             return out;
           })
      .def("encode",
           [](const BinaryQuantizer& q, FloatArray x) {
             require_matrix(x, "x", q.dim());
             size_t n = x.shape(0);
             py::array_t<uint8_t> codes({n, q.code_size()});
             py::array_t<float> factors({n, q.num_factors()});
             uint8_t* c = codes.mutable_data();
             float* f = factors.mutable_data();
             {
               py::gil_scoped_release release;
               q.encode(x.data(), n, c, f);
             }
             return py::make_tuple(codes, factors);
           },
           py::arg("x"))
      .def("decode",
           [](const BinaryQuantizer& q, ByteArray codes, FloatArray factors) {
             require_matrix(codes, "codes", q.code_size());
             require_shape(factors, "factors", codes.shape(0), q.num_factors());
             size_t n = codes.shape(0);
             py::array_t<float> x({n, q.dim()});
             float* out = x.mutable_data();
             py::gil_scoped_release release;
             q.decode(codes.data(), factors.data(), n, out);
             return x;
           },
           py::arg("codes"), py::arg("factors"))
      .def("search",
           [](const BinaryQuantizer& q, FloatArray queries, ByteArray codes, FloatArray factors,
              long long k, size_t query_bits, const FilterArg* filter) {
             require_matrix(queries, "queries", q.dim());
             require_matrix(codes, "codes", q.code_size());
             require_shape(factors, "factors", codes.shape(0), q.num_factors());
             size_t kk = require_k(k);
             size_t nq = queries.shape(0);
             SearchResult out(nq, kk);
             {
               py::gil_scoped_release release;
               q.search(queries.data(), nq, codes.data(), factors.data(), codes.shape(0), kk,
                        query_bits, out.distances.mutable_data(), out.ids.mutable_data(),
                        core_filter(filter));
             }
             return out.to_tuple();
           },
           py::arg("queries"), py::arg("codes"), py::arg("factors"), py::arg("k"),
           py::arg("query_bits"), py::arg("filter") = py::none())
      .def("sign_dots",
           [](const BinaryQuantizer& q, FloatArray x) {
             require_matrix(x, "x", q.dim());
             size_t n = x.shape(0);
             py::array_t<float> out(n);
             float* o = out.mutable_data();
             py::gil_scoped_release release;
             q.sign_dots(x.data(), n, o);
             return out;
           },
           py::arg("x"))
      .def("search_extended",
           [](const BinaryQuantizer& q, FloatArray queries, ByteArray codes, FloatArray factors,
              std::optional<FloatArray> sign_dots, long long k, float eps,
              const FilterArg* filter) {
             require_matrix(queries, "queries", q.dim());
             require_matrix(codes, "codes", q.code_size());
             require_shape(factors, "factors", codes.shape(0), q.num_factors());
             if (sign_dots && (sign_dots->ndim() != 1 || sign_dots->shape(0) != codes.shape(0)))
               throw py::value_error("sign_dots must be float32 of shape (" +
                                     std::to_string(codes.shape(0)) + ",)");
             size_t kk = require_k(k);
             size_t nq = queries.shape(0);
             SearchResult out(nq, kk);
             {
               py::gil_scoped_release release;
               q.search_extended(queries.data(), nq, codes.data(), factors.data(),
                                 sign_dots ? sign_dots->data() : nullptr, codes.shape(0), kk,
                                 eps, out.distances.mutable_data(), out.ids.mutable_data(),
                                 core_filter(filter));
             }
             return out.to_tuple();
           },
           py::arg("queries"), py::arg("codes"), py::arg("factors"), py::arg("sign_dots"),
           py::arg("k"), py::arg("eps"), py::arg("filter") = py::none())
      .def("search_symmetric",
           [](const BinaryQuantizer& q, ByteArray qcodes, FloatArray qfactors, ByteArray codes,
              FloatArray factors, long long k, const FilterArg* filter) {
             require_matrix(qcodes, "query_codes", q.code_size());
             require_shape(qfactors, "query_factors", qcodes.shape(0), q.num_factors());
             require_matrix(codes, "codes", q.code_size());
             require_shape(factors, "factors", codes.shape(0), q.num_factors());
             size_t kk = require_k(k);
             size_t nq = qcodes.shape(0);
             SearchResult out(nq, kk);
             {
               py::gil_scoped_release release;
               q.search_symmetric(qcodes.data(), qfactors.data(), nq, codes.data(),
                                  factors.data(), codes.shape(0), kk,
                                  out.distances.mutable_data(), out.ids.mutable_data(),
                                  core_filter(filter));
             }
             return out.to_tuple();
           },
           py::arg("query_codes"), py::arg("query_factors"), py::arg("codes"),
           py::arg("factors"), py::arg("k"), py::arg("filter") = py::none());
}

}  // namespace qvec::bind
