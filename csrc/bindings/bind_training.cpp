// Training beyond plain k-means codebooks: OPQ rotations, anisotropic (score-aware) PQ.
#include "bindings.h"
#include "qvec/anisotropic.h"
#include "qvec/opq.h"
#include "qvec/pq.h"

namespace qvec::bind {

void register_training(py::module_& m) {
  m.def(
      "opq_train",
      [](ProductQuantizer& pq, FloatArray x, size_t iters, size_t pq_iters, size_t final_iters,
         uint64_t seed, size_t max_train) {
        require_matrix(x, "x", pq.dim());
        OPQTrainOptions options;
        options.iters = iters;
        options.pq_iters = pq_iters;
        options.seed = seed;
        options.max_train = max_train;
        PQTrainOptions final;
        final.iters = final_iters;
        final.seed = seed;
        const size_t d = pq.dim();
        if (d > kMaxOpqDim)
          throw py::value_error("OPQ rotates up to dim " + std::to_string(kMaxOpqDim) +
                                "; got dim " + std::to_string(d));
        py::array_t<float> rotation({d, d});
        float* out = rotation.mutable_data();
        py::gil_scoped_release release;
        opq_train(x.data(), x.shape(0), pq, options, final, out);
        return rotation;
      },
      py::arg("pq"), py::arg("x"), py::arg("iters"), py::arg("pq_iters"), py::arg("final_iters"),
      py::arg("seed"), py::arg("max_train"));
  m.def("anisotropic_eta", &anisotropic_eta, py::arg("threshold"), py::arg("dim"));
  m.attr("ANISOTROPIC_SAMPLE") = kAnisotropicSample;
  m.def(
      "anisotropic_encode",
      [](const ProductQuantizer& pq, FloatArray x, double eta) {
        require_matrix(x, "x", pq.dim());
        size_t n = x.shape(0);
        py::array_t<uint8_t> codes({n, pq.code_size()});
        uint8_t* out = codes.mutable_data();
        py::gil_scoped_release release;
        anisotropic_encode(pq, x.data(), n, eta, out);
        return codes;
      },
      py::arg("pq"), py::arg("x"), py::arg("eta"));
  m.def(
      "anisotropic_train",
      [](ProductQuantizer& pq, FloatArray x, double eta, size_t iters, uint64_t seed,
         size_t max_train) {
        require_matrix(x, "x", pq.dim());
        AnisotropicTrainOptions options;
        options.eta = eta;
        options.iters = iters;
        options.seed = seed;
        options.max_train = max_train;
        py::gil_scoped_release release;
        anisotropic_train(pq, x.data(), x.shape(0), options);
      },
      py::arg("pq"), py::arg("x"), py::arg("eta"), py::arg("iters"), py::arg("seed"),
      py::arg("max_train"));
}

}  // namespace qvec::bind
