// Multi-vector (late-interaction) MaxSim scoring, its candidate step, and the k-means the KM<K>
// codec trains with.
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "bindings.h"
#include "qvec/kmeans.h"
#include "qvec/multivector.h"

namespace qvec::bind {
namespace {

using Int64Array = py::array_t<int64_t, py::array::c_style>;

/// Throws ValueError unless `a` is 1-D.
template <class Array>
size_t require_vector(const Array& a, const char* name) {
  if (a.ndim() != 1)
    throw py::value_error(std::string(name) + " must be 1-D; got " + std::to_string(a.ndim()) +
                          "-D");
  return static_cast<size_t>(a.shape(0));
}

/// Bag count of a 1-D offsets array (its length minus one).
size_t bag_count(const Int64Array& offsets, const char* name) {
  const size_t n = require_vector(offsets, name);
  if (n == 0) throw py::value_error(std::string(name) + " must hold at least one entry (0)");
  return n - 1;
}

/// The documents of a search; checks the optional arrays' lengths.
MaxSimDocs make_docs(const Int64Array& doc_offsets, const std::optional<Int64Array>& doc_ids,
                     const std::optional<Int64Array>& candidates,
                     const std::optional<Int64Array>& candidate_offsets, size_t nq) {
  MaxSimDocs docs;
  docs.offsets = doc_offsets.data();
  docs.ndocs = bag_count(doc_offsets, "doc_offsets");
  if (doc_ids) {
    if (require_vector(*doc_ids, "doc_ids") != docs.ndocs)
      throw py::value_error("doc_ids must hold one id per document");
    docs.ids = doc_ids->data();
  }
  if (candidates.has_value() != candidate_offsets.has_value())
    throw py::value_error("candidates and candidate_offsets go together");
  if (candidates) {
    const size_t nc = require_vector(*candidates, "candidates");
    if (bag_count(*candidate_offsets, "candidate_offsets") != nq)
      throw py::value_error("candidate_offsets must hold nq + 1 entries");
    const int64_t last = candidate_offsets->data()[nq];
    if (last < 0 || static_cast<size_t>(last) != nc)
      throw py::value_error("candidate_offsets must end at len(candidates)");
    docs.candidates = candidates->data();
    docs.candidate_offsets = candidate_offsets->data();
  }
  return docs;
}

py::tuple search_codes(FloatArray tables, std::optional<FloatArray> bias, size_t groups,
                       Int64Array query_offsets, ByteArray codes, std::optional<FloatArray> weights,
                       Int64Array doc_offsets, std::optional<Int64Array> doc_ids,
                       std::optional<Int64Array> candidates,
                       std::optional<Int64Array> candidate_offsets, long long k) {
  if (tables.ndim() != 3 || tables.shape(2) != 256)
    throw py::value_error("tables must be float32 of shape (nt, m, 256)");
  MaxSimTables t;
  t.tables = tables.data();
  t.nt = tables.shape(0);
  t.m = tables.shape(1);
  t.groups = groups;
  if (bias) {
    if (require_vector(*bias, "bias") != t.nt) throw py::value_error("bias must have nt entries");
    t.bias = bias->data();
  }
  require_matrix(codes, "codes", t.m);
  ByteTokenCodes c;
  c.codes = codes.data();
  c.ntokens = codes.shape(0);
  if (weights) {
    require_matrix(*weights, "weights");
    if (static_cast<size_t>(weights->shape(0)) != c.ntokens)
      throw py::value_error("weights must have one row per token");
    c.weights = weights->data();
    c.weight_stride = weights->shape(1);
  }
  const size_t kk = require_k(k);
  const size_t nq = bag_count(query_offsets, "query_offsets");
  MaxSimDocs docs = make_docs(doc_offsets, doc_ids, candidates, candidate_offsets, nq);
  SearchResult out(nq, kk);
  {
    py::gil_scoped_release release;
    maxsim_search_codes(t, query_offsets.data(), nq, c, docs, kk, out.distances.mutable_data(),
                        out.ids.mutable_data());
  }
  return out.to_tuple();
}

py::tuple search_float(FloatArray queries, Int64Array query_offsets, FloatArray tokens,
                       Int64Array doc_offsets, std::optional<Int64Array> doc_ids,
                       std::optional<Int64Array> candidates,
                       std::optional<Int64Array> candidate_offsets, long long k) {
  require_matrix(queries, "queries");
  const size_t dim = queries.shape(1);
  require_matrix(tokens, "tokens", dim);
  const size_t kk = require_k(k);
  const size_t nq = bag_count(query_offsets, "query_offsets");
  if (query_offsets.data()[nq] != queries.shape(0))
    throw py::value_error("query_offsets must end at len(queries)");
  if (doc_offsets.ndim() == 1 && doc_offsets.shape(0) >= 1 &&
      doc_offsets.data()[doc_offsets.shape(0) - 1] != tokens.shape(0))
    throw py::value_error("doc_offsets must end at len(tokens)");
  MaxSimDocs docs = make_docs(doc_offsets, doc_ids, candidates, candidate_offsets, nq);
  SearchResult out(nq, kk);
  {
    py::gil_scoped_release release;
    maxsim_search_float(queries.data(), query_offsets.data(), nq, tokens.data(), dim, docs, kk,
                        out.distances.mutable_data(), out.ids.mutable_data());
  }
  return out.to_tuple();
}

py::tuple candidates(Int64Array hits, Int64Array query_offsets, Int64Array doc_of_token,
                     size_t ndocs) {
  require_matrix(hits, "hits");
  const size_t nq = bag_count(query_offsets, "query_offsets");
  const size_t nt = hits.shape(0), kprime = hits.shape(1);
  if (query_offsets.data()[nq] < 0 || static_cast<size_t>(query_offsets.data()[nq]) != nt)
    throw py::value_error("query_offsets must end at len(hits)");
  const size_t ntokens = require_vector(doc_of_token, "doc_of_token");
  py::array_t<idx_t> cand(checked_elements(nt, kprime, "the candidates"));
  py::array_t<int64_t> offsets(nq + 1);
  {
    py::gil_scoped_release release;
    maxsim_candidates(hits.data(), kprime, query_offsets.data(), nq, doc_of_token.data(),
                      ntokens, ndocs, cand.mutable_data(), offsets.mutable_data());
  }
  const int64_t used = offsets.data()[nq];
  return py::make_tuple(cand[py::slice(0, used, 1)], offsets);
}

}  // namespace

void register_multivector(py::module_& m) {
  m.def("maxsim_search_codes", &search_codes, py::arg("tables"), py::arg("bias"),
        py::arg("groups"), py::arg("query_offsets"), py::arg("codes"), py::arg("weights"),
        py::arg("doc_offsets"), py::arg("doc_ids"), py::arg("candidates"),
        py::arg("candidate_offsets"), py::arg("k"));
  m.def("maxsim_search_float", &search_float, py::arg("queries"), py::arg("query_offsets"),
        py::arg("tokens"), py::arg("doc_offsets"), py::arg("doc_ids"), py::arg("candidates"),
        py::arg("candidate_offsets"), py::arg("k"));
  m.def("maxsim_candidates", &candidates, py::arg("hits"), py::arg("query_offsets"),
        py::arg("doc_of_token"), py::arg("ndocs"));
  m.def(
      "kmeans",
      [](FloatArray x, size_t k, size_t iters, uint64_t seed) {
        require_matrix(x, "x");
        const size_t n = x.shape(0), d = x.shape(1);
        if (k < 1 || k > n)
          throw py::value_error("k must be in [1, len(x)]; got k=" + std::to_string(k) +
                                " for " + std::to_string(n) + " vectors");
        py::array_t<float> centroids({k, d});
        float* out = centroids.mutable_data();
        KMeansOptions options;
        options.iters = iters;
        options.seed = seed;
        py::gil_scoped_release release;
        kmeans(x.data(), n, d, d, k, options, out);
        return centroids;
      },
      py::arg("x"), py::arg("k"), py::arg("iters"), py::arg("seed"));
}

}  // namespace qvec::bind
