"""qvec demo: train PQ on synthetic clustered data, search, and report recall@10 and speed
against exact search. Run with ``python -m qvec.demo``."""
from __future__ import annotations

import argparse
import time

import numpy as np

import qvec


def clustered(n: int, dim: int, clusters: int, rng: np.random.Generator) -> np.ndarray:
    centers = rng.standard_normal((clusters, dim)).astype(np.float32) * 4.0
    scales = rng.uniform(0.5, 1.5, size=(clusters, dim)).astype(np.float32)
    labels = rng.integers(0, clusters, size=n)
    return centers[labels] + rng.standard_normal((n, dim)).astype(np.float32) * scales[labels]


def recall_at(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    hits = sum(len(np.intersect1d(f[:k], t[:k])) for f, t in zip(found, truth))
    return hits / (k * len(truth))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--m", type=int, default=32)
    parser.add_argument("--queries", type=int, default=1_000)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    data = clustered(args.n + args.queries, args.dim, 200, rng)
    base, queries = data[: args.n], data[args.n:]
    print(f"qvec {qvec.__version__}  simd={qvec.simd_level()}  threads={qvec.get_num_threads()}")
    print(f"data: {args.n} x {args.dim} float32 ({base.nbytes / 2**20:.1f} MiB), "
          f"{args.queries} queries, metric l2")

    (_, truth), t_exact = timed(lambda: qvec.exact_search(queries, base, 10))
    pq, t_train = timed(lambda: qvec.ProductQuantizer(args.dim, args.m).fit(base))
    codes, t_encode = timed(lambda: pq.encode(base))
    (_, found), t_search = timed(lambda: pq.search(queries, codes, 10))

    print(f"PQ m={args.m} x 8 bits: {pq.code_size} bytes/vector "
          f"({args.dim * 4 / pq.code_size:.0f}x smaller), train {t_train:.2f}s, "
          f"encode {t_encode:.2f}s")
    print(f"{'method':<28}{'recall@10':>10}{'queries/s':>12}")
    print(f"{'exact search':<28}{1.0:>10.3f}{args.queries / t_exact:>12,.0f}")
    print(f"{'PQ ADC':<28}{recall_at(found, truth, 10):>10.3f}{args.queries / t_search:>12,.0f}")


if __name__ == "__main__":
    main()
