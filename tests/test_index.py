"""Index objects: the shared protocol (fit, add, remove, search, `in`, metrics), ids,
re-ranking, factory, persistence."""
import pickle
import subprocess
import sys

import numpy as np
import pytest

import qvec

DIM = 16


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    base = rng.standard_normal((2000, DIM)).astype(np.float32)
    queries = rng.standard_normal((25, DIM)).astype(np.float32)
    return base, queries


def _build(kind, base, metric="l2", keep=False):
    if kind == "flat":
        index = qvec.FlatIndex(DIM, metric)
    else:
        index = qvec.PQIndex(DIM, 4, metric=metric, keep_vectors=keep)
        index.train(base, iters=5)
    return index


KINDS = [("flat", False), ("pq", False), ("pq", True)]


@pytest.mark.parametrize("kind,keep", KINDS)
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_search_matches_reference_with_ids(data, kind, keep, metric):
    base, queries = data
    index = _build(kind, base, metric, keep)
    user_ids = np.arange(len(base), dtype=np.int64) * 3 + 11
    index.add(base[:1500], ids=user_ids[:1500])
    index.add(base[1500:], ids=user_ids[1500:])
    assert len(index) == len(base) and index.dim == DIM and index.metric == metric
    d, i = index.search(queries, 10)
    if kind == "flat":
        rd, ri = qvec.exact_search(queries, base, 10, metric)
    else:
        rd, ri = index.pq.search(queries, index.pq.encode(base), 10)
    np.testing.assert_array_equal(i, user_ids[ri])
    np.testing.assert_array_equal(d, rd)
    assert d.dtype == np.float32 and i.dtype == np.int64 and i.shape == (25, 10)


@pytest.mark.parametrize("kind,keep", KINDS)
def test_remove_then_search(data, kind, keep):
    base, queries = data
    index = _build(kind, base, "l2", keep)
    index.add(base)
    removed_ids = np.arange(0, len(base), 2)
    assert index.remove(np.concatenate([removed_ids, [10**9, 5**9]])) == len(removed_ids)
    assert index.remove(removed_ids[:10]) == 0
    assert len(index) == len(base) - len(removed_ids)
    keep_rows = np.arange(1, len(base), 2)
    np.testing.assert_array_equal(index.ids, keep_rows)
    d, i = index.search(queries, 5)
    ref = qvec.FlatIndex(DIM) if kind == "flat" else None
    if ref is not None:
        rd, ri = qvec.exact_search(queries, base[keep_rows], 5)
    else:
        rd, ri = index.pq.search(queries, index.pq.encode(base[keep_rows]), 5)
    np.testing.assert_array_equal(i, keep_rows[ri])
    np.testing.assert_array_equal(d, rd)
    # sequential ids continue after the largest id ever used
    new = index.add(base[:3])
    np.testing.assert_array_equal(new, [len(base), len(base) + 1, len(base) + 2])


def test_ids_validation(data):
    base, _ = data
    index = qvec.FlatIndex(DIM)
    index.add(base[:10], ids=np.arange(100, 110))
    with pytest.raises(ValueError, match="already in the index.*105"):
        index.add(base[:2], ids=[105, 200])
    with pytest.raises(ValueError, match="duplicates.*7"):
        index.add(base[:3], ids=[7, 8, 7])
    with pytest.raises(ValueError, match=">= 0"):
        index.add(base[:1], ids=[-1])
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        index.add(base[:2], ids=[1, 2, 3])
    with pytest.raises(TypeError, match="integers"):
        index.add(base[:1], ids=[1.5])
    with pytest.raises(ValueError, match="dimension mismatch"):
        index.add(np.zeros((2, DIM + 1), np.float32))
    assert len(index) == 10                              # failed adds change nothing
    np.testing.assert_array_equal(index.add(base[:2]), [110, 111])
    assert index.remove(np.array([], dtype=np.int64)) == 0
    assert index.remove(np.uint64(101)) == 1


