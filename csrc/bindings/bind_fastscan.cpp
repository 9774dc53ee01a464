// 4-bit fast-scan: code packing, and the table quantization and scan exposed for tests and
// for callers with their own tables.
#include <string>

#include "bindings.h"
#include "filter_arg.h"
#include "qvec/fastscan.h"

namespace qvec::bind {
namespace {

void require_packed(const ByteArray& packed, size_t n, size_t m) {
  checked_elements(n, fastscan_padded_m(m), "codes");
  size_t want = fastscan_packed_size(n, m);
  if (packed.ndim() != 1 || static_cast<size_t>(packed.size()) != want)
    throw py::value_error("packed codes must be a 1-D uint8 array of " + std::to_string(want) +
                          " bytes for n=" + std::to_string(n) + ", m=" + std::to_string(m) +
                          "; got " + std::to_string(packed.size()) + " bytes");
}

void require_tables(const FloatArray& tables) {
  if (tables.ndim() != 3 || tables.shape(2) != 16 || tables.shape(1) == 0)
    throw py::value_error("tables must be float32 of shape (nq, m, 16)");
}

}  // namespace

void register_fastscan(py::module_& m) {
  m.def(
      "fastscan_pack",
      [](ByteArray codes, size_t m_) {
        require_matrix(codes, "codes", (m_ + 1) / 2);
        size_t n = codes.shape(0);
        py::array_t<uint8_t> packed(fastscan_packed_size(n, m_));
        uint8_t* out = packed.mutable_data();
        py::gil_scoped_release release;
        fastscan_pack(codes.data(), n, m_, out);
        return packed;
      },
      py::arg("codes"), py::arg("m"));

  m.def(
      "fastscan_unpack",
      [](ByteArray packed, size_t n, size_t m_) {
        require_packed(packed, n, m_);
        py::array_t<uint8_t> codes({n, (m_ + 1) / 2});
        uint8_t* out = codes.mutable_data();
        py::gil_scoped_release release;
        fastscan_unpack(packed.data(), n, m_, out);
        return codes;
      },
      py::arg("packed"), py::arg("n"), py::arg("m"));

  m.def(
      "fastscan_quantize_tables",
      [](FloatArray tables) {
        require_tables(tables);
        size_t nq = tables.shape(0), m_ = tables.shape(1);
        py::array_t<uint8_t> luts({nq, fastscan_padded_m(m_), size_t(16)});
        py::array_t<float> bias(nq), scale(nq);
        uint8_t* l = luts.mutable_data();
        float *b = bias.mutable_data(), *s = scale.mutable_data();
        {
          py::gil_scoped_release release;
          fastscan_quantize_tables(tables.data(), nq, m_, l, b, s);
        }
        return py::make_tuple(luts, bias, scale);
      },
      py::arg("tables"));

  m.def(
      "fastscan_scan_sums",
      [](ByteArray luts, ByteArray packed, size_t n, size_t m_) {
        if (luts.ndim() != 3 || static_cast<size_t>(luts.shape(1)) != fastscan_padded_m(m_) ||
            luts.shape(2) != 16)
          throw py::value_error("luts must be uint8 of shape (nq, m rounded up to even, 16)");
        require_packed(packed, n, m_);
        size_t nq = luts.shape(0);
        checked_elements(nq, n, "the sums");
        py::array_t<uint16_t> sums({nq, n});
        uint16_t* out = sums.mutable_data();
        py::gil_scoped_release release;
        fastscan_scan_sums(luts.data(), nq, m_, packed.data(), n, out);
        return sums;
      },
      py::arg("luts"), py::arg("packed"), py::arg("n"), py::arg("m"));

  m.def(
      "fastscan_search",
      [](FloatArray tables, ByteArray packed, size_t n, long long k, size_t rescore, bool exact,
         const FilterArg* filter) {
        require_tables(tables);
        size_t kk = require_k(k);
        size_t nq = tables.shape(0), m_ = tables.shape(1);
        require_packed(packed, n, m_);
        FastScanSearchOptions options;
        options.rescore = rescore;
        options.exact = exact;
        SearchResult out(nq, kk);
        {
          py::gil_scoped_release release;
          fastscan_search(tables.data(), nq, m_, packed.data(), n, kk,
                          options, out.distances.mutable_data(), out.ids.mutable_data(),
                          core_filter(filter));
        }
        return out.to_tuple();
      },
      py::arg("tables"), py::arg("packed"), py::arg("n"), py::arg("k"), py::arg("rescore"),
      py::arg("exact"), py::arg("filter") = py::none());
}

}  // namespace qvec::bind
