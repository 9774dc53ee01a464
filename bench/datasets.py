"""Datasets for bench/ann.py, from a spec string:

  gcide-minilm, synthetic    built by ../shared/data/embeddings.py (or $QVEC_SHARED_DATA)
  synthetic-1m               the shared synthetic generator (seed 4004) at n = 1,000,000 (any
                             synthetic-<n>, e.g. synthetic-500k), exact L2 top-100 by faiss
                             IndexFlatL2; built once, cached under $QVEC_DATA_CACHE
                             (default ~/.cache/qvec-data/synthetic-1m)
  synth:n=20000,d=64,nq=200,metric=l2,clusters=64,seed=0
                             clustered Gaussian data generated in process (seconds)
  PATH[,queries=Q][,gt=G][,metric=l2|ip][,nq=1000][,name=NAME]
                             any .npy / .fvecs / .bvecs / .fbin / .u8bin base file; without
                             queries, the last nq rows are held out; without gt, the exact
                             top-100 is computed with qvec.exact_search and cached under
                             $QVEC_BENCH_CACHE (default ~/.cache/qvec-bench)
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from qvec import io as qvec_io

REPO = Path(__file__).resolve().parent.parent
GT_K = 100


@dataclass
class Dataset:
    name: str
    base: np.ndarray      # (n, d) float32
    queries: np.ndarray   # (nq, d) float32
    gt: np.ndarray        # (nq, >= k) int64, best first
    metric: str           # "l2" or "ip"
    info: Dict[str, object] = field(default_factory=dict)

    @property
    def train(self) -> np.ndarray:
        """Training vectors: the base itself (as ann-benchmarks does)."""
        return self.base


def shared_data_dir() -> Path:
    return Path(os.environ.get("QVEC_SHARED_DATA", REPO.parent / "shared" / "data"))


def cache_dir() -> Path:
    return Path(os.environ.get("QVEC_BENCH_CACHE", Path.home() / ".cache" / "qvec-bench"))


# ------------------------------------------------------------------------------- file formats

# .npy, .fvecs / .ivecs / .bvecs and .fbin / .ibin / .u8bin / .i8bin, headers checked against
# the file size: the readers qvec itself ships.
read_vectors = qvec_io.read_vectors


def exact_ground_truth(base, queries, metric: str, k: int = GT_K) -> np.ndarray:
    import qvec

    _, ids = qvec.exact_search(queries, base, k=min(k, base.shape[0]), metric=metric)
    return ids


def _cached_gt(key: str, base, queries, metric: str) -> np.ndarray:
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    path = cache_dir() / f"gt-{digest}.npy"
    if path.exists():
        return np.load(path)
    gt = exact_ground_truth(base, queries, metric)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, gt)
    return gt


# ------------------------------------------------------------------------------- loaders

def _options(text: str) -> Dict[str, str]:
    out = {}
    for part in filter(None, text.split(",")):
        if "=" not in part:
            raise ValueError(f"dataset option {part!r} must be key=value")
        key, value = part.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _check_metric(metric: str) -> str:
    if metric not in ("l2", "ip"):
        raise ValueError(f"metric must be 'l2' or 'ip'; got {metric!r}")
    return metric


def make_synthetic(n: int = 20000, d: int = 64, nq: int = 200, metric: str = "l2",
                   clusters: int = 64, seed: int = 0) -> Dataset:
    """Clustered Gaussian data (anisotropic clusters), exact ground truth computed here."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d)).astype(np.float32) * 2.0
    scales = rng.uniform(0.2, 1.0, size=(clusters, d)).astype(np.float32)
    labels = rng.integers(0, clusters, size=n + nq)
    x = centres[labels] + rng.standard_normal((n + nq, d)).astype(np.float32) * scales[labels]
    if metric == "ip":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    x = np.ascontiguousarray(x, dtype=np.float32)
    base, queries = x[:n], x[n:]
    gt = exact_ground_truth(base, queries, metric)
    name = f"synth-{n}x{d}-{metric}"
    return Dataset(name, base, queries, gt, metric, {"source": "synthetic", "seed": seed})


def shared_synthetic(n: int, nq: int = 1000, seed: int = 4004):
    """(base, queries): the shared synthetic generator (../shared/data/embeddings.py: 256
    anisotropic Gaussian clusters, d = 128, seed 4004) at n base vectors."""
    rng = np.random.default_rng(seed)
    d, k = 128, 256
    centers = rng.standard_normal((k, d)).astype(np.float32) * 4.0
    scales = rng.gamma(2.0, 0.5, (k, d)).astype(np.float32)
    lab = rng.integers(0, k, n + nq)
    x = centers[lab] + rng.standard_normal((n + nq, d)).astype(np.float32) * scales[lab]
    perm = np.random.default_rng(seed).permutation(n + nq)
    return np.ascontiguousarray(x[perm[nq:]]), np.ascontiguousarray(x[perm[:nq]])


