"""Binary codes: Hamming kernels vs numpy references, the binary quantizer's encoder and
asymmetric estimator vs a numpy re-implementation, estimator quality, ITQ, determinism and
input errors. (Every SIMD level against scalar: tests/test_simd_levels.py.)"""
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import qvec

INT32_MAX = np.iinfo(np.int32).max


# -- numpy references -----------------------------------------------------------------------
def ref_hamming(a, b):
    return np.unpackbits(a[:, None, :] ^ b[None, :, :], axis=2).sum(axis=2).astype(np.int32)


def ref_topk_smallest(d, k):
    """Row-wise k smallest with ties to the smaller column, padded with (-1, pad)."""
    nq, n = d.shape
    ids = np.full((nq, k), -1, dtype=np.int64)
    out = np.zeros((nq, k), dtype=d.dtype)
    for i in range(nq):
        order = np.lexsort((np.arange(n), d[i]))[:k]
        ids[i, :len(order)] = order
        out[i, :len(order)] = d[i, order]
    return out, ids


def ref_encode(x, mean, bits):
    """numpy version of BinaryQuantizer.encode without rotation."""
    xr = (x - mean).astype(np.float64)
    n, dim = xr.shape
    r = xr.copy()
    levels, alphas, xhat = [], [], np.zeros_like(xr)
    for _ in range(bits):
        b = r > 0
        alpha = np.abs(r).sum(axis=1) / dim
        s = np.where(b, 1.0, -1.0)
        levels.append(np.packbits(b, axis=1))
        alphas.append(alpha)
        xhat += alpha[:, None] * s
        r -= alpha[:, None] * s
    norm2 = (xr ** 2).sum(axis=1)
    rho = norm2 / (xhat * xr).sum(axis=1)
    return np.concatenate(levels, axis=1), np.stack(alphas, axis=1), rho, norm2


def ref_asymmetric(bq, queries, base, query_bits):
    """numpy version of the asymmetric estimate (no rotation): float scores (nq, n)."""
    mean = bq.mean.astype(np.float64)
    _, alphas, rho, norm2 = ref_encode(base, bq.mean, bq.bits)
    xr = base - mean
    dim, bits = bq.dim, bq.bits
    # The codes' levels as +-1 matrices.
    r = xr.copy()
    signs = []
    for l in range(bits):
        s = np.where(r > 0, 1.0, -1.0)
        signs.append(s)
        r -= alphas[:, l:l + 1] * s
    out = np.zeros((len(queries), len(base)))
    levels = 2 ** query_bits - 1
    for i, q in enumerate(queries.astype(np.float64)):
        qr = (q - mean).astype(np.float32).astype(np.float64)
        lo, hi = qr.min(), qr.max()
        delta = (hi - lo) / levels
        qq = lo + delta * np.clip(np.rint((qr - lo) / delta), 0, levels)
        est = rho * sum(alphas[:, l] * (signs[l] @ qq) for l in range(bits))
        if bq.metric == "ip":
            out[i] = est + xr @ mean + mean @ q
        else:
            out[i] = norm2 + (qr ** 2).sum() - 2 * est
    return out


def packed(rng, n, nbytes):
    return rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)


# -- Hamming --------------------------------------------------------------------------------
@settings(deadline=None, max_examples=40, derandomize=True)
@given(nbytes=st.integers(1, 200), nq=st.integers(1, 5), n=st.integers(1, 40),
       k=st.integers(1, 50), seed=st.integers(0, 2 ** 16))
def test_hamming_matches_numpy(nbytes, nq, n, k, seed):
    rng = np.random.default_rng(seed)
    a, b = packed(rng, nq, nbytes), packed(rng, n, nbytes)
    if n > 3:
        b[1] = b[3]  # force ties
    ref = ref_hamming(a, b)
    np.testing.assert_array_equal(qvec.hamming_distances(a, b), ref)
    dist, ids = qvec.hamming_search(a, b, k)
    assert dist.dtype == np.int32 and ids.dtype == np.int64 and dist.shape == (nq, k)
    ref_d, ref_i = ref_topk_smallest(ref, k)
    ref_d[ref_i < 0] = INT32_MAX
    np.testing.assert_array_equal(ids, ref_i)
    np.testing.assert_array_equal(dist, ref_d)


