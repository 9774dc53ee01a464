#pragma once
// The `filter` argument of every search binding: _core.IdFilter, an IdFilter together with the
// numpy array it refers to (kept alive as long as the Python object), or None.
#include "bindings.h"
#include "qvec/id_filter.h"

namespace qvec::bind {

struct FilterArg {
  py::object keep;  // the words or ids the filter refers to (None for a range)
  IdFilter filter;
};

/// The core's filter of a binding's argument: nullptr for None.
inline const IdFilter* core_filter(const FilterArg* arg) { return arg ? &arg->filter : nullptr; }

void register_filter(py::module_& m);

}  // namespace qvec::bind
