"""L2 precision far from the origin (issue 10 item 1) and float32 overflow (item 5).

"Exact" must be exact to float32 rounding of the true distance wherever the data sits: the
norm expansion ||q||^2 + ||x||^2 - 2 <q, x> loses everything to cancellation at 1000 + N(0, 1).
References are float64 computations on the same float32 inputs. Tolerances:
- a returned L2 distance is within DIST_RTOL of its float64 value (a direct float32 sum of d
  squared differences errs by at most about (d + 2) * 2^-24 relative: 2e-6 for d = 32);
- a returned id may differ from the float64 top-k only where their distances tie within
  TIE_RTOL (float32 rounding cannot order them).
Every SIMD level runs this file (test_every_level re-runs it under QVEC_SIMD).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import qvec

DIST_RTOL = 1e-5
TIE_RTOL = 1e-5
ORDER = ["scalar", "avx2", "avx512_skx", "avx512"]
LEVELS = ORDER[: ORDER.index(qvec.supported_simd_level()) + 1]
CHILD = os.environ.get("QVEC_PRECISION_LEVEL")


def l2_reference(queries, base):
    """float64 squared distances of the float32 inputs, computed directly."""
    q = queries.astype(np.float64)
    b = base.astype(np.float64)
    return ((q[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def offset_data(offset, n, nq, d, seed):
    r = np.random.default_rng(seed)
    base = (offset + r.standard_normal((n, d))).astype(np.float32)
    queries = (offset + r.standard_normal((nq, d))).astype(np.float32)
    return queries, base


def two_clusters(n, nq, d, seed):
    """Two tight clusters 2e4 apart (at +-1e4 on every axis); queries from both."""
    r = np.random.default_rng(seed)
    centre = np.where(r.random(n) < 0.5, -1e4, 1e4)[:, None]
    qcentre = np.where(np.arange(nq) % 2 == 0, -1e4, 1e4)[:, None]
    base = (centre + r.standard_normal((n, d))).astype(np.float32)
    queries = (qcentre + r.standard_normal((nq, d))).astype(np.float32)
    return queries, base


def assert_exact_l2(queries, base, dist, ids, k):
    ref = l2_reference(queries, base)
    assert np.all(ids >= 0)
    got = np.take_along_axis(ref, ids, axis=1)
    np.testing.assert_allclose(dist, got, rtol=DIST_RTOL, atol=0)
    assert np.all(np.diff(dist, axis=1) >= 0)
    kth = np.sort(ref, axis=1)[:, k - 1 : k]
    # Every returned id is within a float32 tie of the true k-th distance...
    assert np.all(got <= kth * (1 + TIE_RTOL))
    # ...and every id clearly inside the true top-k is returned: recall@k = 1 up to ties.
    for q in range(len(queries)):
        must = np.flatnonzero(ref[q] < kth[q, 0] * (1 - TIE_RTOL))
        assert set(must) <= set(ids[q]), q


@pytest.mark.parametrize("offset", [0.0, 1e3, 1e4])
@pytest.mark.parametrize("nq", [1, 3, 40])  # the few-query (unpacked) and the packed paths
def test_exact_search_l2_far_from_origin(offset, nq):
    queries, base = offset_data(offset, 3000, nq, 32, seed=int(offset) + nq)
    dist, ids = qvec.exact_search(queries, base, 10)
    assert_exact_l2(queries, base, dist, ids, 10)


@pytest.mark.parametrize("nq", [2, 40])
def test_exact_search_l2_two_far_clusters(nq):
    queries, base = two_clusters(3000, nq, 32, seed=7)
    dist, ids = qvec.exact_search(queries, base, 10)
    assert_exact_l2(queries, base, dist, ids, 10)


def test_flat_index_l2_far_from_origin():
    queries, base = offset_data(1e3, 2000, 20, 32, seed=3)
    index = qvec.FlatIndex(32)
    index.add(base)
    dist, ids = index.search(queries, 5)
    assert_exact_l2(queries, base, dist, ids, 5)


def test_exact_distances_do_not_depend_on_the_batch():
    # Distances are computed directly for every result, so a query gets the same bits alone
    # (unpacked path) as inside a batch (packed path).
    queries, base = offset_data(1e3, 1000, 30, 24, seed=11)
    dist, ids = qvec.exact_search(queries, base, 7)
    for q in (0, 13, 29):
        d1, i1 = qvec.exact_search(queries[q : q + 1], base, 7)
        np.testing.assert_array_equal(d1[0], dist[q])
        np.testing.assert_array_equal(i1[0], ids[q])


def dense_extends_heaps(queries, base, heap_k, dense_k, metric):
    """exact_search's top dense_k (dense selection) with its first heap_k equal, bit for bit,
    to the heaps' top heap_k; returns the dense result. exact.cpp's rule: dense when
    n <= 64 k (with more than 4 queries)."""
    assert len(base) > 64 * heap_k and len(base) <= 64 * dense_k and len(queries) > 4
    heap_d, heap_i = qvec.exact_search(queries, base, heap_k, metric)
    dense_d, dense_i = qvec.exact_search(queries, base, dense_k, metric)
    np.testing.assert_array_equal(dense_i[:, :heap_k], heap_i)
    np.testing.assert_array_equal(dense_d[:, :heap_k], heap_d)
    return dense_d, dense_i


# k of at least n / 64 with more than 4 queries selects over whole rows of distances
# (exact.cpp, select_dense) instead of heaps. The heaps' top 30 of 2000 rows (2000 > 64 * 30)
# must be the prefix of its top 100, bit for bit.
@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("offset", [0.0, 1e3])
@pytest.mark.parametrize("nq", [5, 40, 600])
def test_dense_selection_extends_the_heaps(metric, offset, nq):
    queries, base = offset_data(offset, 2000, nq, 24, seed=nq + int(offset))
    base[1::7] = base[::7][: len(base[1::7])]  # duplicate rows: exact ties, to the smaller id
    dense_d, dense_i = dense_extends_heaps(queries, base, 30, 100, metric)
    if metric == "l2":
        assert_exact_l2(queries, base, dense_d, dense_i, 100)


@pytest.mark.parametrize("nq", [6, 40])
def test_dense_selection_l2_two_far_clusters(nq):
    # The query block's mean sits between the clusters, so the filter's norm expansion is coarse
    # there: the k smallest filter values are not the k nearest rows, and only the direct
    # distances of every row the filter cannot rule out give them.
    queries, base = two_clusters(1600, nq, 32, seed=nq)
    dense_d, dense_i = dense_extends_heaps(queries, base, 24, 64, "l2")
    assert_exact_l2(queries, base, dense_d, dense_i, 64)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_dense_selection_over_wildly_spread_distances(metric):
    # Row scales from 1e-15 to 1e15: the threshold search and the bucket sort meet one huge
    # outlier beside values packed near zero (the bucket sort's fallback).
    r = np.random.default_rng(17)
    base = r.standard_normal((1500, 16)) * 10.0 ** r.uniform(-15, 15, (1500, 1))
    base[:3] *= 1e3
    base = base.astype(np.float32)
    queries = r.standard_normal((9, 16)).astype(np.float32)
    dense_d, dense_i = dense_extends_heaps(queries, base, 20, 200, metric)
    if metric == "l2":
        assert_exact_l2(queries, base, dense_d, dense_i, 200)
    else:
        # Within the float summation bound of a 16-term dot product (see test_exact.py).
        q64, b64 = queries.astype(np.float64), base.astype(np.float64)[dense_i]
        exact = np.einsum("qd,qkd->qk", q64, b64)
        magnitude = np.einsum("qd,qkd->qk", np.abs(q64), np.abs(b64))
        gamma = 16 * 2.0**-24 / (1 - 16 * 2.0**-24)
        assert np.all(np.abs(dense_d - exact) <= gamma * magnitude + 2.0**-24 * np.abs(exact))
        assert np.all(np.diff(dense_d, axis=1) <= 0)


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("n,k", [(10, 10), (12, 5), (40, 33), (3000, 3000)])
def test_dense_selection_of_most_or_all_rows(metric, n, k):
    queries, base = offset_data(1e3 if metric == "l2" else 0.0, n, 7, 8, seed=n + k)
    dist, ids = qvec.exact_search(queries, base, k, metric)
    ref = l2_reference(queries, base) if metric == "l2" else -(
        queries.astype(np.float64) @ base.astype(np.float64).T)
    np.testing.assert_array_equal(np.sort(ids, 1)[:, : min(k, n)],
                                  np.sort(np.argsort(ref, 1, kind="stable")[:, :k], 1))
    for q in range(len(queries)):  # each alone: the unpacked path's bits
        d1, i1 = qvec.exact_search(queries[q : q + 1], base, k, metric)
        np.testing.assert_array_equal(i1[0], ids[q])
        if metric == "l2":
            np.testing.assert_array_equal(d1[0], dist[q])


def test_exact_search_ip_unchanged_far_from_origin():
    queries, base = offset_data(1e3, 500, 8, 16, seed=5)
    dist, ids = qvec.exact_search(queries, base, 5, "ip")
    ref = queries.astype(np.float64) @ base.astype(np.float64).T
    got = np.take_along_axis(ref, ids, axis=1)
    np.testing.assert_allclose(dist, got, rtol=1e-5)


# -- PQ: encode, tables, k-means -------------------------------------------------------------

def nearest_codes(pq, x):
    """float64 distances of each subvector to every centroid: (n, m, ksub)."""
    cb = pq.codebooks.astype(np.float64)
    m, ksub, dsub = cb.shape
    sub = x.astype(np.float64).reshape(len(x), m, 1, dsub)
    return ((sub - cb[None]) ** 2).sum(-1)


def unpack_codes(pq, codes):
    if pq.nbits == 8:
        return codes.astype(np.int64)
    lo, hi = codes & 15, codes >> 4
    return np.stack([lo, hi], axis=2).reshape(len(codes), -1)[:, : pq.m].astype(np.int64)


@pytest.mark.parametrize("nbits", [8, 4])
@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_pq_encode_picks_the_nearest_centroid(nbits, offset):
    r = np.random.default_rng(21)
    d, m = 32, 4
    x = (offset + r.standard_normal((3000, d))).astype(np.float32)
    pq = qvec.ProductQuantizer(d, m, nbits).fit(x, iters=5, seed=1)
    codes = unpack_codes(pq, pq.encode(x))
    dist = nearest_codes(pq, x)
    chosen = np.take_along_axis(dist, codes[:, :, None], axis=2)[:, :, 0]
    best = dist.min(axis=2)
    assert np.all(chosen <= best * (1 + TIE_RTOL))


@pytest.mark.parametrize("nbits", [8, 4])
def test_pq_distance_tables_far_from_origin(nbits):
    r = np.random.default_rng(22)
    d, m = 32, 8
    x = (1e3 + r.standard_normal((2000, d))).astype(np.float32)
    queries = (1e3 + r.standard_normal((20, d))).astype(np.float32)
    pq = qvec.ProductQuantizer(d, m, nbits).fit(x, iters=3, seed=2)
    tables = pq.distance_tables(queries)
    ref = nearest_codes(pq, queries)
    np.testing.assert_allclose(tables, ref, rtol=1e-4, atol=1e-4)


def far_apart_clusters(n, d, seed, spread=0.3):
    """Two tight clusters 1e3 apart (near 0 and near 1e3 on every axis): one codebook spans
    both, so centring on its mean leaves both halves ~500 from the origin."""
    r = np.random.default_rng(seed)
    centre = np.where(np.arange(n) % 2 == 0, 0.0, 1e3)[:, None]
    return (centre + spread * r.standard_normal((n, d))).astype(np.float32)


@pytest.mark.parametrize("nbits", [8, 4])
def test_pq_encode_nearest_when_a_codebook_spans_far_clusters(nbits):
    d, m = 16, 4
    x = far_apart_clusters(3000, d, seed=26)
    pq = qvec.ProductQuantizer(d, m, nbits).fit(x, iters=4, seed=1)
    codes = unpack_codes(pq, pq.encode(x))
    dist = nearest_codes(pq, x)
    chosen = np.take_along_axis(dist, codes[:, :, None], axis=2)[:, :, 0]
    best = dist.min(axis=2)
    assert np.all(chosen <= best * (1 + TIE_RTOL) + 1e-30), np.mean(chosen > best * (1 + TIE_RTOL))


def test_kmeans_assignment_exact_when_clusters_are_far_apart():
    # ksub training points: k-means++ seeds one centroid on each, and an exact assignment keeps
    # every point on its own centroid, so the codebook is the points themselves. A wrong
    # assignment (expansion cancelling at ~500 from the origin) empties a centroid instead.
    d, m = 8, 2
    x = far_apart_clusters(16, d, seed=27, spread=0.2)
    cb = qvec.ProductQuantizer(d, m, 4).fit(x, iters=3, seed=2).codebooks
    for j in range(m):
        sub = x[:, j * 4 : (j + 1) * 4]
        want = sub[np.lexsort(sub.T[::-1])]
        got = cb[j][np.lexsort(cb[j].T[::-1])]
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-4)


def test_pq_training_is_translation_invariant():
    # k-means on data at 1000 + N(0, 1) matches k-means on the same points moved to the origin
    # (x - 1000 is exact in float32 there), up to float32 rounding of the shift.
    r = np.random.default_rng(23)
    far = (1e3 + r.standard_normal((4096, 16))).astype(np.float32)
    near = far - np.float32(1e3)
    cb_far = qvec.ProductQuantizer(16, 2, 8).fit(far, iters=8, seed=3).codebooks
    cb_near = qvec.ProductQuantizer(16, 2, 8).fit(near, iters=8, seed=3).codebooks
    diff = np.abs(cb_far.astype(np.float64) - 1e3 - cb_near)
    assert np.quantile(diff, 0.99) < 1e-3 and diff.max() < 0.1, (np.quantile(diff, 0.99), diff.max())


# -- float32 overflow: squares of finite inputs past 3.4e38 ----------------------------------

def test_pq_values_too_large_for_float32_distances_raise():
    r = np.random.default_rng(24)
    x = r.standard_normal((512, 16)).astype(np.float32)
    huge = x * np.float32(1e19)
    for nbits in (8, 4):
        with pytest.raises(ValueError, match="too large"):
            qvec.ProductQuantizer(16, 4, nbits).fit(huge, iters=2)
        pq = qvec.ProductQuantizer(16, 4, nbits).fit(x, iters=2)
        codes = pq.encode(x)
        with pytest.raises(ValueError, match="too large"):
            pq.encode(huge[:10])
        with pytest.raises(ValueError, match="too large"):
            pq.distance_tables(huge[:3])
        with pytest.raises(ValueError, match="too large"):
            pq.search(huge[:3], codes, 5)
        # Large values whose distances still fit float32 are fine.
        big = x * np.float32(1e17)
        pq_big = qvec.ProductQuantizer(16, 4, nbits).fit(big, iters=2)
        assert np.all(np.isfinite(pq_big.distance_tables(big[:3])))


@pytest.mark.parametrize("nq", [1, 10])
def test_exact_search_values_too_large_raise(nq):
    r = np.random.default_rng(25)
    x = (r.standard_normal((300, 16)) * 1e19).astype(np.float32)
    with pytest.raises(ValueError, match="too large"):
        qvec.exact_search(x[:nq], x, 3)


# -- every SIMD level ---------------------------------------------------------------------------

@pytest.mark.skipif(CHILD is not None, reason="already inside a per-level run")
@pytest.mark.parametrize("level", [lv for lv in LEVELS if lv != qvec.simd_level()])
def test_every_level(level):
    env = dict(os.environ, QVEC_SIMD=level, QVEC_PRECISION_LEVEL=level)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           __file__], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_child_runs_at_its_level():
    if CHILD is None:
        pytest.skip("not a per-level run")
    assert qvec.simd_level() == CHILD
