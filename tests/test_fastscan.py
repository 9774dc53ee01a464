"""4-bit product quantization and the fast-scan search: packing, the quantized-table scan
against a numpy model of the same integer arithmetic, float ADC against decoded vectors,
re-scoring, and the public API. (Every SIMD level against scalar: tests/test_simd_levels.py.)"""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qvec
from conftest import pack_nibbles
from qvec import _core

FAST = settings(deadline=None, max_examples=25, derandomize=True)


# -- numpy models -----------------------------------------------------------------------------
def fastscan_layout(full: np.ndarray) -> np.ndarray:
    """The documented fast-scan layout, built independently of the C++ code."""
    n, m = full.shape
    m2 = m + (m % 2)
    nb = (n + 31) // 32
    padded = np.zeros((nb * 32, m2), np.uint8)
    padded[:n, :m] = full
    blocks = padded.reshape(nb, 32, m2).transpose(0, 2, 1)  # (nb, m2, 32)
    return (blocks[:, :, :16] | (blocks[:, :, 16:] << 4)).astype(np.uint8).reshape(-1)


def quantized_sums(luts: np.ndarray, full: np.ndarray) -> np.ndarray:
    """sums[q, i] = sum_j luts[q, j, code(i, j)] in int64."""
    out = np.zeros((luts.shape[0], full.shape[0]), np.int64)
    for j in range(full.shape[1]):
        out += luts[:, j, :][:, full[:, j]]
    return out


def float_adc(tables: np.ndarray, full: np.ndarray) -> np.ndarray:
    out = np.zeros((tables.shape[0], full.shape[0]), np.float64)
    for j in range(full.shape[1]):
        out += tables[:, j, :][:, full[:, j]]
    return out


def topk_model(values: np.ndarray, k: int):
    """Smallest-first, ties to the smaller id, k > n padded with -1."""
    nq, n = values.shape
    ids = np.argsort(values, axis=1, kind="stable")[:, :k]
    vals = np.take_along_axis(values, ids, axis=1)
    if k > n:
        ids = np.concatenate([ids, np.full((nq, k - n), -1)], axis=1)
        vals = np.concatenate([vals, np.full((nq, k - n), np.inf)], axis=1)
    return vals, ids


def random_case(seed: int, n: int, m: int, nq: int = 5):
    rng = np.random.default_rng(seed)
    full = rng.integers(0, 16, size=(n, m)).astype(np.uint8)
    tables = (rng.random((nq, m, 16)) * rng.uniform(0.1, 10.0, size=(nq, m, 1))).astype(np.float32)
    return full, tables


# -- layout -----------------------------------------------------------------------------------
@FAST
@given(n=st.integers(1, 200), m=st.integers(1, 21), seed=st.integers(0, 2**16))
def test_pack_matches_documented_layout_and_roundtrips(n, m, seed):
    full, _ = random_case(seed, n, m)
    codes = pack_nibbles(full)
    packed = _core.fastscan_pack(codes, m)
    np.testing.assert_array_equal(packed, fastscan_layout(full))
    np.testing.assert_array_equal(_core.fastscan_unpack(packed, n, m), codes)


