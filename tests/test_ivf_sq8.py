"""IVFIndex codec "sq8" (factory "IVF<n>,SQ8"): with every list probed it equals a brute-force
search over the decoded vectors (centroid + decoded residual) or, without residuals, the
ScalarQuantizer's own search of the same codes; filters never leak; save / load / mmap and
remove round trip; nprobe and rerank behave as for the other codecs."""
import numpy as np
import pytest

import qvec
from qvec import _core
from conftest import clustered, reference_distances, reference_topk

DIM, NLIST, N = 24, 8, 1200


@pytest.fixture(scope="module")
def data():
    return clustered(N, DIM, 12, seed=11), clustered(30, DIM, 12, seed=12)


def built(x, metric="l2", desc=f"IVF{NLIST},SQ8"):
    index = qvec.index_factory(DIM, desc, metric)
    index.fit(x, seed=3)
    index.add(x)
    return index


def decoded(index, x):
    """The vectors the index's codes stand for, float64: c_l + decode(code) (by_residual)."""
    rows = index._state.rows
    codes = np.asarray(index._row_codes(index._state)).view(np.int8)   # unpacked from the lists
    out = index.quantizer.decode(codes).astype(np.float64)
    if index.by_residual:
        out += index.centroids[np.asarray(rows.get("assign"))]
    return out


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_every_list_equals_brute_force_over_the_decoded_vectors(data, metric):
    x, q = data
    index = built(x, metric)
    assert index.codec == "sq8" and index.by_residual
    d, i = index.search(q, 10, nprobe=NLIST)
    base = decoded(index, x)
    qq = q.astype(np.float64)
    if metric == "cosine":
        qq = qq / np.linalg.norm(qq, axis=1, keepdims=True)
    ref = reference_distances(qq, base, "l2" if metric == "l2" else "ip")
    rd, _ = reference_topk(ref, 10)
    sign = 1.0 if metric == "l2" else -1.0
    np.testing.assert_allclose(sign * d, rd, rtol=1e-4, atol=1e-3)
    # each returned id's distance is its own decoded distance (not only the sorted values)
    own = np.take_along_axis(ref, i, axis=1)
    np.testing.assert_allclose(sign * d, own, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_without_residual_every_list_equals_quantizer_search(data, metric):
    x, q = data
    index = qvec.IVFIndex(DIM, NLIST, "sq8", metric, by_residual=False)
    index.fit(x, seed=4)
    index.add(x)
    sq = index.quantizer
    d, i = index.search(q, 10, nprobe=NLIST)
    rd, ri = sq.search(q, sq.encode(x), 10)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_allclose(d, rd, rtol=1e-6, atol=1e-5)


def test_recall_rises_with_nprobe_and_rerank_is_exact(data):
    x, q = data
    index = built(x, desc=f"IVF{NLIST},SQ8,Refine")
    _, truth = reference_topk(reference_distances(q, x, "l2"), 10)
    recalls = [qvec.recall_at_k(index.search(q, 10, nprobe=p)[1], truth, 10) for p in (1, 3, 8)]
    assert recalls[0] <= recalls[1] <= recalls[2] and recalls[2] > 0.9
    _, ri = index.search(q, 10, nprobe=NLIST, rerank=50)
    assert qvec.recall_at_k(ri, truth, 10) > 0.99


def test_row_filter_never_leaks_and_fills_k(data):
    x, q = data
    index = built(x)
    allowed = np.zeros(N, dtype=bool)
    allowed[::40] = True                              # 30 allowed rows (= ids here)
    words = np.packbits(allowed, bitorder="little")
    words = np.pad(words, (0, (-words.size) % 8)).view(np.uint64)
    native = _core.bitset_filter(np.ascontiguousarray(words), N)
    d, i = index._search_rows(index._state, q, 20, filter=native)
    assert np.isin(i, np.flatnonzero(allowed)).all()  # k = 20 <= 30 allowed: no padding
    ref = np.where(allowed[None, :], reference_distances(q, decoded(index, x), "l2"), np.inf)
    np.testing.assert_allclose(d, reference_topk(ref, 20)[0], rtol=1e-4, atol=1e-3)
    _, pi = index.search(q, 20, filter=np.flatnonzero(allowed), nprobe=NLIST)
    assert np.isin(pi[pi >= 0], np.flatnonzero(allowed)).all()


@pytest.mark.parametrize("mmap", [False, True])
def test_save_load_round_trip_after_remove(tmp_path, data, mmap):
    x, q = data
    index = built(x, "ip")
    index.remove(np.arange(0, N, 7))
    path = tmp_path / "ivf_sq8.qvec"
    index.save(path)
    loaded = qvec.load(path, mmap=mmap)
    assert isinstance(loaded, qvec.IVFIndex) and loaded.codec == "sq8"
    assert len(loaded) == len(index)
    np.testing.assert_array_equal(loaded.quantizer.ranges, index.quantizer.ranges)
    d, i = index.search(q, 10, nprobe=3)
    ld, li = loaded.search(q, 10, nprobe=3)
    np.testing.assert_array_equal(li, i)
    np.testing.assert_array_equal(ld, d)
    assert not np.isin(i, np.arange(0, N, 7)).any()
    loaded.add(x[:5])
    assert len(loaded) == len(index) + 5


def test_single_query_and_threads_give_the_batch_results(data):
    x, q = data
    index = built(x)
    d, i = index.search(q, 10, nprobe=4)
    before = qvec.get_num_threads()
    try:
        qvec.set_num_threads(1)
        d1, i1 = index.search(q, 10, nprobe=4)
        ds, is_ = index.search(q[3], 10, nprobe=4)
    finally:
        qvec.set_num_threads(before)
    np.testing.assert_array_equal(i1, i)
    np.testing.assert_array_equal(d1, d)
    np.testing.assert_array_equal(is_, i[3])


def test_bad_input_is_a_clear_error(data):
    x, q = data
    index = built(x)
    with pytest.raises(ValueError, match="queries"):
        index.search(q[:, :5], 10)
    bad = q.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError):
        index.search(bad, 10)
    with pytest.raises(ValueError, match="m applies"):
        qvec.IVFIndex(DIM, NLIST, "sq8", m=4)
