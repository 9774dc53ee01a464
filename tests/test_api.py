"""One API shape for every quantizer and search: keyword-only fit options, the same metric
default, cosine everywhere, 1-D queries, float32 / int64 results (Hamming: int32), the k limit
of the core everywhere (Python layer and bindings), rotate spelled one way, limits read from
_core, and _core.pyi describing the module exactly."""
from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import pytest

import qvec
from qvec import _core
from qvec._checks import normalized

PACKAGE = Path(qvec.__file__).resolve().parent


@pytest.fixture(scope="module")
def data() -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2024)
    base = (rng.standard_normal((1200, 16)) * rng.uniform(0.5, 4, (1200, 1))).astype(np.float32)
    queries = (rng.standard_normal((5, 16)) * 3).astype(np.float32)
    return base, queries


@pytest.fixture(scope="module")
def trained(data: Tuple[np.ndarray, np.ndarray]) -> Dict[str, Any]:
    base, _ = data
    return {
        "pq8": qvec.ProductQuantizer(16, 4).fit(base, iters=3, seed=1),
        "pq4": qvec.ProductQuantizer(16, 8, nbits=4).fit(base, iters=3, seed=1),
        "bq1": qvec.BinaryQuantizer(16, 1, rotate="random").fit(base, seed=1),
        "bq3": qvec.BinaryQuantizer(16, 3).fit(base, seed=1),
    }


# -- fit ----------------------------------------------------------------------------------------
def test_fit_options_are_keyword_only_with_one_set_of_names(data: Tuple[np.ndarray, np.ndarray]):
    base, _ = data
    for quantizer, extra, more in ((qvec.ProductQuantizer(16, 4), "iters", ["opq_iters"]),
                                   (qvec.BinaryQuantizer(16, 2, rotate="itq"), "itq_iters", [])):
        params = inspect.signature(quantizer.fit).parameters
        assert list(params)[:1] == ["x"]
        keyword_only = [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY]
        assert keyword_only == ["seed", "max_train", "verbose", extra] + more
        assert params["seed"].default == 0 and params["verbose"].default is False
        with pytest.raises(TypeError):
            quantizer.fit(base, 3)
        assert quantizer.fit(base, seed=2, max_train=500, verbose=False, **{extra: 2}) is quantizer


