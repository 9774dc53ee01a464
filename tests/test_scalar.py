"""ScalarQuantizer (int8, sentence-transformers' convention), its kernels at every level, the
SQ8 / BIN1,RescoreSQ8 indexes, and the int8 "binary" convention of the Hamming entry points.

sentence-transformers' formulas are tested against this transcription (and against the library
itself with QVEC_TEST_SENTENCE_TRANSFORMERS=1) of sentence_transformers/util/quantization.py (v6.2.0,
quantize_embeddings and _dequantize_embeddings):

    starts = ranges[0]; steps = (ranges[1] - starts) / 255; steps[steps == 0] = 1
    int8 = (clip(floor((x - starts) / steps), 0, 255) - 128).astype(int8)
    uint8 = clip(floor((x - starts) / steps), 0, 255).astype(uint8)
    binary = (packbits(x > 0, axis=-1) - 128).astype(int8); ubinary = packbits(x > 0, axis=-1)
    dequantize(int8) = (codes.astype(float64) + 128) * steps + starts
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import pytest

import qvec
from qvec import _core

HERE = Path(__file__).resolve().parent

def ref_quantize(x: np.ndarray, precision: str, ranges: Optional[np.ndarray] = None) -> np.ndarray:
    """sentence-transformers' quantize_embeddings, transcribed (see the module docstring)."""
    if precision.endswith("binary"):
        bits = np.packbits(x > 0, axis=-1)
        return bits if precision == "ubinary" else (bits - 128).astype(np.int8)
    if ranges is None:
        ranges = np.vstack((x.min(0), x.max(0)))
    ranges = ranges.astype(np.float32)
    starts = ranges[0]
    steps = (ranges[1] - starts) / 255
    steps = np.where(steps == 0, 1, steps)
    q = np.clip(np.floor((x - starts) / steps), 0, 255)
    return q.astype(np.uint8) if precision == "uint8" else (q - 128).astype(np.int8)


# Importing sentence-transformers (torch) takes 10-40 s, beyond this suite's budget, and it is
# no test dependency: the comparison with the library itself runs on request.
@pytest.mark.skipif(not os.environ.get("QVEC_TEST_SENTENCE_TRANSFORMERS"),
                    reason="set QVEC_TEST_SENTENCE_TRANSFORMERS=1 (imports torch)")
def test_against_sentence_transformers_itself() -> None:
    st = pytest.importorskip("sentence_transformers.util.quantization")
    x, q = data(300, 13, seed=9)
    x[:, 4] = 0.5  # a constant dimension: step 1
    ranges = np.vstack((x.min(0), x.max(0))).astype(np.float32)
    sq = qvec.ScalarQuantizer(13, metric="ip").fit(x)
    for precision in ("int8", "uint8"):
        theirs = st.quantize_embeddings(x, precision=precision, ranges=ranges)
        np.testing.assert_array_equal(theirs, ref_quantize(x, precision, ranges))
        np.testing.assert_array_equal(sq.decode(theirs),
                                      st._dequantize_embeddings(theirs, precision, ranges)
                                      .astype(np.float32))
    np.testing.assert_array_equal(st.quantize_embeddings(x, precision="int8",
                                                         calibration_embeddings=x),
                                  sq.encode(x))
    for precision in ("binary", "ubinary"):
        np.testing.assert_array_equal(st.quantize_embeddings(x, precision=precision),
                                      ref_quantize(x, precision))


