"""The methods bench/ann.py compares: one small class per method, in a registry.

A method builds an index from a dataset for each of its build parameter sets (timed), then
searches it for each of its search parameter sets. Methods of optional libraries (faiss-cpu,
rabitqlib) and of qvec features that may not exist yet (4-bit PQ, binary codes) say so through
available(), so new qvec features light up here without code changes.

To add a method: subclass Method, fill in name / library and the five methods, and decorate
the class with @register.
"""
from __future__ import annotations

import os
import tempfile
from typing import Dict, List, Optional, Tuple

import numpy as np

REGISTRY: Dict[str, "Method"] = {}

# Code sizes (bytes per vector) swept by the PQ-like methods, and re-ranking depths (search
# factor * k candidates re-scored with the float vectors; 0 = no re-ranking).
CODE_BYTES = (8, 16, 32, 64)
CODE_BYTES_QUICK = (8, 16)
RERANK = (0, 2, 4, 10)
RERANK_QUICK = (0, 4)


def register(cls):
    REGISTRY[cls.name] = cls()
    return cls


class Method:
    name = ""
    library = ""   # "qvec", "faiss", "rabitqlib", "scann" or "usearch"
    # The codec family a method is compared within (bench/ann.py's ratio table): "pq4", "pq8",
    # "binary" (1 bit + re-rank), "bin4" (4 bits, no re-rank), "graph"; "" for none.
    group = ""

    def available(self) -> bool:
        return True

    def build_params(self, d: int, quick: bool) -> List[dict]:
        return [{}]

    def search_params(self, build: dict, quick: bool) -> List[dict]:
        return [{}]

    def build(self, ds, **params):
        """Returns the index (any object); the runner times this call."""
        raise NotImplementedError

    def search(self, index, queries: np.ndarray, k: int, threads: int, **params) -> np.ndarray:
        """Returns (nq, k) int64 ids, best first."""
        raise NotImplementedError

    def memory(self, index, ds, build: dict, search: dict) -> Tuple[float, float]:
        """(bytes per vector the index needs, bytes per vector its scan reads)."""
        raise NotImplementedError


# ------------------------------------------------------------------------------- helpers

def divisor_near(d: int, target: int) -> int:
    """The divisor of d closest to target (the smaller one on a tie)."""
    divisors = [m for m in range(1, d + 1) if d % m == 0]
    return min(divisors, key=lambda m: (abs(m - target), m))


def sweep_m(d: int, per_byte: float, quick: bool) -> List[int]:
    """Subquantizer counts giving the swept code sizes (m = bytes * per_byte, dividing d)."""
    out = []
    for nbytes in (CODE_BYTES_QUICK if quick else CODE_BYTES):
        m = divisor_near(d, int(round(nbytes * per_byte)))
        if m <= d and m not in out:
            out.append(m)
    return out


def rerank_sweep(quick: bool) -> List[dict]:
    return [{"rerank": r} for r in (RERANK_QUICK if quick else RERANK)]


def set_threads(threads: int) -> None:
    import qvec

    qvec.set_num_threads(threads)
    try:
        import faiss

        faiss.omp_set_num_threads(threads)
    except ImportError:
        pass


def exact_rerank(queries: np.ndarray, candidates: np.ndarray, base: np.ndarray, k: int,
                 metric: str) -> np.ndarray:
    """Exact re-ranking of candidate ids (nq, c) with the float base vectors; returns (nq, k)
    ids."""
    import qvec

    return qvec.rerank(queries, candidates, base, k, metric=metric)[1]


def _faiss_metric(metric: str):
    import faiss

    return faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT


