#!/usr/bin/env python3
"""Multi-vector (ColBERT-style) MaxSim benchmark on gcide-tokens: qvec.MultiVectorIndex codecs
beside an exhaustive float MaxSim in numpy (BLAS) and fast-plaid (the PLAID engine, CPU).

Quality is measured against the data set's exact float MaxSim top-100: recall@10 (share of the
exact top-10 found in the top-10) and nDCG@10 (the exact top-10 as binary relevance). Speed is
queries/s over the same queries at 1 thread and at all threads; on a shared machine the
1-thread figure is also given in CPU time (process_time), which other processes disturb less.
Bytes per token count what each method stores per token (codes, per-token factors, kept floats;
fast-plaid: its index directory over the token count).

fast-plaid runs in its own interpreter (--plaid-python), a venv holding fast-plaid and exactly
the torch its wheel was built for (fast-plaid versions end in the torch version: 1.7.0.2110 pins
torch 2.11.0; the global fast-plaid 1.1.0, built with tch 0.20 / libtorch 2.7, segfaults in
create() under torch 2.13). bench/plaid_driver.py is the script it runs, as a subprocess right
after the qvec rows (same machine, same tokens, same queries, k = 10, CPU):

    python -m venv /work/venv-plaid
    /work/venv-plaid/bin/pip install torch==2.11.0 fast-plaid==1.7.0.2110 numpy

    python bench/multivector.py --out bench/results/multivector.md
    python bench/multivector.py --queries 100 --plaid-python /work/venv-plaid/bin/python
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

import qvec

sys.path.insert(0, "/work/shared/data")

Row = Dict[str, Any]


def load(nq: int) -> Dict[str, Any]:
    from tokens import load as load_tokens          # /work/shared/data/tokens.py
    d = load_tokens("gcide-tokens")
    qoff = d["query_offsets"]
    d["queries"] = [d["query_tokens"][qoff[i]:qoff[i + 1]] for i in range(nq)]
    d["gt"] = d["gt"][:nq]
    d["doc_tokens_memmap"] = np.load(os.path.join(os.path.expanduser(
        "~/.cache/qvec-data/gcide-tokens"), "doc_tokens.npy"), mmap_mode="r")
    return d


def quality(ids: np.ndarray, gt: np.ndarray, k: int = 10) -> Tuple[float, float]:
    """(recall@k, nDCG@k) of ids (nq, >= k) against the exact top-k."""
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    recalls, ndcgs = [], []
    for got, want in zip(ids[:, :k], gt[:, :k]):
        rel = np.isin(got, want)
        recalls.append(rel.mean())
        ndcgs.append((rel * discount).sum() / discount.sum())
    return float(np.mean(recalls)), float(np.mean(ndcgs))


def timed(run: Callable[[], Any], threads: int) -> Tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds) of run() at `threads` threads (qvec and BLAS)."""
    from threadpoolctl import threadpool_limits
    before = qvec.get_num_threads()
    qvec.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            w, c = time.perf_counter(), time.process_time()
            out = run()
            return out, time.perf_counter() - w, time.process_time() - c
    finally:
        qvec.set_num_threads(before)


def numpy_maxsim(d: Dict[str, Any], queries: Sequence[np.ndarray], k: int) -> np.ndarray:
    """Exhaustive float MaxSim: one BLAS product per query, max per document, top-k."""
    x, off = d["doc_tokens"], d["doc_offsets"]
    out = np.empty((len(queries), k), dtype=np.int64)
    for i, q in enumerate(queries):
        scores = np.maximum.reduceat(q @ x.T, off[:-1], axis=1).sum(axis=0)
        out[i] = np.lexsort((np.arange(scores.size), -scores))[:k]
    return out