def test_binary_verbose_reports_itq_progress(data: Tuple[np.ndarray, np.ndarray],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    base, _ = data
    qvec.BinaryQuantizer(16, 1, rotate="itq").fit(base, verbose=True, itq_iters=3)
    assert "qvec ITQ training" in capsys.readouterr().err


# -- metric ---------------------------------------------------------------------------------------
def test_the_metric_default_is_l2_everywhere() -> None:
    assert qvec.ProductQuantizer(16, 4).metric == "l2"
    assert qvec.BinaryQuantizer(16).metric == "l2"
    for fn in (qvec.exact_search, qvec.rerank, qvec.ProductQuantizer, qvec.BinaryQuantizer):
        assert inspect.signature(fn).parameters["metric"].default == "l2", fn


@pytest.mark.parametrize("make", [
    lambda metric: qvec.ProductQuantizer(16, 4, metric=metric),
    lambda metric: qvec.ProductQuantizer(16, 8, nbits=4, metric=metric),
    lambda metric: qvec.BinaryQuantizer(16, 2, metric=metric, rotate="random"),
], ids=["pq8", "pq4", "binary"])
def test_cosine_is_inner_product_of_normalized_copies(make: Callable[[str], Any],
                                                      data: Tuple[np.ndarray, np.ndarray]):
    base, queries = data
    before_b, before_q = base.copy(), queries.copy()
    cos = make("cosine").fit(base, seed=3)
    ip = make("ip").fit(normalized(base), seed=3)
    assert cos.metric == "cosine"
    codes_cos, codes_ip = cos.encode(base), ip.encode(normalized(base))
    got = cos.search(queries, codes_cos, 10)
    want = ip.search(normalized(queries), codes_ip, 10)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    assert (np.diff(got[0], axis=1) <= 0).all()  # similarities, largest first
    np.testing.assert_array_equal(base, before_b)  # the caller's arrays are never normalized
    np.testing.assert_array_equal(queries, before_q)
    # Scaling the inputs changes nothing: only directions count.
    again = cos.search(queries * 7, cos.encode(base * 0.5), 10)
    np.testing.assert_array_equal(again[1], got[1])
    clone = type(cos).__new__(type(cos))
    clone.__setstate__(cos.__getstate__())
    assert clone.metric == "cosine"
    np.testing.assert_array_equal(clone.search(queries, codes_cos, 10)[1], got[1])


def test_cosine_recall_against_exact_cosine(data: Tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = data
    _, truth = qvec.exact_search(queries, base, 10, "cosine")
    pq = qvec.ProductQuantizer(16, 8, metric="cosine").fit(base, iters=5)
    _, cand = pq.search(queries, pq.encode(base), 50)
    dist, ids = qvec.rerank(queries, cand, base, 10, "cosine")
    assert qvec.recall_at_k(ids, truth, 10) >= 0.9
    assert dist.max() <= 1 + 1e-5


# -- 1-D queries, result types, k --------------------------------------------------------------
def searches(trained: Dict[str, Any], base: np.ndarray) -> Dict[str, Callable[..., Any]]:
    """Every search entry point, as (queries, k) -> result; queries are float vectors except
    where the search takes codes (then the caller passes codes)."""
    pq8, pq4, bq1, bq3 = trained["pq8"], trained["pq4"], trained["bq1"], trained["bq3"]
    c8, c4 = pq8.encode(base), pq4.encode(base)
    b1, b3 = bq1.encode(base), bq3.encode(base)
    return {
        "exact_search": lambda q, k: qvec.exact_search(q, base, k),
        "exact_search_cosine": lambda q, k: qvec.exact_search(q, base, k, "cosine"),
        "rerank": lambda q, k: qvec.rerank(q, np.arange(40) if q.ndim == 1
                                           else np.tile(np.arange(40), (len(q), 1)), base, k),
        "pq8.search": lambda q, k: pq8.search(q, c8, k),
        "pq8.search_packed": lambda q, k: pq8.search(q, pq8.pack(c8), k),
        "pq4.search": lambda q, k: pq4.search(q, c4, k, rescore=2),
        "pq4.search_packed": lambda q, k: pq4.search(q, pq4.pack(c4), k, rescore="exact"),
        "pq8.search_sdc": lambda q, k: pq8.search_sdc(
            pq8.encode(q[None])[0] if q.ndim == 1 else pq8.encode(q), c8, k),
        "bq1.search": lambda q, k: bq1.search(q, b1, k),
        "bq3.search": lambda q, k: bq3.search(q, b3, k, query_bits=5),
        "hamming_search": lambda q, k: qvec.hamming_search(
            np.packbits(q > 0, axis=-1), np.packbits(base > 0, axis=1), k),
        "topk": lambda q, k: qvec.topk(q @ base.T if q.ndim == 2 else base @ q, k),
    }


def test_one_query_as_1d_gives_results_of_shape_k(trained: Dict[str, Any],
                                                   data: Tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = data
    for name, search in searches(trained, base).items():
        dist, ids = search(queries[2], 7)
        assert dist.shape == ids.shape == (7,), name
        want_d, want_i = search(queries[2:3], 7)
        np.testing.assert_array_equal(ids, want_i[0], err_msg=name)
        np.testing.assert_array_equal(dist, want_d[0], err_msg=name)
    bits = np.packbits(base > 0, axis=1)
    np.testing.assert_array_equal(qvec.hamming_distances(bits[3], bits),
                                  qvec.hamming_distances(bits[3:4], bits)[0])
    tables = trained["pq8"].distance_tables(queries[0])
    np.testing.assert_array_equal(tables, trained["pq8"].distance_tables(queries[:1])[0])


def test_results_are_float32_and_int64_except_hamming(trained: Dict[str, Any],
                                                      data: Tuple[np.ndarray, np.ndarray]):
    base, queries = data
    for name, search in searches(trained, base).items():
        dist, ids = search(queries, 7)
        want = np.int32 if name == "hamming_search" else np.float32
        assert dist.dtype == want and ids.dtype == np.int64, name
        assert dist.shape == ids.shape == (len(queries), 7), name
    for bq in (trained["bq1"], trained["bq3"]):  # symmetric: float32 for every bits
        codes = bq.encode(base)
        dist, ids = bq.search_symmetric(bq.encode(queries), codes, 7)
        assert dist.dtype == np.float32 and ids.dtype == np.int64


@pytest.mark.parametrize("k", [qvec.MAX_K + 1, 2**31, 2**40])
def test_k_beyond_the_core_limit_is_a_value_error_everywhere(k: int, trained: Dict[str, Any],
                                                             data: Tuple[np.ndarray, np.ndarray]):
    base, queries = data
    for name, search in searches(trained, base).items():
        with pytest.raises(ValueError, match="k must be"):
            search(queries, k)
    bq = trained["bq3"]
    with pytest.raises(ValueError, match="k must be"):
        bq.search_symmetric(bq.encode(queries), bq.encode(base), k)


@pytest.mark.parametrize("k", [0, qvec.MAX_K + 1, 2**31, 2**40])
def test_bindings_check_k_before_allocating(k: int, trained: Dict[str, Any],
                                            data: Tuple[np.ndarray, np.ndarray]) -> None:
    # Called directly, the bindings apply the core's k contract themselves: a ValueError, never
    # a MemoryError from a (nq, k) result buffer.
    base, queries = data
    pq8, pq4, bq = trained["pq8"]._pq, trained["pq4"]._pq, trained["bq3"]._bq
    c8 = pq8.encode(base)
    packed4 = _core.fastscan_pack(pq4.encode(base), 8)
    tables = np.ascontiguousarray(pq4.compute_tables(queries))
    bits = np.packbits(base > 0, axis=1)
    codes, factors = bq.encode(base)
    calls = [
        lambda: _core.exact_search(queries, base, k, "l2"),
        lambda: _core.topk_smallest(queries, k),
        lambda: _core.rerank(queries, np.zeros((5, 2), np.int64), base, k, "l2"),
        lambda: _core.hamming_search(bits, bits, k),
        lambda: _core.fastscan_search(tables, packed4, len(base), k, 0, False),
        lambda: pq8.search(queries, c8, k),
        lambda: pq8.search_packed(queries, _core.pq8_pack(c8, 4), len(base), k, 0, False),
        lambda: pq8.search_sdc(c8[:5], c8, k),
        lambda: bq.search(queries, codes, factors, k, 4),
        lambda: bq.search_symmetric(codes[:5], factors[:5], codes, factors, k),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="k must be"):
            call()


# -- rotate, limits -----------------------------------------------------------------------------
def test_rotate_is_spelled_one_way() -> None:
    assert qvec.ROTATIONS == (None, "random", "itq")
    for value, want in ((None, None), (False, None), (True, "random"), ("random", "random"),
                        ("itq", "itq"), (np.bool_(True), "random")):
        assert qvec.BinaryQuantizer(16, rotate=value).rotate == want
    with pytest.raises(ValueError, match="rotate must be one of"):
        qvec.BinaryQuantizer(16, rotate="pca")
    with pytest.raises(ValueError, match="rotate must be one of"):
        qvec.BinaryQuantizer(16, rotate=1)


def test_limits_come_from_the_core() -> None:
    assert qvec.MAX_K == _core.MAX_K == 1 << 24
    assert qvec.binary.MAX_BITS == _core.BINARY_MAX_BITS
    assert qvec.binary.MAX_QUERY_BITS == _core.BINARY_MAX_QUERY_BITS
    with pytest.raises(ValueError, match=f"bits must be in \\[1, {_core.BINARY_MAX_BITS}\\]"):
        qvec.BinaryQuantizer(16, bits=_core.BINARY_MAX_BITS + 1)
    # No Python module restates the core's k limit.
    for path in PACKAGE.glob("*.py"):
        assert not re.search(r"1\s*<<\s*24\b.*k|MAX_K\s*=\s*\d", path.read_text()), path


# -- typing ---------------------------------------------------------------------------------------
def test_typing_files_ship_with_the_package() -> None:
    assert (PACKAGE / "py.typed").is_file()
    assert (PACKAGE / "_core.pyi").is_file()


def _split_top_level(text: str) -> List[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch in "[(" and 1 or 0
        depth -= ch in "])" and 1 or 0
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current.strip())
    return parts


def _runtime_params(obj: Any, name: str) -> List[Tuple[str, bool]]:
    """(parameter name, has default) from pybind11's signature line in the docstring."""
    line = next(l for l in (obj.__doc__ or "").splitlines() if l.startswith(name + "("))
    inner = line[len(name) + 1:line.rindex(") -> ")]
    return [(p.split(":")[0].strip(), "=" in p) for p in _split_top_level(inner)]


def _stub_params(fn: ast.FunctionDef) -> List[Tuple[str, bool]]:
    args = fn.args.args
    defaults = [False] * (len(args) - len(fn.args.defaults)) + [True] * len(fn.args.defaults)
    return [(a.arg, d) for a, d in zip(args, defaults)]


def test_core_stub_describes_the_module_exactly() -> None:
    tree = ast.parse((PACKAGE / "_core.pyi").read_text())
    stub_funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    stub_attrs = {n.target.id for n in tree.body
                  if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
                  and not n.target.id.startswith("_")}
    stub_classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    public = {n for n in dir(_core) if not n.startswith("_")}
    runtime_classes = {n for n in public if inspect.isclass(getattr(_core, n))}
    runtime_funcs = {n for n in public - runtime_classes if callable(getattr(_core, n))}
    assert set(stub_funcs) == runtime_funcs
    assert stub_attrs == public - runtime_classes - runtime_funcs
    assert set(stub_classes) == runtime_classes
    for name in runtime_funcs:
        assert _stub_params(stub_funcs[name]) == _runtime_params(getattr(_core, name), name), name
    for cname in runtime_classes:
        cls = getattr(_core, cname)
        members = {n: m for n, m in vars(cls).items()
                   if (not n.startswith("_") or n == "__init__")}
        stub = {n.name: n for n in stub_classes[cname].body if isinstance(n, ast.FunctionDef)}
        assert set(stub) == set(members), cname
        for mname, member in members.items():
            is_property = isinstance(member, property)
            decorated = any(isinstance(d, ast.Name) and d.id == "property"
                            for d in stub[mname].decorator_list)
            assert decorated == is_property, (cname, mname)
            if not is_property:
                assert _stub_params(stub[mname]) == _runtime_params(member, mname), (cname,
                                                                                     mname)
