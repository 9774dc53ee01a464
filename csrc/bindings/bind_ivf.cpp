// IVF partitioning: coarse training, assignment and probing, list building, and the searches
// of the lists (arrays owned by Python: in memory or mapped from a file).
#include <cstring>
#include <optional>
#include <string>

#include <pybind11/stl.h>

#include "bindings.h"
#include "filter_arg.h"
#include "qvec/ivf.h"
#include "qvec/kmeans.h"

namespace qvec::bind {
namespace {

using U64Array = py::array_t<uint64_t, py::array::c_style>;
using I64Array = py::array_t<idx_t, py::array::c_style>;
using I32Array = py::array_t<int32_t, py::array::c_style>;

/// The lists' arrays, validated against the layout.
struct ListArrays {
  U64Array offsets, code_offsets;
  ByteArray codes;
  I64Array ids;
  /// The layout these arrays passed IvfLists::check for: the check walks every list, which a
  /// one-query search would pay on each call (4096 lists: ~10 us of ~130). The offsets and
  /// ids are made read-only when the object is built, so they stay as checked.
  mutable std::optional<IvfLayout> checked;

  IvfLists view(const IvfLayout& layout) const {
    if (offsets.ndim() != 1 || code_offsets.ndim() != 1 || offsets.size() < 2 ||
        offsets.size() != code_offsets.size())
      throw py::value_error("list offsets must be 1-D arrays of nlist + 1 entries");
    IvfLists lists;
    lists.nlist = static_cast<size_t>(offsets.size()) - 1;
    lists.offsets = offsets.data();
    lists.code_offsets = code_offsets.data();
    lists.codes = codes.data();
    lists.ids = ids.data();
    if (!checked || !(*checked == layout)) {
      lists.check(layout, static_cast<size_t>(codes.size()), static_cast<size_t>(ids.size()));
      checked = layout;  // under the GIL, as every view() call is
    }
    return lists;
  }
};

/// Probes of nq queries: (nq, nprobe) lists and coarse values.
IvfProbes probes_of(const I64Array& lists, const FloatArray& coarse, size_t nq) {
  require_matrix(lists, "probe lists");
  if (static_cast<size_t>(lists.shape(0)) != nq || coarse.ndim() != 2 ||
      coarse.shape(0) != lists.shape(0) || coarse.shape(1) != lists.shape(1))
    throw py::value_error("probe lists and coarse values must both have shape (nq, nprobe)");
  return IvfProbes{static_cast<size_t>(lists.shape(1)), lists.data(), coarse.data()};
}

IvfLayout layout_of(int codec, size_t row_bytes, size_t m) {
  if (codec < 0 || codec > 4) throw py::value_error("codec must be 0 (flat) .. 4 (sq8)");
  IvfLayout layout{static_cast<IvfCodec>(codec), row_bytes, m};
  layout.check();
  return layout;
}

/// What the searches of given probes share: the queries, lists and centroids checked, the
/// GIL released around score(lists, centroids or null, queries, nq, probes, k, distances, ids).
template <class Score>
py::tuple search_probed(const ListArrays& a, const IvfLayout& layout, size_t dim,
                        const py::object& centroids, const FloatArray& queries,
                        const I64Array& plists, const FloatArray& pcoarse, long long k,
                        Score&& score) {
  require_matrix(queries, "queries", dim);
  const size_t nq = queries.shape(0), kk = require_k(k);
  const IvfLists lists = a.view(layout);
  const IvfProbes probes = probes_of(plists, pcoarse, nq);
  FloatArray cents;
  if (!centroids.is_none()) {
    cents = centroids.cast<FloatArray>();
    require_matrix(cents, "centroids", dim);
    if (static_cast<size_t>(cents.shape(0)) != lists.nlist)
      throw py::value_error("centroids must have one row per list");
  }
  SearchResult out(nq, kk);
  {
    py::gil_scoped_release release;
    score(lists, centroids.is_none() ? nullptr : cents.data(), queries.data(), nq, probes, kk,
          out.distances.mutable_data(), out.ids.mutable_data());
  }
  return out.to_tuple();
}

void register_lists(py::module_& m) {
  m.def(
      "ivf_quantize_pair_table",
      [](FloatArray query_table, py::object term_arg, float scale) {
        std::optional<FloatArray> list_term;
        if (!term_arg.is_none()) list_term = term_arg.cast<FloatArray>();
        if (query_table.ndim() != 2 || query_table.shape(1) != 16)
          throw py::value_error("query_table must be float32 of shape (m, 16)");
        const size_t rows = query_table.shape(0);
        if (list_term && (list_term->ndim() != 2 || list_term->shape(0) != query_table.shape(0) ||
                          list_term->shape(1) != 16))
          throw py::value_error("list_term must be float32 of the shape of query_table");
        py::array_t<uint8_t> lut({rows, size_t(16)});
        const float bias = ivf_quantize_pair_table(
            query_table.data(), list_term ? list_term->data() : nullptr, rows, scale,
            lut.mutable_data());
        return py::make_tuple(lut, bias);
      },
      py::arg("query_table"), py::arg("list_term"), py::arg("scale"));
  m.def(
      "ivf_pq8_pair_rows",  // for the level tests
      [](FloatArray query_table, FloatArray centroid, FloatArray codebooks) {
        if (codebooks.ndim() != 3 || codebooks.shape(1) != 256)
          throw py::value_error("codebooks must be float32 of shape (m, 256, dsub)");
        const size_t m_ = codebooks.shape(0), dsub = codebooks.shape(2);
        if (query_table.ndim() != 2 || static_cast<size_t>(query_table.shape(0)) != m_ ||
            query_table.shape(1) != 256)
          throw py::value_error("query_table must be float32 of shape (m, 256)");
        if (centroid.ndim() != 1 || static_cast<size_t>(centroid.size()) != m_ * dsub)
          throw py::value_error("centroid must be float32 of shape (m * dsub,)");
        py::array_t<float> out({m_, size_t(256)});
        ivf_pq8_pair_rows(query_table.data(), centroid.data(), codebooks.data(), m_, dsub,
                          out.mutable_data());
        return out;
      },
      py::arg("query_table"), py::arg("centroid"), py::arg("codebooks"));
  m.def(
      "ivf_build_lists",
      [](int codec, size_t m_, ByteArray codes, I32Array assign, size_t nlist) {
        require_matrix(codes, "codes");
        const size_t n = codes.shape(0);
        const IvfLayout layout = layout_of(codec, codes.shape(1), m_);
        if (assign.ndim() != 1 || static_cast<size_t>(assign.size()) != n)
          throw py::value_error("assign must be int32 of shape (n,)");
        U64Array offsets(nlist + 1), code_offsets(nlist + 1);
        {
          py::gil_scoped_release release;
          ivf_list_offsets(layout, assign.data(), n, nlist, offsets.mutable_data(),
                           code_offsets.mutable_data());
        }
        ByteArray packed(code_offsets.data()[nlist]);
        I64Array ids(n);
        {
          py::gil_scoped_release release;
          ivf_build_lists(layout, codes.data(), assign.data(), n, nlist, offsets.data(),
                          code_offsets.data(), packed.mutable_data(), ids.mutable_data());
        }
        return py::make_tuple(offsets, code_offsets, packed, ids);
      },
      py::arg("codec"), py::arg("m"), py::arg("codes"), py::arg("assign"), py::arg("nlist"));
  m.def(
      "ivf_unpack_lists",
      [](int codec, size_t row_bytes, size_t m_, const ListArrays& a) {
        const IvfLayout layout = layout_of(codec, row_bytes, m_);
        const IvfLists lists = a.view(layout);
        const size_t n = static_cast<size_t>(a.ids.size());
        py::array_t<uint8_t> codes({n, row_bytes});
        uint8_t* out = codes.mutable_data();
        py::gil_scoped_release release;
        std::memset(out, 0, n * row_bytes);
        ivf_unpack_lists(layout, lists, n, out);
        return codes;
      },
      py::arg("codec"), py::arg("row_bytes"), py::arg("m"), py::arg("lists"));
  m.def(
      "ivf_check_lists",
      [](int codec, size_t row_bytes, size_t m_, const ListArrays& a) {
        a.view(layout_of(codec, row_bytes, m_));
      },
      py::arg("codec"), py::arg("row_bytes"), py::arg("m"), py::arg("lists"));
}

void register_coarse(py::module_& m) {
  m.def(
      "ivf_train_centroids",
      [](FloatArray x, size_t nlist, size_t max_train, size_t iters, uint64_t seed,
         bool spherical) {
        require_matrix(x, "x");
        const size_t n = x.shape(0), dim = x.shape(1);
        if (nlist < 1 || nlist > n)
          throw py::value_error("nlist must be in [1, n = " + std::to_string(n) + "]; got " +
                                std::to_string(nlist));
        py::array_t<float> centroids({nlist, dim});
        float* out = centroids.mutable_data();
        py::gil_scoped_release release;
        ivf_train_centroids(x.data(), n, dim, nlist, max_train, iters, seed, spherical, out);
        return centroids;
      },
      py::arg("x"), py::arg("nlist"), py::arg("max_train"), py::arg("iters"), py::arg("seed"),
      py::arg("spherical") = false);
  m.def(
      "ivf_assign",
      [](FloatArray x, FloatArray centroids) {
        require_matrix(centroids, "centroids");
        require_matrix(x, "x", centroids.shape(1));
        const size_t n = x.shape(0);
        I32Array assign(n);
        int32_t* out = assign.mutable_data();
        py::gil_scoped_release release;
        ivf_assign(x.data(), n, x.shape(1), centroids.data(), centroids.shape(0), out);
        return assign;
      },
      py::arg("x"), py::arg("centroids"));
  m.def(
      "nearest_candidates",
      [](FloatArray x, FloatArray centroids) {
        require_matrix(centroids, "centroids");
        require_matrix(x, "x", centroids.shape(1));
        if (centroids.shape(0) < 1 || centroids.shape(1) < 1)
          throw py::value_error("centroids must have at least one row and one column");
        const size_t n = x.shape(0);
        I32Array index(n);
        py::array_t<float> best(n), second(n);
        int32_t* i = index.mutable_data();
        float* b = best.mutable_data();
        float* s = second.mutable_data();
        {
          py::gil_scoped_release release;
          nearest_candidates(x.data(), n, x.shape(1), centroids.data(), centroids.shape(0), i,
                             b, s);
        }
        return py::make_tuple(index, best, second);
      },
      py::arg("x"), py::arg("centroids"));
  m.def(
      "ivf_probe_kernels",
      [](FloatArray query, FloatArray x) {
        require_matrix(x, "x");
        if (query.ndim() != 1 || query.shape(0) != x.shape(1))
          throw py::value_error("query must be float32 of shape (" + std::to_string(x.shape(1)) +
                                ",)");
        const size_t n = x.shape(0);
        py::array_t<float> direct(n), rows(n);
        float* d = direct.mutable_data();
        float* r = rows.mutable_data();
        {
          py::gil_scoped_release release;
          ivf_probe_kernels(query.data(), x.data(), n, x.shape(1), d, r);
        }
        return py::make_tuple(direct, rows);
      },
      py::arg("query"), py::arg("x"));
  m.def(
      "ivf_probe_byte_kernel",
      [](py::array_t<uint8_t, py::array::c_style | py::array::forcecast> query,
         py::array_t<int8_t, py::array::c_style | py::array::forcecast> x) {
        require_matrix(x, "x");
        const size_t n = x.shape(0), d = x.shape(1);
        if (query.ndim() != 1 || static_cast<size_t>(query.shape(0)) != d)
          throw py::value_error("query must be uint8 of shape (" + std::to_string(d) + ",)");
        for (size_t t = 0; t < d; ++t)
          if (query.data()[t] > 127) throw py::value_error("query bytes must be 0..127");
        py::array_t<int32_t> out(n);
        int32_t* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          ivf_probe_byte_kernel(query.data(), x.data(), n, d, o);
        }
        return out;
      },
      py::arg("query"), py::arg("x"));
  m.def(
      "ivf_probe_dot_kernels",
      [](FloatArray queries, FloatArray x) {
        require_matrix(x, "x");
        require_matrix(queries, "queries", x.shape(1));
        const size_t nq = queries.shape(0), n = x.shape(0);
        if (nq < 1 || nq > 4) throw py::value_error("queries must have 1 to 4 rows");
        py::array_t<float> grouped({nq, n}), single({nq, n});
        float* g = grouped.mutable_data();
        float* s = single.mutable_data();
        {
          py::gil_scoped_release release;
          ivf_probe_dot_kernels(queries.data(), nq, x.data(), n, x.shape(1), g, s);
        }
        return py::make_tuple(grouped, single);
      },
      py::arg("queries"), py::arg("x"));
  m.def(
      "ivf_residuals",
      [](FloatArray x, FloatArray centroids) {
        require_matrix(centroids, "centroids");
        require_matrix(x, "x", centroids.shape(1));
        const size_t n = x.shape(0), dim = x.shape(1);
        I32Array assign(n);
        py::array_t<float> residuals({n, dim});
        int32_t* a = assign.mutable_data();
        float* r = residuals.mutable_data();
        {
          py::gil_scoped_release release;
          ivf_residuals(x.data(), n, dim, centroids.data(), centroids.shape(0), a, r);
        }
        return py::make_tuple(assign, residuals);
      },
      py::arg("x"), py::arg("centroids"));
  m.def(
      "ivf_encode_pq",
      [](const ProductQuantizer& pq, FloatArray centroids, FloatArray x, bool by_residual) {
        require_matrix(centroids, "centroids", pq.dim());
        require_matrix(x, "x", pq.dim());
        const size_t n = x.shape(0);
        I32Array assign(n);
        py::array_t<uint8_t> codes({n, pq.code_size()});
        int32_t* a = assign.mutable_data();
        uint8_t* c = codes.mutable_data();
        {
          py::gil_scoped_release release;
          ivf_encode_pq(pq, centroids.data(), centroids.shape(0), by_residual, x.data(), n, a,
                        c);
        }
        return py::make_tuple(assign, codes);
      },
      py::arg("pq"), py::arg("centroids"), py::arg("x"), py::arg("by_residual"));
  m.def(
      "ivf_probe",
      [](FloatArray queries, FloatArray centroids, const std::string& metric, long long nprobe) {
        require_matrix(centroids, "centroids");
        require_matrix(queries, "queries", centroids.shape(1));
        const size_t np = require_k(nprobe), nq = queries.shape(0);
        SearchResult out(nq, np);
        const Metric mt = parse_metric(metric.c_str());
        {
          py::gil_scoped_release release;
          ivf_probe(queries.data(), nq, queries.shape(1), centroids.data(), centroids.shape(0),
                    mt, np, out.distances.mutable_data(), out.ids.mutable_data());
        }
        return out.to_tuple();
      },
      py::arg("queries"), py::arg("centroids"), py::arg("metric"), py::arg("nprobe"));
}

/// IvfCoarseProbe over centroids this object keeps alive.
struct CoarseProbe {
  FloatArray centroids;
  IvfCoarseProbe probe;

