"""Extended RaBitQ codes (BinaryQuantizer(method="extended")): the code is the argmax of the
cosine over the grid (brute force on small dims), the estimator is unbiased and its error
bound holds at the stated rate, it beats the residual form, and it runs through every search,
the index layer and the factory. (Every SIMD level against scalar: tests/test_simd_levels.py.)"""
import itertools

import numpy as np
import pytest

import qvec


def grid_codes(bq, codes):
    """The integer grid code c (n, dim) in [0, 2^bits - 1] from the bit planes."""
    nb = (bq.dim + 7) // 8
    c = np.zeros((len(codes), bq.dim), dtype=np.int64)
    for level in range(bq.bits):
        plane = np.unpackbits(codes.codes[:, level * nb:(level + 1) * nb], axis=1)[:, :bq.dim]
        c += plane.astype(np.int64) << (bq.bits - 1 - level)
    return c


def code_cosines(bq, codes, v):
    """cos(c - (2^bits - 1) / 2, v) per row."""
    obar = grid_codes(bq, codes) - (2 ** bq.bits - 1) / 2
    return (obar * v).sum(1) / np.linalg.norm(obar, axis=1) / np.linalg.norm(v, axis=1)


def unrotated(dim, bits, x, metric="l2"):
    """An extended quantizer without rotation, and x as it encodes it (x - mean)."""
    bq = qvec.BinaryQuantizer(dim, bits, metric, method="extended").fit(x)
    return bq, (x - bq.mean).astype(np.float64)


def brute_force_cosine(v, bits):
    """max over every magnitude grid vector y in [0, 2^(bits-1) - 1]^dim of cos(sign(v) (y +
    1/2), v) (the sign is always best matching v's)."""
    levels = np.arange(2 ** (bits - 1)) + 0.5
    grid = np.array(list(itertools.product(levels, repeat=len(v))))
    a = np.abs(v)
    return float(((grid @ a) / np.linalg.norm(grid, axis=1)).max() / np.linalg.norm(v))


@pytest.mark.parametrize("dim,bits", [(3, 2), (5, 2), (6, 3), (4, 4), (5, 4), (3, 6)])
def test_code_is_the_argmax_of_the_cosine_over_the_grid(dim, bits):
    rng = np.random.default_rng(dim * 10 + bits)
    x = rng.standard_normal((40, dim)).astype(np.float32)
    x[:5] *= rng.exponential(1.0, (5, dim)).astype(np.float32)   # uneven magnitudes
    bq, v = unrotated(dim, bits, x)
    got = code_cosines(bq, bq.encode(x), v)
    best = np.array([brute_force_cosine(row, bits) for row in v])
    np.testing.assert_allclose(got, best, rtol=0, atol=1e-9)


@pytest.mark.parametrize("bits", [5, 7, 8])
def test_code_is_best_over_every_rescaling_at_high_dims(bits):
    # dim * (2^(bits-1) - 1) break points: the searched window at 7 and 8 bits, all of them at 5.
    dim = 128
    rng = np.random.default_rng(bits)
    x = rng.standard_normal((30, dim)).astype(np.float32)
    x[:10] = rng.standard_t(3, (10, dim))                          # heavy tails
    bq, v = unrotated(dim, bits, x)
    got = code_cosines(bq, bq.encode(x), v)
    ymax = 2 ** (bits - 1) - 1
    a = np.abs(v)
    best = np.zeros(len(v))
    for scale in np.geomspace(0.05, 20.0, 1500):   # t * max|v| / (ymax + 1)
        t = scale * (ymax + 1) / a.max(1, keepdims=True)
        y = np.minimum(np.floor(t * a), ymax) + 0.5
        best = np.maximum(best, (y * a).sum(1) / np.linalg.norm(y, axis=1) /
                          np.linalg.norm(v, axis=1))
    assert np.all(got >= best - 1e-9)


