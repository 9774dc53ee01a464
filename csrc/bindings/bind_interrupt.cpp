// Ctrl-C during native calls: the core's interrupt check runs Python's signal handlers, and a
// call they stop (qvec::Interrupted) re-raises their exception, KeyboardInterrupt by default.
#include <memory>

#include <pybind11/pybind11.h>

#include "qvec/interrupt.h"

namespace qvec::bind {
namespace {

namespace py = pybind11;

// Python runs signal handlers on the main thread only: a call made from another thread has
// nothing to poll, and must not contend for the GIL doing so.
unsigned long g_main_thread = 0;

// The exception a signal handler raised, from the check until the call that saw it returns
// to Python. Only the main thread, holding the GIL, touches it. Never freed at exit: its
// destructor would need an interpreter that may be gone.
py::error_already_set* g_pending = nullptr;

bool check_python_signals() noexcept {
  if (PyThread_get_thread_ident() != g_main_thread) return false;
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() == 0) return false;
  try {
    delete g_pending;  // a stale one, if a caller swallowed Interrupted
    g_pending = new py::error_already_set();  // fetches and clears the error indicator
  } catch (...) {
    g_pending = nullptr;  // the translator raises a plain KeyboardInterrupt then
  }
  return true;
}

void translate_interrupted(std::exception_ptr error) {
  try {
    if (error) std::rethrow_exception(error);
  } catch (const Interrupted&) {
    std::unique_ptr<py::error_already_set> pending(g_pending);
    g_pending = nullptr;
    if (pending)
      pending->restore();
    else
      PyErr_SetNone(PyExc_KeyboardInterrupt);
  }
}

}  // namespace

void register_interrupt(py::module_& m) {
  (void)m;
  g_main_thread = py::module_::import("threading")
                      .attr("main_thread")()
                      .attr("ident")
                      .cast<unsigned long>();
  py::register_local_exception_translator(translate_interrupted);
  set_interrupt_check(check_python_signals);
}

}  // namespace qvec::bind