def test_k_larger_than_index_pads_with_minus_one(data):
    base, queries = data
    for metric, worst in (("l2", np.inf), ("ip", -np.inf)):
        index = qvec.PQIndex(DIM, 4, metric=metric)
        index.train(base, iters=3)
        d, i = index.search(queries, 4)                 # empty index
        assert (i == -1).all() and (d == worst).all()
        index.add(base[:3], ids=[40, 50, 60])
        d, i = index.search(queries, 5)
        assert (i[:, 3:] == -1).all() and (d[:, 3:] == worst).all()
        assert set(i[0, :3]) == {40, 50, 60}


def test_not_trained_and_rerank_errors(data):
    base, queries = data
    index = qvec.PQIndex(DIM, 4)
    with pytest.raises(qvec.NotTrainedError):
        index.add(base)
    with pytest.raises(qvec.NotTrainedError):
        index.search(queries, 3)
    index.train(base, iters=3)
    index.add(base)
    with pytest.raises(ValueError, match="keep_vectors=True"):
        index.search(queries, 3, rerank=10)
    with pytest.raises(ValueError, match="rerank must be >= k"):
        index.search(queries, 3, rerank=2)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_rerank_is_exact_over_candidates(data, metric, monkeypatch):
    base, queries = data
    index = qvec.PQIndex(DIM, 4, metric=metric, keep_vectors=True)
    index.train(base, iters=5)
    ids = np.arange(len(base)) + 1000
    index.add(base, ids=ids)
    _, cand = index.pq.search(queries, index.pq.encode(base), 50)
    monkeypatch.delattr(qvec, "rerank", raising=False)  # the numpy path
    d, i = index.search(queries, 10, rerank=50)
    for q in range(len(queries)):
        rd, ri = qvec.exact_search(queries[q:q + 1], base[cand[q]], 10, metric)
        np.testing.assert_array_equal(i[q], ids[cand[q][ri[0]]])
        np.testing.assert_allclose(d[q], rd[0], rtol=1e-5, atol=1e-4)
    # re-ranking everything equals exact search
    d, i = index.search(queries, 10, rerank=len(base) + 7)
    rd, ri = qvec.exact_search(queries, base, 10, metric)
    np.testing.assert_array_equal(i, ids[ri])
    np.testing.assert_allclose(d, rd, rtol=1e-5, atol=1e-4)


def test_rerank_padding_and_ties():
    vectors = np.array([[0, 0], [1, 0], [1, 0], [0, 1]], np.float32)
    q = np.zeros((1, 2), np.float32)
    rows = np.array([[3, 2, -1, 1]])
    d, r = qvec.rerank(q, rows, vectors, 5, metric="l2")
    np.testing.assert_array_equal(r, [[1, 2, 3, -1, -1]])       # ties to the smaller row
    np.testing.assert_array_equal(d, [[1, 1, 1, np.inf, np.inf]])
    d, r = qvec.rerank(q + 1, rows, vectors, 2, metric="ip")
    np.testing.assert_array_equal(r, [[1, 2]])


def test_add_does_not_alias_caller_arrays(data):
    base, queries = data
    x = base[:50].copy()
    index = qvec.FlatIndex(DIM)
    index.add(x)
    d0, i0 = index.search(queries, 3)
    x[:] = 0
    d1, i1 = index.search(queries, 3)
    np.testing.assert_array_equal(i0, i1)


@pytest.mark.parametrize("kind,keep", KINDS)
def test_save_load_mmap_pickle_identical(data, tmp_path, kind, keep):
    base, queries = data
    index = _build(kind, base, "ip", keep)
    index.add(base[:700])
    index.add(base[700:], ids=np.arange(5000, 5000 + len(base) - 700))
    index.remove(np.arange(0, 300, 3))
    ref = index.search(queries, 7, rerank=20 if keep else None)
    path = tmp_path / "i.qvec"
    size = index.save(path)
    assert size == path.stat().st_size
    copies = [qvec.load(path), qvec.load(str(path), mmap=True),
              pickle.loads(pickle.dumps(index)), qvec.load(path, mmap=True, verify=True)]
    for other in copies:
        assert type(other) is type(index) and len(other) == len(index)
        assert repr(other).replace(", mmap", "") == repr(index)
        got = other.search(queries, 7, rerank=20 if keep else None)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])
        np.testing.assert_array_equal(other.ids, index.ids)
    mapped = copies[1]
    assert "mmap" in repr(mapped)
    rows = mapped._state.rows.get("codes" if kind == "pq" else "vectors")
    assert isinstance(rows, np.memmap) and not rows.flags.writeable
    # a mapped index can still change: the change lives in memory, the file is untouched
    before = path.read_bytes()
    mapped.add(base[:5])
    assert mapped.remove([5000]) == 1
    assert len(mapped) == len(index) + 4
    assert path.read_bytes() == before
    # and can be saved over its own file
    mapped.save(path)
    assert len(qvec.load(path)) == len(mapped)


