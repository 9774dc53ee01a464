import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import qvec
from conftest import reference_distances, reference_topk


def small_ints(rng, shape):
    # Small integers make every float computation exact, so ties are real ties and the tie rule
    # (smaller id first) can be checked exactly.
    return rng.integers(-3, 4, size=shape).astype(np.float32)


@given(nq=st.integers(1, 9), n=st.integers(1, 300), d=st.integers(1, 70),
       k=st.integers(1, 40), metric=st.sampled_from(["l2", "ip"]), seed=st.integers(0, 2**16))
def test_exact_search_matches_stable_argsort(nq, n, d, k, metric, seed):
    rng = np.random.default_rng(seed)
    queries, base = small_ints(rng, (nq, d)), small_ints(rng, (n, d))
    dist, ids = qvec.exact_search(queries, base, k, metric)
    ref = reference_distances(queries, base, metric)
    want_d, want_i = reference_topk(ref, k)
    assert dist.dtype == np.float32 and ids.dtype == np.int64 and dist.shape == (nq, k)
    np.testing.assert_array_equal(ids, want_i)
    expected = -want_d if metric == "ip" else want_d
    np.testing.assert_array_equal(dist, expected.astype(np.float32))


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_exact_search_random_floats(rng, metric):
    queries = rng.standard_normal((37, 96)).astype(np.float32)
    base = rng.standard_normal((2500, 96)).astype(np.float32)
    dist, ids = qvec.exact_search(queries, base, 25, metric)
    ref = reference_distances(queries, base, metric)
    want_d, want_i = reference_topk(ref, 25)
    sign = -1 if metric == "ip" else 1
    np.testing.assert_allclose(sign * dist, want_d, rtol=1e-4, atol=1e-3)
    # Returned ids score what the returned distances say (robust to float near-ties).
    np.testing.assert_allclose(np.take_along_axis(ref, ids, 1), want_d, rtol=1e-4, atol=1e-3)
    assert (ids == want_i).mean() > 0.99


@pytest.mark.parametrize("metric,pad", [("l2", np.inf), ("ip", -np.inf)])
def test_k_larger_than_n_pads(metric, pad):
    base = np.eye(3, 4, dtype=np.float32)
    dist, ids = qvec.exact_search(base[:1], base, 5, metric)
    assert sorted(ids[0, :3]) == [0, 1, 2]
    np.testing.assert_array_equal(ids[0, 3:], [-1, -1])
    assert np.all(dist[0, 3:] == pad)


def test_single_query_many_threads(rng):
    base = rng.standard_normal((5000, 16)).astype(np.float32)
    q = base[1234:1235] + 1e-3
    for threads in (1, 2, 3):
        qvec.set_num_threads(threads)
        dist, ids = qvec.exact_search(q, base, 3)
        assert ids[0, 0] == 1234
    qvec.set_num_threads(2)


def test_accepts_float64_lists_and_non_contiguous(rng):
    base = rng.standard_normal((200, 64))
    queries = base[:5, ::2]  # float64, non-contiguous
    dist, ids = qvec.exact_search(queries, np.asarray(base[:, ::2]), 1)
    np.testing.assert_array_equal(ids[:, 0], np.arange(5))
    d2, i2 = qvec.exact_search(queries.tolist(), base[:, ::2].tolist(), 1)
    np.testing.assert_array_equal(i2, ids)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(k=0), ValueError, "k must be >= 1"),
    (dict(k=1.5), TypeError, "k must be an integer"),
    (dict(metric="cos"), ValueError, "metric"),
    (dict(k=qvec.MAX_K + 1), ValueError, "k must be <="),
    (dict(k=2**40), ValueError, "k must be <="),
])
def test_bad_arguments(rng, kwargs, exc, match):
    x = rng.standard_normal((10, 8)).astype(np.float32)
    args = dict(queries=x, base=x, k=3, metric="l2")
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        qvec.exact_search(**args)


def test_bad_arrays(rng):
    x = rng.standard_normal((10, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="dimension mismatch"):
        qvec.exact_search(x, x[:, :4], 1)
    with pytest.raises(ValueError, match="2-D|shape"):
        qvec.exact_search(x[None], x, 1)
    with pytest.raises(ValueError, match="2-D|shape"):
        qvec.exact_search(x, x[0], 1)
    with pytest.raises(ValueError, match="empty"):
        qvec.exact_search(x[:0], x, 1)
    with pytest.raises(ValueError, match="empty"):
        qvec.exact_search(x, x[:0], 1)
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="base contains NaN"):
        qvec.exact_search(x, bad, 1)
    for metric in ("l2", "ip"):
        for nq in (1, 10):  # the few-query (unpacked) and packed paths
            with pytest.raises(ValueError, match="base contains NaN"):
                qvec.exact_search(x[:nq], bad, 3, metric)
            inf = x.copy()
            inf[7, 0] = np.inf
            with pytest.raises(ValueError, match="base contains NaN or infinity"):
                qvec.exact_search(x[:nq], inf, 3, metric)
    with pytest.raises(ValueError, match="queries contains NaN or infinity"):
        qvec.exact_search(np.full((1, 8), np.inf, np.float32), x, 1)
    with pytest.raises(ValueError, match="after conversion to float32"):
        qvec.exact_search(np.full((1, 8), 1e300), x, 1)
    with pytest.raises(TypeError, match="numeric"):
        qvec.exact_search(np.array([["a"] * 8]), x, 1)
    with pytest.raises(TypeError, match="None"):
        qvec.exact_search(None, x, 1)


