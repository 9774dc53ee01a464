#!/usr/bin/env python3
"""4-bit fast-scan PQ: qvec beside faiss-cpu IndexPQFastScan (same m, nbits=4, same training
sample size and iterations) and beside qvec 8-bit PQ at the same code size.

Reports queries/s and recall@10 (against the exact top-10 of the dataset), for k = 10 and 100
and 1 and 2 threads, plus the scan rate in GB/s of codes and this machine's memory read
bandwidth measured in the same run.

    python bench/compare_fastscan.py [--datasets gcide-minilm synthetic] [--repeat 3]
"""
from __future__ import annotations

import argparse
import sys
import threading
import time

import numpy as np

sys.path.insert(0, "/work/shared/data")

import faiss  # noqa: E402

import qvec  # noqa: E402

# (dataset, 4-bit m, 8-bit m at the same code size)
CONFIGS = {"gcide-minilm": (96, 48), "synthetic": (64, 32)}


def best_time(fn, repeat):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def memory_bandwidth(threads: int, nbytes: int = 1 << 30, repeat: int = 3) -> float:
    """Read bandwidth in GB/s: numpy sums of a buffer much larger than the caches, split over
    `threads` Python threads (numpy releases the GIL in the reduction)."""
    buf = np.ones(nbytes // 8, dtype=np.int64)
    parts = np.array_split(buf, threads)

    def run():
        ts = [threading.Thread(target=np.bitwise_or.reduce, args=(p,)) for p in parts]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    t, _ = best_time(run, repeat)
    return nbytes / t / 1e9


def recall_at_10(ids, gt):
    return qvec.recall_at_k(ids, gt, 10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=list(CONFIGS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--ks", nargs="+", type=int, default=[10, 100])
    ap.add_argument("--iters", type=int, default=25)
    args = ap.parse_args()
    from embeddings import load

    print(f"qvec simd level: {qvec.simd_level()}; faiss {faiss.__version__}")
    bw = {t: memory_bandwidth(t) for t in args.threads}
    print("memory read bandwidth: " + ", ".join(f"{t} thread(s) {bw[t]:.1f} GB/s"
                                                 for t in args.threads))
    rows = []
    for name in args.datasets:
        ds = load(name)
        base, queries, gt = ds["base"], ds["queries"], ds["gt"]
        metric = ds["metric"]
        n, d = base.shape
        m4, m8 = CONFIGS[name]
        print(f"\n== {name}: n={n} d={d} metric={metric} nq={len(queries)}; "
              f"4-bit m={m4} vs 8-bit m={m8} ({m4 // 2} B/vector)")
        faiss.omp_set_num_threads(2)
        qvec.set_num_threads(2)
        fmetric = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
        t0 = time.perf_counter()
        findex = faiss.IndexPQFastScan(d, m4, 4, fmetric)
        findex.pq.cp.niter = args.iters
        findex.train(base)
        findex.add(base)
        tf = time.perf_counter() - t0
        t0 = time.perf_counter()
        pq4 = qvec.ProductQuantizer(d, m4, nbits=4, metric=metric).fit(base, iters=args.iters)
        fast = pq4.pack(pq4.encode(base))
        tq4 = time.perf_counter() - t0
        t0 = time.perf_counter()
        pq8 = qvec.ProductQuantizer(d, m8, nbits=8, metric=metric).fit(base, iters=args.iters)
        codes8 = pq8.encode(base)
        tq8 = time.perf_counter() - t0
        print(f"train+encode: faiss fastscan {tf:.1f}s, qvec 4-bit {tq4:.1f}s, "
              f"qvec 8-bit {tq8:.1f}s")
        code_bytes = n * (m4 // 2)
        methods = [
            ("faiss PQFastScan", lambda k: findex.search(queries, k)[::-1]),
            ("qvec 4-bit", lambda k: pq4.search(queries, fast, k)[::-1]),
            ("qvec 4-bit rescore=4", lambda k: pq4.search(queries, fast, k, rescore=4)[::-1]),
            ("qvec 8-bit (exact ADC)", lambda k: pq8.search(queries, codes8, k)[::-1]),
        ]
        for threads in args.threads:
            faiss.omp_set_num_threads(threads)
            qvec.set_num_threads(threads)
            for k in args.ks:
                base_qps = None
                for label, fn in methods:
                    t, (ids, _) = best_time(lambda: fn(k), args.repeat)
                    qps = len(queries) / t
                    if base_qps is None:
                        base_qps = qps
                    gbs = len(queries) * code_bytes / t / 1e9
                    rec = recall_at_10(ids, gt)
                    rows.append((name, threads, k, label, qps, qps / base_qps, rec, gbs,
                                 gbs / bw[threads]))
                    print(f"  threads={threads} k={k:<3} {label:<24} {qps:9.0f} q/s "
                          f"({qps / base_qps:4.2f}x faiss)  recall@10={rec:.4f}  "
                          f"scan {gbs:6.1f} GB/s of codes ({gbs / bw[threads]:.1f}x mem bw)",
                          flush=True)

    print("\n| dataset | threads | k | method | queries/s | vs faiss | recall@10 | codes GB/s |"
          " x mem bw |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.0f} | {r[5]:.2f}x | {r[6]:.4f} | "
              f"{r[7]:.1f} | {r[8]:.2f} |")


if __name__ == "__main__":
    main()