def test_untrained_and_empty_round_trip(tmp_path):
    for index in (qvec.PQIndex(DIM, 4, keep_vectors=True), qvec.FlatIndex(DIM, "ip")):
        index.save(tmp_path / "e.qvec")
        other = qvec.load(tmp_path / "e.qvec", mmap=True)
        assert repr(other) == repr(index)
        assert other.is_trained == index.is_trained


def test_load_in_another_process(data, tmp_path):
    base, queries = data
    index = _build("pq", base)
    index.add(base)
    index.save(tmp_path / "p.qvec")
    np.save(tmp_path / "q.npy", queries)
    code = ("import sys, numpy as np, qvec; i = qvec.load(sys.argv[1], mmap=True); "
            "d, ids = i.search(np.load(sys.argv[2]), 5); np.save(sys.argv[3], ids)")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "p.qvec"),
                    str(tmp_path / "q.npy"), str(tmp_path / "o.npy")], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy"), index.search(queries, 5)[1])


def test_semantically_inconsistent_file(tmp_path):
    from qvec import _format

    bad = tmp_path / "bad.qvec"
    _format.save_atomic(bad, "pq", {"dim": 16, "m": 5, "nbits": 8, "metric": "l2",
                                    "keep_vectors": False, "trained": False, "ntotal": 0,
                                    "id_start": 0, "next_id": 0}, [])
    with pytest.raises(qvec.FormatError, match="m must divide dim"):
        qvec.load(bad)
    _format.save_atomic(bad, "flat", {"dim": 4, "metric": "l2", "ntotal": 3, "id_start": 0,
                                      "next_id": 3},
                        [("vectors", np.zeros((2, 4), np.float32))])
    with pytest.raises(qvec.FormatError, match="vectors"):
        qvec.load(bad)
    _format.save_atomic(bad, "nope", {}, [])
    with pytest.raises(qvec.FormatError, match="unknown index kind"):
        qvec.load(bad)


def test_factory():
    f = qvec.index_factory
    assert isinstance(f(DIM, "Flat", metric="ip"), qvec.FlatIndex)
    pq = f(48 * 2, "PQ48x8", metric="ip")
    assert (pq.m, pq.nbits, pq.metric, pq.keeps_vectors) == (48, 8, "ip", False)
    assert f(DIM, "pq4").nbits == 8
    assert f(DIM, "PQ4x8,Refine").keeps_vectors
    for bad, token in (("PQ4x8,Bogus", "'Bogus'"), ("HNSW32,PQ4", "'HNSW32'"),
                       ("PQ4x8fs", "x4fs"), ("", "''"), ("Flat,Refine", "Refine")):
        with pytest.raises(ValueError, match=token):
            f(DIM, bad)
    with pytest.raises(ValueError, match="m must divide dim"):
        f(DIM, "PQ5")


def test_four_bit_pq(data):
    base, queries = data
    index = qvec.index_factory(DIM, "PQ8x4fs")
    assert index.code_size == 4 and index.nbits == 4
    index.fit(base)
    index.add(base)
    assert index.codes.shape == (len(base), 4)
    _, ref = index.pq.search(queries, index.pq.encode(base), 5)
    np.testing.assert_array_equal(index.search(queries, 5)[1], ref)
    with pytest.raises(ValueError, match="nbits"):
        qvec.PQIndex(DIM, 8, nbits=0)


