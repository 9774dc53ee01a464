"""qvec product quantization and exact search beside faiss-cpu, same data, same parameters,
same process. Prints a Markdown table.

    python bench/compare_faiss.py --dataset gcide-minilm --m 48
    python bench/compare_faiss.py --dataset synthetic --m 32
    python bench/compare_faiss.py --dataset synth:n=100000,d=128 --m 16   # any bench/datasets.py spec
"""
from __future__ import annotations

import argparse
import platform
import time

import faiss
import numpy as np

import qvec
from datasets import load_dataset
from recall import recall_at


def best_time(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def set_threads(n: int) -> None:
    qvec.set_num_threads(n)
    faiss.omp_set_num_threads(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="gcide-minilm")
    parser.add_argument("--m", type=int, default=48)
    parser.add_argument("--iters", type=int, default=25)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--ks", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    ds = load_dataset(args.dataset)
    base, queries, gt, metric = ds.base, ds.queries, ds.gt, ds.metric
    n, dim = base.shape
    nq = len(queries)
    faiss_metric = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
    print(f"# {args.dataset}: n={n} dim={dim} nq={nq} metric={metric} PQ m={args.m} nbits=8 "
          f"iters={args.iters}")
    print(f"# cpu={platform.processor() or platform.machine()} qvec simd={qvec.simd_level()} "
          f"faiss={faiss.__version__} date={time.strftime('%Y-%m-%d')}")

    set_threads(max(args.threads))
    rows = []
    pq = qvec.ProductQuantizer(dim, args.m, 8, metric)
    t_train_q, _ = best_time(lambda: pq.fit(base, iters=args.iters, seed=0), 1)
    index = faiss.IndexPQ(dim, args.m, 8, faiss_metric)
    index.pq.cp.niter = args.iters
    t_train_f, _ = best_time(lambda: index.train(base), 1)
    t_enc_q, codes = best_time(lambda: pq.encode(base), 1)
    t_enc_f, _ = best_time(lambda: index.add(base), 1)
    rows.append(("train (s)", max(args.threads), t_train_q, t_train_f, t_train_f / t_train_q))
    rows.append(("encode (s)", max(args.threads), t_enc_q, t_enc_f, t_enc_f / t_enc_q))

    flat = faiss.IndexFlatIP(dim) if metric == "ip" else faiss.IndexFlatL2(dim)
    flat.add(base)
    recalls = {}
    for threads in args.threads:
        set_threads(threads)
        for k in args.ks:
            tq, (_, ids_q) = best_time(lambda: pq.search(queries, codes, k), args.repeat)
            tf, (_, ids_f) = best_time(lambda: index.search(queries, k), args.repeat)
            rows.append((f"PQ search k={k} (q/s)", threads, nq / tq, nq / tf, tf / tq))
            if k >= 10:
                recalls["qvec"], recalls["faiss"] = recall_at(ids_q, gt, 10), recall_at(ids_f, gt, 10)
        tq, (_, ids_q) = best_time(lambda: qvec.exact_search(queries, base, 10, metric), args.repeat)
        tf, (_, ids_f) = best_time(lambda: flat.search(queries, 10), args.repeat)
        rows.append(("exact k=10 (q/s)", threads, nq / tq, nq / tf, tf / tq))

    code_bytes = codes.nbytes
    print()
    print("| measure | threads | qvec | faiss | qvec speed-up |")
    print("|---|---|---|---|---|")
    for name, threads, q, f, ratio in rows:
        fmt = "{:,.0f}" if "q/s" in name else "{:.3f}"
        print(f"| {name} | {threads} | {fmt.format(q)} | {fmt.format(f)} | {ratio:.2f}x |")
    print(f"| recall@10 | - | {recalls['qvec']:.4f} | {recalls['faiss']:.4f} | "
          f"{recalls['qvec'] - recalls['faiss']:+.4f} |")
    print(f"\ncodes: {code_bytes / 2**20:.1f} MiB ({pq.code_size} bytes/vector)")


if __name__ == "__main__":
    main()
