#!/usr/bin/env python3
"""qvec beside faiss-cpu at one chosen SIMD level each, same data, same bytes per vector, one
process: exact search (IndexFlat), 8-bit PQ (IndexPQ), 4-bit fast-scan (IndexPQFastScan) and
Hamming (IndexBinaryFlat).

The levels are set before either library loads: QVEC_SIMD for qvec, FAISS_SIMD_LEVEL for faiss
(faiss-cpu >= 1.13 wheels are one dynamic-dispatch build; faiss.SIMDConfig says what runs, and
the table header prints it). Default: AVX2 against AVX2, the level most CPUs in service run.

    python bench/compare_levels.py                               # avx2 vs AVX2
    python bench/compare_levels.py --qvec avx512 --faiss AVX512
    python bench/compare_levels.py --qvec avx512_skx --faiss AVX512   # Skylake-SP set each
    python bench/compare_levels.py --datasets synthetic --threads 1 --repeat 5
    python bench/compare_levels.py --blas Haswell      # faiss's BLAS at AVX2 too
    python bench/compare_levels.py --threads 1 --cpu-time          # on a shared, loaded machine

FAISS_SIMD_LEVEL does not reach the OpenBLAS inside faiss (its sgemm serves IndexFlat and the
PQ tables): it picks AVX-512 kernels wherever the CPU has them unless --blas (OPENBLAS_CORETYPE)
says otherwise; the header names the core it ran.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

CONFIGS = {  # dataset -> (8-bit m, 4-bit m): the same bytes per vector
    "synthetic": (16, 32),
    "gcide-minilm": (48, 96),
}


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qvec", default="avx2", help="QVEC_SIMD for qvec ('' = the CPU's best)")
    ap.add_argument("--faiss", default="AVX2", help="FAISS_SIMD_LEVEL ('' = faiss's default)")
    ap.add_argument("--blas", default=None,
                    help="OPENBLAS_CORETYPE for faiss's BLAS, e.g. Haswell ('' = its own choice; "
                         "default: the environment's)")
    ap.add_argument("--datasets", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--iters", type=int, default=10, help="k-means iterations (speed only)")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time by this process's CPU time, not wall time (1 thread only): on a "
                         "machine shared with other jobs, wall time counts the time either "
                         "library waits for a core")
    args = ap.parse_args()
    if args.cpu_time and args.threads != 1:
        ap.error("--cpu-time needs --threads 1 (CPU time sums the threads)")
    return args


CLOCK = time.perf_counter  # time.process_time with --cpu-time


def best_time(fn, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = CLOCK()
        out = fn()
        best = min(best, CLOCK() - t0)
    return best, out


def measure(name, args, qvec, faiss, np):
    from embeddings import load

    ds = load(name)
    base, queries = ds["base"], ds["queries"]
    metric = ds["metric"]
    n, d = base.shape
    nq = len(queries)
    m8, m4 = CONFIGS[name]
    fmetric = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
    rows = []

    def row(label, bytes_per_vec, f_fn, q_fn):
        # Alternating runs, best of each: load that changes during the row hits both.
        tf = tq = float("inf")
        for _ in range(args.repeat):
            tf = min(tf, best_time(f_fn, 1)[0])
            tq = min(tq, best_time(q_fn, 1)[0])
        rows.append((name, label, bytes_per_vec, nq / tq, nq / tf, tf / tq))
        print(f"  {label:<22} qvec {nq / tq:9.0f} q/s  faiss {nq / tf:9.0f} q/s  "
              f"x{tf / tq:.2f}", flush=True)

    print(f"== {name}: n={n} d={d} metric={metric} nq={nq}", flush=True)
    flat = faiss.IndexFlatIP(d) if metric == "ip" else faiss.IndexFlatL2(d)
    flat.add(base)
    row("exact (float32)", 4 * d, lambda: flat.search(queries, args.k),
        lambda: qvec.exact_search(queries, base, args.k, metric))

    pq8 = qvec.ProductQuantizer(d, m8, nbits=8, metric=metric).fit(base, iters=args.iters, seed=0)
    codes8 = pq8.encode(base)
    f8 = faiss.IndexPQ(d, m8, 8, fmetric)
    f8.pq.cp.niter = args.iters
    f8.train(base)
    f8.add(base)
    row(f"PQ{m8}x8", m8, lambda: f8.search(queries, args.k),
        lambda: pq8.search(queries, codes8, args.k))

    pq4 = qvec.ProductQuantizer(d, m4, nbits=4, metric=metric).fit(base, iters=args.iters, seed=0)
    fast = pq4.pack(pq4.encode(base))
    f4 = faiss.IndexPQFastScan(d, m4, 4, fmetric)
    f4.pq.cp.niter = args.iters
    f4.train(base)
    f4.add(base)
    row(f"PQ{m4}x4 fast-scan", m4 // 2, lambda: f4.search(queries, args.k),
        lambda: pq4.search(queries, fast, args.k))

    mean = base.mean(axis=0)
    bits = np.packbits(base - mean > 0, axis=1)
    qbits = np.packbits(queries - mean > 0, axis=1)
    fb = faiss.IndexBinaryFlat(bits.shape[1] * 8)
    fb.add(bits)
    row(f"Hamming {d} bits", bits.shape[1], lambda: fb.search(qbits, args.k),
        lambda: qvec.hamming_search(qbits, bits, args.k))
    return rows


def main() -> None:
    global CLOCK
    args = parse()
    if args.cpu_time:
        CLOCK = time.process_time
    # Both libraries read their level once, when they load.
    levels = [("QVEC_SIMD", args.qvec), ("FAISS_SIMD_LEVEL", args.faiss)]
    if args.blas is not None:
        levels.append(("OPENBLAS_CORETYPE", args.blas))
    for var, value in levels:
        if value:
            os.environ[var] = value
        else:
            os.environ.pop(var, None)
    sys.path.insert(0, "/work/shared/data")
    import faiss
    import numpy as np

    import qvec
    from exact import blas_core

    qvec.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    flevel = faiss.SIMDConfig.get_level_name()
    # faiss takes FAISS_SIMD_LEVEL even above the CPU (and then dies on an illegal
    # instruction); qvec's detection of the CPU stands in for a check it does not make.
    if args.faiss.startswith("AVX512") and not qvec.supported_simd_level().startswith("avx512"):
        sys.exit(f"this CPU cannot run faiss at {args.faiss}")
    if args.qvec and qvec.simd_level() != args.qvec:
        sys.exit(f"this CPU cannot run qvec at {args.qvec} (best: {qvec.supported_simd_level()})")
    rows = []
    for name in args.datasets:
        rows += measure(name, args, qvec, faiss, np)
    load = os.getloadavg()
    print(f"\n# cpu={platform.processor() or platform.machine()} qvec {qvec.__version__} "
          f"simd={qvec.simd_level()} faiss {faiss.__version__} simd={flevel} blas={blas_core()} "
          f"threads={args.threads} k={args.k} clock={'cpu' if args.cpu_time else 'wall'} "
          f"load={load[0]:.2f},{load[1]:.2f},{load[2]:.2f}")
    print("| dataset | method | bytes/vector | qvec q/s | faiss q/s | qvec speed-up |")
    print("|---|---|---|---|---|---|")
    for name, label, b, q, f, r in rows:
        print(f"| {name} | {label} | {b} | {q:,.0f} | {f:,.0f} | {r:.2f}x |")


if __name__ == "__main__":
    main()