def _count(text: str) -> int:
    """'1m' -> 1_000_000, '500k' -> 500_000, '250000' -> 250_000."""
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    return int(text[:-1] if scale > 1 else text) * scale


def load_big_synthetic(name: str) -> Dataset:
    """synthetic-<n>: generated and its ground truth computed once (a minute for 1M), then
    read from the cache."""
    n = _count(name.split("-", 1)[1])
    folder = Path(os.environ.get("QVEC_DATA_CACHE", Path.home() / ".cache" / "qvec-data")) / name
    if not (folder / "gt_l2.npy").exists():
        import faiss

        base, queries = shared_synthetic(n)
        flat = faiss.IndexFlatL2(base.shape[1])
        flat.add(base)
        gt = flat.search(queries, GT_K)[1].astype(np.int64)
        del flat
        folder.mkdir(parents=True, exist_ok=True)
        for part, arr in (("base", base), ("queries", queries), ("gt_l2", gt)):
            np.save(folder / f"{part}.tmp.npy", arr)
            (folder / f"{part}.tmp.npy").replace(folder / f"{part}.npy")
        del base, queries
    return Dataset(name, np.load(folder / "base.npy"), np.load(folder / "queries.npy"), np.load(folder / "gt_l2.npy"),
                   "l2", {"source": f"shared synthetic generator, n={n}, seed 4004"})


def load_shared(name: str) -> Dataset:
    sys.path.insert(0, str(shared_data_dir()))
    try:
        from embeddings import load  # type: ignore
    finally:
        sys.path.pop(0)
    ds = load(name)
    return Dataset(name, np.ascontiguousarray(ds["base"], dtype=np.float32),
                   np.ascontiguousarray(ds["queries"], dtype=np.float32),
                   np.asarray(ds["gt"], dtype=np.int64), ds["metric"], {"source": "shared"})


def load_file(path: str, opts: Dict[str, str]) -> Dataset:
    base_path = Path(path)
    metric = _check_metric(opts.get("metric", "l2"))
    base = read_vectors(base_path)
    if "queries" in opts:
        queries = read_vectors(opts["queries"])
    else:
        nq = int(opts.get("nq", 1000))
        if not 0 < nq < base.shape[0]:
            raise ValueError(f"nq must be in [1, n); got nq={nq}, n={base.shape[0]}")
        base, queries = base[:-nq], base[-nq:]
    base = np.ascontiguousarray(base, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if queries.shape[1] != base.shape[1]:
        raise ValueError(f"queries have dimension {queries.shape[1]}, base {base.shape[1]}")
    if "gt" in opts:
        gt = np.asarray(read_vectors(opts["gt"]), dtype=np.int64)
        if gt.shape[0] != queries.shape[0]:
            raise ValueError(f"gt has {gt.shape[0]} rows for {queries.shape[0]} queries")
    else:
        st = base_path.stat()
        key = (f"{base_path.resolve()}:{st.st_size}:{st.st_mtime_ns}:{opts.get('queries')}:"
               f"{opts.get('nq')}:{metric}:{GT_K}")
        gt = _cached_gt(key, base, queries, metric)
    name = opts.get("name", base_path.stem)
    return Dataset(name, base, queries, gt, metric, {"source": str(base_path)})


def load_dataset(spec: str, max_queries: Optional[int] = None) -> Dataset:
    """Loads a dataset from a spec string (see the module docstring)."""
    if spec.startswith("synth:") or spec == "synth":
        opts = _options(spec[6:])
        ints = {key: int(opts.pop(key)) for key in ("n", "d", "nq", "clusters", "seed")
                if key in opts}
        metric = _check_metric(opts.pop("metric", "l2"))
        if opts:
            raise ValueError(f"unknown synth options {sorted(opts)}")
        ds = make_synthetic(metric=metric, **ints)
    else:
        path, _, rest = spec.partition(",")
        if Path(path).suffix:
            ds = load_file(path, _options(rest))
        elif re.fullmatch(r"synthetic-[0-9]+[kKmM]?", spec):
            ds = load_big_synthetic(spec)
        else:
            ds = load_shared(spec)
    if max_queries is not None and max_queries < ds.queries.shape[0]:
        ds.queries = ds.queries[:max_queries]
        ds.gt = ds.gt[:max_queries]
    return ds