def test_hamming_search_large_tiles_and_single_query():
    rng = np.random.default_rng(1)
    codes = packed(rng, 1500, 48)  # several tiles and base splits
    q = codes[700:701].copy()
    q[0, 5] ^= 4  # one bit away from row 700
    dist, ids = qvec.hamming_search(q, codes, 5)
    assert ids[0, 0] == 700 and dist[0, 0] == 1
    ref_d, ref_i = ref_topk_smallest(ref_hamming(q, codes), 5)
    np.testing.assert_array_equal(ids, ref_i)
    long_a, long_b = packed(rng, 3, 601), packed(rng, 20, 601)  # more than 64 words per code
    np.testing.assert_array_equal(qvec.hamming_distances(long_a, long_b),
                                  ref_hamming(long_a, long_b))
    many = packed(rng, 70, 48)
    np.testing.assert_array_equal(qvec.hamming_search(many, codes, 10)[1],
                                  ref_topk_smallest(ref_hamming(many, codes), 10)[1])


def test_hamming_input_errors():
    a = np.zeros((3, 8), np.uint8)
    with pytest.raises(TypeError, match="uint8"):
        qvec.hamming_search(a.astype(np.int32), a, 1)
    with pytest.raises(ValueError, match="nbytes mismatch"):
        qvec.hamming_search(a, np.zeros((3, 9), np.uint8), 1)
    with pytest.raises(ValueError, match="reshape"):
        qvec.hamming_search(a, a[0], 1)
    with pytest.raises(ValueError, match="2-D|shape"):
        qvec.hamming_search(a[None], a, 1)
    with pytest.raises(ValueError, match="empty"):
        qvec.hamming_distances(np.zeros((0, 8), np.uint8), a)
    with pytest.raises(ValueError, match="k must be >= 1"):
        qvec.hamming_search(a, a, 0)
    with pytest.raises(ValueError, match="k must be <="):
        qvec.hamming_search(a, a, 2**31)
    with pytest.raises(TypeError, match="k must be an integer"):
        qvec.hamming_search(a, a, 1.5)


# -- the quantizer ---------------------------------------------------------------------------
def correlated(n, dim, seed):
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((dim, dim)) * np.linspace(2.0, 0.1, dim)[:, None]
    return (rng.standard_normal((n, dim)) @ mix + 0.5).astype(np.float32)


