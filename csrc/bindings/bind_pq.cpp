// ProductQuantizer.
#include <functional>
#include <string>

#include "bindings.h"
#include "filter_arg.h"
#include "qvec/fastscan.h"
#include "qvec/pq.h"

namespace qvec::bind {

void register_pq(py::module_& m) {
  m.def(
      "quantize_table",  // the LUT quantizer, for the level tests
      [](FloatArray table) {
        if (table.ndim() != 2 || (table.shape(1) != 16 && table.shape(1) != 256))
          throw py::value_error("table must be float32 of shape (m, 16) or (m, 256)");
        const size_t rows = table.shape(0), ksub = table.shape(1);
        py::array_t<uint8_t> lut({rows, ksub});
        TableQuantization q;
        {
          py::gil_scoped_release release;
          q = quantize_table(table.data(), rows, ksub, lut.mutable_data());
        }
        return py::make_tuple(lut, q.bias, q.scale, q.slack);
      },
      py::arg("table"));
  m.def(
      "pq8_pack",
      [](ByteArray codes, size_t m_) {
        require_matrix(codes, "codes", m_);
        size_t n = codes.shape(0);
        py::array_t<uint8_t> packed(pq8_packed_size(n, m_));
        uint8_t* out = packed.mutable_data();
        py::gil_scoped_release release;
        pq8_pack(codes.data(), n, m_, out);
        return packed;
      },
      py::arg("codes"), py::arg("m"));
  m.def(
      "pq8_unpack",
      [](ByteArray packed, size_t n, size_t m_) {
        checked_elements(n, m_, "codes");
        if (packed.ndim() != 1 || static_cast<size_t>(packed.size()) != pq8_packed_size(n, m_))
          throw py::value_error("packed codes must be a 1-D uint8 array of " +
                                std::to_string(pq8_packed_size(n, m_)) + " bytes");
        py::array_t<uint8_t> codes({n, m_});
        uint8_t* out = codes.mutable_data();
        py::gil_scoped_release release;
        pq8_unpack(packed.data(), n, m_, out);
        return codes;
      },
      py::arg("packed"), py::arg("n"), py::arg("m"));

  // Codes of nbits bits <-> the same codes at the scan width (pq_scan_bits), both directions.
  auto recode = [](ByteArray codes, size_t m_, size_t nbits, bool widen) {
    if (nbits < 1 || nbits > 8) throw py::value_error("nbits must be in [1, 8]");
    const size_t scan = pq_scan_bits(nbits);
    require_matrix(codes, "codes", pq_code_size(m_, widen ? nbits : scan));
    const size_t n = codes.shape(0);
    py::array_t<uint8_t> out({n, pq_code_size(m_, widen ? scan : nbits)});
    uint8_t* dst = out.mutable_data();
    py::gil_scoped_release release;
    if (widen)
      pq_widen_codes(codes.data(), n, m_, nbits, dst);
    else
      pq_narrow_codes(codes.data(), n, m_, nbits, dst);
    return out;
  };
  m.def(
      "pq_widen_codes",
      [recode](ByteArray codes, size_t m_, size_t nbits) { return recode(codes, m_, nbits, true); },
      py::arg("codes"), py::arg("m"), py::arg("nbits"));
  m.def(
      "pq_narrow_codes",
      [recode](ByteArray codes, size_t m_, size_t nbits) {
        return recode(codes, m_, nbits, false);
      },
      py::arg("codes"), py::arg("m"), py::arg("nbits"));

  py::class_<ProductQuantizer>(m, "ProductQuantizer")
      .def(py::init([](size_t dim, size_t m_, size_t nbits, const std::string& metric) {
             return ProductQuantizer(dim, m_, nbits, parse_metric(metric.c_str()));
           }),
           py::arg("dim"), py::arg("m"), py::arg("nbits"), py::arg("metric"))
      .def_property_readonly("dim", &ProductQuantizer::dim)
      .def_property_readonly("m", &ProductQuantizer::m)
      .def_property_readonly("nbits", &ProductQuantizer::nbits)
      .def_property_readonly("ksub", &ProductQuantizer::ksub)
      .def_property_readonly("dsub", &ProductQuantizer::dsub)
      .def_property_readonly("code_size", &ProductQuantizer::code_size)
      .def_property_readonly("is_trained", &ProductQuantizer::is_trained)
      .def_property_readonly("metric",
                             [](const ProductQuantizer& pq) { return metric_name(pq.metric()); })
      .def(
          "train",
          [](ProductQuantizer& pq, FloatArray x, size_t iters, uint64_t seed, size_t max_train,
             py::object progress) {
            require_matrix(x, "x", pq.dim());
            PQTrainOptions options;
            options.iters = iters;
            options.seed = seed;
            options.max_train = max_train;
            if (!progress.is_none())
              options.progress = [progress](size_t done, size_t total) {
                py::gil_scoped_acquire acquire;
                progress(done, total);
              };
            py::gil_scoped_release release;
            pq.train(x.data(), x.shape(0), options);
          },
          py::arg("x"), py::arg("iters"), py::arg("seed"), py::arg("max_train"),
          py::arg("progress"))
      .def("get_centroids",
           [](const ProductQuantizer& pq) {
             py::array_t<float> out({pq.m(), pq.ksub(), pq.dsub()});
             std::copy(pq.centroids().begin(), pq.centroids().end(), out.mutable_data());
             return out;
           })
      .def("set_centroids",
           [](ProductQuantizer& pq, FloatArray c) {
             if (c.ndim() != 3 || static_cast<size_t>(c.shape(0)) != pq.m() ||
                 static_cast<size_t>(c.shape(1)) != pq.ksub() ||
                 static_cast<size_t>(c.shape(2)) != pq.dsub())
               throw py::value_error("codebooks must have shape (m, 2**nbits, dim/m)");
             pq.set_centroids(c.data());
           },
           py::arg("codebooks"))
      .def("encode",
           [](const ProductQuantizer& pq, FloatArray x) {
             require_matrix(x, "x", pq.dim());
             size_t n = x.shape(0);
             py::array_t<uint8_t> codes({n, pq.code_size()});
             uint8_t* out = codes.mutable_data();
             py::gil_scoped_release release;
             pq.encode(x.data(), n, out);
             return codes;
           },
           py::arg("x"))
      .def("decode",
           [](const ProductQuantizer& pq, ByteArray codes) {
             require_matrix(codes, "codes", pq.code_size());
             size_t n = codes.shape(0);
             py::array_t<float> x({n, pq.dim()});
             float* out = x.mutable_data();
             py::gil_scoped_release release;
             pq.decode(codes.data(), n, out);
             return x;
           },
           py::arg("codes"))
      .def("compute_tables",
           [](const ProductQuantizer& pq, FloatArray q) {
             require_matrix(q, "queries", pq.dim());
             size_t nq = q.shape(0);
             checked_elements(nq, pq.m() * pq.ksub(), "the tables");
             py::array_t<float> tables({nq, pq.m(), pq.ksub()});
             float* out = tables.mutable_data();
             py::gil_scoped_release release;
             pq.compute_tables(q.data(), nq, out);
             return tables;
           },
           py::arg("queries"))
      .def(
          "search",
          [](const ProductQuantizer& pq, FloatArray q, ByteArray codes, long long k,
             size_t rescore, bool exact, const FilterArg* filter) {
            require_matrix(q, "queries", pq.dim());
            require_matrix(codes, "codes", pq.code_size());
            size_t kk = require_k(k);
            size_t nq = q.shape(0);
            FastScanSearchOptions options;
            options.rescore = rescore;
            options.exact = exact;
            SearchResult out(nq, kk);
            {
              py::gil_scoped_release release;
              pq.search(q.data(), nq, codes.data(), codes.shape(0), kk,
                        out.distances.mutable_data(), out.ids.mutable_data(), options,
                        core_filter(filter));
            }
            return out.to_tuple();
          },
          py::arg("queries"), py::arg("codes"), py::arg("k"), py::arg("rescore") = 0,
          py::arg("exact") = false, py::arg("filter") = py::none())
      .def(
          "search_packed",
          [](const ProductQuantizer& pq, FloatArray q, ByteArray packed, size_t n, long long k,
             size_t rescore, bool exact, const FilterArg* filter) {
            require_matrix(q, "queries", pq.dim());
            size_t kk = require_k(k);
            size_t want = pq_scan_bits(pq.nbits()) == 8 ? pq8_packed_size(n, pq.m())
                                                         : fastscan_packed_size(n, pq.m());
            if (packed.ndim() != 1 || static_cast<size_t>(packed.size()) != want)
              throw py::value_error("packed codes must be a 1-D uint8 array of " +
                                    std::to_string(want) + " bytes");
            size_t nq = q.shape(0);
            FastScanSearchOptions options;
            options.rescore = rescore;
            options.exact = exact;
            SearchResult out(nq, kk);
            {
              py::gil_scoped_release release;
              pq.search_packed(q.data(), nq, packed.data(), n, kk, options,
                               out.distances.mutable_data(), out.ids.mutable_data(),
                               core_filter(filter));
            }
            return out.to_tuple();
          },
          py::arg("queries"), py::arg("packed"), py::arg("n"), py::arg("k"), py::arg("rescore"),
          py::arg("exact"), py::arg("filter") = py::none())
      .def("search_sdc",
           [](const ProductQuantizer& pq, ByteArray qcodes, ByteArray codes, long long k,
              const FilterArg* filter) {
             require_matrix(qcodes, "query_codes", pq.code_size());
             require_matrix(codes, "codes", pq.code_size());
             size_t kk = require_k(k);
             size_t nq = qcodes.shape(0);
             SearchResult out(nq, kk);
             {
               py::gil_scoped_release release;
               pq.search_sdc(qcodes.data(), nq, codes.data(), codes.shape(0),
                             kk, out.distances.mutable_data(),
                             out.ids.mutable_data(), core_filter(filter));
             }
             return out.to_tuple();
           },
           py::arg("query_codes"), py::arg("codes"), py::arg("k"),
           py::arg("filter") = py::none());
}

}  // namespace qvec::bind