def qvec_rows(d: Dict[str, Any], configs: List[Dict[str, Any]], all_threads: int,
              sample: np.ndarray) -> List[Row]:
    rows: List[Row] = []
    trained: Dict[str, qvec.MultiVectorIndex] = {}
    for cfg in configs:
        codec, keep = cfg["codec"], cfg.get("keep", 1.0)
        floats = cfg.get("rescore") is not None and cfg.get("vectors") != "memmap"
        key = f"{codec}/{keep}/{floats}"
        if key not in trained:
            base = trained.get(codec)
            t = time.perf_counter()
            index = (base.empty_like(keep_floats=floats) if base is not None else
                     qvec.MultiVectorIndex(384, codec=codec, keep_floats=floats).train(sample))
            train_s = time.perf_counter() - t
            trained.setdefault(codec, index)
            t = time.perf_counter()
            if keep < 1.0:
                index.add(d["doc_tokens"], offsets=d["doc_offsets"], weights=d["doc_weights"],
                          keep=keep)
            else:
                index.add(d["doc_tokens"], offsets=d["doc_offsets"])
            print(f"  built {key}: train {train_s:.1f}s, add {time.perf_counter() - t:.1f}s",
                  flush=True)
            trained[key] = index
        index = trained[key]
        opts = {n: cfg[n] for n in ("mode", "kprime", "rescore", "candidates", "coarse_bytes")
                if n in cfg}
        if cfg.get("vectors") == "memmap":        # floats on disk, only the codes in memory
            opts["vectors"] = d["doc_tokens_memmap"]

        def run() -> np.ndarray:
            return index.search(d["queries"], k=10, **opts)[1]
        rows.append(measure(f"qvec {codec}", describe(cfg), index.bytes_per_token(),
                            index.ntokens, run, d, all_threads))
    return rows


def describe(cfg: Dict[str, Any]) -> str:
    parts = [f"keep={cfg.get('keep', 1.0)}", cfg.get("mode", "two-stage")]
    if cfg.get("mode", "two-stage") == "two-stage":
        parts.append(f"k'={cfg.get('kprime', 64)}")
    if cfg.get("mode") == "centroid":
        parts.append(f"candidates={cfg.get('candidates', 512)}, coarse bytes "
                     f"{cfg.get('coarse_bytes', 'a')}")
    if cfg.get("rescore") is not None:
        where = "on disk (memmap, +1536 B/token on disk, not counted in memory)" if cfg.get("vectors") == "memmap" else "in memory"
        parts.append(f"rescore={cfg['rescore']} (float tokens kept {where})")
    return ", ".join(parts)


def measure(method: str, params: str, bytes_per_token: float, ntokens: int,
            run: Callable[[], np.ndarray], d: Dict[str, Any], all_threads: int) -> Row:
    nq = len(d["queries"])
    ids, wall1, cpu1 = timed(run, 1)
    _, wall_all, _ = timed(run, all_threads)
    recall, ndcg = quality(ids, d["gt"])
    row = {"method": method, "params": params, "recall@10": recall, "ndcg@10": ndcg,
           "qps_1t": nq / wall1, "qps_1t_cpu": nq / cpu1, "qps_all": nq / wall_all,
           "bytes_per_token": bytes_per_token, "ntokens": ntokens}
    print(f"  {method:18s} {params:45s} R@10 {recall:.3f} nDCG {ndcg:.3f} "
          f"qps 1t {row['qps_1t']:.1f} (cpu {row['qps_1t_cpu']:.1f}) all {row['qps_all']:.1f} "
          f"B/tok {bytes_per_token:.1f}", flush=True)
    return row


DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plaid_driver.py")
DATA_DIR = os.path.expanduser("~/.cache/qvec-data/gcide-tokens")