  /// The probe of queries, GIL released; answered: how many the byte shadow answered.
  SearchResult run(const FloatArray& queries, long long nprobe, size_t& answered) const {
    require_matrix(queries, "queries", probe.dim());
    const size_t np = require_k(nprobe), nq = queries.shape(0);
    SearchResult out(nq, np);
    {
      py::gil_scoped_release release;
      answered = probe.probe(queries.data(), nq, np, out.distances.mutable_data(),
                             out.ids.mutable_data());
    }
    return out;
  }
};

void register_searches(py::module_& m) {
  py::class_<CoarseProbe>(m, "IvfCoarseProbe")
      .def(py::init([](FloatArray centroids, const std::string& metric) {
             require_matrix(centroids, "centroids");
             if (centroids.shape(0) < 1 || centroids.shape(1) < 1)
               throw py::value_error("centroids must have at least one row and one column");
             const Metric mt = parse_metric(metric.c_str());
             IvfCoarseProbe probe(centroids.data(), centroids.shape(0), centroids.shape(1), mt);
             return new CoarseProbe{centroids, std::move(probe)};
           }),
           py::arg("centroids"), py::arg("metric"))
      .def(
          "probe",
          [](const CoarseProbe& c, FloatArray queries, long long nprobe) {
            size_t answered;
            return c.run(queries, nprobe, answered).to_tuple();
          },
          py::arg("queries"), py::arg("nprobe"))
      .def(
          "shadowed",  // how many queries the byte shadow answers (the tests check)
          [](const CoarseProbe& c, FloatArray queries, long long nprobe) {
            size_t answered;
            c.run(queries, nprobe, answered);
            return answered;
          },
          py::arg("queries"), py::arg("nprobe"));
  py::class_<ListArrays>(m, "IvfListArrays")
      .def(py::init([](U64Array offsets, U64Array code_offsets, ByteArray codes, I64Array ids) {
             // codes stay writable: ivf_sq8_fill_norms writes the block headers
             for (py::array* a : {static_cast<py::array*>(&offsets),
                                  static_cast<py::array*>(&code_offsets),
                                  static_cast<py::array*>(&ids)})
               a->attr("setflags")(py::arg("write") = false);
             return new ListArrays{offsets, code_offsets, codes, ids};
           }),
           py::arg("offsets"), py::arg("code_offsets"), py::arg("codes"), py::arg("ids"))
      .def_readonly("offsets", &ListArrays::offsets)
      .def_readonly("code_offsets", &ListArrays::code_offsets)
      .def_readonly("codes", &ListArrays::codes)
      .def_readonly("ids", &ListArrays::ids);
  m.def(
      "ivf_search_flat",
      [](const ListArrays& a, FloatArray queries, const std::string& metric, I64Array plists,
         FloatArray pcoarse, long long k, const FilterArg* filter) {
        require_matrix(queries, "queries");
        const size_t dim = queries.shape(1), nq = queries.shape(0), kk = require_k(k);
        const IvfLists lists = a.view(layout_of(0, 4 * dim, 0));
        const IvfProbes probes = probes_of(plists, pcoarse, nq);
        const Metric mt = parse_metric(metric.c_str());
        SearchResult out(nq, kk);
        {
          py::gil_scoped_release release;
          ivf_search_flat(lists, dim, mt, queries.data(), nq, probes, kk,
                          out.distances.mutable_data(), out.ids.mutable_data(),
                          core_filter(filter));
        }
        return out.to_tuple();
      },
      py::arg("lists"), py::arg("queries"), py::arg("metric"), py::arg("probe_lists"),
      py::arg("probe_coarse"), py::arg("k"), py::arg("filter") = py::none());
  py::class_<IvfPqSearch>(m, "IvfPqSearch")
      .def(py::init([](const ProductQuantizer& pq, FloatArray centroids, bool by_residual) {
             require_matrix(centroids, "centroids", pq.dim());
             return new IvfPqSearch(pq, centroids.data(), centroids.shape(0), by_residual);
           }),
           py::arg("pq"), py::arg("centroids"), py::arg("by_residual"), py::keep_alive<1, 2>())
      .def(
          "search",
          [](const IvfPqSearch& s, const ProductQuantizer& pq, const ListArrays& a,
             FloatArray queries, I64Array plists, FloatArray pcoarse, long long k, bool exact,
             const FilterArg* filter) {
            require_matrix(queries, "queries", pq.dim());
            const size_t nq = queries.shape(0), kk = require_k(k);
            const IvfLists lists = a.view(layout_of(pq.nbits() == 8 ? 1 : 2, pq.code_size(), pq.m()));
            const IvfProbes probes = probes_of(plists, pcoarse, nq);
            SearchResult out(nq, kk);
            {
              py::gil_scoped_release release;
              s.search(lists, queries.data(), nq, probes, kk, out.distances.mutable_data(),
                       out.ids.mutable_data(), exact, core_filter(filter));
            }
            return out.to_tuple();
          },
          py::arg("pq"), py::arg("lists"), py::arg("queries"), py::arg("probe_lists"),
          py::arg("probe_coarse"), py::arg("k"), py::arg("exact"),
          py::arg("filter") = py::none())
      .def(
          "search_nearest",
          [](const IvfPqSearch& s, const ProductQuantizer& pq, const ListArrays& a,
             FloatArray queries, long long nprobe, long long k, bool exact,
             const FilterArg* filter) {
            require_matrix(queries, "queries", pq.dim());
            const size_t nq = queries.shape(0), kk = require_k(k), np = require_k(nprobe);
            const IvfLists lists = a.view(layout_of(pq.nbits() == 8 ? 1 : 2, pq.code_size(), pq.m()));
            SearchResult out(nq, kk);
            {
              py::gil_scoped_release release;
              s.search_nearest(lists, queries.data(), nq, np, kk, out.distances.mutable_data(),
                               out.ids.mutable_data(), exact, core_filter(filter));
            }
            return out.to_tuple();
          },
          py::arg("pq"), py::arg("lists"), py::arg("queries"), py::arg("nprobe"), py::arg("k"),
          py::arg("exact"), py::arg("filter") = py::none());
  m.def(
      "ivf_search_binary",
      [](const ListArrays& a, const BinaryQuantizer& bq, py::object centroids,
         FloatArray queries, I64Array plists, FloatArray pcoarse, long long k, size_t query_bits,
         float eps, const FilterArg* filter) {
        return search_probed(
            a, layout_of(3, ivf_binary_row_bytes(bq), 0), bq.dim(), centroids, queries, plists,
            pcoarse, k,
            [&](const IvfLists& lists, const float* cents, const float* q, size_t nq,
                const IvfProbes& probes, size_t kk, float* d, idx_t* i) {
              if (query_bits == 0)  // the float query
                ivf_search_binary_float(lists, bq, cents, q, nq, probes, kk, eps, d, i,
                                        core_filter(filter));
              else
                ivf_search_binary(lists, bq, cents, q, nq, probes, kk, query_bits, d, i,
                                  core_filter(filter));
            });
      },
      py::arg("lists"), py::arg("bq"), py::arg("centroids"), py::arg("queries"),
      py::arg("probe_lists"), py::arg("probe_coarse"), py::arg("k"), py::arg("query_bits"),
      py::arg("eps"), py::arg("filter") = py::none());
  m.def("ivf_binary_row_bytes", &ivf_binary_row_bytes, py::arg("bq"));
  m.def(
      "ivf_binary_pack_rows",
      [](const BinaryQuantizer& bq, ByteArray codes, FloatArray factors,
         std::optional<FloatArray> sign_dots) {
        require_matrix(codes, "codes", bq.code_size());
        const size_t n = codes.shape(0);
        require_shape(factors, "factors", n, bq.num_factors());
        if (sign_dots && (sign_dots->ndim() != 1 || size_t(sign_dots->shape(0)) != n))
          throw py::value_error("sign_dots must be float32 of shape (" + std::to_string(n) +
                                ",)");
        py::array_t<uint8_t> rows({n, ivf_binary_row_bytes(bq)});
        uint8_t* out = rows.mutable_data();
        const float* dots = sign_dots ? sign_dots->data() : nullptr;
        py::gil_scoped_release release;
        ivf_binary_pack_rows(bq, codes.data(), factors.data(), dots, n, out);
        return rows;
      },
      py::arg("bq"), py::arg("codes"), py::arg("factors"), py::arg("sign_dots"));
}

void register_sq8(py::module_& m) {
  m.def(
      "ivf_sq8_fill_norms",
      [](const ListArrays& a, const ScalarQuantizer& sq) {
        const IvfLists lists = a.view(layout_of(4, sq.dim(), 0));
        if (!a.codes.writeable()) throw py::value_error("the lists' codes must be writable");
        ByteArray codes = a.codes;
        py::gil_scoped_release release;
        ivf_sq8_fill_norms(lists, sq, codes.mutable_data());
      },
      py::arg("lists"), py::arg("sq"));
  m.def(
      "ivf_search_sq8",
      [](const ListArrays& a, const ScalarQuantizer& sq, py::object centroids, FloatArray queries,
         I64Array plists, FloatArray pcoarse, long long k, const FilterArg* filter) {
        return search_probed(a, layout_of(4, sq.dim(), 0), sq.dim(), centroids, queries, plists,
                             pcoarse, k,
                             [&](const IvfLists& lists, const float* cents, const float* q,
                                 size_t nq, const IvfProbes& probes, size_t kk, float* d,
                                 idx_t* i) {
                               ivf_search_sq8(lists, sq, cents, q, nq, probes, kk, d, i,
                                              core_filter(filter));
                             });
      },
      py::arg("lists"), py::arg("sq"), py::arg("centroids"), py::arg("queries"),
      py::arg("probe_lists"), py::arg("probe_coarse"), py::arg("k"),
      py::arg("filter") = py::none());
}

}  // namespace

void register_ivf(py::module_& m) {
  register_lists(m);
  register_coarse(m);
  register_searches(m);
  register_sq8(m);
}

}  // namespace qvec::bind