# -- quantized tables and scan ----------------------------------------------------------------
@FAST
@given(m=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_quantized_tables_follow_the_model(m, seed):
    _, tables = random_case(seed, 1, m, nq=4)
    luts, bias, scale = _core.fastscan_quantize_tables(tables)
    m2 = m + (m % 2)
    assert luts.shape == (4, m2, 16) and luts.dtype == np.uint8
    low = tables.min(axis=2, keepdims=True)
    model = np.floor(np.clip((tables - low) * scale[:, None, None] + np.float32(0.5), 0, 255))
    np.testing.assert_array_equal(luts[:, :m], model.astype(np.uint8))
    assert not luts[:, m:].any()
    np.testing.assert_allclose(bias, low.sum(axis=(1, 2)), rtol=1e-5, atol=1e-5)
    # Each entry is off by at most half a step and the largest possible sum fits 16 bits.
    err = np.abs(low + luts[:, :m] / scale[:, None, None] - tables)
    assert (err <= 0.5 / scale[:, None, None] * (1 + 1e-4) + 1e-6).all()
    assert (luts.astype(np.int64).max(axis=2).sum(axis=1) < 2**16).all()


@FAST
@given(n=st.integers(1, 300), m=st.integers(1, 33), seed=st.integers(0, 2**16))
def test_scan_sums_equal_the_integer_model(n, m, seed):
    full, tables = random_case(seed, n, m, nq=6)
    luts, _, _ = _core.fastscan_quantize_tables(tables)
    packed = _core.fastscan_pack(pack_nibbles(full), m)
    sums = _core.fastscan_scan_sums(luts, packed, n, m)
    np.testing.assert_array_equal(sums.astype(np.int64), quantized_sums(luts, full))


@FAST
@given(n=st.integers(1, 300), m=st.integers(1, 25), k=st.integers(1, 320),
       seed=st.integers(0, 2**16))
def test_quantized_search_equals_the_model(n, m, k, seed):
    full, tables = random_case(seed, n, m)
    luts, bias, scale = _core.fastscan_quantize_tables(tables)
    packed = _core.fastscan_pack(pack_nibbles(full), m)
    dist, ids = _core.fastscan_search(tables, packed, n, k, 0, False)
    sums, want_ids = topk_model(quantized_sums(luts, full).astype(np.float64), k)
    np.testing.assert_array_equal(ids, want_ids)
    want = bias[:, None] + sums / scale[:, None]
    np.testing.assert_allclose(dist, want, rtol=1e-5, atol=1e-4)


@FAST
@given(n=st.integers(1, 300), m=st.integers(1, 25), k=st.integers(1, 320),
       seed=st.integers(0, 2**16))
def test_exact_mode_is_the_float_adc_topk(n, m, k, seed):
    full, tables = random_case(seed, n, m)
    packed = _core.fastscan_pack(pack_nibbles(full), m)
    dist, ids = _core.fastscan_search(tables, packed, n, k, 0, True)
    adc = float_adc(tables, full)
    want, want_ids = topk_model(adc, k)
    np.testing.assert_allclose(dist, want, rtol=1e-5, atol=1e-4)
    # Ids may differ only between (float-rounding) near-ties.
    got = np.take_along_axis(np.pad(adc, ((0, 0), (0, 1)), constant_values=np.inf),
                             np.where(ids < 0, n, ids), axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    assert ((ids < 0) == (want_ids < 0)).all()


@FAST
@given(n=st.integers(1, 400), m=st.integers(1, 17), k=st.integers(1, 40),
       seed=st.integers(0, 2**16))
def test_rescore_never_lowers_recall(n, m, k, seed):
    full, tables = random_case(seed, n, m)
    packed = _core.fastscan_pack(pack_nibbles(full), m)
    _, exact_ids = topk_model(float_adc(tables, full), k)

    def recall(ids):
        return qvec.recall_at_k(ids, exact_ids, k)

    previous = recall(_core.fastscan_search(tables, packed, n, k, 0, False)[1])
    for r in (1, 2, 4, 16):
        current = recall(_core.fastscan_search(tables, packed, n, k, r, False)[1])
        assert current >= previous
        previous = current


# -- ProductQuantizer(nbits=4) ----------------------------------------------------------------
@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    centers = rng.standard_normal((20, 30)).astype(np.float32) * 3
    x = (centers[rng.integers(0, 20, 3000)] + rng.standard_normal((3000, 30))).astype(np.float32)
    q = (centers[rng.integers(0, 20, 40)] + rng.standard_normal((40, 30))).astype(np.float32)
    return x, q


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("m", [15, 10])
def test_float_adc_of_4bit_codes_equals_decoded_distances(data, metric, m):
    x, q = data
    pq = qvec.ProductQuantizer(30, m, nbits=4, metric=metric).fit(x, iters=5)
    codes = pq.encode(x)
    assert codes.shape == (3000, (m + 1) // 2) and codes.dtype == np.uint8
    if m % 2:
        assert not (codes[:, -1] >> 4).any()
    decoded = pq.decode(codes)
    full = np.stack([(codes[:, j // 2] >> (4 * (j % 2))) & 15 for j in range(m)], axis=1)
    np.testing.assert_allclose(decoded, pq.codebooks[np.arange(m), full].reshape(3000, 30))
    tables = pq.distance_tables(q)
    adc = float_adc(tables, full)
    if metric == "l2":
        ref = ((q[:, None, :].astype(np.float64) - decoded[None]) ** 2).sum(-1)
    else:
        ref = q.astype(np.float64) @ decoded.T
    np.testing.assert_allclose(adc, ref, rtol=1e-4, atol=1e-3)
    dist, ids = pq.search(q, codes, 10, rescore="exact")
    want = np.sort(ref, axis=1)[:, :10] if metric == "l2" else -np.sort(-ref, axis=1)[:, :10]
    np.testing.assert_allclose(dist, want, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(np.take_along_axis(ref, ids, 1), want, rtol=1e-4, atol=1e-3)


def test_search_raw_and_packed_agree_and_recall_is_sane(data):
    x, q = data
    pq = qvec.ProductQuantizer(30, 10, nbits=4).fit(x, iters=5)
    codes = pq.encode(x)
    fast = pq.pack(codes)
    assert isinstance(fast, qvec.FastScanCodes) and len(fast) == 3000 and fast.m == 10
    np.testing.assert_array_equal(fast.to_codes(), codes)
    for rescore in (0, 3, "exact"):
        d1, i1 = pq.search(q, codes, 10, rescore=rescore)
        d2, i2 = pq.search(q, fast, 10, rescore=rescore)
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(d1, d2)
    _, gt = qvec.exact_search(q, pq.decode(codes), 10)
    _, ids = pq.search(q, fast, 10)
    assert qvec.recall_at_k(ids, gt, 10) > 0.8
    dist, ids = pq.search(q[:2], fast, 3005)
    assert (ids[:, 3000:] == -1).all() and np.isinf(dist[:, 3000:]).all()
    assert (np.diff(dist[:, :3000], axis=1) >= 0).all()


def test_sdc_4bit(data):
    x, q = data
    pq = qvec.ProductQuantizer(30, 6, nbits=4).fit(x, iters=5)
    codes = pq.encode(x)
    qc = pq.encode(q)
    d1, i1 = pq.search_sdc(qc, codes, 5)
    d2, i2 = pq.search_sdc(qc, pq.pack(codes), 5)
    np.testing.assert_array_equal(i1, i2)
    ref = qvec.exact_search(pq.decode(qc), pq.decode(codes), 5)[0]
    np.testing.assert_allclose(d1, ref, rtol=1e-4, atol=1e-3)


def test_api_errors_and_pickling(data):
    x, q = data
    for nbits in (0, 9):
        with pytest.raises(ValueError, match="nbits"):
            qvec.ProductQuantizer(30, 10, nbits=nbits)
    assert qvec.pq.SUPPORTED_NBITS == tuple(range(1, 9))
    pq8 = qvec.ProductQuantizer(30, 10).fit(x[:600], iters=2)
    pq = qvec.ProductQuantizer(30, 10, nbits=4).fit(x, iters=2)
    fast = pq.pack(pq.encode(x[:100]))
    with pytest.raises(ValueError, match="packed for m=10, nbits=4"):
        pq8.search(q, fast, 5)
    with pytest.raises(ValueError, match="m=10"):
        qvec.ProductQuantizer(30, 15, nbits=4).fit(x, iters=2).search(q, fast, 5)
    with pytest.raises(ValueError, match="rescore"):
        pq.search(q, fast, 5, rescore="fast")
    with pytest.raises(ValueError, match="rescore"):
        pq.search(q, fast, 5, rescore=-1)
    with pytest.raises(ValueError, match="codes"):
        pq.search(q, np.zeros((10, 10), np.uint8), 5)
    assert not fast.data.flags.writeable
    fast2 = pickle.loads(pickle.dumps(fast))
    np.testing.assert_array_equal(fast2.data, fast.data)
    pq2 = pickle.loads(pickle.dumps(pq))
    np.testing.assert_array_equal(pq2.search(q, fast2, 5)[1], pq.search(q, fast, 5)[1])


def test_8bit_unchanged_by_rescore_argument(data):
    x, q = data
    pq = qvec.ProductQuantizer(30, 10).fit(x[:1000], iters=2)
    codes = pq.encode(x)
    d1, i1 = pq.search(q, codes, 7)
    d2, i2 = pq.search(q, codes, 7, rescore=4)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(d1, d2)


@pytest.mark.parametrize("k", [1, 33, 40, 150])
@pytest.mark.parametrize("m", [7, 16])
def test_large_n_quantized_search_equals_the_model(k, m):
    # n >> k: the candidate pool is cut many times (and ties are frequent with small tables).
    full, tables = random_case(11 + k, 6000, m, nq=9)
    tables = np.round(tables * 2) / 2  # coarse values: many equal sums
    luts, bias, scale = _core.fastscan_quantize_tables(tables)
    packed = _core.fastscan_pack(pack_nibbles(full), m)
    sums, want_ids = topk_model(quantized_sums(luts, full).astype(np.float64), k)
    for threads in (1, 2):
        qvec.set_num_threads(threads)
        try:
            dist, ids = _core.fastscan_search(tables, packed, 6000, k, 0, False)
        finally:
            qvec.set_num_threads(2)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_allclose(dist, bias[:, None] + sums / scale[:, None], rtol=1e-5,
                                   atol=1e-4)


@pytest.mark.parametrize("k,rescore", [(1, 0), (10, 0), (100, 0), (64, 2), (700, 0)])
def test_reservoir_with_massive_ties_equals_the_model(k, rescore):
    # Most rows share a few codes, so the keep-th smallest sum is tied across hundreds of rows
    # (the reservoir cannot shrink by sum alone); 21 queries span query groups and blocks.
    rng = np.random.default_rng(k)
    n, m = 5000, 6
    full = rng.integers(0, 16, size=(n, m)).astype(np.uint8)
    full[rng.random(n) < 0.8] = full[0]
    full[rng.random(n) < 0.1] = full[1]
    tables = (rng.integers(0, 4, size=(21, m, 16))).astype(np.float32)
    luts, bias, scale = _core.fastscan_quantize_tables(tables)
    packed = _core.fastscan_pack(pack_nibbles(full), m)
    sums = quantized_sums(luts, full).astype(np.float64)
    keep = k * max(1, rescore)
    _, pool = topk_model(sums, keep)
    for threads in (1, 2):
        qvec.set_num_threads(threads)
        try:
            dist, ids = _core.fastscan_search(tables, packed, n, k, rescore, False)
        finally:
            qvec.set_num_threads(2)
        if rescore == 0:
            np.testing.assert_array_equal(ids, topk_model(sums, k)[1])
            continue
        # Re-scored: the float ADC top-k of the quantized top-keep pool.
        adc = float_adc(tables, full)
        for q in range(len(tables)):
            cand = pool[q][pool[q] >= 0]
            order = np.lexsort((cand, adc[q, cand]))[:k]
            np.testing.assert_array_equal(ids[q], cand[order])


# -- the AVX-512 tables against scalar, wrapping sums included ----------------------------------
_WRAP_SUMS = """
import sys, numpy as np, qvec
from qvec import _core
sys.path.insert(0, sys.argv[2])
from conftest import pack_nibbles
rng = np.random.default_rng(11)
out = {"level": np.array(qvec.simd_level())}
for m in (2, 6, 13, 96, 300, 514):  # 300 and 514: full-byte tables sum past 2^16 and wrap
    for n in (1, 33, 100):
        packed = _core.fastscan_pack(pack_nibbles(rng.integers(0, 16, (n, m)).astype(np.uint8)), m)
        # 7 and 11 queries: calls of 7, and of 8 then 3 (up to 8 share a code load)
        for nq in (7, 11):
            tabs = rng.random((nq, m, 16)).astype(np.float32)
            luts = _core.fastscan_quantize_tables(tabs)[0]
            luts = rng.integers(0, 256, size=luts.shape).astype(luts.dtype)
            out[f"m{m}_n{n}_q{nq}"] = _core.fastscan_scan_sums(luts, packed, n, m)
np.savez(sys.argv[1], **out)
"""


@pytest.mark.skipif(qvec.supported_simd_level() != "avx512", reason="needs AVX-512")
def test_avx512_tables_sum_like_scalar_past_16_bits(tmp_path) -> None:
    # test_simd_levels reaches only the default AVX-512 table (VNNI on VNNI CPUs) and sums that
    # stay below 2^16; QVEC_PQ4_VNNI=0 selects the plain one.
    import os
    import subprocess
    import sys
    from pathlib import Path

    here = str(Path(__file__).parent)
    runs = {}
    levels = (("scalar", {"QVEC_SIMD": "scalar"}),
              ("plain", {"QVEC_SIMD": "avx512", "QVEC_PQ4_VNNI": "0"}),
              ("default", {"QVEC_SIMD": "avx512", "QVEC_PQ4_VNNI": "1"}))
    for name, env in levels:
        path = tmp_path / f"{name}.npz"
        subprocess.run([sys.executable, "-c", _WRAP_SUMS, str(path), here], check=True,
                       env=dict(os.environ, **env))
        with np.load(path) as f:
            runs[name] = {k: f[k] for k in f.files}
    assert str(runs["plain"]["level"]) == "avx512" == str(runs["default"]["level"])
    assert str(runs["scalar"]["level"]) == "scalar"
    for name in ("plain", "default"):
        for key, ref in runs["scalar"].items():
            if key != "level":
                np.testing.assert_array_equal(runs[name][key], ref, err_msg=f"{name} {key}")
