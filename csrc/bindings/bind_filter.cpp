// _core.IdFilter: the allowed-id filter of the searches (qvec/id_filter.h). qvec.index.filter
// builds one from a mask, sorted ids or a range; the checks here guard direct callers.
#include <string>

#include "filter_arg.h"

namespace qvec::bind {
namespace {

const char* kind_name(const FilterArg& f) {
  switch (f.filter.kind()) {
    case IdFilter::Kind::Bitset: return "bitset";
    case IdFilter::Kind::Range: return "range";
    case IdFilter::Kind::Sorted: return "sorted";
  }
  return "";
}

}  // namespace

void register_filter(py::module_& m) {
  using Words = py::array_t<uint64_t, py::array::c_style>;
  using Ids = py::array_t<idx_t, py::array::c_style>;
  // The range form is the constructor; the two forms that refer to an array are functions
  // (pybind11 static methods carry no signature line for the stub check of tests/test_api.py).
  py::class_<FilterArg>(m, "IdFilter")
      .def(py::init([](idx_t lo, idx_t hi) {
             return FilterArg{py::none(), IdFilter::range(lo, hi)};
           }),
           py::arg("lo"), py::arg("hi"))
      .def_property_readonly("kind", kind_name)
      .def("allows", [](const FilterArg& f, idx_t id) { return id >= 0 && f.filter.allows(id); },
           py::arg("id"))
      .def("count_below", [](const FilterArg& f, size_t n) { return f.filter.count_below(n); },
           py::arg("n"));
  m.def(
      "bitset_filter",
      [](Words words, size_t nbits) {
        if (words.ndim() != 1 || static_cast<size_t>(words.size()) != (nbits + 63) / 64)
          throw py::value_error("filter words must be a 1-D uint64 array of " +
                                std::to_string((nbits + 63) / 64) + " words for " +
                                std::to_string(nbits) + " bits");
        return FilterArg{words, IdFilter::bitset(words.data(), nbits)};
      },
      py::arg("words"), py::arg("nbits"));
  m.def(
      "sorted_filter",
      [](Ids ids) {
        if (ids.ndim() != 1) throw py::value_error("filter ids must be a 1-D int64 array");
        return FilterArg{ids, IdFilter::sorted(ids.data(), static_cast<size_t>(ids.size()))};
      },
      py::arg("ids"));
}

}  // namespace qvec::bind
