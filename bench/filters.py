#!/usr/bin/env python3
"""Filtered search benchmark: ``search(..., filter=...)`` of a flat and an IVF index at 1% and
50% selectivity, in each filter spelling (boolean mask, sorted id array, id range), beside a
post-filter (search k' = ``--post-factor`` * k / selectivity, then drop disallowed ids) and
faiss's IDSelector (Bitmap / Batch / Range through SearchParameters(sel=...)), on the same
data, in one run.

    python bench/filters.py                           # cached synthetic 200k x 128, 2 threads
    python bench/filters.py --threads 1 --nq 500

Recall@10 of a filtered search is measured against the exact top 10 of the allowed vectors,
beside the unfiltered recall of the same index and settings against the unfiltered exact top
10 (the issue's target: filtered >= unfiltered; speed no worse than the post-filter).
Indexes: flat = qvec FlatIndex / faiss IndexFlatL2 (exact); ivf = qvec
IVF<nlist>,PQ<m>x4fs,Refine / faiss IVF<nlist>,PQ<m>x4fs,RFlat at --nprobe and --rerank.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

import qvec


def log(*args: object) -> None:
    print(time.strftime("[%H:%M:%S]"), *args, file=sys.stderr, flush=True)


def load() -> Tuple[np.ndarray, np.ndarray]:
    cached = Path.home() / ".cache/qvec-data/synthetic"
    if not (cached / "base.npy").exists():
        sys.exit("no cached synthetic set: python /work/shared/data/embeddings.py build synthetic")
    return np.load(cached / "base.npy"), np.load(cached / "queries.npy")


def best_time(fn: Callable[[], Any], runs: int) -> Tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def exact_top(base: np.ndarray, queries: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
    """Ids of the exact L2 top k among the allowed ids (faiss IndexFlatL2 on the subset)."""
    import faiss

    flat = faiss.IndexFlatL2(base.shape[1])
    flat.add(base[allowed])
    _, local = flat.search(queries, k)
    return allowed[local]


def recall(ids: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    hits = sum(len(np.intersect1d(a[:k], b[:k])) for a, b in zip(ids, truth))
    return hits / (truth.shape[0] * k)


def leaked(ids: np.ndarray, mask: np.ndarray) -> int:
    """Returned ids that the filter does not allow (must be 0)."""
    valid = ids[ids >= 0]
    return int(np.count_nonzero(~mask[valid]))


def filters(n: int, selectivity: float, seed: int) -> Dict[str, Tuple[Any, np.ndarray]]:
    """spelling -> (qvec filter, allowed-id mask): random ids as a mask and as a sorted array,
    and the range [0, s * n) (the synthetic ids are in random order, so a prefix is a fair
    sample)."""
    rng = np.random.default_rng(seed)
    count = max(10, int(round(selectivity * n)))
    ids = np.sort(rng.choice(n, count, replace=False)).astype(np.int64)
    mask = np.zeros(n, dtype=bool)
    mask[ids] = True
    prefix = np.zeros(n, dtype=bool)
    prefix[:count] = True
    return {"mask": (mask, mask), "ids": (ids, mask), "range": ((0, count), prefix)}


def faiss_selector(spelling: str, filt: Any) -> Any:
    import faiss

    if spelling == "mask":
        bits = np.packbits(filt, bitorder="little")
        sel = faiss.IDSelectorBitmap(len(filt), faiss.swig_ptr(bits))
        sel.keep = bits                  # the selector does not own the bitmap
        return sel
    if spelling == "ids":
        return faiss.IDSelectorBatch(len(filt), faiss.swig_ptr(filt))
    return faiss.IDSelectorRange(int(filt[0]), int(filt[1]))


class Pair:
    """One qvec index and its faiss peer, searched with the same settings."""

    def __init__(self, name: str, index: Any, fidx: Any, nprobe: int, rerank: int) -> None:
        self.name, self.index, self.fidx = name, index, fidx
        self.nprobe, self.rerank = nprobe, rerank

    def qvec(self, q: np.ndarray, k: int, filt: Any = None) -> np.ndarray:
        if self.name == "flat":
            return self.index.search(q, k, filter=filt)[1]
        rerank = max(k, self.rerank) if self.rerank else None
        return self.index.search(q, k, nprobe=self.nprobe, rerank=rerank, filter=filt)[1]

    def faiss(self, q: np.ndarray, k: int, sel: Any = None) -> np.ndarray:
        import faiss

        if self.name == "flat":
            params = faiss.SearchParameters(sel=sel) if sel is not None else None
        else:
            ivf = faiss.SearchParametersIVF(nprobe=self.nprobe, sel=sel) if sel is not None \
                else faiss.SearchParametersIVF(nprobe=self.nprobe)
            params = faiss.IndexRefineSearchParameters(
                k_factor=max(1.0, self.rerank / k), base_index_params=ivf)
        return self.fidx.search(q, k, params=params)[1]


def build(args: argparse.Namespace, base: np.ndarray) -> List[Pair]:
    import faiss

    dim = base.shape[1]
    flat = qvec.FlatIndex(dim)
    flat.add(base)
    fflat = faiss.IndexFlatL2(dim)
    fflat.add(base)
    pairs = [Pair("flat", flat, fflat, 0, 0)]
    train = base[:64 * args.nlist]
    ivf = qvec.index_factory(dim, f"IVF{args.nlist},PQ{args.m}x4fs,Refine")
    ivf.fit(train, seed=0)
    ivf.add(base)
    fivf = faiss.index_factory(dim, f"IVF{args.nlist},PQ{args.m}x4fsr,RFlat")
    fivf.train(train)
    fivf.add(base)
    pairs.append(Pair("ivf", ivf, fivf, args.nprobe, args.rerank))
    return pairs


def measure(pair: Pair, base: np.ndarray, queries: np.ndarray, truth: np.ndarray,
            args: argparse.Namespace) -> List[Dict[str, Any]]:
    """The unfiltered row, then per selectivity and spelling: qvec filter=, post-filter, faiss."""
    k, runs = 10, args.runs
    t, ids = best_time(lambda: pair.qvec(queries, k), runs)
    ft, fids = best_time(lambda: pair.faiss(queries, k), runs)
    rows = [{"index": pair.name, "sel": 1.0, "form": "none", "qvec_recall": recall(ids, truth),
             "qvec_qps": len(queries) / t, "post_recall": float("nan"), "post_qps": float("nan"),
             "faiss_recall": recall(fids, truth), "faiss_qps": len(queries) / ft}]
    log(rows[-1])
    n = base.shape[0]
    for sel in args.selectivity:
        for form, (filt, mask) in filters(n, sel, args.seed).items():
            allowed = np.flatnonzero(mask)
            ftruth = exact_top(base, queries, allowed, k)
            t, ids = best_time(lambda: pair.qvec(queries, k, filt), runs)
            if leaked(ids, mask):
                raise SystemExit(f"qvec returned filtered ids ({pair.name}, {form}, {sel})")
            kpost = min(n, int(math.ceil(args.post_factor * k / sel)))
            pt, pids = best_time(lambda: post_filter(pair, queries, k, kpost, mask), runs)
            sel_obj = faiss_selector(form, filt)
            ft, fids = best_time(lambda: pair.faiss(queries, k, sel_obj), runs)
            rows.append({"index": pair.name, "sel": sel, "form": form,
                         "qvec_recall": recall(ids, ftruth), "qvec_qps": len(queries) / t,
                         "post_k": kpost, "post_recall": recall(pids, ftruth),
                         "post_qps": len(queries) / pt, "faiss_recall": recall(fids, ftruth),
                         "faiss_qps": len(queries) / ft})
            log(rows[-1])
    return rows


def post_filter(pair: Pair, queries: np.ndarray, k: int, kpost: int,
                mask: np.ndarray) -> np.ndarray:
    """Search k' results unfiltered, keep the first k allowed ones (padded with -1)."""
    cand = pair.qvec(queries, kpost)
    out = np.full((cand.shape[0], k), -1, dtype=np.int64)
    ok = (cand >= 0) & mask[np.maximum(cand, 0)]
    for i in range(cand.shape[0]):
        kept = cand[i][ok[i]][:k]
        out[i, :kept.size] = kept
    return out