def test_binary_index_protocol(data, tmp_path):
    base, queries = data
    index = qvec.index_factory(DIM, "BIN1,Refine", metric="l2")
    assert isinstance(index, qvec.BinaryIndex) and index.bits == 1
    index.train(base, seed=3)
    index.add(base[:1000])
    index.add(base[1000:], ids=np.arange(1000, len(base)) + 10)
    assert index.remove([0, 1, 1010]) == 3
    d, i = index.search(queries, 5)
    d2, i2 = index.search(queries, 5, rerank=200)
    assert (i >= 0).all() and (i2 >= 0).all()
    index.save(tmp_path / "b.qvec")
    for other in (qvec.load(tmp_path / "b.qvec"), qvec.load(tmp_path / "b.qvec", mmap=True),
                  pickle.loads(pickle.dumps(index))):
        assert repr(other).replace(", mmap", "") == repr(index)
        np.testing.assert_array_equal(other.search(queries, 5)[1], i)
        np.testing.assert_array_equal(other.search(queries, 5, rerank=200)[1], i2)


def test_repr_and_sizes(data):
    base, _ = data
    index = qvec.PQIndex(DIM, 4, nbits=8, metric="ip", keep_vectors=False)
    assert repr(index) == ("PQIndex(dim=16, m=4, nbits=8, metric='ip', keep_vectors=False, "
                           "ntotal=0, untrained)")
    index.train(base, iters=2)
    index.add(base)
    assert index.bytes_per_vector == 4
    index.remove([3])
    assert index.bytes_per_vector == 4 + 8      # ids are stored once they stop being a range
    assert "ntotal=1999" in repr(index)
    flat = qvec.FlatIndex(DIM, "l2")
    assert repr(flat) == "FlatIndex(dim=16, metric='l2', ntotal=0)"
    with pytest.raises(ValueError, match="metric"):
        qvec.FlatIndex(DIM, "cos")


def test_reconstruct(data):
    base, _ = data
    index = qvec.PQIndex(DIM, 4, keep_vectors=True)
    index.train(base, iters=2)
    index.add(base[:10], ids=np.arange(10)[::-1] * 2)
    np.testing.assert_array_equal(index.reconstruct([18, 0]), base[[0, 9]])
    with pytest.raises(KeyError):
        index.reconstruct([1])


def test_many_removes_and_adds_match_a_dict_model():
    rng = np.random.default_rng(11)
    index = qvec.FlatIndex(2)
    model = {}
    next_id = 0
    for step in range(40):
        if rng.random() < 0.5 or not model:
            n = int(rng.integers(1, 20))
            explicit = rng.random() < 0.5
            ids = (rng.choice(10**6, n, replace=False) + 10**7 * (step + 1)) if explicit else None
            x = rng.standard_normal((n, 2)).astype(np.float32)
            got = index.add(x, ids=ids)
            for i, v in zip(got, x):
                model[int(i)] = v
            if not explicit:
                np.testing.assert_array_equal(got, np.arange(next_id, next_id + n))
            next_id = max(model) + 1 if model else next_id
            next_id = max(next_id, int(got.max()) + 1)
        else:
            pick = rng.choice(list(model), size=min(len(model), int(rng.integers(1, 15))),
                              replace=False)
            assert index.remove(np.concatenate([pick, [-5, 10**12]])) == len(pick)
            for i in pick:
                del model[int(i)]
        assert len(index) == len(model)
        assert sorted(index.ids.tolist()) == sorted(model)
        if model:
            probe = list(model)[: 5]
            np.testing.assert_array_equal(index.reconstruct(probe),
                                          np.stack([model[i] for i in probe]))


