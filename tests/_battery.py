"""The SIMD-parity battery: every kernel family's entry points on fixed, seeded data.

tests/test_simd_levels.py runs this module once per SIMD level, each run in its own process
(the level is chosen once per process from QVEC_SIMD), and compares every output of every
level with the scalar run. This is the only such harness: a new kernel family adds a function
to FAMILIES (and, for outputs that may differ in rounding, an entry in TOLERANCE).

Each family returns {name: array}. TOLERANCE says how an output is compared; every output not
listed there must be identical to scalar (codes, ids, integer sums, and float results whose
arithmetic is the same at every level).

Run directly: ``QVEC_SIMD=avx2 python tests/_battery.py out.npz``.
"""
from __future__ import annotations

import sys
from typing import Callable, Dict, Tuple, Union

import numpy as np

import qvec
from conftest import pack_nibbles
from qvec import _core

Outputs = Dict[str, np.ndarray]
#: ("close", rtol, atol): np.testing.assert_allclose; ("bits", fraction): uint8 packed codes
#: whose differing bits are at most that fraction of all bits (a sign that FMA rounding moves
#: across zero).
Tolerance = Union[Tuple[str, float, float], Tuple[str, float]]

_FLOAT = ("close", 1e-4, 1e-4)
TOLERANCE: Dict[str, Tolerance] = {
    # dense: FMA and summation order differ between levels.
    "dense/exact_l2_d": _FLOAT, "dense/exact_ip_d": _FLOAT,
    "dense/exact_l2_few_d": _FLOAT, "dense/exact_ip_few_d": _FLOAT,
    "dense/exact_l2_groups_d": _FLOAT, "dense/exact_ip_groups_d": _FLOAT,
    "dense/rerank_l2_d": ("close", 1e-5, 1e-5), "dense/rerank_ip_d": ("close", 1e-5, 1e-5),
    **{f"dense/probe_d{d}_{v}": ("close", 1e-5, 1e-4) for d in (5, 45, 128, 200)
       for v in ("direct", "dot1", "dot2", "dot3")},
    **{f"dense/candidates_d{d}_k{k}_{v}": ("close", 1e-5, 1e-4)
       for d, k in ((7, 13), (45, 100), (200, 70)) for v in ("best", "second")},
    # pq8: tables and ADC sums are float sums; trained codebooks may move where FMA rounding
    # flips a near-tie assignment.
    "pq8/l2_tables": _FLOAT, "pq8/ip_tables": _FLOAT,
    "pq8/l2_adc_d": _FLOAT, "pq8/ip_adc_d": _FLOAT,
    "pq8/l2_adc_packed_d": _FLOAT, "pq8/ip_adc_packed_d": _FLOAT,
    "pq8/l2_sdc_d": _FLOAT, "pq8/ip_sdc_d": _FLOAT,
    "pq8/trained_codebooks": ("close", 1e-3, 1e-3),
    **{f"pqbits/b{b}_{m}_{o}": _FLOAT for b in (3, 6) for m in ("l2", "ip")
       for o in ("tables", "d", "exact_d")},
    # rabitq: a rotated encode goes through the dense matmul kernel.
    "rabitq/rotated_codes": ("bits", 1e-3), "rabitq/rotated_factors": ("close", 1e-4, 1e-4),
    # maxsim (multivec): products may be fused into FMAs in the ISA files; sums are identical.
    # sq8: IVF list scans add the coarse terms of the dense kernels.
    "sq8/ivf_l2_d": _FLOAT, "sq8/ivf_ip_d": _FLOAT,
    "maxsim/m6g2_s": ("close", 1e-5, 1e-5), "maxsim/float7_s": ("close", 1e-5, 1e-5),
    "maxsim/float33_s": ("close", 1e-5, 1e-5),
    # exrabitq: float sums of the query over code bits, in a different order at each level.
    **{f"exrabitq/d{d}_b{b}_{m}_{p}_d": ("close", 1e-5, 1e-4) for d in (37, 77, 160)
       for b in (1, 2, 5, 8) for m in ("ip", "l2") for p in ("exact", "pruned")},
}