def plaid_rows(python: str, d: Dict[str, Any], all_threads: int, nbits_list: Sequence[int],
               settings: Sequence[Tuple[int, int]]) -> List[Row]:
    """fast-plaid in its own interpreter (bench/plaid_driver.py), one process per nbits, run
    right after the qvec rows on the same machine; settings: (n_ivf_probe, n_full_scores)."""
    rows: List[Row] = []
    nq, ntokens = len(d["queries"]), int(d["doc_offsets"][-1])
    probes = ":".join(str(p) for p, _ in settings)
    fulls = ":".join(str(f) for _, f in settings)
    for nbits in nbits_list:
        with tempfile.TemporaryDirectory() as folder:
            proc = subprocess.run([python, DRIVER, DATA_DIR, str(nq), str(nbits),
                                   os.path.join(folder, "plaid"), f"1:{all_threads}", probes,
                                   fulls], capture_output=True, text=True)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
        if proc.returncode or not line:
            print(f"  fast-plaid nbits={nbits} failed (exit {proc.returncode}):\n"
                  f"{proc.stderr[-2000:]}", flush=True)
            continue
        r = json.loads(line[0][6:])
        print(f"  fast-plaid nbits={nbits}: torch {r['torch']}, build {r['build_s']:.1f}s, "
              f"{r['bytes_per_token']:.1f} B/token on disk, peak RSS "
              f"{r['peak_rss_bytes'] / 2**20:.0f} MiB", flush=True)
        for run in r["runs"]:
            recall, ndcg = quality(np.array(run["ids"]), d["gt"])
            rows.append({"method": "fast-plaid", "params": (
                f"nbits={nbits}, n_ivf_probe={run['n_ivf_probe']}, n_full_scores="
                f"{run['n_full_scores']} (build {r['build_s']:.0f} s)"),
                "recall@10": recall, "ndcg@10": ndcg, "qps_1t": nq / run["wall_1"],
                "qps_1t_cpu": nq / run["cpu_1"], "qps_all": nq / run[f"wall_{all_threads}"],
                "bytes_per_token": r["bytes_per_token"], "ntokens": ntokens})
            print(f"    {rows[-1]['params']}: R@10 {recall:.3f} q/s 1t {rows[-1]['qps_1t']:.1f}"
                  f" all {rows[-1]['qps_all']:.1f}", flush=True)
    return rows


CONFIGS: List[Dict[str, Any]] = [
    {"codec": "PQ48x8", "mode": "exhaustive"},
    {"codec": "PQ48x8", "kprime": 64},
    *[{"codec": "PQ48x8", "kprime": kp, "rescore": 5, "vectors": "memmap"} for kp in (20, 50)],
    {"codec": "OPQ48,PQ48x8,aniso", "mode": "exhaustive"},
    {"codec": "RQ1+PQ47x8", "mode": "exhaustive"},
    {"codec": "RQ1+PQ47x8", "mode": "centroid", "candidates": 1024},
    {"codec": "RQ2+PQ46x8", "mode": "exhaustive"},
    {"codec": "RQ2+PQ46x8", "kprime": 256},
    *[{"codec": "RQ2+PQ46x8", "mode": "centroid", "candidates": n} for n in (256, 512, 1024)],
    *[{"codec": "RQ2+PQ46x8", "mode": "centroid", "candidates": 1024, "coarse_bytes": p}
      for p in (6, 10)],
    *[{"codec": "RQ2+PQ46x8", "mode": "centroid", "candidates": n, "coarse_bytes": p,
       "rescore": 5, "vectors": "memmap"} for n, p in ((512, 2), (1024, 2), (512, 6), (1024, 6))],
    {"codec": "PQ96x8", "mode": "exhaustive"},
    {"codec": "RQ2+PQ94x8", "mode": "exhaustive"},
    {"codec": "RQ2+PQ94x8", "mode": "centroid", "candidates": 1024, "coarse_bytes": 6},
    {"codec": "PQ192x8", "mode": "exhaustive"},
    {"codec": "PQ96x4fs", "mode": "exhaustive"},
    {"codec": "PQ96x4fs", "keep": 0.7, "mode": "exhaustive"},
    {"codec": "PQ96x4fs", "keep": 0.4, "mode": "exhaustive"},
    {"codec": "KM256", "mode": "exhaustive"},
    {"codec": "KM256", "keep": 0.7, "mode": "exhaustive"},
    {"codec": "KM256", "keep": 0.4, "mode": "exhaustive"},
    {"codec": "BIN1", "mode": "exhaustive"},
    {"codec": "BIN1", "keep": 0.7, "mode": "exhaustive"},
    {"codec": "BIN1", "keep": 0.4, "mode": "exhaustive"},
    {"codec": "Flat", "keep": 0.7, "mode": "exhaustive"},
    {"codec": "Flat", "keep": 0.4, "mode": "exhaustive"},
]


