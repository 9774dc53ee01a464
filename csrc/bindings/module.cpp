// The qvec._core extension module: one register function per part of the core.
#include "bindings.h"
#include "filter_arg.h"

namespace qvec::bind {
void register_interrupt(py::module_& m);  // bind_interrupt.cpp: Ctrl-C in native calls
}  // namespace qvec::bind

PYBIND11_MODULE(_core, m) {
  m.doc() = "qvec native core (use the qvec package, not this module directly)";
  qvec::bind::register_filter(m);  // first: the searches take its IdFilter
  qvec::bind::register_common(m);
  qvec::bind::register_pq(m);
  qvec::bind::register_binary(m);
  qvec::bind::register_binary_train(m);
  qvec::bind::register_fastscan(m);
  qvec::bind::register_interrupt(m);
  qvec::bind::register_ivf(m);
  qvec::bind::register_scalar(m);
  qvec::bind::register_multivector(m);  // multivec
  qvec::bind::register_training(m);
  qvec::bind::register_cuda(m);
}
