"""qvec exact search beside faiss IndexFlatIP / IndexFlatL2: same data, same process, one run.

    QVEC_SIMD=avx2 FAISS_SIMD_LEVEL=AVX2 python bench/exact.py
    python bench/exact.py --sets rand116k-ip synth200k-l2 --nq 1000 16 1 --threads 1 2

Sets: rand116k-ip (standard normal 116k x 384, inner product), synth200k-l2 (standard
normal 200k x 128, L2), gcide-ip (gcide-minilm base, when ~/.cache/qvec-data has it).
Prints a Markdown table of queries/s and the qvec / faiss ratio, by wall clock and by
process CPU time (on a shared machine the wall clock also counts time the process waited for
a core; at 1 thread CPU time is the cost of the search alone). qvec and faiss run alternately,
best of --repeat each. FAISS_SIMD_LEVEL does not reach faiss's BLAS (OpenBLAS picks its own
kernels, AVX-512 where the CPU has it): for an AVX2-vs-AVX2 comparison set
OPENBLAS_CORETYPE=Haswell too. The header names the BLAS core in use.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import sys
import time
from typing import Callable, Tuple

import faiss
import numpy as np

import qvec


def make_set(name: str) -> Tuple[np.ndarray, np.ndarray, str]:
    rng = np.random.default_rng(0)
    if name == "rand116k-ip":
        base = rng.standard_normal((116_000, 384), dtype=np.float32)
        return base, rng.standard_normal((1000, 384), dtype=np.float32), "ip"
    if name == "synth200k-l2":
        base = rng.standard_normal((200_000, 128), dtype=np.float32)
        return base, rng.standard_normal((1000, 128), dtype=np.float32), "l2"
    if name == "gcide-ip":
        sys.path.insert(0, "/work/shared/data")
        from embeddings import load  # type: ignore[import-not-found]

        ds = load("gcide-minilm")
        return np.ascontiguousarray(ds["base"], np.float32), np.ascontiguousarray(
            ds["queries"][:1000], np.float32), "ip"
    raise SystemExit(f"unknown set {name!r}")


def best_pair(fa: Callable[[], object], fb: Callable[[], object],
              repeat: int) -> Tuple[float, float, float, float]:
    """Best-of-repeat wall and CPU times of fa and fb (wall a, wall b, cpu a, cpu b), run
    alternately so both see the same machine load."""
    wall: Tuple[list, list] = ([], [])
    cpu: Tuple[list, list] = ([], [])
    for _ in range(repeat):
        for j, fn in enumerate((fa, fb)):
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[j].append(time.perf_counter() - start)
            cpu[j].append(time.process_time() - start_cpu)
    return min(wall[0]), min(wall[1]), min(cpu[0]), min(cpu[1])


def blas_core() -> str:
    """The OpenBLAS core faiss's BLAS runs ("SkylakeX", "Haswell"...), or "?"."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
        for path in sorted(paths, key=lambda p: "faiss" not in p):  # numpy has one too
            lib = ctypes.CDLL(path)
            if hasattr(lib, "openblas_get_corename"):
                lib.openblas_get_corename.restype = ctypes.c_char_p
                return str(lib.openblas_get_corename().decode())
    except OSError:
        pass
    return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sets", nargs="+", default=["rand116k-ip", "synth200k-l2"])
    parser.add_argument("--nq", type=int, nargs="+", default=[1000, 16, 1])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"# qvec simd={qvec.simd_level()} faiss={faiss.__version__} "
          f"FAISS_SIMD_LEVEL={os.environ.get('FAISS_SIMD_LEVEL', 'default')} "
          f"faiss BLAS core={blas_core()} k={args.k} load={os.getloadavg()[0]:.1f}")
    print("| set | metric | nq | threads | qvec q/s | faiss q/s | qvec/faiss "
          "| qvec q/s (cpu) | faiss q/s (cpu) | qvec/faiss (cpu) | ids agree | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.sets:
        base, queries, metric = make_set(name)
        index = (faiss.IndexFlatIP if metric == "ip" else faiss.IndexFlatL2)(base.shape[1])
        index.add(base)
        for nq in args.nq:
            q = queries[:nq]
            for threads in args.threads:
                qvec.set_num_threads(threads)
                faiss.omp_set_num_threads(threads)
                reps = args.repeat if nq >= 100 else max(args.repeat, 5)
                tq, tf, cq, cf = best_pair(lambda: qvec.exact_search(q, base, args.k, metric),
                                           lambda: index.search(q, args.k), reps)
                _, iq = qvec.exact_search(q, base, args.k, metric)
                _, jf = index.search(q, args.k)
                agree = float(np.mean(iq == jf))
                print(f"| {name} | {metric} | {nq} | {threads} | {nq / tq:.1f} | {nq / tf:.1f} "
                      f"| {tf / tq:.2f} | {nq / cq:.1f} | {nq / cf:.1f} | {cf / cq:.2f} "
                      f"| {agree:.3f} | {os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