def ref_decode(codes: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    ranges = ranges.astype(np.float32)
    steps = (ranges[1] - ranges[0]) / 255
    steps = np.where(steps == 0, 1, steps)
    return ((codes.astype(np.float64) + 128) * steps + ranges[0]).astype(np.float32)


def ref_topk(dist: np.ndarray, k: int) -> tuple:
    """Best k by (distance, id) per row, smallest first."""
    n = dist.shape[1]
    order = np.lexsort((np.broadcast_to(np.arange(n), dist.shape), dist), axis=-1)[:, :k]
    return np.take_along_axis(dist, order, 1), order


def data(n: int = 400, dim: int = 37, nq: int = 9, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32) * 0.3 + 0.1
    q = rng.standard_normal((nq, dim)).astype(np.float32) * 0.3
    return x, q


# -- the sentence-transformers convention ---------------------------------------------------
@pytest.mark.parametrize("dim", [1, 7, 37, 384])
def test_encode_is_sentence_transformers_int8(dim: int) -> None:
    x, _ = data(300, dim, seed=dim)
    sq = qvec.ScalarQuantizer(dim).fit(x)
    np.testing.assert_array_equal(sq.ranges, np.vstack((x.min(0), x.max(0))))
    ours = sq.encode(x)
    assert ours.dtype == np.int8
    np.testing.assert_array_equal(ours, ref_quantize(x, "int8"))
    # given ranges (wider than the data, so both clip ends are reached by other data)
    ranges = np.vstack((x.min(0) * 0.5, x.max(0) * 0.5)).astype(np.float32)
    sq2 = qvec.ScalarQuantizer(dim, ranges=ranges)
    np.testing.assert_array_equal(sq2.encode(x), ref_quantize(x, "int8", ranges))


def test_uint8_codes_and_decode_follow_sentence_transformers() -> None:
    x, q = data(200, 16)
    ranges = np.vstack((x.min(0), x.max(0)))
    sq = qvec.ScalarQuantizer(16, metric="ip", ranges=ranges)
    i8, u8 = ref_quantize(x, "int8", ranges), ref_quantize(x, "uint8", ranges)
    np.testing.assert_array_equal(sq.decode(i8), ref_decode(i8, ranges))
    np.testing.assert_array_equal(sq.decode(u8), sq.decode(i8))
    a, b = sq.search(q, i8, 10), sq.search(q, u8, 10)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_constant_dimension_gets_step_one() -> None:
    x, _ = data(50, 4)
    x[:, 2] = 0.25
    sq = qvec.ScalarQuantizer(4).fit(x)
    np.testing.assert_array_equal(sq.encode(x), ref_quantize(x, "int8"))
    assert (sq.encode(x)[:, 2] == -128).all()


def test_quantile_ranges_clip_outliers() -> None:
    x, _ = data(1000, 8)
    x[0, 0] = 100.0
    sq = qvec.ScalarQuantizer(8, ranges="quantile", quantile=0.01).fit(x)
    np.testing.assert_allclose(sq.ranges, np.quantile(x, [0.01, 0.99], axis=0), rtol=1e-6)
    assert sq.encode(x)[0, 0] == 127


# -- search against the numpy reference -----------------------------------------------------
@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
@pytest.mark.parametrize("dim", [3, 37, 64])
def test_asymmetric_search_is_exact_to_the_codes(metric: str, dim: int) -> None:
    x, q = data(517, dim, seed=dim)
    sq = qvec.ScalarQuantizer(dim, metric=metric).fit(x)
    codes = sq.encode(x)
    d, i = sq.search(q, codes, 20)
    dec = sq.decode(codes).astype(np.float64)
    qq = q.astype(np.float64)
    if metric == "cosine":
        qq = qq / np.linalg.norm(qq, axis=1, keepdims=True)
    if metric == "l2":
        ref = ((qq[:, None, :] - dec[None]) ** 2).sum(-1)
    else:
        ref = -(qq @ dec.T)
    want_d, want_i = ref_topk(ref, 20)
    np.testing.assert_array_equal(i, want_i)
    np.testing.assert_allclose(d, want_d if metric == "l2" else -want_d, rtol=1e-4, atol=1e-4)
    # the packed layout searches the same; a 1-D query gives 1-D results
    d2, i2 = sq.search_packed(q, sq.pack(codes), len(codes), 20)
    np.testing.assert_array_equal(i2, i)
    d1, i1 = sq.search(q[0], codes, 20)
    assert d1.shape == (20,) and (i1 == i[0]).all()


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_symmetric_search_is_the_exact_integer_score(metric: str) -> None:
    rng = np.random.default_rng(5)
    # Extreme codes on purpose: -128 * -128 products are where int8 tricks overflow.
    codes = rng.choice(np.array([-128, -127, 0, 126, 127], dtype=np.int8), size=(300, 71))
    qc = rng.choice(np.array([-128, 127, 1], dtype=np.int8), size=(6, 71))
    sq = qvec.ScalarQuantizer(71, metric=metric)
    d, i = sq.search_symmetric(qc, codes, 15)
    a, b = qc.astype(np.int64), codes.astype(np.int64)
    ref = ((a[:, None] - b[None]) ** 2).sum(-1) if metric == "l2" else -(a @ b.T)
    want_d, want_i = ref_topk(ref, 15)
    np.testing.assert_array_equal(i, want_i)
    np.testing.assert_array_equal(d, want_d if metric == "l2" else -want_d)


def test_k_beyond_n_pads() -> None:
    x, q = data(5, 8)
    sq = qvec.ScalarQuantizer(8, metric="ip").fit(x)
    d, i = sq.search(q, sq.encode(x), 7)
    assert (i[:, 5:] == -1).all() and np.isneginf(d[:, 5:]).all()


# -- every kernel table against scalar ---------------------------------------------------------
def _battery_sq8(env: Dict[str, str], out: Path) -> Dict[str, np.ndarray]:
    code = ("import sys, numpy as np, _battery; "
            "np.savez(sys.argv[1], level=np.array(__import__('qvec').simd_level()), "
            "**_battery.sq8())")
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, cwd=HERE,
                   env=dict(os.environ, **env))
    with np.load(out) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.skipif(qvec.supported_simd_level() != "avx512", reason="needs AVX-512")
