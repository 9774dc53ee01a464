#!/usr/bin/env python3
"""IVF benchmark: qvec.IVFIndex beside the faiss IVF index of the same codec, nlist and bytes
per vector, on the same data, in one run: build time, then recall@10 and queries/s over an
nprobe x rerank sweep (batches of all queries and single queries), at --threads threads.

    python bench/ivf.py                                  # cached synthetic 200k x 128
    python bench/ivf.py --n 1000000 --nlist 4096         # synthetic 1M x 128 (built here)
    python bench/ivf.py --codec pq4 --m 64 --nprobe 8,16,32,64 --rerank 0,50,100
    python bench/ivf.py --dataset gcide-minilm --m 192 --nprobe 8,16,32,64 --rerank 0,40

The 1M set repeats the shared synthetic generator (256 anisotropic Gaussian clusters, seed 4004)
with n = 1M; bench/datasets.py (dataset synthetic-1m) builds it and its exact ground truth
(faiss IndexFlatL2) once and caches them under ~/.cache/qvec-data/synthetic-1m.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

import qvec


def log(*args: object) -> None:
    print(time.strftime("[%H:%M:%S]"), *args, file=sys.stderr, flush=True)


def load(n: int, dataset: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray, str, str]:
    """(base, queries, ground truth, name, metric): gcide-minilm (inner product, built by
    ../shared/data/embeddings.py), the shared synthetic set (200k, cached by the same
    script) or the same generator at n (bench/datasets.py synthetic-<n>: generated once,
    cached)."""
    if dataset == "gcide-minilm":
        cached = Path.home() / ".cache/qvec-data/gcide-minilm"
        return (np.load(cached / "base.npy"), np.load(cached / "queries.npy"),
                np.load(cached / "gt_ip.npy"), "gcide-minilm 50k x 384 (ip)", "ip")
    base, queries, gt, name = load_synthetic(n)
    return base, queries, gt, name, "l2"


def load_synthetic(n: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    cached = Path.home() / ".cache/qvec-data/synthetic"
    if n == 200_000 and (cached / "base.npy").exists():
        return (np.load(cached / "base.npy"), np.load(cached / "queries.npy"),
                np.load(cached / "gt_l2.npy"), "synthetic 200k x 128 (cached)")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from datasets import load_big_synthetic

    ds = load_big_synthetic(f"synthetic-{n}")
    return ds.base, ds.queries, ds.gt, f"synthetic {n} x 128 (generated, cached)"


def timed(fn, runs: int) -> Tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def recall10(ids: np.ndarray, gt: np.ndarray) -> float:
    return float(qvec.recall_at_k(np.asarray(ids, dtype=np.int64), gt[:, :10], 10))


def faiss_keys(codec: str, nlist: int, m: int, bits: int, refine: bool) -> List[str]:
    """The faiss peers of the same codec: for 4-bit PQ the fast-scan index on residuals
    ("fsr", as qvec encodes), on the vectors themselves ("fs": faiss's factory makes
    IVF...,PQ..fs with by_residual=False, which is why its recall stalls near 0.29 on this
    clustered set) and the plain IndexIVFPQ with 4-bit codes (same bytes, a different scan)."""
    bodies = {"pq4": [f"PQ{m}x4fsr", f"PQ{m}x4fs", f"PQ{m}x4"], "pq8": [f"PQ{m}x8"],
              "flat": ["Flat"],
              "binary": ["RaBitQ"]}[codec]
    return [f"IVF{nlist},{body}" + (",RFlat" if refine else "") for body in bodies]


def qvec_key(codec: str, nlist: int, m: int, bits: int, refine: bool) -> str:
    body = {"pq4": f"PQ{m}x4fs", "pq8": f"PQ{m}x8", "flat": "Flat",
            "binary": f"BIN{bits}"}[codec]
    return f"IVF{nlist},{body}" + (",Refine" if refine else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="synthetic", choices=["synthetic", "gcide-minilm"],
                    help="synthetic (L2, --n vectors) or gcide-minilm (inner product)")
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--nlist", type=int, default=0, help="0: qvec's automatic rule")
    ap.add_argument("--codec", default="pq4", choices=["pq4", "pq8", "flat", "binary"])
    ap.add_argument("--m", type=int, default=64)
    ap.add_argument("--bits", type=int, default=1)
    ap.add_argument("--nprobe", default="4,8,16,32,64")
    ap.add_argument("--rerank", default="0,40,100", help="0: no re-ranking")
    ap.add_argument("--threads", default="2", help="comma list: the sweep at each count")
    ap.add_argument("--runs", type=int, default=3, help="timed passes (the best counts), of "
                    "the batch and of the single-query loop alike")
    ap.add_argument("--single", type=int, default=200, help="single-query latency queries")
    ap.add_argument("--max-train", type=int, default=0)
    ap.add_argument("--out", default="")
    ap.add_argument("--peers", default="", help="comma list of faiss peer indexes (1-based) "
                    "to run, of those faiss_keys gives; empty: all")
    args = ap.parse_args()

    import faiss

    base, queries, gt, name, metric = load(args.n, args.dataset)
    n, dim = base.shape
    nlist = args.nlist or qvec.index.ivf.auto_nlist(n)
    reranks = [int(r) for r in args.rerank.split(",")]
    refine = args.refine = any(reranks) and args.codec != "flat"
    nprobes = [int(p) for p in args.nprobe.split(",")]
    train = base[:args.max_train or min(n, 64 * nlist)]
    threads = [int(t) for t in args.threads.split(",")]
    qvec.set_num_threads(threads[-1])        # the build runs at the largest count
    faiss.omp_set_num_threads(threads[-1])
    log(f"{name}, nlist={nlist}, codec={args.codec}, threads={threads}")

    all_rows: List[Dict[str, object]] = []
    builds: Dict[str, float] = {}
    # qvec
    index = qvec.index_factory(dim, qvec_key(args.codec, nlist, args.m, args.bits, refine),
                               metric=metric)
    t0 = time.perf_counter()
    index.fit(train, seed=0)
    t1 = time.perf_counter()
    index.add(base)
    index.search(queries[:1], 1)                       # builds the lists (part of the build)
    builds["qvec"] = time.perf_counter() - t0
    log(f"qvec build {builds['qvec']:.1f}s (train {t1 - t0:.2f}s, add + lists "
        f"{builds['qvec'] - (t1 - t0):.2f}s)")
    memory = {"qvec": qvec_bytes(index) / n}
    peers = []
    keys = faiss_keys(args.codec, nlist, args.m, args.bits, refine)
    if args.peers:
        keys = [keys[int(i) - 1] for i in args.peers.split(",")]
    for key in keys:
        fidx = faiss.index_factory(dim, key, faiss.METRIC_INNER_PRODUCT if metric == "ip"
                                   else faiss.METRIC_L2)
        t0 = time.perf_counter()
        fidx.train(train)
        t1 = time.perf_counter()
        fidx.add(base)
        builds[key] = time.perf_counter() - t0
        log(f"{key} train {t1 - t0:.2f}s, add {builds[key] - t1 + t0:.2f}s")
        memory[key] = len(faiss.serialize_index(fidx)) / n
        log(f"{key} build {builds[key]:.1f}s, {memory[key]:.1f} bytes/vector")
        peers.append((key, fidx, faiss.extract_index_ivf(fidx)))
    log(f"bytes/vector qvec {memory['qvec']:.1f}")
    for nthreads in threads:
        qvec.set_num_threads(nthreads)
        faiss.omp_set_num_threads(nthreads)
        rows = sweep(index, peers, queries, gt, nprobes, reranks, refine, args)
        report(rows, name, nlist, args, nthreads, len(queries), builds, memory, peers)
        all_rows.extend(dict(r, threads=nthreads) for r in rows)
    if args.out:
        Path(args.out).write_text(json.dumps({"dataset": name, "nlist": nlist, "builds": builds,
                                              "memory": memory, "rows": all_rows}, indent=1))


def qvec_bytes(index: "qvec.IVFIndex") -> int:
    """Bytes the index holds for its vectors: every row array and the inverted lists."""
    state = index._state
    held = sum(state.rows.get(name).nbytes for name in state.rows.templates)
    lists = index.lists()
    held += sum(np.asarray(a).nbytes for a in (lists.offsets, lists.code_offsets, lists.codes,
                                                lists.ids))
    return held + (0 if state.idmap.ids is None else 8 * state.idmap.n)


def sweep(index, peers, queries, gt, nprobes, reranks, refine, args) -> List[Dict[str, object]]:
    """The nprobe x rerank sweep at the current thread count: the qvec row, then one row per
    faiss peer."""
    import faiss

    rows: List[Dict[str, object]] = []
    for nprobe in nprobes:
        for rr in reranks if refine else [0]:
            rerank = rr or None
            t, (_, ids) = timed(lambda: index.search(queries, 10, rerank=rerank, nprobe=nprobe),
                                args.runs)
            one = queries[:args.single]
            ts, _ = timed(lambda: [index.search(q, 10, rerank=rerank, nprobe=nprobe)
                                   for q in one], args.runs)
            rows.append({"lib": "qvec", "nprobe": nprobe, "rerank": rr,
                         "recall10": recall10(ids, gt), "qps": len(queries) / t,
                         "latency_ms": 1000 * ts / len(one)})
            for key, fidx, ivf in peers:
                rows.append(faiss_row(key, fidx, ivf, queries, gt, nprobe, rr, refine, args))
            log(*rows[-1 - len(peers):])
    return rows


def faiss_row(key, fidx, ivf, queries, gt, nprobe, rr, refine, args) -> Dict[str, object]:
    """One faiss peer at one setting (rerank 0: its IVF index alone, the codes only)."""
    import faiss

    one = queries[:args.single]
    ivf.nprobe = nprobe
    params = None
    if refine:
        params = faiss.IndexRefineSearchParameters(
            k_factor=max(1.0, rr / 10.0), base_index_params=faiss.SearchParametersIVF(
                nprobe=nprobe))
    if refine and rr == 0:
        search = lambda q: ivf.search(q, 10)  # noqa: E731  (the codes alone)
    elif params is not None:
        search = lambda q: fidx.search(q, 10, params=params)  # noqa: E731
    else:
        search = lambda q: fidx.search(q, 10)  # noqa: E731
    t, (_, ids) = timed(lambda: search(queries), args.runs)
    ts, _ = timed(lambda: [search(q[None]) for q in one], args.runs)
    return {"lib": key, "nprobe": nprobe, "rerank": rr, "recall10": recall10(ids, gt),
            "qps": len(queries) / t, "latency_ms": 1000 * ts / len(one)}


def report(rows, name, nlist, args, nthreads, nq, builds, memory, peers) -> None:
    keys = [key for key, _, _ in peers]
    print(f"\n{name}; nlist={nlist}; qvec {qvec_key(args.codec, nlist, args.m, args.bits, args.refine)}"
          f" vs faiss {', '.join(keys)}; {nthreads} threads; {nq} queries per batch; build "
          + ", ".join(f"{lib} {t:.1f}s" for lib, t in builds.items()) + "; bytes/vector "
          + ", ".join(f"{lib} {b:.1f}" for lib, b in memory.items()) + "\n")
    head = "| nprobe | rerank | qvec recall@10 | qvec QPS | qvec 1-query ms |"
    for i, key in enumerate(keys):
        head += f" F{i + 1} recall@10 | F{i + 1} QPS | F{i + 1} 1-query ms | qvec/F{i + 1} QPS |"
    print("\n".join(f"F{i + 1} = faiss {key}" for i, key in enumerate(keys)) + "\n")
    print(head)
    print("|" + "---:|" * (5 + 4 * len(keys)))
    width = 1 + len(keys)
    for g in range(0, len(rows), width):
        a, others = rows[g], rows[g + 1:g + width]
        line = (f"| {a['nprobe']} | {a['rerank']} | {a['recall10']:.3f} | {a['qps']:.0f} | "
                f"{a['latency_ms']:.3f} |")
        for b in others:
            line += (f" {b['recall10']:.3f} | {b['qps']:.0f} | {b['latency_ms']:.3f} | "
                     f"{a['qps'] / b['qps']:.2f} |")
        print(line)
    for level in (0.9, 0.95):
        best = {lib: max([r["qps"] for r in rows if r["lib"] == lib and r["recall10"] >= level],
                         default=0.0) for lib in ["qvec"] + keys}
        lat = {lib: min([r["latency_ms"] for r in rows
                         if r["lib"] == lib and r["recall10"] >= level], default=float("nan"))
               for lib in ["qvec"] + keys}
        top = max(keys, key=lambda k: best[k])
        ratio = best["qvec"] / best[top] if best[top] else float("nan")
        print(f"\nrecall@10 >= {level}: best QPS " + ", ".join(
            f"{lib} {best[lib]:.0f}" for lib in ["qvec"] + keys) + f"; qvec / best faiss "
            f"({top}) {ratio:.2f}; best 1-query ms " + ", ".join(
            f"{lib} {lat[lib]:.3f}" for lib in ["qvec"] + keys))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
