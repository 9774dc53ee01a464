"""PQ at every nbits 1..8: qvec ProductQuantizer beside faiss IndexPQ with the same m, nbits,
k-means iterations and training sample, same data, same process, 1 thread, one run. Prints
Markdown: bytes per vector, recall@10 (each library's own top-10 from its codes, no float
re-ranking), queries/s, train seconds.

    python bench/pq_nbits.py                               # synthetic, m = 16
    python bench/pq_nbits.py --sets gcide-minilm --m 48 --queries 500

qvec searches nbits 1..4 with the fast-scan kernels (quantized tables, rescore=0, as faiss's
fast-scan does; `--rescore R` re-scores k * R candidates), 5..8 with the exact 8-bit ADC. faiss
IndexPQ scans with float tables at every nbits (its generic bit decoder for nbits != 8).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import qvec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import load_dataset  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def qvec_row(ds, m, nbits, iters, rescore):
    pq = qvec.ProductQuantizer(ds.base.shape[1], m, nbits, ds.metric)
    t_train, _ = timed(lambda: pq.fit(ds.train, iters=iters, seed=1))
    codes = pq.pack(pq.encode(ds.base))
    kwargs = {"rescore": rescore} if nbits <= 4 else {}
    t, (_, ids) = timed(lambda: pq.search(ds.queries, codes, 10, **kwargs))
    return qvec.recall_at_k(ids, ds.gt, 10), len(ds.queries) / t, t_train


def faiss_row(ds, m, nbits, iters):
    import faiss
    mt = faiss.METRIC_L2 if ds.metric == "l2" else faiss.METRIC_INNER_PRODUCT
    index = faiss.IndexPQ(ds.base.shape[1], m, nbits, mt)
    index.pq.cp.niter, index.pq.cp.seed = iters, 1
    t_train, _ = timed(lambda: index.train(ds.train))
    index.add(ds.base)
    t, (_, ids) = timed(lambda: index.search(ds.queries, 10))
    return qvec.recall_at_k(ids, ds.gt, 10), len(ds.queries) / t, t_train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=["synthetic"])
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--nbits", type=int, nargs="+", default=list(range(1, 9)))
    parser.add_argument("--iters", type=int, default=10, help="k-means iterations (both)")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--rescore", type=int, default=0, help="qvec nbits <= 4 only")
    args = parser.parse_args()
    qvec.set_num_threads(1)
    import faiss
    faiss.omp_set_num_threads(1)
    print(f"qvec {qvec.__version__} ({qvec.simd_level()}), faiss {faiss.__version__}, "
          f"1 thread, m={args.m}, k-means iters {args.iters}, qvec rescore {args.rescore}\n")
    print("| set | nbits | bytes | qvec R@10 | faiss R@10 | qvec q/s | faiss q/s | q/s ratio "
          "| qvec train s | faiss train s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.sets:
        ds = load_dataset(name)
        ds.queries, ds.gt = ds.queries[:args.queries], ds.gt[:args.queries]
        for nbits in args.nbits:
            qr, qq, qt = qvec_row(ds, args.m, nbits, args.iters, args.rescore)
            try:
                fr, fq, ft = faiss_row(ds, args.m, nbits, args.iters)
                peer = f"{fr:.3f} | {qq:,.0f} | {fq:,.0f} | {qq / fq:.2f} | {qt:.1f} | {ft:.1f}"
            except RuntimeError as e:  # faiss refuses some (dsub, nbits), e.g. ksub % 8 != 0
                reason = str(e).split("Error: ")[-1].strip()
                peer = f"faiss error: {reason} | {qq:,.0f} | - | - | {qt:.1f} | -"
            print(f"| {name} ({ds.metric}) | {nbits} | {(args.m * nbits + 7) // 8} | {qr:.3f} "
                  f"| {peer} |", flush=True)


if __name__ == "__main__":
    main()