def test_plain_avx512_table_equals_the_default(tmp_path: Path) -> None:
    # test_simd_levels compares each level's default table with scalar; on a VNNI CPU that is
    # the VNNI table, so the plain AVX-512 one (QVEC_SQ8_VNNI=0) is compared here with this
    # process's outputs (any level: the sq8 sums are equal by construction; the IVF outputs add
    # coarse terms from the dense kernels, whose rounding differs by level, within the
    # battery's tolerance for them).
    sys.path.insert(0, str(HERE))
    import _battery

    got = _battery_sq8({"QVEC_SIMD": "avx512", "QVEC_SQ8_VNNI": "0"}, tmp_path / "l.npz")
    ref = _battery.sq8()
    assert str(got["level"]) == "avx512" and set(got) - {"level"} == set(ref)
    for key in ref:
        tol = _battery.TOLERANCE.get(f"sq8/{key}")
        if tol is None:
            np.testing.assert_array_equal(got[key], ref[key], err_msg=key)
        else:
            np.testing.assert_allclose(got[key], ref[key], rtol=tol[1], atol=tol[2], err_msg=key)


# -- errors ---------------------------------------------------------------------------------
def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="bits"):
        qvec.ScalarQuantizer(8, bits=4)
    with pytest.raises(ValueError, match="ranges"):
        qvec.ScalarQuantizer(8, ranges="median")
    with pytest.raises(ValueError, match="ranges"):
        qvec.ScalarQuantizer(8, ranges=np.zeros((3, 8)))
    with pytest.raises(ValueError, match="maximum"):
        qvec.ScalarQuantizer(2, ranges=np.array([[0, 1], [1, 0]], np.float32))
    with pytest.raises(ValueError, match="finite"):
        qvec.ScalarQuantizer(2, ranges=np.array([[0, np.nan], [1, 1]], np.float32))
    with pytest.raises(ValueError, match="dim"):
        qvec.ScalarQuantizer(_core.SQ8_MAX_DIM + 1)
    sq = qvec.ScalarQuantizer(4)
    with pytest.raises(qvec.NotTrainedError):
        sq.encode(np.zeros((2, 4), np.float32))
    sq.fit(np.eye(4, dtype=np.float32))
    with pytest.raises(ValueError, match="k"):
        sq.search(np.zeros((1, 4), np.float32), np.zeros((3, 4), np.int8), 0)
    with pytest.raises(TypeError, match="int8"):
        sq.decode(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="dimension mismatch"):
        sq.decode(np.zeros((3, 5), np.int8))
    with pytest.raises(ValueError, match="NaN"):
        sq.encode(np.full((1, 4), np.nan, np.float32))
    with pytest.raises(ValueError, match="packed"):
        sq.search_packed(np.zeros((1, 4), np.float32), np.zeros(7, np.uint8), 3, 1)


def test_pickle_round_trip() -> None:
    import pickle
    x, q = data(100, 12)
    sq = qvec.ScalarQuantizer(12, metric="cosine").fit(x)
    back = pickle.loads(pickle.dumps(sq))
    np.testing.assert_array_equal(back.encode(x), sq.encode(x))
    assert back.metric == "cosine"


