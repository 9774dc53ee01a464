"""filter= on every flat search: the filtered search equals the unfiltered search over the
allowed subset (a brute-force reference), for every codec, filter form and id map."""
from __future__ import annotations

import threading
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import qvec
from qvec import _core
from qvec.index.filter import id_filter, row_filter
from qvec.index.ids import IdMap

N, D, NQ, K = 1100, 32, 9, 10


@pytest.fixture(scope="module")
def data() -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    return (rng.standard_normal((N, D)).astype(np.float32),
            rng.standard_normal((NQ, D)).astype(np.float32))


def _forms(n: int, rng: np.random.Generator) -> Dict[str, Tuple[Any, np.ndarray]]:
    """filter spelling -> (filter, sorted allowed ids among 0..n-1)."""
    sub = np.sort(rng.choice(n, n // 9, replace=False))
    mask = np.zeros(n, dtype=bool)
    mask[sub] = True
    sparse = np.sort(rng.choice(n, 7, replace=False))
    return {"mask": (mask, sub), "ids": (list(rng.permutation(sub)), sub),
            "sparse_ids": (sparse, sparse), "range": (range(200, 530), np.arange(200, 530)),
            "tuple": ((1000, 5000), np.arange(1000, n))}


def _subset_search(search: Callable[..., Tuple[np.ndarray, np.ndarray]], sub: np.ndarray,
                   *args: Any) -> Tuple[np.ndarray, np.ndarray]:
    d, i = search(*args)
    return d, np.where(i >= 0, sub[np.maximum(i, 0)], -1)


@pytest.fixture(scope="module")
def codecs(data: Tuple[np.ndarray, np.ndarray]) -> Dict[str, Callable[..., Any]]:
    """codec -> search(queries, rows, filter): over the codes of x[rows] without a filter,
    over all codes with one."""
    x = data[0]
    pq8 = qvec.ProductQuantizer(D, 8, 8, "l2").fit(x, iters=4, seed=0)
    pq4 = qvec.ProductQuantizer(D, 8, 4, "ip").fit(x, iters=4, seed=0)
    bq = qvec.BinaryQuantizer(D, bits=2, metric="l2", rotate="random").fit(x, seed=0)
    c8, c4, cb = pq8.encode(x), pq4.encode(x), bq.encode(x)
    hb = np.packbits(x > 0, axis=1)

    def sub_bin(rows: np.ndarray) -> Any:
        return qvec.BinaryCodes(np.ascontiguousarray(cb.codes[rows]),
                                np.ascontiguousarray(cb.factors[rows]))

    return {
        "exact_l2": lambda q, rows, f: _core.exact_search(q, x[rows] if f is None else x, K,
                                                          "l2", id_filter(f, N)),
        "exact_ip": lambda q, rows, f: _core.exact_search(q, x[rows] if f is None else x, K,
                                                          "ip", id_filter(f, N)),
        "pq8": lambda q, rows, f: pq8.search(q, c8[rows] if f is None else c8, K, filter=f),
        "pq4": lambda q, rows, f: pq4.search(q, c4[rows] if f is None else c4, K, filter=f),
        "pq4_rescore": lambda q, rows, f: pq4.search(q, c4[rows] if f is None else c4, K,
                                                     rescore=3, filter=f),
        "pq4_exact": lambda q, rows, f: pq4.search(q, pq4.pack(c4[rows] if f is None else c4),
                                                   K, rescore="exact", filter=f),
        "binary": lambda q, rows, f: bq.search(q, sub_bin(rows) if f is None else cb, K,
                                               filter=f),
        "symmetric": lambda q, rows, f: bq._bq.search_symmetric(
            bq.encode(q).codes, bq.encode(q).factors,
            *(lambda c: (c.codes, c.factors))(sub_bin(rows) if f is None else cb), K,
            id_filter(f, N)),
        "hamming": lambda q, rows, f: _core.hamming_search(
            np.packbits(q > 0, axis=1), np.ascontiguousarray(hb[rows] if f is None else hb), K,
            id_filter(f, N)),
    }


@pytest.mark.parametrize("codec", ["exact_l2", "exact_ip", "pq8", "pq4", "pq4_rescore",
                                   "pq4_exact", "binary", "symmetric", "hamming"])
def test_filtered_search_equals_search_over_the_allowed_rows(
        codec: str, data: Tuple[np.ndarray, np.ndarray],
        codecs: Dict[str, Callable[..., Any]]) -> None:
    q = data[1]
    search = codecs[codec]
    for name, (f, sub) in _forms(N, np.random.default_rng(5)).items():
        for queries in (q, q[:1]):       # the batched and the one-query paths
            got_d, got_i = search(queries, None, f)
            want_d, want_i = _subset_search(lambda: search(queries, sub, None), sub)
            np.testing.assert_array_equal(got_i, want_i, err_msg=f"{codec} {name}")
            np.testing.assert_allclose(got_d, want_d, rtol=1e-5, atol=1e-5)
            assert np.isin(got_i[got_i >= 0], sub).all()


def _index(kind: str, x: np.ndarray) -> Any:
    if kind == "flat":
        return qvec.FlatIndex(D, "l2")
    if kind == "pq8":
        return qvec.PQIndex(D, m=8, nbits=8, keep_vectors=True).fit(x, iters=3)
    if kind == "pq4":
        return qvec.PQIndex(D, m=8, nbits=4, metric="cosine", keep_vectors=True).fit(x, iters=3)
    return qvec.BinaryIndex(D, bits=1, metric="ip", keep_vectors=True).fit(x)


@pytest.mark.parametrize("kind", ["flat", "pq8", "pq4", "binary"])
@pytest.mark.parametrize("ids", ["sequential", "offset", "scattered"])
def test_index_filter_speaks_user_ids(kind: str, ids: str,
                                      data: Tuple[np.ndarray, np.ndarray]) -> None:
    x, q = data
    index = _index(kind, x)
    rng = np.random.default_rng(3)
    user = {"sequential": None, "offset": np.arange(N) + 500,
            "scattered": rng.permutation(np.arange(N) * 7 + 3)}[ids]
    index.add(x, ids=user)
    all_ids = index.ids
    full_d, full_i = index.search(q, len(index))       # the whole ranking, unfiltered
    top = int(all_ids.max()) + 1
    allowed = np.sort(rng.choice(all_ids, 60, replace=False))
    mask = np.zeros(top + 5, dtype=bool)
    mask[allowed] = True
    lo, hi = int(np.sort(all_ids)[300]), int(np.sort(all_ids)[420])
    for f, ok in ((mask, allowed), (allowed[::-1].copy(), allowed), (range(lo, hi), None),
                  ((lo, hi), None), (mask[:top // 2], allowed[allowed < top // 2])):
        keep = np.isin(full_i, ok) if ok is not None else (full_i >= lo) & (full_i < hi)
        want_i = np.array([row[m][:K] for row, m in zip(full_i, keep)])
        want_d = np.array([row[m][:K] for row, m in zip(full_d, keep)])
        got_d, got_i = index.search(q, K, filter=f)
        np.testing.assert_array_equal(got_i, want_i)
        np.testing.assert_allclose(got_d, want_d, rtol=1e-5, atol=1e-5)
    if kind != "flat":                 # re-ranking only ever sees allowed ids
        d, i = index.search(q, K, rerank=200, filter=allowed)
        assert np.isin(i, allowed).all()
        exact = qvec.FlatIndex(D, index.metric)
        exact.add(x, ids=user)
        want_d, want_i = exact.search(q, K, filter=allowed)
        np.testing.assert_array_equal(i, want_i)      # rerank >= allowed: the exact top-k


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 150), k=st.integers(1, 12), seed=st.integers(0, 2**16),
       form=st.sampled_from(["mask", "empty_mask", "ids", "none_allowed", "range", "past_end",
                             "reversed_range"]))
def test_edge_cases_pad_and_never_leak(n: int, k: int, seed: int, form: str) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    q = rng.standard_normal((3, 8)).astype(np.float32)
    index = qvec.FlatIndex(8)
    index.add(x)
    f: Any = {"mask": rng.random(n + 3) < 0.2, "empty_mask": np.zeros(0, dtype=bool),
              "ids": rng.integers(0, n + 10, size=rng.integers(0, 20)),
              "none_allowed": [n + 1, n + 7], "range": range(n // 3, n // 2 + 1),
              "past_end": (n - 2, n + 100), "reversed_range": (9, 2)}[form]
    allowed = np.array([i for i in range(n) if _allows(f, i)], dtype=np.int64)
    d, i = index.search(q, k, filter=f)
    want = min(k, allowed.size)
    assert (i[:, :want] >= 0).all() and (i[:, want:] == -1).all()
    assert np.isinf(d[:, want:]).all()
    assert np.isin(i[:, :want], allowed).all()
    if allowed.size:
        ref = qvec.exact_search(q, x[allowed], min(k, allowed.size), "l2")[1]
        np.testing.assert_array_equal(i[:, :want], allowed[ref])


def _allows(f: Any, i: int) -> bool:
    if isinstance(f, range):
        return i in f
    if isinstance(f, tuple):
        return f[0] <= i < f[1]
    arr = np.asarray(f)
    if arr.dtype == bool:
        return i < arr.size and bool(arr[i])
    return bool(np.isin(i, arr))


@pytest.mark.parametrize("bad, error", [
    ("abc", TypeError), (3, TypeError), (np.zeros((2, 2), dtype=bool), ValueError),
    (np.array([0.5, 1.0]), TypeError), ([1, -2], ValueError), (range(0, 10, 2), ValueError),
    ((1.5, 3), TypeError), ({1, 2}, TypeError),
])
def test_bad_filters_name_the_argument(bad: Any, error: type) -> None:
    index = qvec.FlatIndex(4)
    index.add(np.eye(4, dtype=np.float32))
    with pytest.raises(error, match="filter"):
        index.search(np.eye(4, dtype=np.float32), 2, filter=bad)


def test_native_filter_forms_and_checks() -> None:
    words = np.array([0b1011, 1 << 63], dtype=np.uint64)
    f = _core.bitset_filter(words, 100)
    assert f.kind == "bitset" and [f.allows(i) for i in (0, 1, 2, 3, 63, 64)] == [
        True, True, False, True, False, False]
    assert not _core.bitset_filter(words, 127).allows(127) and _core.bitset_filter(
        words, 128).allows(127)
    with pytest.raises(ValueError, match="words"):
        _core.bitset_filter(words, 200)
    with pytest.raises(ValueError, match="ascending"):
        _core.sorted_filter(np.array([3, 1], dtype=np.int64))
    r = _core.IdFilter(5, 9)
    assert r.kind == "range" and [r.allows(i) for i in (4, 5, 8, 9)] == [False, True, True, False]
    # the rule: bits up to 8M rows (1 MiB of words), and past that for dense sets; sparse sets
    # over more rows are kept as sorted rows
    sparse = id_filter([3, 900_000], 1_000_000)
    assert sparse.kind == "bitset" and [sparse.allows(i) for i in (2, 3, 4, 900_000)] == [
        False, True, False, True]
    assert id_filter([3, 9_000_000], 10_000_000).kind == "sorted"
    assert id_filter(np.arange(0, 10_000_000, 7), 10_000_000).kind == "bitset"
    assert id_filter(np.array([5, 3, 3, 64, 63]), 100).allows(63)  # unsorted, duplicates
    assert id_filter(np.arange(0, 1000, 3), 1000).kind == "bitset"
    assert row_filter(range(10, 20), IdMap(100, 0, None, 100)).kind == "range"
    empty = qvec.FlatIndex(4)
    d, i = empty.search(np.ones((2, 4), dtype=np.float32), 3, filter=[1, 2])
    assert (i == -1).all() and np.isinf(d).all()
    with pytest.raises(TypeError, match="filter"):
        empty.search(np.ones((2, 4), dtype=np.float32), 3, filter="x")


def test_filtered_searches_from_threads_match_serial(data: Tuple[np.ndarray, np.ndarray]) -> None:
    x, q = data
    index = qvec.PQIndex(D, m=8, nbits=4).fit(x, iters=3)
    index.add(x)
    filters: List[Any] = [range(i * 50, i * 50 + 300) for i in range(6)]
    serial = [index.search(q, K, filter=f) for f in filters]
    got: Dict[int, Any] = {}

    def run(j: int) -> None:
        for _ in range(3):
            got[j] = index.search(q, K, filter=filters[j])

    threads = [threading.Thread(target=run, args=(j,)) for j in range(len(filters))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for j, (d, i) in enumerate(serial):
        np.testing.assert_array_equal(got[j][1], i)


def test_battery_filters_equal_the_allowed_subset_at_this_level() -> None:
    # tests/test_simd_levels.py compares these outputs of every level with scalar's
    import _battery

    out = _battery.filters()
    same = {k: bool(v) for k, v in out.items() if k.endswith("_same")}
    assert len(same) == 18 and all(same.values()), same


def test_allowed_counts_of_every_native_form():
    words = np.array([0b1011, 1 << 63], dtype=np.uint64)
    assert _core.bitset_filter(words, 100).count_below(100) == 3
    assert _core.bitset_filter(words, 100).count_below(2) == 2
    assert _core.bitset_filter(words, 127).count_below(63) == 3    # bits from n on ignored
    assert _core.bitset_filter(words[:1], 3).count_below(100) == 2  # and from nbits on
    assert _core.IdFilter(5, 9).count_below(7) == 2
    assert _core.IdFilter(5, 9).count_below(100) == 4
    dup = _core.sorted_filter(np.array([1, 1, 4, 9, 9, 20], dtype=np.int64))
    assert dup.count_below(10) == 3 and dup.count_below(100) == 4


def test_selective_filters_widen_the_ivf_probe():
    from qvec.index.ivf import filtered_nprobe
    assert filtered_nprobe(32, 1024, 100_000, 200_000) == 32     # 50%: as asked
    assert filtered_nprobe(32, 1024, 12_500, 200_000) == 32     # 1/16
    assert filtered_nprobe(32, 1024, 2_000, 200_000) == 64      # 1%: doubled
    assert filtered_nprobe(32, 1024, 200, 200_000) == 128       # 0.1%: twice doubled
    assert filtered_nprobe(32, 100, 0, 200_000) == 100          # nothing allowed: capped
    # An IVF search under a 1% filter finds the allowed neighbours its unwidened probe misses.
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4000, 8)).astype(np.float32)
    q = rng.standard_normal((50, 8)).astype(np.float32)
    index = qvec.index_factory(8, "IVF64,Flat")
    index.fit(x, seed=1)
    index.add(x)
    allowed = rng.choice(4000, 40, replace=False)
    flat = qvec.FlatIndex(8)
    flat.add(x)
    truth = flat.search(q, 5, filter=allowed)[1]
    got = index.search(q, 5, nprobe=4, filter=allowed)[1]
    native = qvec.index.filter.row_filter(allowed, index._state.idmap)
    narrow = qvec._core.ivf_search_flat(index._lists(index._state), q, "l2",
                                        *index._state.model.coarse_probe("l2").probe(q, 4)[::-1],
                                        5, native)[1]
    assert qvec.recall_at_k(got, truth, 5) > qvec.recall_at_k(narrow, truth, 5)