@pytest.mark.parametrize("kind", ["pq8", "pq4", "bin1", "bin2"])
def test_training_a_filled_index_raises_and_keeps_it(data, kind):
    base, _ = data
    if kind.startswith("pq"):
        index = qvec.PQIndex(DIM, 4, nbits=int(kind[2:]))
        index.train(base, iters=3, seed=1)
    else:
        index = qvec.BinaryIndex(DIM, bits=int(kind[3:]), keep_vectors=True)
        index.train(base, seed=1)
    index.add(base[:20])
    before = index.search(base[:20], 1)
    hits = int((before[1][:, 0] == np.arange(20)).sum())
    assert hits >= 15
    for train in (index.train, getattr(index, "fit", index.train)):
        with pytest.raises(ValueError, match="holds 20 vectors"):
            train(base[::-1], seed=2)
    after = index.search(base[:20], 1)
    np.testing.assert_array_equal(after[1], before[1])
    np.testing.assert_array_equal(after[0], before[0])
    index.remove(index.ids)                       # empty again: training is allowed
    index.train(base[::-1], seed=2)
    index.add(base[:20])
    assert int((index.search(base[:20], 1)[1][:, 0] == np.arange(20, 40)).sum()) >= 15


def test_binary_index_rotate_itq_is_itq(data):
    base, _ = data
    ref = {r: qvec.BinaryQuantizer(DIM, bits=1, metric="l2", rotate=r).fit(base, seed=5)
           for r in ("random", "itq")}
    assert not np.allclose(ref["itq"].rotation, ref["random"].rotation)
    for rotate in ("random", "itq", True, None, False):
        index = qvec.BinaryIndex(DIM, bits=1, rotate=rotate)
        index.train(base, seed=5)
        spelled = {True: "random", False: None}.get(rotate, rotate)
        assert index.rotate == spelled
        quantizer = index.quantizer
        if spelled is None:
            assert quantizer.rotation is None
        else:
            np.testing.assert_array_equal(quantizer.rotation, ref[spelled].rotation)
    with pytest.raises(ValueError, match="rotate"):
        qvec.BinaryIndex(DIM, rotate="itqq")


# ------------------------------------------------------------------------------------------
# one API shape: fit, metric default and cosine, 1-D queries, `in`
# ------------------------------------------------------------------------------------------
def _all_kinds(metric=None, keep=True):
    kw = {} if metric is None else {"metric": metric}
    return [qvec.FlatIndex(DIM, **kw), qvec.PQIndex(DIM, 4, keep_vectors=keep, **kw),
            qvec.PQIndex(DIM, 4, nbits=4, keep_vectors=keep, **kw),
            qvec.BinaryIndex(DIM, bits=2, keep_vectors=keep, **kw)]


def test_metric_defaults_to_l2_everywhere():
    for index in _all_kinds() + [qvec.index_factory(DIM, d) for d in ("Flat", "PQ4", "BIN1")]:
        assert index.metric == "l2"


def test_fit_takes_the_common_keywords_and_train_is_its_alias(data):
    base, queries = data
    for a, b in zip(_all_kinds(), _all_kinds()):
        assert a.fit(base, seed=3, max_train=1000, verbose=False) is a
        b.train(base, seed=3, max_train=1000)
        a.add(base)
        b.add(base)
        for x, y in zip(a.search(queries, 5), b.search(queries, 5)):
            np.testing.assert_array_equal(x, y)
        with pytest.raises(TypeError):
            a.fit(base, 3)                          # seed and the rest are keywords
    assert qvec.FlatIndex(DIM).fit(base) is not None        # nothing to learn: a no-op


