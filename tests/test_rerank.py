"""qvec.rerank against a numpy reference, with PQ and binary shortlists, and input errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import qvec


def ref_rerank(queries, cand, base, k, metric):
    q64, b64 = queries.astype(np.float64), base.astype(np.float64)
    nq = len(queries)
    dist = np.full((nq, k), np.inf if metric == "l2" else -np.inf)
    ids = np.full((nq, k), -1, dtype=np.int64)
    for i in range(nq):
        c = np.unique(cand[i][cand[i] >= 0])
        if metric == "l2":
            s = ((b64[c] - q64[i]) ** 2).sum(axis=1)
            order = np.lexsort((c, s))[:k]
        else:
            s = b64[c] @ q64[i]
            order = np.lexsort((c, -s))[:k]
        dist[i, :len(order)] = s[order]
        ids[i, :len(order)] = c[order]
    return dist, ids


@settings(deadline=None, max_examples=30, derandomize=True)
@given(nq=st.integers(1, 6), n=st.integers(1, 60), d=st.integers(1, 70), ncand=st.integers(1, 30),
       k=st.integers(1, 12), metric=st.sampled_from(["l2", "ip"]), seed=st.integers(0, 2 ** 16))
def test_rerank_matches_numpy(nq, n, d, ncand, k, metric, seed):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, d)).astype(np.float32)
    queries = rng.standard_normal((nq, d)).astype(np.float32)
    cand = rng.integers(-1, n, size=(nq, ncand))  # -1 padding and duplicates included
    dist, ids = qvec.rerank(queries, cand, base, k, metric)
    ref_d, ref_i = ref_rerank(queries, cand, base, k, metric)
    np.testing.assert_array_equal(ids, ref_i)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-4, atol=1e-4)


def test_rerank_ties_go_to_smaller_id():
    base = np.ones((6, 4), np.float32)
    dist, ids = qvec.rerank(np.zeros((1, 4), np.float32), [[5, 3, 1, 4]], base, 3)
    np.testing.assert_array_equal(ids, [[1, 3, 4]])


def test_rerank_pq_shortlist_improves_recall():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((3000, 32)).astype(np.float32)
    queries = rng.standard_normal((20, 32)).astype(np.float32)
    _, gt = qvec.exact_search(queries, base, 10, "l2")
    pq = qvec.ProductQuantizer(32, m=8, metric="l2").fit(base, iters=5)
    _, approx = pq.search(queries, pq.encode(base), 10)
    _, cand = pq.search(queries, pq.encode(base), 100)
    _, ids = qvec.rerank(queries, cand, base, 10)

    assert qvec.recall_at_k(ids, gt, 10) > qvec.recall_at_k(approx, gt, 10)
    assert qvec.recall_at_k(ids, gt, 10) > 0.9


def test_rerank_errors():
    base = np.zeros((5, 4), np.float32)
    q = np.zeros((2, 4), np.float32)
    with pytest.raises(IndexError, match="out of range"):
        qvec.rerank(q, [[0, 5], [1, 2]], base, 1)
    with pytest.raises(IndexError, match="out of range"):
        qvec.rerank(q, [[0, -2], [1, 2]], base, 1)
    with pytest.raises(ValueError, match="one row per query"):
        qvec.rerank(q, [[0, 1]], base, 1)
    with pytest.raises(TypeError, match="integer"):
        qvec.rerank(q, np.zeros((2, 2)), base, 1)
    with pytest.raises(ValueError, match="dimension mismatch"):
        qvec.rerank(q, [[0], [1]], np.zeros((5, 3), np.float32), 1)
    with pytest.raises(ValueError, match="metric"):
        qvec.rerank(q, [[0], [1]], base, 1, metric="cos")
    with pytest.raises(ValueError, match="k must be <="):
        qvec.rerank(q, [[0], [1]], base, 2**31)
    with pytest.raises(ValueError, match="NaN"):
        qvec.rerank(np.full((2, 4), np.nan, np.float32), [[0], [1]], base, 1)
    bad = np.array(base, dtype=np.float32)
    bad[1, 2] = np.inf
    for metric in ("l2", "ip", "cosine"):
        with pytest.raises(ValueError, match="base row 1 contains NaN or infinity"):
            qvec.rerank(np.ones((2, 4), np.float32), [[0], [1]], bad, 1, metric=metric)
        with pytest.raises(IndexError, match="out of range"):
            qvec.rerank(q, [[0, 5], [1, 2]], base, 1, metric=metric)
        with pytest.raises(IndexError, match="out of range"):
            qvec.rerank(q, [[0, -2], [1, 2]], base, 1, metric=metric)


def test_uint64_ids_beyond_int64_are_not_padding():
    # 2**64 - 1 would wrap to -1 in int64 and be skipped as padding: it must be an error.
    base = np.eye(4, dtype=np.float32)
    q = np.ones((1, 4), np.float32)
    for metric in ("l2", "ip", "cosine"):
        with pytest.raises(IndexError, match="18446744073709551615.*out of range"):
            qvec.rerank(q, np.array([[0, 2**64 - 1]], np.uint64), base, 2, metric=metric)
    # uint64 ids inside int64 are fine.
    _, ids = qvec.rerank(q, np.array([[2, 0]], np.uint64), base, 2)
    np.testing.assert_array_equal(ids, [[0, 2]])


def test_rerank_one_query_1d():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((40, 6)).astype(np.float32)
    q = rng.standard_normal(6).astype(np.float32)
    cand = np.array([5, 3, -1, 9, 3, 20])
    for metric in ("l2", "ip", "cosine"):
        dist, ids = qvec.rerank(q, cand, base, 3, metric)
        assert dist.shape == ids.shape == (3,)
        want_d, want_i = qvec.rerank(q[None], cand[None], base, 3, metric)
        np.testing.assert_array_equal(ids, want_i[0])
        np.testing.assert_array_equal(dist, want_d[0])


@settings(deadline=None, max_examples=20, derandomize=True)
@given(nq=st.integers(1, 5), n=st.integers(1, 50), ncand=st.integers(1, 25), k=st.integers(1, 10),
       seed=st.integers(0, 2 ** 16))
def test_rerank_cosine_matches_numpy(nq, n, ncand, k, seed):
    rng = np.random.default_rng(seed)
    base = (rng.standard_normal((n, 9)) * rng.uniform(0.1, 5, (n, 1))).astype(np.float32)
    queries = (rng.standard_normal((nq, 9)) * 2).astype(np.float32)
    cand = rng.integers(-1, n, size=(nq, ncand))
    before = base.copy()
    dist, ids = qvec.rerank(queries, cand, base, k, "cosine")
    np.testing.assert_array_equal(base, before)
    unit_b = base / np.linalg.norm(base.astype(np.float64), axis=1, keepdims=True)
    unit_q = queries / np.linalg.norm(queries.astype(np.float64), axis=1, keepdims=True)
    ref_d, ref_i = ref_rerank(unit_q, cand, unit_b, k, "ip")
    np.testing.assert_allclose(dist, ref_d, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ids, ref_i)