def report(rows: List[Dict[str, Any]], args: argparse.Namespace) -> None:
    """The markdown table: one row per index, selectivity and filter spelling."""
    print(f"\nsynthetic {args.n or 200_000} x 128; {args.nq} queries per batch; {args.threads} threads; flat "
          f"= FlatIndex vs IndexFlatL2; ivf = IVF{args.nlist},PQ{args.m}x4fs,Refine nprobe="
          f"{args.nprobe} rerank={args.rerank} vs faiss IVF{args.nlist},PQ{args.m}x4fsr,RFlat "
          f"(k_factor {args.rerank / 10:g}); post-filter k' = {args.post_factor:g} * k / sel\n")
    print("| index | selectivity | filter | qvec recall@10 | qvec QPS | post-filter k' | "
          "post recall@10 | post QPS | faiss IDSelector recall@10 | faiss QPS | "
          "qvec / post QPS | qvec / faiss QPS |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        post = r["qvec_qps"] / r["post_qps"] if r["form"] != "none" else float("nan")
        print(f"| {r['index']} | {r['sel']:g} | {r['form']} | {r['qvec_recall']:.3f} | "
              f"{r['qvec_qps']:.0f} | {r.get('post_k', '-')} | {r['post_recall']:.3f} | "
              f"{r['post_qps']:.0f} | {r['faiss_recall']:.3f} | {r['faiss_qps']:.0f} | "
              f"{post:.2f} | {r['qvec_qps'] / r['faiss_qps']:.2f} |")
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--n", type=int, default=0, help="use the first n base vectors (0: all)")
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--m", type=int, default=64)
    ap.add_argument("--nprobe", type=int, default=32)
    ap.add_argument("--rerank", type=int, default=100)
    ap.add_argument("--selectivity", default="0.01,0.5")
    ap.add_argument("--post-factor", type=float, default=2.0,
                    help="post-filter k' = factor * k / selectivity")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.selectivity = [float(s) for s in args.selectivity.split(",")]

    import faiss

    qvec.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    base, queries = load()
    if args.n:
        base = np.ascontiguousarray(base[:args.n])
    queries = np.ascontiguousarray(queries[:args.nq])
    log(f"building flat and IVF{args.nlist} indexes over {base.shape}")
    pairs = build(args, base)
    truth = exact_top(base, queries, np.arange(base.shape[0]), 10)
    rows: List[Dict[str, Any]] = []
    for pair in pairs:
        rows += measure(pair, base, queries, truth, args)
    report(rows, args)


if __name__ == "__main__":
    main()