@pytest.mark.parametrize("bits", [1, 2, 4])
@pytest.mark.parametrize("dim", [64, 77])
def test_encode_matches_numpy(bits, dim):
    x = correlated(300, dim, 1)
    bq = qvec.BinaryQuantizer(dim, bits).fit(x)
    codes = bq.encode(x)
    assert codes.codes.shape == (300, bits * ((dim + 7) // 8)) and codes.codes.dtype == np.uint8
    assert codes.factors.shape == (300, 3 + bits)
    ref_codes, alphas, rho, norm2 = ref_encode(x, bq.mean, bits)
    np.testing.assert_array_equal(codes.codes, ref_codes)
    np.testing.assert_allclose(codes.factors[:, 3:], alphas, rtol=1e-4)
    np.testing.assert_allclose(codes.factors[:, 2], rho, rtol=1e-4)
    np.testing.assert_allclose(codes.factors[:, 0], norm2, rtol=1e-4)
    # Level 0 is the plain sign code of the centred vectors.
    np.testing.assert_array_equal(codes.codes[:, :(dim + 7) // 8],
                                  np.packbits(x - bq.mean > 0, axis=1))


@pytest.mark.parametrize("metric", ["ip", "l2"])
@pytest.mark.parametrize("bits,query_bits", [(1, 4), (2, 8), (3, 5)])
def test_asymmetric_search_matches_numpy(metric, bits, query_bits):
    x = correlated(400, 40, 2)
    q = correlated(6, 40, 3)
    bq = qvec.BinaryQuantizer(40, bits, metric).fit(x)
    ref = ref_asymmetric(bq, q, x, query_bits)
    dist, ids = bq.search(q, bq.encode(x), 400, query_bits=query_bits)
    got = np.take_along_axis(ref, ids, axis=1)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(dist, got, atol=1e-4 * scale)
    # The returned order is the order of the estimates.
    expected = np.sort(ref, axis=1)[:, ::-1] if metric == "ip" else np.sort(ref, axis=1)
    np.testing.assert_allclose(dist, expected, atol=1e-4 * scale)


def test_asymmetric_beats_hamming():
    x = correlated(3000, 64, 4)
    q = correlated(50, 64, 5)
    true = q @ x.T
    bq = qvec.BinaryQuantizer(64, 1, "ip", rotate="random").fit(x)
    codes = bq.encode(x)
    dist, ids = bq.search(q, codes, len(x))
    est = np.empty_like(dist)
    np.put_along_axis(est, ids, dist, axis=1)
    ham = -qvec.hamming_distances(bq.encode(q).codes, codes.codes).astype(np.float64)
    corr_est = np.mean([np.corrcoef(est[i], true[i])[0, 1] for i in range(len(q))])
    corr_ham = np.mean([np.corrcoef(ham[i], true[i])[0, 1] for i in range(len(q))])
    assert corr_est > corr_ham + 0.05, (corr_est, corr_ham)
    gt = np.argsort(-true, axis=1)
    recall = qvec.recall_at_k
    r_asym = recall(bq.search(q, codes, 10)[1], gt, 10)
    r_ham = recall(qvec.hamming_search(bq.encode(q).codes, codes.codes, 10)[1], gt, 10)
    assert r_asym > r_ham + 0.05, (r_asym, r_ham)
    # More levels, better estimates; re-ranking a 10 * k shortlist fixes most of the rest.
    recalls = []
    for bits in (1, 2, 4):
        b = qvec.BinaryQuantizer(64, bits, "ip", rotate="random").fit(x)
        recalls.append(recall(b.search(q, b.encode(x), 10)[1], gt, 10))
    assert recalls[0] < recalls[1] < recalls[2], recalls
    _, cand = bq.search(q, codes, 100)
    assert recall(qvec.rerank(q, cand, x, 10, "ip")[1], gt, 10) > r_asym + 0.2


def test_estimate_is_unbiased_on_average():
    x = correlated(2000, 64, 6)
    q = correlated(20, 64, 7)
    bq = qvec.BinaryQuantizer(64, 1, "ip", rotate="random").fit(x)
    dist, ids = bq.search(q, bq.encode(x), len(x), query_bits=8)
    true = np.take_along_axis(q @ x.T, ids, axis=1)
    err = dist - true
    assert abs(err.mean()) < 0.05 * np.abs(err).mean() + 1e-3 * np.abs(true).mean()


def test_itq_lowers_quantization_error():
    x = correlated(2000, 32, 8)
    errors = {}
    for rotate in (None, "random", "itq"):
        bq = qvec.BinaryQuantizer(32, 1, rotate=rotate).fit(x, seed=3)
        errors[rotate] = np.mean((bq.decode(bq.encode(x)) - x) ** 2)
    assert errors["itq"] < 0.95 * errors[None], errors
    assert errors["itq"] < errors["random"], errors


def test_decode_error_drops_with_bits():
    x = correlated(500, 48, 9)
    errs = [np.mean((b.decode(b.encode(x)) - x) ** 2)
            for b in (qvec.BinaryQuantizer(48, bits, rotate="random").fit(x) for bits in (1, 2, 4, 8))]
    assert all(e1 > e2 for e1, e2 in zip(errs, errs[1:])), errs
    assert errs[-1] < 0.02 * np.mean((x - x.mean(0)) ** 2)


def test_deterministic_for_a_seed():
    x = correlated(500, 32, 10)
    runs = []
    for seed in (5, 5, 6):
        bq = qvec.BinaryQuantizer(32, 2, "l2", rotate="itq").fit(x, seed=seed, itq_iters=5)
        runs.append((bq.rotation, bq.encode(x).codes))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][0], runs[2][0])
    r = runs[0][0].astype(np.float64)
    np.testing.assert_allclose(r @ r.T, np.eye(32), atol=1e-5)


def test_search_thread_count_independent():
    x = correlated(1200, 32, 11)
    q = correlated(5, 32, 12)
    bq = qvec.BinaryQuantizer(32, 2, rotate="random").fit(x)
    codes = bq.encode(x)
    before = qvec.get_num_threads()
    try:
        qvec.set_num_threads(1)
        one = bq.search(q, codes, 20)
        qvec.set_num_threads(2)
        two = bq.search(q, codes, 20)
    finally:
        qvec.set_num_threads(before)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


def test_symmetric_search():
    x = correlated(300, 40, 13)
    q = correlated(4, 40, 14)
    for bits, metric in ((1, "ip"), (1, "l2"), (3, "ip"), (3, "l2")):
        # Every bits, bits=1 included, scores the same estimate in the metric's units, float32.
        bq = qvec.BinaryQuantizer(40, bits, metric).fit(x)
        cx, cq = bq.encode(x), bq.encode(q)
        xh, qh = bq.decode(cx).astype(np.float64), bq.decode(cq).astype(np.float64)
        m = bq.mean.astype(np.float64)
        dot = (qh - m) @ (xh - m).T
        if metric == "ip":
            ref = dot + ((x - m) @ m)[None, :] + ((q - m) @ m)[:, None] + m @ m
        else:
            ref = cq.factors[:, :1] + cx.factors[:, 0][None, :] - 2 * dot
        dist, ids = bq.search_symmetric(cq, cx, 300)
        assert dist.dtype == np.float32 and ids.dtype == np.int64
        np.testing.assert_allclose(dist, np.take_along_axis(ref, ids, axis=1),
                                   atol=1e-3 * np.abs(ref).max())
        best = np.sort(ref, axis=1)[:, ::-1] if metric == "ip" else np.sort(ref, axis=1)
        np.testing.assert_allclose(dist, best, atol=1e-3 * np.abs(ref).max())
    one = qvec.BinaryQuantizer(40, 1).fit(x)
    with pytest.raises(TypeError, match="hamming_search"):  # raw bits: use Hamming search
        one.search_symmetric(one.encode(q).codes, one.encode(x), 5)


def test_padding_when_k_exceeds_n():
    x = correlated(5, 16, 15)
    for metric, pad in (("ip", -np.inf), ("l2", np.inf)):
        bq = qvec.BinaryQuantizer(16, 2, metric).fit(x)
        dist, ids = bq.search(x[:1], bq.encode(x), 8)
        assert (ids[0, 5:] == -1).all() and (dist[0, 5:] == pad).all()
        assert sorted(ids[0, :5]) == list(range(5))


def test_pickle_and_codes_slicing():
    x = correlated(100, 24, 16)
    bq = qvec.BinaryQuantizer(24, 2, "l2", rotate="random").fit(x)
    codes = bq.encode(x)
    clone = pickle.loads(pickle.dumps(bq))
    np.testing.assert_array_equal(clone.encode(x).codes, codes.codes)
    part = codes[10:20]
    assert len(part) == 10 and part.bits == 2
    np.testing.assert_array_equal(part.codes, codes.codes[10:20])
    assert len(codes[3]) == 1
    assert codes.shape == (100, 6) and codes.nbytes == 100 * 6 + 100 * (3 + 2) * 4
    state = codes.__getstate__()
    again = qvec.BinaryCodes.__new__(qvec.BinaryCodes)
    again.__setstate__(state)
    np.testing.assert_array_equal(again.factors, codes.factors)


def test_quantizer_input_errors():
    x = correlated(50, 16, 17)
    with pytest.raises(ValueError, match="bits must be in"):
        qvec.BinaryQuantizer(16, bits=9)
    with pytest.raises(ValueError, match="bits must be >= 1"):
        qvec.BinaryQuantizer(16, bits=0)
    with pytest.raises(ValueError, match="rotate"):
        qvec.BinaryQuantizer(16, rotate="pca")
    with pytest.raises(ValueError, match="metric"):
        qvec.BinaryQuantizer(16, metric="cos")
    bq = qvec.BinaryQuantizer(16)
    with pytest.raises(qvec.NotTrainedError):
        bq.encode(x)
    bq.fit(x)
    codes = bq.encode(x)
    bad = x.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        bq.search(bad, codes, 1)
    with pytest.raises(ValueError, match="NaN"):
        bq.fit(bad)
    with pytest.raises(ValueError, match="dimension mismatch"):
        bq.search(x[:, :8], codes, 1)
    with pytest.raises(ValueError, match="query_bits"):
        bq.search(x, codes, 1, query_bits=9)
    with pytest.raises(TypeError, match="BinaryCodes"):
        bq.search(x, codes.codes, 1)
    with pytest.raises(ValueError, match="do not match"):
        bq.search(x, qvec.BinaryQuantizer(16, 2).fit(x).encode(x), 1)
    with pytest.raises(TypeError, match="BinaryCodes"):
        bq.search_symmetric(codes.codes[:, :1], codes, 1)
    with pytest.raises(ValueError, match="k must be <="):
        bq.search(x, codes, 2**40)
    with pytest.raises(TypeError, match="uint8"):
        qvec.BinaryCodes(codes.codes.astype(np.int8), codes.factors)
    with pytest.raises(ValueError, match="same number of rows"):
        qvec.BinaryCodes(codes.codes, codes.factors[:3])
