"""PQ with any nbits in 1..8: faiss's bit-packed code layout, nearest-centroid encoding, and
searches equal to a brute-force ADC over the same tables (the 4-bit kernels serve nbits 1..3,
the 8-bit ones 5..7)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import qvec


def unpack_codes(codes, m, nbits):
    """Reference for the layout: code j is bits [j nbits, (j + 1) nbits) of the row read as
    one little-endian integer."""
    out = np.zeros((codes.shape[0], m), dtype=np.int64)
    for i, row in enumerate(codes):
        word = int.from_bytes(row.tobytes(), "little")
        for j in range(m):
            out[i, j] = (word >> (j * nbits)) & ((1 << nbits) - 1)
    return out


def brute_adc(tables, full_codes):
    """(nq, n) ADC scores: sum over j of tables[q, j, code[j]]."""
    m = full_codes.shape[1]
    return np.stack([t[np.arange(m)[None, :], full_codes].sum(axis=1) for t in tables])


def quantizer(dim, m, nbits, metric, seed=0):
    pq = qvec.ProductQuantizer(dim, m, nbits, metric=metric)
    pq.codebooks = np.random.default_rng(seed).standard_normal(
        (m, 1 << nbits, dim // m)).astype(np.float32)
    return pq


@settings(max_examples=40, deadline=None)
@given(nbits=st.integers(1, 8), m=st.integers(1, 9), dsub=st.integers(1, 3),
       n=st.integers(1, 70), metric=st.sampled_from(["l2", "ip"]), seed=st.integers(0, 99))
def test_codes_are_nearest_centroids_bit_packed(nbits, m, dsub, n, metric, seed):
    pq = quantizer(m * dsub, m, nbits, metric, seed)
    x = np.random.default_rng(seed + 1).standard_normal((n, m * dsub)).astype(np.float32)
    codes = pq.encode(x)
    assert codes.dtype == np.uint8 and codes.shape == (n, (m * nbits + 7) // 8)
    assert pq.code_size == codes.shape[1]
    full = unpack_codes(codes, m, nbits)
    books = pq.codebooks
    for j in range(m):
        sub = x[:, j * dsub:(j + 1) * dsub].astype(np.float64)
        dist = ((sub[:, None, :] - books[j][None].astype(np.float64)) ** 2).sum(-1)
        chosen = dist[np.arange(n), full[:, j]]
        np.testing.assert_allclose(chosen, dist.min(axis=1), rtol=1e-5, atol=1e-6)
    # the bits above the last code stay zero
    spare = codes.shape[1] * 8 - m * nbits
    if spare:
        assert not (codes[:, -1] >> (8 - spare)).any()
    decoded = pq.decode(codes)
    np.testing.assert_array_equal(
        decoded, np.concatenate([books[j][full[:, j]] for j in range(m)], axis=1))
    np.testing.assert_array_equal(pq.pack(codes).to_codes(), codes)


@settings(max_examples=30, deadline=None)
@given(nbits=st.sampled_from([1, 2, 3, 5, 6, 7]), m=st.integers(1, 7), n=st.integers(1, 300),
       k=st.integers(1, 12), metric=st.sampled_from(["l2", "ip"]), seed=st.integers(0, 99))
def test_exact_search_equals_brute_force_adc(nbits, m, n, k, metric, seed):
    dim = 2 * m
    pq = quantizer(dim, m, nbits, metric, seed)
    rng = np.random.default_rng(seed + 7)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    q = rng.standard_normal((5, dim)).astype(np.float32)
    codes = pq.encode(x)
    scores = brute_adc(pq.distance_tables(q), unpack_codes(codes, m, nbits))
    best = np.sort(scores, axis=1)[:, ::-1] if metric == "ip" else np.sort(scores, axis=1)
    for searched in (codes, pq.pack(codes)):
        d, i = pq.search(q, searched, k, rescore="exact")
        kk = min(k, n)
        np.testing.assert_allclose(d[:, :kk], best[:, :kk], rtol=1e-5, atol=1e-4)
        # the returned ids carry the returned distances
        np.testing.assert_allclose(np.take_along_axis(scores, i[:, :kk], 1), d[:, :kk],
                                   rtol=1e-5, atol=1e-4)
        assert (i[:, kk:] == -1).all()


@pytest.mark.parametrize("nbits", [1, 2, 3])
def test_fast_scan_widths_rank_like_4_bit(nbits):
    """nbits <= 3 goes through the fast-scan kernels: the quantized-table ranking stays close
    to the exact ADC one, and rescoring recovers it."""
    pq = quantizer(32, 16, nbits, "l2", 3)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3000, 32)).astype(np.float32)
    q = rng.standard_normal((20, 32)).astype(np.float32)
    codes = pq.encode(x)
    _, exact = pq.search(q, codes, 10, rescore="exact")
    _, quick = pq.search(q, codes, 10)
    _, rescored = pq.search(q, codes, 10, rescore=8)
    assert qvec.recall_at_k(quick, exact, 10) > 0.8
    assert qvec.recall_at_k(rescored, exact, 10) >= qvec.recall_at_k(quick, exact, 10)


def test_training_and_index_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    base = rng.standard_normal((2000, 24)).astype(np.float32)
    queries = rng.standard_normal((10, 24)).astype(np.float32)
    gt = qvec.exact_search(queries, base, 10)[1]
    recalls = []
    for nbits in range(1, 9):
        index = qvec.index_factory(24, f"PQ12x{nbits}")
        index.fit(base, iters=4)
        index.add(base)
        assert index.nbits == nbits and index.codes.shape == (2000, (12 * nbits + 7) // 8)
        d, i = index.search(queries, 10)
        recalls.append(qvec.recall_at_k(i, gt, 10))
        index.save(tmp_path / f"pq{nbits}.qvec")
        again = qvec.load(tmp_path / f"pq{nbits}.qvec")
        np.testing.assert_array_equal(again.codes, index.codes)
        np.testing.assert_array_equal(again.search(queries, 10)[1], i)
    # more bits, finer codebooks: recall grows with nbits (allowing noise between neighbours)
    assert recalls[-1] > recalls[0] + 0.2 and recalls[5] > recalls[1]


def test_bad_nbits_and_codes_are_refused():
    for nbits in (0, 9, 16):
        with pytest.raises(ValueError, match="nbits"):
            qvec.ProductQuantizer(8, 4, nbits)
    pq = quantizer(8, 4, 6, "l2")
    with pytest.raises(ValueError, match="codes"):
        pq.search(np.zeros((1, 8), np.float32), np.zeros((5, 4), np.uint8), 3)  # 3 bytes wanted
    with pytest.raises(ValueError, match="nbits"):
        qvec.FastScanCodes(np.zeros((5, 3), np.uint8), 4, 9)
