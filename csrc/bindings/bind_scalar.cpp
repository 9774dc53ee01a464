// ScalarQuantizer (int8 codes, sentence-transformers' ranges) and the symmetric int8 search.
#include <string>

#include "bindings.h"
#include "qvec/scalar.h"

namespace qvec::bind {
namespace {

using Int8Array = py::array_t<int8_t, py::array::c_style>;

void require_packed(const ByteArray& packed, size_t n, size_t dim) {
  checked_elements(n, dim, "codes");
  if (packed.ndim() != 1 || static_cast<size_t>(packed.size()) != sq8_packed_size(n, dim))
    throw py::value_error("packed codes must be a 1-D uint8 array of " +
                          std::to_string(sq8_packed_size(n, dim)) + " bytes");
}

py::tuple search(const ScalarQuantizer& sq, FloatArray q, const uint8_t* packed,
                 const int8_t* codes, size_t n, long long k) {
  size_t kk = require_k(k), nq = q.shape(0);
  SearchResult out(nq, kk);
  {
    py::gil_scoped_release release;
    if (codes != nullptr)
      sq.search(q.data(), nq, codes, n, kk, out.distances.mutable_data(), out.ids.mutable_data());
    else
      sq.search_packed(q.data(), nq, packed, n, kk, out.distances.mutable_data(),
                       out.ids.mutable_data());
  }
  return out.to_tuple();
}

}  // namespace

void register_scalar(py::module_& m) {
  m.attr("SQ8_MAX_DIM") = kSq8MaxDim;
  m.def(
      "sq8_packed_size", [](size_t n, size_t dim) { return sq8_packed_size(n, dim); },
      py::arg("n"), py::arg("dim"));
  m.def(
      "sq8_pack",
      [](Int8Array codes) {
        require_matrix(codes, "codes");
        size_t n = codes.shape(0), dim = codes.shape(1);
        py::array_t<uint8_t> packed(sq8_packed_size(n, dim));
        uint8_t* out = packed.mutable_data();
        py::gil_scoped_release release;
        sq8_pack(codes.data(), n, dim, out);
        return packed;
      },
      py::arg("codes"));
  m.def(
      "sq8_unpack",
      [](ByteArray packed, size_t n, size_t dim) {
        require_packed(packed, n, dim);
        Int8Array codes({n, dim});
        int8_t* out = codes.mutable_data();
        py::gil_scoped_release release;
        sq8_unpack(packed.data(), n, dim, out);
        return codes;
      },
      py::arg("packed"), py::arg("n"), py::arg("dim"));
  m.def(
      "sq8_search_symmetric",
      [](Int8Array qcodes, Int8Array codes, const std::string& metric, long long k) {
        require_matrix(qcodes, "query_codes");
        require_matrix(codes, "codes", static_cast<size_t>(qcodes.shape(1)));
        Metric met = parse_metric(metric.c_str());
        size_t kk = require_k(k), nq = qcodes.shape(0), n = codes.shape(0), dim = codes.shape(1);
        SearchResult out(nq, kk);
        {
          py::gil_scoped_release release;
          sq8_search_symmetric(qcodes.data(), nq, codes.data(), n, dim, met, kk,
                               out.distances.mutable_data(), out.ids.mutable_data());
        }
        return out.to_tuple();
      },
      py::arg("query_codes"), py::arg("codes"), py::arg("metric"), py::arg("k"));

  py::class_<ScalarQuantizer>(m, "ScalarQuantizer")
      .def(py::init([](size_t dim, const std::string& metric) {
             return ScalarQuantizer(dim, parse_metric(metric.c_str()));
           }),
           py::arg("dim"), py::arg("metric"))
      .def_property_readonly("dim", &ScalarQuantizer::dim)
      .def_property_readonly("is_trained", &ScalarQuantizer::is_trained)
      .def_property_readonly("metric",
                             [](const ScalarQuantizer& sq) { return metric_name(sq.metric()); })
      .def("set_ranges",
           [](ScalarQuantizer& sq, FloatArray r) {
             if (r.ndim() != 2 || r.shape(0) != 2 || static_cast<size_t>(r.shape(1)) != sq.dim())
               throw py::value_error("ranges must have shape (2, dim)");
             sq.set_ranges(r.data());
           },
           py::arg("ranges"))
      .def("get_ranges",
           [](const ScalarQuantizer& sq) {
             py::array_t<float> out({size_t(2), sq.dim()});
             std::copy(sq.ranges().begin(), sq.ranges().end(), out.mutable_data());
             return out;
           })
      .def("train_minmax",
           [](ScalarQuantizer& sq, FloatArray x) {
             require_matrix(x, "x", sq.dim());
             py::gil_scoped_release release;
             sq.train_minmax(x.data(), x.shape(0));
           },
           py::arg("x"))
      .def("encode",
           [](const ScalarQuantizer& sq, FloatArray x) {
             require_matrix(x, "x", sq.dim());
             size_t n = x.shape(0);
             Int8Array codes({n, sq.dim()});
             int8_t* out = codes.mutable_data();
             py::gil_scoped_release release;
             sq.encode(x.data(), n, out);
             return codes;
           },
           py::arg("x"))
      .def("decode",
           [](const ScalarQuantizer& sq, Int8Array codes) {
             require_matrix(codes, "codes", sq.dim());
             size_t n = codes.shape(0);
             py::array_t<float> x({n, sq.dim()});
             float* out = x.mutable_data();
             py::gil_scoped_release release;
             sq.decode(codes.data(), n, out);
             return x;
           },
           py::arg("codes"))
      .def("pack",
           [](const ScalarQuantizer& sq, Int8Array codes) {
             require_matrix(codes, "codes", sq.dim());
             size_t n = codes.shape(0);
             py::array_t<uint8_t> packed(sq8_packed_size(n, sq.dim()));
             uint8_t* out = packed.mutable_data();
             py::gil_scoped_release release;
             sq.pack(codes.data(), n, out);
             return packed;
           },
           py::arg("codes"))
      .def("search",
           [](const ScalarQuantizer& sq, FloatArray q, Int8Array codes, long long k) {
             require_matrix(q, "queries", sq.dim());
             require_matrix(codes, "codes", sq.dim());
             return search(sq, q, nullptr, codes.data(), codes.shape(0), k);
           },
           py::arg("queries"), py::arg("codes"), py::arg("k"))
      .def("search_packed",
           [](const ScalarQuantizer& sq, FloatArray q, ByteArray packed, size_t n, long long k) {
             require_matrix(q, "queries", sq.dim());
             require_packed(packed, n, sq.dim());
             return search(sq, q, packed.data(), nullptr, n, k);
           },
           py::arg("queries"), py::arg("packed"), py::arg("n"), py::arg("k"))
      .def("rescore",
           [](const ScalarQuantizer& sq, FloatArray q, py::array_t<idx_t, py::array::c_style> cand,
              Int8Array codes, long long k) {
             require_matrix(q, "queries", sq.dim());
             require_matrix(codes, "codes", sq.dim());
             if (cand.ndim() != 2 || cand.shape(0) != q.shape(0))
               throw py::value_error("candidates must be int64 of shape (nq, ncand)");
             const size_t nq = q.shape(0), kk = require_k(k);
             SearchResult out(nq, kk);
             {
               py::gil_scoped_release release;
               sq.rescore(q.data(), nq, cand.data(), cand.shape(1), codes.data(), codes.shape(0),
                          kk, out.distances.mutable_data(), out.ids.mutable_data());
             }
             return out.to_tuple();
           },
           py::arg("queries"), py::arg("candidates"), py::arg("codes"), py::arg("k"));
}

}  // namespace qvec::bind