@pytest.mark.parametrize("which", range(4))
def test_cosine_normalizes_and_reports_similarities(data, which):
    base, queries = data
    from qvec.index.base import unit_rows

    # power-of-two scales keep the unit vectors bit-identical to those of base; the "ip"
    # reference index gets them from the same normalization the cosine index uses
    scale = 2.0 ** np.random.default_rng(2).integers(-3, 6, len(base))
    scaled = (base * scale[:, None]).astype(np.float32)
    unit, uq = unit_rows(base), unit_rows(queries)
    np.testing.assert_allclose(unit, base / np.linalg.norm(base, axis=1, keepdims=True),
                               rtol=1e-6, atol=1e-7)
    cos, ip = _all_kinds("cosine")[which], _all_kinds("ip")[which]
    assert cos.metric == "cosine"
    cos.fit(scaled, seed=1)
    ip.fit(unit, seed=1)
    cos.add(scaled)
    ip.add(unit)
    d, i = cos.search(queries * 8, 10)
    rd, ri = ip.search(uq, 10)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_allclose(d, rd, rtol=1e-5, atol=1e-5)
    assert (np.diff(d, axis=1) <= 1e-6).all()                # largest first
    if isinstance(cos, qvec.FlatIndex):
        true = uq @ unit.T
        np.testing.assert_allclose(d, -np.sort(-true, axis=1)[:, :10], atol=1e-5)
        assert d.max() <= 1 + 1e-5
    else:
        d, i = cos.search(queries, 10, rerank=len(base))   # re-ranked exactly: true cosine
        rd, ri = qvec.exact_search(uq, unit, 10, "ip")
        np.testing.assert_array_equal(i, ri)
        np.testing.assert_allclose(d, rd, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(cos.reconstruct([0, 1]), axis=1), 1, rtol=1e-6)
    again = pickle.loads(pickle.dumps(cos))
    assert again.metric == "cosine"
    for x, y in zip(again.search(queries, 10), cos.search(queries, 10)):
        np.testing.assert_array_equal(x, y)
    # a zero vector has cosine 0 with everything; padding is -inf
    empty = type(cos)(DIM, metric="cosine") if isinstance(cos, qvec.FlatIndex) else None
    if empty is not None:
        empty.add(np.zeros((1, DIM), np.float32))
        d, i = empty.search(queries[:1], 2)
        np.testing.assert_array_equal(d, [[0, -np.inf]])
        np.testing.assert_array_equal(i, [[0, -1]])


def test_one_dimensional_query_is_one_query(data):
    base, queries = data
    for index in _all_kinds():
        index.fit(base)
        index.add(base)
        d, i = index.search(queries[3], 7)
        assert d.shape == (7,) and i.shape == (7,)
        rd, ri = index.search(queries[3:4], 7)
        np.testing.assert_array_equal(i, ri[0])
        np.testing.assert_array_equal(d, rd[0])
        d, i = index.search(list(queries[3]), 7, rerank=20)
        assert i.shape == (7,)
        with pytest.raises(ValueError, match="dimension mismatch"):
            index.search(queries[3][:-1], 7)
        with pytest.raises(ValueError, match="queries"):
            index.search(np.float32(1), 7)


def test_contains(data):
    base, _ = data
    index = qvec.FlatIndex(DIM)
    index.add(base[:5], ids=[3, 10, 11, 12, 2**62])
    assert 3 in index and np.int64(10) in index and np.uint64(2**62) in index
    assert 4 not in index and -1 not in index and 2**64 not in index
    assert "3" not in index and 3.0 not in index and True not in index
    index.remove([10])
    assert 10 not in index and 11 in index
    seq = qvec.FlatIndex(DIM)
    seq.add(base[:3])
    assert 0 in seq and 2 in seq and 3 not in seq


def test_binary_layout_is_explicit(data, tmp_path):
    from qvec import _format

    base, _ = data
    index = qvec.BinaryIndex(DIM, bits=2, rotate="itq", keep_vectors=True).fit(base)
    index.add(base[:10])
    index.save(tmp_path / "b.qvec")
    c = _format.read_container(tmp_path / "b.qvec")
    assert c.params == {"layout": 2, "dim": DIM, "metric": "l2", "ntotal": 10, "next_id": 10,
                        "id_start": 0, "bits": 2, "rotate": "itq", "keep_vectors": True,
                        "trained": True}
    assert {k: (v.dtype.name, v.shape) for k, v in c.arrays.items()} == {
        "mean": ("float32", (DIM,)), "rotation": ("float32", (DIM, DIM)),
        "codes": ("uint8", (10, 4)), "factors": ("float32", (10, 5)),
        "vectors": ("float32", (10, DIM))}
    np.testing.assert_array_equal(c.arrays["rotation"], index.quantizer.rotation)
    assert repr(qvec.load(tmp_path / "b.qvec")) == repr(index)
    assert "rotate='itq'" in repr(index)