def _have(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


# ------------------------------------------------------------------------------- qvec

@register
class QvecExact(Method):
    name, library = "qvec-exact", "qvec"

    def build(self, ds):
        return ds

    def search(self, index, queries, k, threads):
        import qvec

        return qvec.exact_search(queries, index.base, k, metric=index.metric)[1]

    def memory(self, index, ds, build, search):
        return 4.0 * ds.base.shape[1], 4.0 * ds.base.shape[1]


class _QvecCodes(Method):
    """qvec quantizers with encode / search(q, codes, k): the shared search + re-rank path."""
    library = "qvec"

    def search_params(self, build, quick):
        return rerank_sweep(quick)

    def search(self, index, queries, k, threads, rerank=0):
        quantizer, codes, ds = index
        if rerank:
            _, cand = quantizer.search(queries, codes, rerank * k)
            return exact_rerank(queries, cand, ds.base, k, ds.metric)
        return quantizer.search(queries, codes, k)[1]

    def memory(self, index, ds, build, search):
        code_bytes = index[1].nbytes / index[1].shape[0]
        raw = 4.0 * ds.base.shape[1] if search.get("rerank") else 0.0
        return code_bytes + raw, code_bytes


@register
class QvecPQ8(_QvecCodes):
    name = "qvec-pq8"

    def build_params(self, d, quick):
        return [{"m": m} for m in sweep_m(d, 1.0, quick)]

    def build(self, ds, m):
        import qvec

        pq = qvec.ProductQuantizer(ds.base.shape[1], m, nbits=8, metric=ds.metric).fit(ds.train)
        return pq, pq.encode(ds.base), ds


@register
class QvecPQ4(_QvecCodes):
    """4-bit PQ (fast-scan), when qvec has it."""
    name = "qvec-pq4"

    def available(self):
        import qvec

        try:
            qvec.ProductQuantizer(8, 2, nbits=4)
            return True
        except (ValueError, TypeError):
            return False

    def build_params(self, d, quick):
        return [{"m": m} for m in sweep_m(d, 2.0, quick)]

    def build(self, ds, m):
        import qvec

        pq = qvec.ProductQuantizer(ds.base.shape[1], m, nbits=4, metric=ds.metric).fit(ds.train)
        return pq, pq.encode(ds.base), ds


@register
class QvecBinary(_QvecCodes):
    """Binary codes (qvec.BinaryQuantizer), when qvec has them."""
    name = "qvec-binary"

    def available(self):
        import qvec

        return hasattr(qvec, "BinaryQuantizer")

    def build_params(self, d, quick):
        return [{"bits": b} for b in ((1, 4) if quick else (1, 2, 4))]

    def build(self, ds, bits):
        import qvec

        bq = qvec.BinaryQuantizer(ds.base.shape[1], bits, ds.metric,
                                   rotate="random").fit(ds.train)
        return bq, bq.encode(ds.base), ds


# ------------------------------------------------------------------------------- faiss

class _Faiss(Method):
    library = "faiss"

    def available(self):
        return _have("faiss")

    def search(self, index, queries, k, threads, rerank=None):
        if rerank is not None:
            index.k_factor = float(rerank)
        return index.search(queries, k)[1]


@register
class FaissFlat(_Faiss):
    name = "faiss-flat"

    def build(self, ds):
        import faiss

        index = faiss.IndexFlat(ds.base.shape[1], _faiss_metric(ds.metric))
        index.add(ds.base)
        return index

    def memory(self, index, ds, build, search):
        return 4.0 * ds.base.shape[1], 4.0 * ds.base.shape[1]


@register
class FaissPQ(_Faiss):
    name = "faiss-pq"
    nbits, per_byte = 8, 1.0

    def build_params(self, d, quick):
        return [{"m": m} for m in sweep_m(d, self.per_byte, quick)]

    def make(self, ds, m):
        import faiss

        return faiss.IndexPQ(ds.base.shape[1], m, self.nbits, _faiss_metric(ds.metric))

    def build(self, ds, m):
        index = self.make(ds, m)
        index.train(ds.train)
        index.add(ds.base)
        return index

    def memory(self, index, ds, build, search):
        code = build["m"] * self.nbits / 8.0
        return code, code


@register
class FaissPQFastScan(FaissPQ):
    name = "faiss-pqfastscan"
    nbits, per_byte = 4, 2.0

    def make(self, ds, m):
        import faiss

        return faiss.IndexPQFastScan(ds.base.shape[1], m, self.nbits, _faiss_metric(ds.metric))


@register
class FaissPQRefine(FaissPQ):
    """IndexRefineFlat over IndexPQ: k_factor * k PQ candidates re-ranked exactly."""
    name = "faiss-pq+refine"

    def search_params(self, build, quick):
        return [{"rerank": r} for r in (RERANK_QUICK if quick else RERANK) if r]

    def build(self, ds, m):
        import faiss

        index = faiss.IndexRefineFlat(self.make(ds, m))
        index.train(ds.train)
        index.add(ds.base)
        return index

    def memory(self, index, ds, build, search):
        code = build["m"] * self.nbits / 8.0
        return code + 4.0 * ds.base.shape[1], code


@register
class FaissPQFastScanRefine(FaissPQRefine):
    name = "faiss-pqfastscan+refine"
    nbits, per_byte = 4, 2.0
    make = FaissPQFastScan.make


@register
class FaissBinaryFlat(_Faiss):
    """IndexBinaryFlat over sign bits of the centred vectors (d bits), optionally re-ranked."""
    name = "faiss-binary"

    def search_params(self, build, quick):
        return rerank_sweep(quick)

    def build(self, ds):
        import faiss

        mean = ds.train.mean(axis=0, dtype=np.float64).astype(np.float32)
        d = ds.base.shape[1]
        index = faiss.IndexBinaryFlat(((d + 7) // 8) * 8)
        index.add(np.packbits(ds.base > mean, axis=1))
        return index, mean, ds

    def search(self, index, queries, k, threads, rerank=0):
        bindex, mean, ds = index
        qcodes = np.packbits(queries > mean, axis=1)
        if rerank:
            cand = bindex.search(qcodes, rerank * k)[1]
            return exact_rerank(queries, cand, ds.base, k, ds.metric)
        return bindex.search(qcodes, k)[1]

    def memory(self, index, ds, build, search):
        code = float((ds.base.shape[1] + 7) // 8)
        return code + (4.0 * ds.base.shape[1] if search.get("rerank") else 0.0), code


# ------------------------------------------------------------------------------- rabitqlib

@register
class RabitqFlat(Method):
    """rabitqlib IvfIndex with a single cluster (a flat RaBitQ scan, nprobe = 1): 1 bit per
    dimension plus nbits - 1 extra bits used to re-estimate the candidates."""
    name, library = "rabitq", "rabitqlib"

    def available(self):
        return _have("rabitqlib")

    def build_params(self, d, quick):
        return [{"nbits": b} for b in ((1, 4) if quick else (1, 2, 4, 7))]

    @staticmethod
    def pad(x: np.ndarray) -> np.ndarray:
        """Zero-pads to a multiple of 64 dimensions (its rotator's requirement); zeros change
        neither L2 distances nor inner products."""
        extra = -x.shape[1] % 64
        return np.pad(x, ((0, 0), (0, extra))) if extra else x

    def build(self, ds, nbits):
        import rabitqlib

        base = self.pad(ds.base)
        n, d = base.shape
        index = rabitqlib.IvfIndex(d, n, 1, nbits, ds.metric)
        centroid = base.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
        index.build(base, centroid, np.zeros(n, dtype=np.uint32), num_threads=os.cpu_count() or 1)
        return index

    def search(self, index, queries, k, threads):
        queries = self.pad(queries)
        ids = index.search(queries, k, 1, num_threads=threads)[0].astype(np.int64)
        ids[ids >= np.iinfo(np.uint32).max] = -1   # padding, if any
        return ids

    def memory(self, index, ds, build, search):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "index.bin")
            index.save(path)
            total = os.path.getsize(path) / ds.base.shape[0]
        return total, total


# ------------------------------------------------------------------------------- IVF
# qvec.IVFIndex beside the partitioned indexes of the other libraries, all with the same nlist
# (IVF_NLIST, or qvec's auto_nlist(n): 1024 for 50k, 4096 for 1M) and coarse quantizers
# trained on the same sample (the first 64 * nlist base vectors; the shared datasets are
# shuffled). Re-ranking depth is a factor of k: qvec rerank = factor * k candidates, faiss
# IndexRefineFlat k_factor = factor, ScaNN pre_reorder_num_neighbors = factor * k.
# `group` puts each qvec method with the peers of the same codec for the README ratios.

NPROBE = (8, 16, 32, 64, 128)
NPROBE_QUICK = (8, 32)
IVF_RERANK = (2, 4, 10)
HNSW_EF = (16, 32, 64, 128, 256, 512)
PQ4_M = 0              # 0: m = d / 2 (d / 2 bytes); bench/ann.py --pq4-m sets it
IVF_NLIST = 0          # 0: qvec's auto_nlist(n); bench/ann.py --nlist sets it
TRAIN_PER_LIST = 64


def ivf_nlist(n: int) -> int:
    from qvec.index.ivf import auto_nlist

    return IVF_NLIST or auto_nlist(n)


def ivf_train(ds, nlist: int) -> np.ndarray:
    """The training sample every IVF method uses: the first TRAIN_PER_LIST * nlist vectors."""
    return np.ascontiguousarray(ds.base[:min(ds.base.shape[0], TRAIN_PER_LIST * nlist)])


def pq_m(d: int, per_byte: float, quick: bool) -> List[dict]:
    """The one m an IVF PQ method builds: PQ4_M for 4-bit codes when set, else the largest
    code size of the flat sweep."""
    if per_byte == 2.0 and PQ4_M:
        return [{"m": PQ4_M}]
    return [{"m": m} for m in sweep_m(d, per_byte, quick)[-1:]]


def nprobe_rerank(quick: bool, rerank: bool) -> List[dict]:
    factors = [r for r in (RERANK_QUICK if quick else IVF_RERANK) if r] if rerank else [0]
    return [{"nprobe": p, "rerank": r} for p in (NPROBE_QUICK if quick else NPROBE)
            for r in factors]


class _QvecIVF(Method):
    library = "qvec"
    codec, per_byte, refine, bits, group = "pq4", 2.0, True, 1, "pq4"
    method = "residual"    # binary codes' form (IVFIndex method)

    def build_params(self, d, quick):
        return pq_m(d, self.per_byte, quick)

    def search_params(self, build, quick):
        return nprobe_rerank(quick, self.refine)

    def build(self, ds, m=None):
        import qvec

        kw = {"m": m} if m is not None else {}
        if self.codec == "binary":
            kw["bits"] = self.bits
            kw["method"] = self.method
        nlist = ivf_nlist(ds.base.shape[0])
        index = qvec.IVFIndex(ds.base.shape[1], nlist, codec=self.codec, metric=ds.metric,
                              keep_vectors=self.refine, **kw)
        index.fit(ivf_train(ds, nlist), seed=0)
        index.add(ds.base)
        index.search(ds.queries[:1], 1)   # lays out the lists: part of the build
        return index

    def search(self, index, queries, k, threads, nprobe=8, rerank=0):
        return index.search(queries, k, rerank=rerank * k or None, nprobe=nprobe)[1]

    def code_bytes(self, ds, build) -> float:
        return build["m"] * (0.5 if self.codec == "pq4" else 1.0)

    def memory(self, index, ds, build, search):
        # bytes_per_vector: codes, kept floats and ids, as the index holds them
        return float(index.bytes_per_vector), self.code_bytes(ds, build)


@register
class QvecIVFPQ4R(_QvecIVF):
    name = "qvec-ivf-pq4+refine"


@register
class QvecIVFPQ8(_QvecIVF):
    name = "qvec-ivf-pq8"
    codec, per_byte, refine, group = "pq8", 1.0, False, "pq8"


@register
class QvecIVFBin(_QvecIVF):
    """RaBitQ-style: 1 bit per dimension of the rotated residual, exact re-rank."""
    name = "qvec-ivf-bin1+refine"
    codec, group = "binary", "binary"

    def build_params(self, d, quick):
        return [{}]

    def code_bytes(self, ds, build):
        return self.bits * ds.base.shape[1] / 8.0 + 8.0   # bits + its two float factors


@register
class QvecIVFBin4(QvecIVFBin):
    """Extended RaBitQ, 4 bits per dimension, no re-ranking (rabitqlib's setting)."""
    name = "qvec-ivf-bin4"
    refine, bits, group, method = False, 4, "bin4", "extended"


@register
class QvecIVFFlat(_QvecIVF):
    name = "qvec-ivf-flat"
    codec, refine, group = "flat", False, "flat"

    def build_params(self, d, quick):
        return [{}]

    def code_bytes(self, ds, build):
        return 4.0 * ds.base.shape[1]


class _FaissIVF(_Faiss):
    key, per_byte, refine, nbits, group = "PQ{m}x4fs", 2.0, True, 4, "pq4"

    def build_params(self, d, quick):
        return pq_m(d, self.per_byte, quick)

    def search_params(self, build, quick):
        return nprobe_rerank(quick, self.refine)

    def build(self, ds, m=None):
        import faiss

        nlist = ivf_nlist(ds.base.shape[0])
        spec = f"IVF{nlist}," + self.key.format(m=m)
        if self.refine:
            spec += ",RFlat"
        index = faiss.index_factory(ds.base.shape[1], spec, _faiss_metric(ds.metric))
        index.train(ivf_train(ds, nlist))
        index.add(ds.base)
        return index

    def search(self, index, queries, k, threads, nprobe=8, rerank=0):
        import faiss

        if self.refine:
            faiss.extract_index_ivf(index.base_index).nprobe = nprobe
            index.k_factor = float(rerank)
        else:
            faiss.extract_index_ivf(index).nprobe = nprobe
        return index.search(queries, k)[1]

    def memory(self, index, ds, build, search):
        import faiss

        ivf = faiss.extract_index_ivf(index.base_index if self.refine else index)
        code = float(ivf.code_size)
        return code + (4.0 * ds.base.shape[1] if self.refine else 0.0) + 8.0, code


@register
class FaissIVFPQ4R(_FaissIVF):
    """IVF..,PQ..x4fs,RFlat: faiss's factory encodes the vectors, not the residuals."""
    name = "faiss-ivf-pq4fs+refine"


@register
class FaissIVFPQ4RR(_FaissIVF):
    """IVF..,PQ..x4fsr,RFlat: residual encoding, as qvec does."""
    name = "faiss-ivf-pq4fsr+refine"
    key = "PQ{m}x4fsr"


@register
class FaissIVFPQ8(_FaissIVF):
    name = "faiss-ivf-pq8"
    key, per_byte, refine, nbits, group = "PQ{m}", 1.0, False, 8, "pq8"


@register
class FaissIVFRaBitQ(_FaissIVF):
    """IndexIVFRaBitQ (1 bit per dimension) under IndexRefineFlat."""
    name = "faiss-ivf-rabitq+refine"
    key, group = "RaBitQ", "binary"

    def available(self):
        return _have("faiss") and hasattr(__import__("faiss"), "IndexIVFRaBitQ")

    def build_params(self, d, quick):
        return [{}]


@register
class FaissIVFRaBitQ4(FaissIVFRaBitQ):
    """IndexIVFRaBitQ with 4 bits per dimension (RaBitQ4), no re-ranking."""
    name = "faiss-ivf-rabitq4"
    key, refine, group = "RaBitQ4", False, "bin4"


def kmeans_lists(ds, nlist: int, threads: int):
    """(centroids, assignment of every base vector) from faiss k-means on the IVF training
    sample, for the peers that take a caller's partition (rabitqlib)."""
    import faiss

    train = ivf_train(ds, nlist)
    km = faiss.Kmeans(train.shape[1], nlist, niter=10, seed=1234,
                      spherical=ds.metric == "ip")
    km.train(train)
    assign = km.index.search(ds.base, 1)[1][:, 0]
    return km.centroids, assign.astype(np.uint32)


@register
class RabitqIVF(Method):
    """rabitqlib IvfIndex: RaBitQ codes of nbits per dimension (1 + extended bits) in lists from
    faiss k-means on the shared sample; it re-estimates with its extended bits, no float
    re-ranking."""
    name, library, group = "rabitqlib-ivf", "rabitqlib", "bin4"

    def available(self):
        return _have("rabitqlib") and _have("faiss")

    def build_params(self, d, quick):
        return [{"nbits": 4}]

    def search_params(self, build, quick):
        return nprobe_rerank(quick, False)

    def build(self, ds, nbits):
        import rabitqlib

        threads = os.cpu_count() or 1
        base = RabitqFlat.pad(ds.base)
        n, d = base.shape
        nlist = ivf_nlist(n)
        centroids, assign = kmeans_lists(ds, nlist, threads)
        index = rabitqlib.IvfIndex(d, n, nlist, nbits, ds.metric)
        index.build(base, RabitqFlat.pad(centroids), assign, num_threads=threads)
        return index

    def search(self, index, queries, k, threads, nprobe=8, rerank=0):
        ids = index.search(RabitqFlat.pad(queries), k, nprobe, num_threads=threads)[0]
        ids = ids.astype(np.int64)
        ids[ids >= np.iinfo(np.uint32).max] = -1
        return ids

    def memory(self, index, ds, build, search):
        return RabitqFlat.memory(self, index, ds, build, search)


@register
class ScannAH(Method):
    """ScaNN: k-means tree (nlist leaves) + anisotropic hashing (4-bit, d/m dimensions per
    block: the bytes of PQ m x 4) + exact re-ordering with the float vectors."""
    name, library, group = "scann-ah+reorder", "scann", "pq4"

    def available(self):
        return _have("scann")

    def build_params(self, d, quick):
        return pq_m(d, 2.0, quick)

    def search_params(self, build, quick):
        return nprobe_rerank(quick, True)

    def build(self, ds, m):
        import scann

        n, d = ds.base.shape
        nlist = ivf_nlist(n)
        sample = min(n, TRAIN_PER_LIST * nlist)
        ip = ds.metric == "ip"
        builder = scann.scann_ops_pybind.builder(ds.base, 10, "dot_product" if ip else
                                                 "squared_l2")
        builder.set_n_training_threads(os.cpu_count() or 1)
        searcher = (builder.tree(num_leaves=nlist, num_leaves_to_search=8,
                                 training_sample_size=sample, training_iterations=10)
                    .score_ah(d // m, anisotropic_quantization_threshold=0.2 if ip
                              else float("nan"), training_sample_size=sample)
                    .reorder(100).build())
        return searcher

    def search(self, index, queries, k, threads, nprobe=8, rerank=0):
        index.set_num_threads(threads)
        fn = index.search_batched_parallel if threads > 1 else index.search_batched
        ids, _ = fn(queries, final_num_neighbors=k, pre_reorder_num_neighbors=max(k, rerank * k),
                    leaves_to_search=nprobe)
        return np.asarray(ids, dtype=np.int64)

    def memory(self, index, ds, build, search):
        code = build["m"] / 2.0
        return code + 4.0 * ds.base.shape[1] + 4.0, code   # + an int32 id


@register
class UsearchHNSW(Method):
    """usearch HNSW over float32 vectors (connectivity M, expansion_search sweep)."""
    name, library, group = "usearch-hnsw", "usearch", "graph"

    def available(self):
        return _have("usearch")

    def build_params(self, d, quick):
        return [{"connectivity": 16}]

    def search_params(self, build, quick):
        return [{"ef": e} for e in ((32, 128) if quick else HNSW_EF)]

    def build(self, ds, connectivity):
        from usearch.index import Index

        metric = "l2sq" if ds.metric == "l2" else "ip"
        index = Index(ndim=ds.base.shape[1], metric=metric, dtype="f32",
                      connectivity=connectivity, expansion_add=128)
        index.add(np.arange(ds.base.shape[0]), ds.base, threads=os.cpu_count() or 1)
        return index

    def search(self, index, queries, k, threads, ef=64):
        index.expansion_search = ef
        return index.search(queries, k, threads=threads).keys.astype(np.int64)

    def memory(self, index, ds, build, search):
        total = index.memory_usage / ds.base.shape[0]
        return total, 4.0 * ds.base.shape[1]


def available_methods() -> List[Method]:
    return [m for m in REGISTRY.values() if m.available()]


def select(patterns: Optional[str]) -> List[Method]:
    """Available methods whose name matches one of the comma-separated glob patterns."""
    from fnmatch import fnmatch

    methods = available_methods()
    if not patterns:
        return methods
    pats = [p.strip() for p in patterns.split(",") if p.strip()]
    return [m for m in methods if any(fnmatch(m.name, p) for p in pats)]