def test_one_bit_is_the_residual_sign_code():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((200, 40)).astype(np.float32)
    ext = qvec.BinaryQuantizer(40, 1, method="extended", rotate="random").fit(x, seed=2)
    res = qvec.BinaryQuantizer(40, 1, method="residual", rotate="random").fit(x, seed=2)
    a, b = ext.encode(x), res.encode(x)
    np.testing.assert_array_equal(a.codes, b.codes)
    np.testing.assert_allclose(a.factors, b.factors, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bits", range(2, 9))
def test_extended_reconstructs_better_than_residual(bits):
    rng = np.random.default_rng(bits)
    x = rng.standard_normal((400, 64)).astype(np.float32)
    err = {}
    for method in ("residual", "extended"):
        bq = qvec.BinaryQuantizer(64, bits, method=method, rotate="random").fit(x, seed=0)
        err[method] = float(((bq.decode(bq.encode(x)) - x) ** 2).sum())
    assert err["extended"] < err["residual"]
    # rho = 1 / cos^2 of the code (the least-squares scale makes <xhat, x_r> = ||x_r||^2 cos^2).
    bq = qvec.BinaryQuantizer(64, bits, method="extended").fit(x)
    codes = bq.encode(x)
    cos = code_cosines(bq, codes, (x - bq.mean).astype(np.float64))
    np.testing.assert_allclose(codes.factors[:, 2], 1 / cos ** 2, rtol=1e-4)


def exact_scores(metric, queries, base):
    if metric == "ip":
        return queries @ base.T
    return ((queries[:, None, :] - base[None, :, :]) ** 2).sum(-1)


@pytest.mark.parametrize("metric", ["ip", "l2"])
@pytest.mark.parametrize("bits", [1, 2, 4, 6])
def test_estimator_unbiased_and_within_error_bound(metric, bits):
    rng = np.random.default_rng(11 * bits)
    dim, n = 128, 1500
    base = rng.standard_normal((n, dim)).astype(np.float32) + 0.2
    queries = rng.standard_normal((12, dim)).astype(np.float32)
    bq = qvec.BinaryQuantizer(dim, bits, metric, rotate="random", method="extended")
    bq.fit(base, seed=5)
    codes = bq.encode(base)
    est, ids = bq.search(queries, codes, k=n, query_bits=8)
    exact = np.take_along_axis(exact_scores(metric, queries.astype(np.float64),
                                            base.astype(np.float64)), ids, axis=1)
    err = est - exact
    bound = bq.error_bounds(queries, codes, ids)
    # Unbiased: the mean error within 4 standard errors (pairs sharing a query are nearly
    # independent under one rotation).
    assert abs(err.mean()) < 4 * err.std() / np.sqrt(err.size)
    # The bound eps0 = 1.9 (RaBitQ's) is a ~2-sigma half-width: the sign code's error is
    # near-Gaussian, so about 6% fall outside; at most 10% here, and 0.5% at eps0 = 3.
    assert np.mean(np.abs(err) > bound) < 0.10
    assert np.mean(np.abs(err) > bq.error_bounds(queries, codes, ids, eps=3.0)) < 0.005


def test_error_bound_shrinks_with_bits():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((500, 96)).astype(np.float32)
    q = rng.standard_normal((4, 96)).astype(np.float32)
    medians = []
    for bits in range(1, 9):
        bq = qvec.BinaryQuantizer(96, bits, rotate="random", method="extended").fit(x)
        codes = bq.encode(x)
        _, ids = bq.search(q, codes, k=50)
        medians.append(float(np.median(bq.error_bounds(q, codes, ids))))
    assert all(b < a for a, b in zip(medians, medians[1:]))


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_inner_product_as_accurate_as_l2(bits):
    # Normalized data: ip and l2 rank the same neighbours, and the two estimators must rank
    # them as well as each other (same recall up to noise).
    rng = np.random.default_rng(21)
    centre = rng.standard_normal(96)
    base = (rng.standard_normal((4000, 96)) + 1.5 * centre).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    queries = base[:60] + 0.2 * rng.standard_normal((60, 96)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    recall = {}
    for metric in ("ip", "l2"):
        _, gt = qvec.exact_search(queries, base, 10, metric)
        bq = qvec.BinaryQuantizer(96, bits, metric, rotate="random", method="extended")
        bq.fit(base, seed=0)
        _, ids = bq.search(queries, bq.encode(base), 10)
        recall[metric] = qvec.recall_at_k(ids, gt, 10)
    assert abs(recall["ip"] - recall["l2"]) <= 0.02, recall


def test_recall_beats_residual_at_every_bit_width():
    rng = np.random.default_rng(4)
    base = rng.standard_normal((3000, 64)).astype(np.float32)
    queries = rng.standard_normal((50, 64)).astype(np.float32)
    _, gt = qvec.exact_search(queries, base, 10, "l2")
    for bits in (2, 3, 4):
        recall = {}
        for method in ("residual", "extended"):
            bq = qvec.BinaryQuantizer(64, bits, rotate="random", method=method).fit(base)
            _, ids = bq.search(queries, bq.encode(base), 10)
            recall[method] = qvec.recall_at_k(ids, gt, 10)
        assert recall["extended"] >= recall["residual"], (bits, recall)


def test_index_factory_save_load_filter_and_rerank(tmp_path):
    rng = np.random.default_rng(6)
    base = rng.standard_normal((800, 48)).astype(np.float32)
    queries = rng.standard_normal((7, 48)).astype(np.float32)
    index = qvec.index_factory(48, "RaBitQ3,Refine", "ip")
    assert isinstance(index, qvec.index.BinaryIndex)
    assert index.method == "extended" and index.bits == 3
    assert qvec.index_factory(48, "BIN3").method == "residual"
    index.fit(base)
    index.add(base)
    d, i = index.search(queries, 5)
    path = tmp_path / "x.qvec"
    index.save(path)
    loaded = qvec.load(path)
    assert loaded.method == "extended" and loaded.quantizer.method == "extended"
    d2, i2 = loaded.search(queries, 5)
    np.testing.assert_array_equal(i, i2)
    np.testing.assert_array_equal(d, d2)
    allowed = np.arange(0, 800, 3)
    _, fi = index.search(queries, 5, filter=allowed)
    assert np.isin(fi, allowed).all()
    _, ri = index.search(queries, 5, rerank=50)
    _, gt = qvec.exact_search(queries, base, 5, "ip")
    assert qvec.recall_at_k(ri, gt, 5) >= qvec.recall_at_k(i, gt, 5)


def test_pickle_keeps_method_and_bad_method_rejected():
    import pickle
    x = np.random.default_rng(0).standard_normal((100, 16)).astype(np.float32)
    bq = qvec.BinaryQuantizer(16, 3, method="extended", rotate="random").fit(x)
    again = pickle.loads(pickle.dumps(bq))
    assert again.method == "extended" and "method='extended'" in repr(again)
    np.testing.assert_array_equal(again.encode(x).codes, bq.encode(x).codes)
    with pytest.raises(ValueError, match="method"):
        qvec.BinaryQuantizer(16, 3, method="rabitq")


# -- the float-query search and its 1-bit pruning -------------------------------------------

def float_estimates(bq, codes, queries):
    """The float-query extended estimate of every (query, code) pair, in search's units:
    rho * scale * <c - (2^bits - 1) / 2, q_r> plus the metric's exact terms."""
    f = codes.factors.astype(np.float64)
    obar = grid_codes(bq, codes) - (2 ** bq.bits - 1) / 2
    rot = bq.rotation.astype(np.float64)
    mean = bq.mean.astype(np.float64)
    qr = (queries.astype(np.float64) - mean) @ rot
    scale = 2.0 * f[:, 3 + bq.bits - 1]
    est = (qr @ obar.T) * (f[:, 2] * scale)[None, :]
    if bq.metric == "ip":
        return est + f[None, :, 1] + (queries.astype(np.float64) @ mean)[:, None]
    return f[None, :, 0] + (qr ** 2).sum(1)[:, None] - 2.0 * est


@pytest.mark.parametrize("metric", ["ip", "l2"])
@pytest.mark.parametrize("bits", [2, 3, 8])
def test_float_query_search_is_the_extended_estimate(metric, bits):
    rng = np.random.default_rng(70 + bits)
    dim, n = 77, 900   # 10 bytes per plane: the SIMD kernels' tails
    base = rng.standard_normal((n, dim)).astype(np.float32) + 0.2
    queries = rng.standard_normal((9, dim)).astype(np.float32)
    bq = qvec.BinaryQuantizer(dim, bits, metric, rotate="random", method="extended")
    bq.fit(base, seed=3)
    codes = bq.encode(base)
    assert codes.sign_dots is not None
    ref = float_estimates(bq, codes, queries)
    dist, ids = bq.search(queries, codes, 12, exact=True)
    np.testing.assert_allclose(dist, np.take_along_axis(ref, ids, 1), rtol=1e-4, atol=1e-3)
    order = np.argsort(-ref if metric == "ip" else ref, axis=1, kind="stable")[:, :12]
    np.testing.assert_allclose(np.take_along_axis(ref, ids, 1), np.take_along_axis(ref, order, 1),
                               rtol=1e-4, atol=1e-3)
    # sign_dots: ||x_r||_1, the 1-bit factor
    xr = (base.astype(np.float64) - bq.mean) @ bq.rotation.astype(np.float64)
    np.testing.assert_allclose(codes.sign_dots, np.abs(xr).sum(1), rtol=1e-4)


@pytest.mark.parametrize("metric", ["ip", "l2"])
@pytest.mark.parametrize("bits", [2, 4, 7])
def test_pruned_search_equals_exhaustive_where_the_bound_holds(metric, bits):
    rng = np.random.default_rng(90 + bits)
    dim, n = 96, 6000
    base = rng.standard_normal((n, dim)).astype(np.float32)
    queries = rng.standard_normal((40, dim)).astype(np.float32)
    bq = qvec.BinaryQuantizer(dim, bits, metric, rotate="random", method="extended")
    bq.fit(base, seed=1)
    codes = bq.encode(base)
    full_d, full_i = bq.search(queries, codes, 10, exact=True)
    # A wide bound (6 sigma: a miss would be a ~1e-9 event per code) never drops a code the
    # exhaustive scan keeps: the same ids and bit-identical distances.
    d6, i6 = bq.search(queries, codes, 10, eps=6.0)
    np.testing.assert_array_equal(i6, full_i)
    np.testing.assert_array_equal(d6, full_d)
    # RaBitQ's eps = 1.9 on the same data: the rule holds for almost every query, and every
    # distance returned is the exhaustive estimate of its id (only skipped codes can differ).
    d, i = bq.search(queries, codes, 10)
    assert np.mean(np.all(i == full_i, axis=1)) >= 0.9
    same = i == full_i
    np.testing.assert_array_equal(d[same], full_d[same])
    # The comparison can fail: a bound far too tight skips codes that belong to the top-k.
    _, tight = bq.search(queries, codes, 10, eps=1e-3)
    assert not np.array_equal(tight, full_i)


@pytest.mark.parametrize("metric", ["ip", "l2"])
@pytest.mark.parametrize("method", ["residual", "extended"])
def test_one_bit_search_scores_the_float_query(metric, method):
    # 1-bit codes take the pruned path without sign_dots: the 4-bit-query pass bounds only its
    # own rounding, and what comes back is the float-query estimate of the sign code.
    rng = np.random.default_rng(11)
    dim, n = 77, 5000
    base = rng.standard_normal((n, dim)).astype(np.float32) + 0.3
    queries = rng.standard_normal((30, dim)).astype(np.float32)
    bq = qvec.BinaryQuantizer(dim, 1, metric, rotate="random", method=method).fit(base, seed=4)
    codes = bq.encode(base)
    assert codes.sign_dots is None
    ref = float_estimates(bq, codes, queries)
    full_d, full_i = bq.search(queries, codes, 10, exact=True)
    np.testing.assert_allclose(full_d, np.take_along_axis(ref, full_i, 1), rtol=1e-4, atol=1e-3)
    order = np.argsort(-ref if metric == "ip" else ref, axis=1, kind="stable")[:, :10]
    np.testing.assert_allclose(np.take_along_axis(ref, full_i, 1),
                               np.take_along_axis(ref, order, 1), rtol=1e-4, atol=1e-3)
    d6, i6 = bq.search(queries, codes, 10, eps=6.0)
    np.testing.assert_array_equal(i6, full_i)
    np.testing.assert_array_equal(d6, full_d)
    d, i = bq.search(queries, codes, 10)
    assert np.mean(np.all(i == full_i, axis=1)) >= 0.9
    np.testing.assert_array_equal(d[i == full_i], full_d[i == full_i])
    # Explicit query_bits: the bit-plane scan of the quantized query, another ranking.
    _, planes_i = bq.search(queries, codes, 10, query_bits=4)
    assert not np.array_equal(planes_i, full_i)
    allowed = np.arange(300, 2900)
    fd, fi = bq.search(queries, codes, 5, filter=allowed, eps=6.0)
    sd, si = bq.search(queries, codes[allowed], 5, exact=True)
    np.testing.assert_array_equal(fi, allowed[si])
    np.testing.assert_array_equal(fd, sd)


def test_pruned_search_filter_single_query_and_fallbacks():
    rng = np.random.default_rng(5)
    dim, n = 64, 3000
    base = rng.standard_normal((n, dim)).astype(np.float32)
    queries = rng.standard_normal((6, dim)).astype(np.float32)
    bq = qvec.BinaryQuantizer(dim, 3, "ip", rotate="random", method="extended").fit(base)
    codes = bq.encode(base)
    allowed = np.arange(100, 2000)
    d, i = bq.search(queries, codes, 5, filter=allowed, eps=6.0)
    sd, si = bq.search(queries, codes[allowed], 5, exact=True)
    np.testing.assert_array_equal(i, allowed[si])
    np.testing.assert_array_equal(d, sd)
    d1, i1 = bq.search(queries[0], codes, 5, eps=6.0)
    np.testing.assert_array_equal(i1, bq.search(queries, codes, 5, exact=True)[1][0])
    # Without sign_dots, or with explicit query_bits: the bit-plane scan of the quantized query.
    bare = qvec.BinaryCodes(codes.codes, codes.factors)
    np.testing.assert_array_equal(bq.search(queries, bare, 5)[0],
                                  bq.search(queries, codes, 5, query_bits=8)[0])
    # sign_dots travel with slices and pickles and count in nbytes.
    import pickle
    part = pickle.loads(pickle.dumps(codes[10:20]))
    np.testing.assert_array_equal(part.sign_dots, codes.sign_dots[10:20])
    assert codes.nbytes == codes.codes.nbytes + codes.factors.nbytes + 4 * n
    with pytest.raises(ValueError, match="eps"):
        bq.search(queries, codes, 5, eps=0.0)
    with pytest.raises(TypeError, match="exact"):
        bq.search(queries, codes, 5, exact=1)
    with pytest.raises(ValueError, match="sign_dots"):
        qvec.BinaryCodes(codes.codes, codes.factors, codes.sign_dots[:5])


def test_index_keeps_sign_dots_and_reads_files_without_them(tmp_path):
    """RaBitQ<bits> indexes store ||x_r||_1 per row, so their search is the quantizer's pruned
    one; a file written before that row array existed still loads and searches (every bit
    plane scanned) and keeps its ids."""
    from qvec import _format

    rng = np.random.default_rng(21)
    x = rng.standard_normal((3000, 40)).astype(np.float32)
    q = rng.standard_normal((9, 40)).astype(np.float32)
    index = qvec.index_factory(40, "RaBitQ3")
    index.fit(x)
    index.add(x[:1000])
    index.add(x[1000:])
    assert "sign_dots" in index._templates
    codes = index.quantizer.encode(x)
    expected = index.quantizer.search(q, codes, 10)
    got = index.search(q, 10)
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-6)
    index.save(tmp_path / "new.qvec")
    for mmap in (False, True):
        np.testing.assert_array_equal(qvec.load(tmp_path / "new.qvec", mmap=mmap).search(q, 10)[1],
                                      got[1])
    old = _format.read_container(tmp_path / "new.qvec")
    arrays = [(name, np.asarray(a)) for name, a in old.arrays.items() if name != "sign_dots"]
    _format.save_atomic(tmp_path / "old.qvec", old.kind, old.params, arrays)
    loaded = qvec.load(tmp_path / "old.qvec")
    assert "sign_dots" not in loaded._templates
    plane = index.quantizer.search(q, qvec.BinaryCodes(codes.codes, codes.factors), 10)
    np.testing.assert_array_equal(loaded.search(q, 10)[1], plane[1])
    loaded.add(x[:5])            # rows added later carry no sign_dots either
    assert len(loaded) == 3005 and loaded.search(q, 10)[1].shape == (9, 10)