# -- indexes --------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_sq8_index_equals_the_quantizer(metric: str, tmp_path: Path) -> None:
    x, q = data(700, 24, seed=3)
    index = qvec.index_factory(24, "SQ8", metric=metric)
    assert isinstance(index, qvec.SQ8Index)
    index.fit(x)
    index.add(x)
    d, i = index.search(q, 10)
    sq = qvec.ScalarQuantizer(24, metric=metric).fit(x)
    want_d, want_i = sq.search(q, sq.encode(x), 10)
    np.testing.assert_array_equal(i, want_i)
    np.testing.assert_allclose(d, want_d, rtol=1e-6, atol=1e-6)
    for mmap in (False, True):
        path = tmp_path / f"sq8_{mmap}.qvec"
        index.save(path)
        back = qvec.load(path, mmap=mmap)
        assert type(back) is qvec.SQ8Index
        d2, i2 = back.search(q, 10)
        np.testing.assert_array_equal(i2, i)
        np.testing.assert_array_equal(d2, d)


def test_sq8_index_refine_and_corrupt_file(tmp_path: Path) -> None:
    x, q = data(300, 16, seed=4)
    index = qvec.index_factory(16, "SQ8,Refine").fit(x)
    index.add(x)
    exact = qvec.exact_search(q, x, 5, "l2")
    d, i = index.search(q, 5, rerank=100)
    np.testing.assert_array_equal(i, exact[1])
    path = tmp_path / "x.qvec"
    index.save(path)
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(qvec.FormatError):
        qvec.load(path)


def test_rescore_index_is_the_sentence_transformers_recipe(tmp_path: Path) -> None:
    x, q = data(2000, 64, nq=20, seed=6)
    index = qvec.index_factory(64, "BIN1,RescoreSQ8x3", metric="ip")
    assert isinstance(index, qvec.RescoreSQ8Index) and index.rescore == 3
    index.fit(x)
    index.add(x)
    d, i = index.search(q, 10)
    # reference: Hamming top 30 of the sign bits, int8 rescoring of those with the float query
    sq = qvec.ScalarQuantizer(64, metric="ip").fit(x)
    _, short = qvec.hamming_search(ref_quantize(q, "binary"), ref_quantize(x, "binary"), 30)
    dec = sq.decode(sq.encode(x)).astype(np.float64)
    for r in range(len(q)):
        score = dec[short[r]] @ q[r].astype(np.float64)
        order = np.lexsort((short[r], -score))[:10]
        np.testing.assert_array_equal(i[r], short[r][order])
        np.testing.assert_allclose(d[r], score[order], rtol=1e-4, atol=1e-5)
    # a shortlist of every vector is the plain SQ8 search
    index.rescore = 200
    sq8 = qvec.SQ8Index(64, "ip").fit(x)
    sq8.add(x)
    np.testing.assert_array_equal(index.search(q, 10)[1], sq8.search(q, 10)[1])
    path = tmp_path / "r.qvec"
    index.save(path)
    back = qvec.load(path)
    assert type(back) is qvec.RescoreSQ8Index and back.rescore == 200
    np.testing.assert_array_equal(back.search(q, 10)[1], index.search(q, 10)[1])


def test_factory_tokens() -> None:
    assert qvec.index_factory(8, "BIN1,RescoreSQ8").rescore == 4
    assert qvec.index_factory(8, "BIN1,RescoreSQ8,Refine").keeps_vectors
    for bad in ("SQ8,RescoreSQ8", "BIN2,RescoreSQ8", "SQ8,Foo", "BIN1,RescoreSQ8x0"):
        with pytest.raises(ValueError):
            qvec.index_factory(8, bad)


# -- the int8 "binary" convention of the Hamming entry points ---------------------------------
@pytest.mark.parametrize("dim", [8, 13, 100])
def test_hamming_accepts_sentence_transformers_binary(dim: int) -> None:
    rng = np.random.default_rng(dim)
    a = rng.standard_normal((7, dim)).astype(np.float32)
    b = rng.standard_normal((90, dim)).astype(np.float32)
    ua, ub = ref_quantize(a, "ubinary"), ref_quantize(b, "ubinary")
    ia, ib = ref_quantize(a, "binary"), ref_quantize(b, "binary")
    assert ia.dtype == np.int8 and ua.shape[1] == (dim + 7) // 8
    # bit order: numpy.packbits, most significant bit first, zero padding at the end
    want = ((a > 0)[:, None, :] != (b > 0)[None, :, :]).sum(-1)
    for left in (ua, ia):
        for right in (ub, ib):
            np.testing.assert_array_equal(qvec.hamming_distances(left, right), want)
    d, i = qvec.hamming_search(ia, ib, 5)
    d2, i2 = qvec.hamming_search(ua, ub, 5)
    np.testing.assert_array_equal(d, d2)
    np.testing.assert_array_equal(i, i2)
    assert qvec.hamming_search(ia[0], ib, 5)[1].shape == (5,)