def dense() -> Outputs:
    """Float dot / L2 tiles: exact search (few-query and packed paths), top-k, re-ranking."""
    out: Outputs = {}
    rng = np.random.default_rng(99)
    # Odd sizes on purpose: dims not a multiple of 8/16, n not a multiple of 16/64.
    base = rng.standard_normal((1337, 45)).astype(np.float32)
    queries = rng.standard_normal((19, 45)).astype(np.float32)
    many = rng.standard_normal((70, 45)).astype(np.float32)
    for metric in ("l2", "ip"):
        out[f"exact_{metric}_d"], out[f"exact_{metric}_i"] = qvec.exact_search(
            queries, base, 17, metric)
        out[f"exact_{metric}_few_d"], out[f"exact_{metric}_few_i"] = qvec.exact_search(
            queries[:2], base, 5, metric)
        # 70 queries: two full 32-query groups and a partial one; 1337 rows end in a short block.
        out[f"exact_{metric}_groups_d"], out[f"exact_{metric}_groups_i"] = qvec.exact_search(
            many, base, 11, metric)
    scores = rng.integers(0, 50, size=(7, 1000)).astype(np.float32)
    out["topk_d"], out["topk_i"] = qvec.topk(scores, 33)
    x = rng.standard_normal((700, 77)).astype(np.float32) + 0.3
    q = rng.standard_normal((13, 77)).astype(np.float32)
    cand = rng.integers(-1, 700, size=(13, 40))
    for metric in ("l2", "ip"):
        out[f"rerank_{metric}_d"], out[f"rerank_{metric}_i"] = qvec.rerank(q, cand, x, 5, metric)
    out.update(_nearest(rng))
    out.update(_probe_kernels(rng))
    return out


def _probe_kernels(rng: np.random.Generator) -> Outputs:
    """The one-query probe's kernels: l2sqr of one query to many rows (the same bits as the
    level's l2sqr: "same" is 1 at every level; tails past the 8 / 16 lanes, 4-row groups and
    a remainder); dot_direct of 1..3 queries to many rows (the IP probe) against one row per
    call, the same bits; the byte shadow's integer products (exact: equal at every level)."""
    out: Outputs = {}
    for n, d in ((7, 5), (33, 45), (70, 128), (13, 200)):
        x = rng.standard_normal((n, d)).astype(np.float32) * 3
        x[1] = 0.0                                         # a zero row
        q = rng.standard_normal(d).astype(np.float32)
        direct, rows = _core.ivf_probe_kernels(q, x)
        out[f"probe_d{d}_direct"] = direct
        out[f"probe_d{d}_same"] = np.array([np.array_equal(direct, rows)])
        codes = rng.integers(-127, 128, size=(n, d)).astype(np.int8)
        out[f"probe_d{d}_bytes"] = _core.ivf_probe_byte_kernel(
            rng.integers(0, 128, size=d).astype(np.uint8), codes)
        for nq in (1, 2, 3):        # dot_direct's 4-, 2- and 1-row groups beside one at a time
            grouped, single = _core.ivf_probe_dot_kernels(
                np.ascontiguousarray(x[:nq] + q), x)
            out[f"probe_d{d}_dot{nq}"] = grouped
            out[f"probe_d{d}_dot{nq}_same"] = np.array([np.array_equal(grouped, single)])
    return out