@given(nq=st.integers(1, 5), n=st.integers(1, 200), k=st.integers(1, 30),
       largest=st.booleans(), seed=st.integers(0, 2**16))
def test_topk_matches_stable_argsort(nq, n, k, largest, seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, size=(nq, n)).astype(np.float32)  # many ties
    values, ids = qvec.topk(scores, k, largest=largest)
    want_d, want_i = reference_topk(-scores if largest else scores, k)
    np.testing.assert_array_equal(ids, want_i)
    np.testing.assert_array_equal(values, -want_d if largest else want_d)


def test_threads_setting():
    before = qvec.get_num_threads()
    qvec.set_num_threads(1)
    assert qvec.get_num_threads() == 1
    with pytest.raises(ValueError):
        qvec.set_num_threads(0)
    qvec.set_num_threads(before)


def test_one_query_as_a_1d_array(rng):
    base = rng.standard_normal((50, 8)).astype(np.float32)
    q = rng.standard_normal(8).astype(np.float32)
    for metric in ("l2", "ip", "cosine"):
        dist, ids = qvec.exact_search(q, base, 5, metric)
        assert dist.shape == ids.shape == (5,)
        want_d, want_i = qvec.exact_search(q[None], base, 5, metric)
        np.testing.assert_array_equal(ids, want_i[0])
        np.testing.assert_array_equal(dist, want_d[0])
    values, cols = qvec.topk(base[0], 3)
    assert values.shape == cols.shape == (3,)
    np.testing.assert_array_equal(cols, np.argsort(base[0], kind="stable")[:3])


def test_cosine_is_normalized_inner_product(rng):
    base = rng.standard_normal((300, 16)).astype(np.float32) * rng.uniform(0.1, 10, (300, 1))
    base = base.astype(np.float32)
    base[7] = 0  # an all-zero vector: similarity 0 to everything
    queries = (rng.standard_normal((6, 16)) * 3).astype(np.float32)
    base_before, queries_before = base.copy(), queries.copy()
    dist, ids = qvec.exact_search(queries, base, 300, "cosine")
    np.testing.assert_array_equal(base, base_before)  # the caller's arrays are not touched
    np.testing.assert_array_equal(queries, queries_before)
    b64, q64 = base.astype(np.float64), queries.astype(np.float64)
    norms = np.linalg.norm(b64, axis=1)
    cos = (q64 / np.linalg.norm(q64, axis=1, keepdims=True)) @ (
        b64 / np.where(norms > 0, norms, 1)[:, None]).T
    want = np.take_along_axis(cos, ids, axis=1)
    np.testing.assert_allclose(dist, want, atol=1e-5)
    assert (np.diff(dist, axis=1) <= 1e-6).all()  # largest first
    np.testing.assert_array_equal(ids[:, :10], np.argsort(-cos, axis=1, kind="stable")[:, :10])
    assert dist.max() <= 1 + 1e-5 and dist.min() >= -1 - 1e-5
    bad = base.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="base contains NaN"):
        qvec.exact_search(queries, bad, 3, "cosine")


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("nq", [511, 513, 1031])
def test_query_blocks_and_row_groups(metric, nq):
    # Query counts around the 512-query block and not a multiple of any register block (4, 6,
    # 8 rows): every tail of the packed path. Small integers: exact, ties included.
    rng = np.random.default_rng(nq)
    queries, base = small_ints(rng, (nq, 21)), small_ints(rng, (300, 21))
    dist, ids = qvec.exact_search(queries, base, 7, metric)
    want_d, want_i = reference_topk(reference_distances(queries, base, metric), 7)
    np.testing.assert_array_equal(ids, want_i)
    np.testing.assert_array_equal(dist, (-want_d if metric == "ip" else want_d).astype(np.float32))


@pytest.mark.parametrize("nq", [3, 40, 600])
def test_ip_within_the_float_summation_bound(nq):
    # Any summation order (blocked, FMA or not) of a d-term float dot product errs by at most
    # g_d * sum_t |a_t b_t|, g_d = d u / (1 - d u), u = 2^-24: the tolerance for IP.
    rng = np.random.default_rng(nq)
    d = 384
    queries = rng.standard_normal((nq, d)).astype(np.float32)
    base = rng.standard_normal((1000, d)).astype(np.float32)
    dist, ids = qvec.exact_search(queries, base, 10, "ip")
    q64, b64 = queries.astype(np.float64), base.astype(np.float64)
    exact = np.einsum("qd,qkd->qk", q64, b64[ids])
    magnitude = np.einsum("qd,qkd->qk", np.abs(q64), np.abs(b64[ids]))
    u = 2.0**-24
    gamma = d * u / (1 - d * u)
    assert np.all(np.abs(dist - exact) <= gamma * magnitude + u * np.abs(exact))
    np.testing.assert_array_equal(np.sort(ids, 1), np.sort(np.argsort(-(q64 @ b64.T), 1)[:, :10], 1))