def table(rows: List[Row], header: str, total_tokens: int) -> str:
    """Bytes per stored token, and per token of the collection (what pruning saves)."""
    lines = [header, "",
             "| method | parameters | recall@10 | nDCG@10 | q/s 1 thread | q/s 1 thread (CPU time) "
             "| q/s all threads | bytes/stored token | bytes/collection token |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        per_token = r['bytes_per_token'] * r['ntokens'] / total_tokens
        lines.append(f"| {r['method']} | {r['params']} | {r['recall@10']:.3f} | "
                     f"{r['ndcg@10']:.3f} | {r['qps_1t']:.1f} | {r['qps_1t_cpu']:.1f} | "
                     f"{r['qps_all']:.1f} | {r['bytes_per_token']:.1f} | {per_token:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--numpy-queries", type=int, default=50,
                   help="queries timed for the exhaustive numpy baseline (it is slow)")
    p.add_argument("--plaid-python", default=None)
    p.add_argument("--plaid-nbits", default="2,4", help="fast-plaid residual bits to run")
    p.add_argument("--plaid-settings", default="8/4096,4/1024",
                   help="fast-plaid n_ivf_probe/n_full_scores pairs, comma-separated")
    p.add_argument("--codecs", default=None, help="';'-separated subset of codecs")
    p.add_argument("--out", default=None, help="write the markdown table here (+ .json)")
    args = p.parse_args(argv)
    d = load(args.queries)
    load_before = os.getloadavg()
    all_threads = os.cpu_count() or 1
    sample = d["doc_tokens"][::4]
    rows: List[Row] = []
    sub = dict(d, queries=d["queries"][:args.numpy_queries], gt=d["gt"][:args.numpy_queries])
    rows.append(measure("numpy float MaxSim", "exhaustive, BLAS (q @ X.T), "
                        f"{args.numpy_queries} queries", 4.0 * 384, int(d["doc_offsets"][-1]),
                        lambda: numpy_maxsim(d, sub["queries"], 10), sub, all_threads))
    configs = CONFIGS if args.codecs is None else [
        c for c in CONFIGS if c["codec"] in args.codecs.split(";")]
    rows += qvec_rows(d, configs, all_threads, sample)
    if args.plaid_python:
        settings = [(int(a), int(b)) for a, b in
                    (v.split("/") for v in args.plaid_settings.split(","))]
        rows += plaid_rows(args.plaid_python, d, all_threads,
                           [int(b) for b in args.plaid_nbits.split(",")], settings)
    meta = (f"gcide-tokens: {len(d['doc_offsets']) - 1} documents, {int(d['doc_offsets'][-1])} "
            f"tokens of 384 dims, {args.queries} queries (numpy: the first "
            f"{args.numpy_queries}); {all_threads} threads; qvec SIMD level "
            f"{qvec.simd_level()}; ground truth: the exact float MaxSim top-10; load average "
            f"(1/5/15 min) {'/'.join(f'{v:.2f}' for v in load_before)} at the start, "
            f"{'/'.join(f'{v:.2f}' for v in os.getloadavg())} at the end.")
    text = table(rows, "# Multi-vector MaxSim benchmark\n\n" + meta, int(d["doc_offsets"][-1]))
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)
        with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