def _nearest(rng: np.random.Generator) -> Outputs:
    """Nearest centroid (k-means / IVF assignment): the per-8-row kernel (d < 16, one pack)
    and the pair-blocked one (odd pack counts padded, a partial row block, d past one
    component chunk), with duplicate centroids in other lanes and packs (ties to the smaller
    index) and data far from the origin (rows the expansion cannot decide)."""
    out: Outputs = {}
    for n, d, k in ((301, 7, 13), (1337, 45, 100), (300, 200, 70)):
        x = rng.standard_normal((n, d)).astype(np.float32)
        centroids = x[rng.choice(n, k, replace=False)] + 0.1
        centroids[k - 3] = centroids[min(k - 1, 18)] = centroids[2]
        out[f"assign_d{d}_k{k}"] = _core.ivf_assign(x, centroids)
        out[f"assign_far_d{d}_k{k}"] = _core.ivf_assign(x + 1e3, centroids + 1e3)
        out[f"kmeans_d{d}_k{k}"] = _core.ivf_train_centroids(x, k // 2, n, 4, 7)
        out[f"kmeans_spherical_d{d}_k{k}"] = _core.ivf_train_centroids(x + 3, k // 2, n, 4, 7,
                                                                       spherical=True)
        # The kernel's own answer, before the exact re-decision hides its slips: rows close to
        # one centroid (no near ties but the duplicates), a third of them to the duplicated one
        # (two copies in its own lane of later packs: ties to the smaller index).
        near = np.where(np.arange(n) % 3 == 0, 2, rng.integers(0, k, n))
        rows = centroids[near] + 0.01 * rng.standard_normal((n, d)).astype(np.float32)
        index, best, second = _core.nearest_candidates(rows, centroids)
        out[f"candidates_d{d}_k{k}_index"] = index
        out[f"candidates_d{d}_k{k}_best"] = best
        out[f"candidates_d{d}_k{k}_second"] = second
    return out


def pq8() -> Outputs:
    """8-bit PQ: encoding (nearest centroid), tables, ADC scan (raw and packed), SDC, k-means."""
    out: Outputs = {}
    rng = np.random.default_rng(98)
    pq_base = rng.standard_normal((2000, 24)).astype(np.float32)
    pq_queries = rng.standard_normal((13, 24)).astype(np.float32)
    for metric in ("l2", "ip"):
        pq = qvec.ProductQuantizer(24, 6, metric=metric)
        # Fixed codebooks so that every level scans the same codes.
        pq.codebooks = np.random.default_rng(5).standard_normal((6, 256, 4)).astype(np.float32)
        codes = pq.encode(pq_base)
        out[f"{metric}_codes"] = codes
        out[f"{metric}_tables"] = pq.distance_tables(pq_queries)
        out[f"{metric}_adc_d"], out[f"{metric}_adc_i"] = pq.search(pq_queries, codes, 21)
        out[f"{metric}_adc_packed_d"], out[f"{metric}_adc_packed_i"] = pq.search(
            pq_queries, pq.pack(codes), 21)
        out[f"{metric}_sdc_d"], out[f"{metric}_sdc_i"] = pq.search_sdc(
            pq.encode(pq_queries), codes, 21)
    trained = qvec.ProductQuantizer(24, 6).fit(pq_base, iters=3, seed=4)
    out["trained_codebooks"] = trained.codebooks
    return out


def pqbits() -> Outputs:
    """PQ codes of 3 and 6 bits (bit-packed, searched by the 4-bit and 8-bit kernels after
    widening): encoding, tables, quantized and exact searches, odd m so codes straddle bytes."""
    out: Outputs = {}
    rng = np.random.default_rng(97)
    base = rng.standard_normal((1500, 20)).astype(np.float32)
    queries = rng.standard_normal((11, 20)).astype(np.float32)
    for nbits in (3, 6):
        for metric in ("l2", "ip"):
            pq = qvec.ProductQuantizer(20, 5, nbits, metric=metric)
            pq.codebooks = np.random.default_rng(nbits).standard_normal(
                (5, 1 << nbits, 4)).astype(np.float32)
            codes = pq.encode(base)
            key = f"b{nbits}_{metric}"
            out[f"{key}_codes"] = codes
            out[f"{key}_tables"] = pq.distance_tables(queries)
            out[f"{key}_d"], out[f"{key}_i"] = pq.search(queries, codes, 17)
            out[f"{key}_exact_d"], out[f"{key}_exact_i"] = pq.search(queries, pq.pack(codes), 17,
                                                                     rescore="exact")
    return out


def pq4() -> Outputs:
    """4-bit fast-scan: packing, table quantization, the 16-bit scan, and the three search
    modes (quantized, re-scored, exact), over m and n around the block sizes."""
    out: Outputs = {}
    rng = np.random.default_rng(3)
    for m in (1, 2, 5, 6, 8, 13, 32):
        for n in (1, 31, 33, 100, 1000):
            full = rng.integers(0, 16, size=(n, m)).astype(np.uint8)
            tables = rng.random((9, m, 16)).astype(np.float32)
            packed = _core.fastscan_pack(pack_nibbles(full), m)
            luts, bias, scale = _core.fastscan_quantize_tables(tables)
            key = f"m{m}_n{n}"
            out[f"{key}_packed"] = packed
            out[f"{key}_luts"], out[f"{key}_bias"], out[f"{key}_scale"] = luts, bias, scale
            out[f"{key}_sums"] = _core.fastscan_scan_sums(luts, packed, n, m)
            for rescore, exact in ((0, False), (2, False), (0, True)):
                d, i = _core.fastscan_search(tables, packed, n, 10, rescore, exact)
                out[f"{key}_r{rescore}_e{int(exact)}_d"] = d
                out[f"{key}_r{rescore}_e{int(exact)}_i"] = i
    # Every query count of one kernel call (up to kFsMaxQueries = 8 share a code load), odd
    # ones included, on m with and without a last pair of subquantizers (m2 % 4 == 2).
    for m in (3, 6, 13, 32):
        full = rng.integers(0, 16, size=(1000, m)).astype(np.uint8)
        packed = _core.fastscan_pack(pack_nibbles(full), m)
        for nq in range(1, 9):
            tables = rng.random((nq, m, 16)).astype(np.float32)
            luts = _core.fastscan_quantize_tables(tables)[0]
            key = f"m{m}_q{nq}"
            out[f"{key}_sums"] = _core.fastscan_scan_sums(luts, packed, 1000, m)
            for rescore, exact in ((0, False), (0, True)):
                d, i = _core.fastscan_search(tables, packed, 1000, 10, rescore, exact)
                out[f"{key}_r{rescore}_e{int(exact)}_d"] = d
                out[f"{key}_r{rescore}_e{int(exact)}_i"] = i
    return out


def _packed_bits(rng: np.random.Generator, n: int, nbytes: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)


def hamming() -> Outputs:
    """XOR + popcount tiles: all-pairs distances and top-k, odd byte counts and long codes."""
    out: Outputs = {}
    rng = np.random.default_rng(7)
    for nbytes in (1, 37, 48, 601):
        a, b = _packed_bits(rng, 11, nbytes), _packed_bits(rng, 530, nbytes)
        out[f"b{nbytes}_dist"] = qvec.hamming_distances(a, b)
        out[f"b{nbytes}_d"], out[f"b{nbytes}_i"] = qvec.hamming_search(a, b, 7)
    many = _packed_bits(rng, 70, 48)
    out["many_d"], out["many_i"] = qvec.hamming_search(many, _packed_bits(rng, 1500, 48), 10)
    for nq in (1, 2, 5):  # every query-row count of the kernels (4 per code load, 1..3 left)
        out[f"q{nq}_dist"] = qvec.hamming_distances(_packed_bits(rng, nq, 300),
                                                    _packed_bits(rng, 77, 300))
    # Every bit set over 75 words: byte-wise count sums (avx512_skx) must stop before 255.
    out["ones_dist"] = qvec.hamming_distances(np.zeros((3, 601), np.uint8),
                                              np.full((17, 601), 255, np.uint8))
    return out


def rabitq() -> Outputs:
    """Asymmetric binary codes: encoding, AND + popcount over query bit planes for every
    query_bits step, and the symmetric level-pair scan."""
    out: Outputs = {}
    rng = np.random.default_rng(8)
    x = rng.standard_normal((700, 77)).astype(np.float32) + 0.3
    q = rng.standard_normal((13, 77)).astype(np.float32)
    mean = x.mean(0).astype(np.float32)
    for bits in (1, 3):
        for metric in ("ip", "l2"):
            bq = qvec.BinaryQuantizer(77, bits, metric)
            bq._bq.set_transform(mean, None)  # no rotation: encoding is the same at every level
            codes, qcodes = bq.encode(x), bq.encode(q)
            tag = f"b{bits}_{metric}"
            out[f"{tag}_codes"], out[f"{tag}_factors"] = codes.codes, codes.factors
            for qb in (1, 4, 5, 8):
                out[f"{tag}_q{qb}_d"], out[f"{tag}_q{qb}_i"] = bq.search(q, codes, 9,
                                                                         query_bits=qb)
            out[f"{tag}_sym_d"], out[f"{tag}_sym_i"] = bq.search_symmetric(qcodes, codes, 9)
    # Over 31 words per level (the byte-sum runs of avx512_skx) and every bit set.
    long = np.abs(rng.standard_normal((40, 2100))).astype(np.float32)
    lq = np.abs(rng.standard_normal((3, 2100))).astype(np.float32)
    bq = qvec.BinaryQuantizer(2100, 1, "ip")
    bq._bq.set_transform(np.zeros(2100, np.float32), None)
    lcodes = bq.encode(long)
    for qb in (4, 8):
        out[f"long_q{qb}_d"], out[f"long_q{qb}_i"] = bq.search(lq, lcodes, 5, query_bits=qb)
    rotated = qvec.BinaryQuantizer(77, 2, rotate="random").fit(x, seed=1)
    enc = rotated.encode(x)
    out["rotated_codes"], out["rotated_factors"] = enc.codes, enc.factors
    return out


def exrabitq() -> Outputs:
    """Extended-RaBitQ float-query search: the code inner products (ExRabitqKernels) of every
    candidate, exhaustive and after the 1-bit pruning pass (1-bit codes too), plane sizes with
    SIMD tails."""
    out: Outputs = {}
    rng = np.random.default_rng(12)
    for dim in (37, 77, 160):   # 5, 10 and 20 bytes per plane
        x = rng.standard_normal((900, dim)).astype(np.float32) + 0.2
        q = rng.standard_normal((11, dim)).astype(np.float32)
        mean = x.mean(0).astype(np.float32)
        for bits in (1, 2, 5, 8):   # 1: the sign code alone, no sign_dots
            for metric in ("ip", "l2"):
                bq = qvec.BinaryQuantizer(dim, bits, metric, method="extended")
                bq._bq.set_transform(mean, None)  # no rotation: the codes match at every level
                codes = bq.encode(x)
                tag = f"d{dim}_b{bits}_{metric}"
                out[f"{tag}_exact_d"], out[f"{tag}_exact_i"] = bq.search(q, codes, 9, exact=True)
                out[f"{tag}_pruned_d"], out[f"{tag}_pruned_i"] = bq.search(q, codes, 9, eps=6.0)
    return out


def filters() -> Outputs:
    """Allowed-id filters inside every scanner (bitset, sorted ids, range): the ids of each
    filtered search, and whether they equal the search over the allowed rows at this level."""
    out: Outputs = {}
    rng = np.random.default_rng(41)
    base = rng.standard_normal((1201, 24)).astype(np.float32)
    queries = rng.standard_normal((5, 24)).astype(np.float32)
    sub = np.sort(rng.choice(1201, 90, replace=False))
    mask = np.zeros(1201, dtype=bool)
    mask[sub] = True
    pq8 = qvec.ProductQuantizer(24, 6, 8).fit(base, iters=3, seed=0)
    pq4 = qvec.ProductQuantizer(24, 6, 4).fit(base, iters=3, seed=0)
    bq = qvec.BinaryQuantizer(24, bits=2, rotate=None).fit(base)
    c8, c4, cb = pq8.encode(base), pq4.encode(base), bq.encode(base)
    bits = np.packbits(base > 0, axis=1)
    searches = {
        "exact": lambda rows, f: qvec.exact_search(queries, base[rows], 7, "l2") if f is None
        else _core.exact_search(queries, base, 7, "l2", _filter(f)),
        "pq8": lambda rows, f: pq8.search(queries, c8[rows] if f is None else c8, 7, filter=f),
        "pq4": lambda rows, f: pq4.search(queries, c4[rows] if f is None else c4, 7, filter=f),
        "pq4_exact": lambda rows, f: pq4.search(queries, c4[rows] if f is None else c4, 7,
                                                rescore="exact", filter=f),
        "hamming": lambda rows, f: qvec.hamming_search(
            np.packbits(queries > 0, axis=1), bits[rows] if f is None else bits, 7)
        if f is None else _core.hamming_search(np.packbits(queries > 0, axis=1), bits, 7,
                                               _filter(f)),
        "rabitq": lambda rows, f: bq.search(queries, qvec.BinaryCodes(
            cb.codes[rows], cb.factors[rows]) if f is None else cb, 7, filter=f),
    }
    for name, search in searches.items():
        for form, f, rows in (("mask", mask, sub), ("ids", sub, sub),
                              ("range", range(300, 420), np.arange(300, 420))):
            ids = search(None, f)[1]
            ref = search(rows, None)[1]
            out[f"{name}_{form}_i"] = ids
            out[f"{name}_{form}_same"] = np.array_equal(ids, np.where(ref >= 0, rows[ref], -1))
    return out


def _filter(f: object) -> object:
    from qvec.index.filter import id_filter

    return id_filter(f, 1201)


def sq8() -> Outputs:
    """Int8 scalar quantization: the float-query kernel (its sums are fused multiply-adds in
    dimension order at every level, so equal, not close) and the int8 kernel (exact int32), over
    dims around the 4-dimension groups, blocks of 16, 1..8+ query rows, and extreme codes."""
    out: Outputs = {}
    rng = np.random.default_rng(16)
    for dim in (1, 5, 37, 64):
        x = rng.standard_normal((301, dim)).astype(np.float32)
        q = rng.standard_normal((11, dim)).astype(np.float32)
        for metric in ("l2", "ip"):
            sq = qvec.ScalarQuantizer(dim, metric=metric).fit(x)
            codes = sq.encode(x)
            tag = f"d{dim}_{metric}"
            out[f"{tag}_codes"] = codes
            out[f"{tag}_d"], out[f"{tag}_i"] = sq.search(q, codes, 13)
            out[f"{tag}_one_d"], out[f"{tag}_one_i"] = sq.search(q[:1], codes, 5)
            out[f"{tag}_sym_d"], out[f"{tag}_sym_i"] = sq.search_symmetric(sq.encode(q), codes,
                                                                           13)
    extreme = rng.choice(np.array([-128, 127, -1], dtype=np.int8), size=(150, 300))
    for metric in ("l2", "ip"):
        sq = qvec.ScalarQuantizer(300, metric=metric)
        out[f"extreme_{metric}_d"], out[f"extreme_{metric}_i"] = sq.search_symmetric(
            extreme[:9], extreme, 20)
    out.update(_ivf_sq8(rng))
    return out


def _ivf_sq8(rng: np.random.Generator) -> Outputs:
    """IVF lists of residual int8 codes (IVFIndex codec "sq8"), scanned by the sq8 kernel.
    Centroids are set, not trained, so only the scan differs between levels; the coarse
    distances are dense-kernel sums, so distances are close, ids equal."""
    out: Outputs = {}
    x = rng.standard_normal((700, 24)).astype(np.float32)
    q = rng.standard_normal((9, 24)).astype(np.float32)
    for metric in ("l2", "ip"):
        index = qvec.IVFIndex(24, 6, "sq8", metric)
        index.centroids = x[:6] * 2.0
        centroids = index.centroids
        assign = ((x[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(1)
        index.quantizer.fit(x - centroids[assign])  # the codec of this fresh, empty index
        index.add(x)
        out[f"ivf_{metric}_d"], out[f"ivf_{metric}_i"] = index.search(q, 17, nprobe=3)
    return out


def maxsim() -> Outputs:
    """MaxSim (multivec): byte-code, weighted byte-code and float scorers over bags of 1..9
    tokens (the four-token passes and their tails) and 1..21 query tokens (one and two lane
    blocks); every level sums in the scalar order, so the unweighted byte scores are
    identical."""
    rng = np.random.default_rng(13)
    sizes = rng.integers(1, 10, size=60)
    doc_off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    ntok = int(doc_off[-1])
    q_off = np.array([0, 1, 6, 22, 43], dtype=np.int64)
    nt = int(q_off[-1])
    out: Outputs = {}
    for m, groups in ((5, 1), (6, 2)):
        tables = rng.standard_normal((nt, m, 256)).astype(np.float32)
        codes = rng.integers(0, 256, size=(ntok, m), dtype=np.uint8)
        weights = rng.uniform(0.1, 2, size=(ntok, groups)).astype(np.float32) if groups > 1 \
            else None
        bias = rng.standard_normal(nt).astype(np.float32)
        tag = f"m{m}g{groups}"
        out[f"{tag}_s"], out[f"{tag}_i"] = _core.maxsim_search_codes(
            tables, bias, groups, q_off, codes, weights, doc_off, None, None, None, 70)
    for dim in (7, 33):
        q = rng.standard_normal((nt, dim)).astype(np.float32)
        x = rng.standard_normal((ntok, dim)).astype(np.float32)
        out[f"float{dim}_s"], out[f"float{dim}_i"] = _core.maxsim_search_float(
            q, q_off, x, doc_off, None, None, None, 70)
    return out


def ivfpq4() -> Outputs:
    """IVF 4-bit pair tables (ivfspeed): query table + list term quantized with one scale, rows
    with ties, constant rows and entries past 255 (clamped)."""
    rng = np.random.default_rng(17)
    out: Outputs = {}
    for m in (1, 3, 64):
        query = rng.standard_normal((m, 16)).astype(np.float32)
        term = rng.standard_normal((m, 16)).astype(np.float32)
        query[0, :4] = query[0, 4]
        if m > 1:
            query[1] = 2.5
        for scale in (0.3, 37.0, 200.0):
            for name, t in (("q", None), ("qt", term)):
                lut, bias = _core.ivf_quantize_pair_table(query, t, scale)
                out[f"m{m}_s{scale}_{name}_lut"] = lut
                out[f"m{m}_s{scale}_{name}_bias"] = np.float32(bias)
    return out


def luts() -> Outputs:
    """The LUT quantizer's row passes (pqlut family) on 16- and 256-entry rows: ties, constant
    rows, a row far from zero, and a span that forces the 16-bit sum limit."""
    rng = np.random.default_rng(23)
    out: Outputs = {}
    for ksub in (16, 256):
        for m in (1, 5, 64):
            table = rng.standard_normal((m, ksub)).astype(np.float32)
            table[0, : ksub // 4] = table[0, ksub // 4]
            if m > 1:
                table[1] = -3.25
                table[2] += 1e4
            lut, bias, scale, slack = _core.quantize_table(table)
            out[f"k{ksub}_m{m}_lut"] = lut
            out[f"k{ksub}_m{m}_scale"] = np.float32([bias, scale, slack])
    # The 8-bit IVF pair tables of L2 by residual, their list terms computed (pair_rows).
    for m, dsub in ((1, 1), (3, 2), (8, 5)):
        books = rng.standard_normal((m, 256, dsub)).astype(np.float32)
        centroid = (rng.standard_normal(m * dsub) * 30).astype(np.float32)
        table = rng.standard_normal((m, 256)).astype(np.float32)
        out[f"pair_rows_m{m}_d{dsub}"] = _core.ivf_pq8_pair_rows(table, centroid, books)
    return out


FAMILIES: Dict[str, Callable[[], Outputs]] = {
    "dense": dense, "pq8": pq8, "pq4": pq4, "hamming": hamming, "rabitq": rabitq,
    "filters": filters, "sq8": sq8, "maxsim": maxsim,  # maxsim: multivec
    "ivfpq4": ivfpq4,  # ivfspeed
    "luts": luts,
    "pqbits": pqbits,  # PQ nbits 1..8
    "exrabitq": exrabitq,  # exrabitq
}


def battery() -> Outputs:
    """Every family's outputs, keyed "family/name", plus the level the process ran at."""
    out: Outputs = {"level": np.array(qvec.simd_level())}
    for family, run in FAMILIES.items():
        for name, value in run().items():
            out[f"{family}/{name}"] = np.asarray(value)
    return out


if __name__ == "__main__":
    np.savez(sys.argv[1], **battery())
