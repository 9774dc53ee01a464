// BinaryQuantizer.train: the C++ training (mean, random or ITQ rotation) as a method of the
// _core.BinaryQuantizer class that bind_binary.cpp registers (so register it after that).
#include <optional>
#include <string>

#include <pybind11/stl.h>

#include "bindings.h"
#include "qvec/binary.h"

namespace qvec::bind {

void register_binary_train(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<BinaryQuantizer>>(m.attr("BinaryQuantizer"));
  cls.def(
      "train",
      [](BinaryQuantizer& q, FloatArray x, const std::string& rotation, uint64_t seed,
         long long itq_iters, std::optional<long long> max_train) {
        require_matrix(x, "x", q.dim());
        if (x.shape(0) == 0) throw py::value_error("x must have at least one row");
        if (itq_iters < 0)
          throw py::value_error("itq_iters must be >= 0; got " + std::to_string(itq_iters));
        if (max_train && *max_train < 1)
          throw py::value_error("max_train must be >= 1 or None; got " +
                                std::to_string(*max_train));
        BinaryTrainOptions options;
        options.rotation = parse_binary_rotation(rotation.c_str());
        options.seed = seed;
        options.itq_iters = static_cast<size_t>(itq_iters);
        options.max_train = max_train ? static_cast<size_t>(*max_train) : 0;
        py::gil_scoped_release release;
        q.train(x.data(), static_cast<size_t>(x.shape(0)), options);
      },
      py::arg("x"), py::arg("rotation") = "none", py::arg("seed") = 0,
      py::arg("itq_iters") = 20, py::arg("max_train") = 10000,
      "Learns the mean and the rotation (\"none\", \"random\" or \"itq\"); max_train=None "
      "trains ITQ on every row. Deterministic for a seed whatever the thread count.");
}

}  // namespace qvec::bind
